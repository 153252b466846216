"""The System page: the database's size and where its space goes, how long history is kept,
and the last backups. Read-only; `runnerd compact` and `runnerd backup` do the work."""
from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from flask import Blueprint, current_app, render_template

from catalogsync_ops.engine.queries import history_kept
from catalogsync_ops.store.connection import connect, iso
from catalogsync_ops.store.sizes import file_facts, list_backups, table_sizes
from webui.context import env_settings, get_db
from webui.i18n import N_

bp = Blueprint("system", __name__)

SIZES_FOR_S = 300.0  # table sizes read every page header: measured at most every five minutes
_sizes: dict[str, tuple[float, str, list | None]] = {}
_sizes_lock = threading.Lock()


def _table_sizes(db_path: str) -> tuple[str, list | None]:
    """Table sizes and when they were measured, from this process's last look when it is recent.
    Through a read-only connection of its own: SQLite makes its `dbstat` table with a write to
    the schema that the console's connections are never allowed (context.web_authorizer)."""
    with _sizes_lock:
        cached = _sizes.get(db_path)
        if cached is None or time.monotonic() - cached[0] > SIZES_FOR_S:
            reader = connect(db_path, readonly=True, check_filesystem=False)
            try:
                cached = _sizes[db_path] = (time.monotonic(), iso(), table_sizes(reader))
            finally:
                reader.close()
    return cached[1], cached[2]


@bp.route("/system")
def system():
    conn = get_db()
    db_path = str(current_app.config["DB_PATH"])
    facts = file_facts(conn, db_path)
    measured_at, tables = _table_sizes(db_path)
    backups = [{**b, "at": iso(datetime.fromtimestamp(b["mtime"], UTC))} for b in list_backups(db_path)[:10]]
    history = history_kept(conn)
    settings = env_settings() or {}
    return render_template("system.html", title=N_("System"), facts=facts, tables=tables, measured_at=measured_at,
                           backups=backups, history=history,
                           retention={key: settings.get(key) for key in ("HISTORY_DETAIL_DAYS",
                                                                         "HISTORY_RETENTION_DAYS",
                                                                         "COMMAND_RETENTION_DAYS",
                                                                         "LOG_RETENTION_DAYS")})
