"""What the views of one request share: its database connection (opened on first use, closed
at teardown) and the library folder from the env file."""
from __future__ import annotations

from pathlib import Path

from flask import current_app, g

from catalogsync_ops.config.envfile import load_config
from catalogsync_ops.errors import CatalogsyncError
from catalogsync_ops.store.connection import connect

_library_cache: dict[str, tuple[tuple[int, int], Path | None]] = {}


def library_dir() -> Path | None:
    """LIBRARY_DIR from the env file, re-read only when the file changes (pages show its disk)."""
    env_path = current_app.config.get("ENV_PATH")
    if not env_path:
        return None
    try:
        stat = Path(env_path).stat()
    except OSError:
        return None
    key = (stat.st_mtime_ns, stat.st_size)
    cached = _library_cache.get(str(env_path))
    if cached is None or cached[0] != key:
        try:
            library = Path(load_config(env_path)["LIBRARY_DIR"])
        except CatalogsyncError:
            library = None  # an invalid file: the config page says why
        cached = _library_cache[str(env_path)] = (key, library)
    return cached[1]


def get_db():
    """This request's read/write connection (readers never hold long transactions)."""
    if "db" not in g:
        g.db = connect(current_app.config["DB_PATH"])
    return g.db


def close_db(exc: BaseException | None) -> None:
    """Close this request's connection, if it opened one."""
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()
