"""Opening the database: the one place that knows the order — make its folder, connect, copy
it to `backups/` when the schema is about to be upgraded, then migrate.

Both processes and the CLI open the database through `open_database()`; `connection.py`,
`backup.py` and `migrations/` know nothing of each other's place in that order.
"""
from __future__ import annotations

import os
from pathlib import Path

from catalogsync_ops.store.backup import backup_before_upgrade
from catalogsync_ops.store.connection import Connection, connect
from catalogsync_ops.store.migrations import LATEST_VERSION, apply_migrations, current_version


def open_database(path: str | os.PathLike[str], *, readonly: bool = False) -> Connection:
    """Connect and bring the schema up to date (both processes call this at start).

    A database that already holds data and is about to be migrated is first copied to
    `backups/` beside it (backup API, not a file copy), so an upgrade can always be undone.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path, readonly=False)
    have = current_version(conn)
    if 0 < have < LATEST_VERSION:
        backup_before_upgrade(conn, conn.path, have, LATEST_VERSION)
    apply_migrations(conn)
    if readonly:
        conn.execute("PRAGMA query_only = ON")
        conn.readonly = True
    return conn
