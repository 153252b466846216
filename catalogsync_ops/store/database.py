"""Opening the database: the one place that knows the order — make its folder, connect, copy
it to `backups/` when the schema is about to be upgraded, then migrate.

Both processes and the CLI open the database through `open_database()`; `connection.py`,
`backup.py` and `migrations/` know nothing of each other's place in that order.
"""
from __future__ import annotations

import os
from pathlib import Path

from catalogsync_ops.fileio import open_to_others
from catalogsync_ops.store.backup import backup_before_upgrade, backups_dir
from catalogsync_ops.store.connection import Connection, connect
from catalogsync_ops.store.migrations import LATEST_VERSION, apply_migrations, current_version


def open_database(path: str | os.PathLike[str], *, readonly: bool = False) -> Connection:
    """Connect and bring the schema up to date (both processes call this at start).

    A database that already holds data and is about to be migrated is first copied to
    `backups/` beside it (backup API, not a file copy), so an upgrade can always be undone.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path, readonly=False)
    try:
        have = current_version(conn)
        if 0 < have < LATEST_VERSION:
            backup_before_upgrade(conn, conn.path, have, LATEST_VERSION)
        apply_migrations(conn)
        if readonly:
            conn.execute("PRAGMA query_only = ON")
            conn.readonly = True
    except BaseException:
        conn.close()  # a database too new, a failed backup or migration: the caller gets no connection
        raise
    return conn


def secret_files(db_path: str | os.PathLike[str], *others: str | os.PathLike[str] | None) -> list[Path]:
    """Every file that holds what the database holds (secrets, the session key): the database,
    its -wal and -shm, the runner's lock, its backups; and `others` (the env file)."""
    db = Path(os.path.realpath(db_path))
    files = [db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}.runnerd.lock")]
    folder = backups_dir(db)
    if folder.is_dir():
        files += sorted(folder.glob("*.db"))
    return files + [Path(o) for o in others if o]


def open_secret_files(db_path: str | os.PathLike[str], *others: str | os.PathLike[str] | None) -> list[str]:
    """One line per secret-holding file that other users of the NAS can read, saying how to fix it."""
    return [f"{path} can be read by other users (mode {mode:o}) and holds secrets: chmod 600 '{path}'"
            for path, mode in open_to_others(secret_files(db_path, *others))]
