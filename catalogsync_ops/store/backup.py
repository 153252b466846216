"""Online, consistent copies of the database through SQLite's backup API (never a file copy:
a copied WAL database can be torn), restore, and the copy taken before every upgrade."""
from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from catalogsync_ops.errors import CatalogsyncError
from catalogsync_ops.fileio import create_private, fsync_dir, make_folders
from catalogsync_ops.store.connection import connect
from catalogsync_ops.store.migrations import LATEST_VERSION

KEEP_UPGRADE_BACKUPS = 5


class BackupError(CatalogsyncError):
    status = 400


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def backups_dir(db_path: str | os.PathLike[str]) -> Path:
    """Where automatic backups go: `backups/` beside the database."""
    return Path(os.path.realpath(db_path)).parent / "backups"


def backup_to(conn: sqlite3.Connection, dest: str | os.PathLike[str]) -> Path:
    """Copy the open database `conn` to `dest` (a file, or a folder to put a dated file in).

    Written to a temp file first, checked, fsynced and renamed: a backup that exists is whole.
    Other processes keep reading and writing meanwhile.
    """
    dest = Path(dest)
    if dest.is_dir() or (not dest.exists() and not dest.suffix):  # a folder, or one to make
        make_folders(dest)
        dest = dest / f"catalogsync-{_stamp()}.db"
    make_folders(dest.parent)
    part = dest.with_name(f".{dest.name}.part")
    part.unlink(missing_ok=True)
    create_private(part)  # a backup holds every secret the database does
    target = sqlite3.connect(part)
    try:
        conn.backup(target, pages=4096)
        ok = target.execute("PRAGMA quick_check").fetchone()[0]
        if ok != "ok":
            raise BackupError(f"the copy at {str(part)!r} failed its check ({ok}); the database may be damaged: "
                              "run `runnerd backup` again, or restore an older backup")
        # A standalone file: no -wal beside it is needed to read it.
        target.execute("PRAGMA journal_mode = DELETE")
    finally:
        target.close()
    fd = os.open(part, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(part, dest)
    fsync_dir(dest.parent)
    return dest


def backup_before_upgrade(conn: sqlite3.Connection, db_path: str, have: int, target: int) -> Path:
    """The copy taken before migrating schema `have` to `target`; older ones beyond a few are pruned."""
    folder = backups_dir(db_path)
    path = backup_to(conn, folder / f"before-v{target}-from-v{have}-{_stamp()}.db")
    olds = sorted(folder.glob("before-v*.db"), key=lambda p: p.stat().st_mtime)
    for old in olds[:-KEEP_UPGRADE_BACKUPS]:
        old.unlink(missing_ok=True)
    return path


def inspect_backup(path: str | os.PathLike[str]) -> int:
    """Check a backup file is a whole catalogsync database; return its schema version."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"no backup file at {str(path)!r}")
    try:
        src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if src.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise BackupError(f"{str(path)!r} is damaged (PRAGMA quick_check failed); pick another backup")
            row = src.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        finally:
            src.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{str(path)!r} is not a catalogsync database ({exc})") from None
    version = int(row[0] or 0)
    if version > LATEST_VERSION:
        raise BackupError(f"{str(path)!r} has schema version {version}, newer than this release ({LATEST_VERSION}): "
                          "upgrade catalogsync-ops first")
    return version


def restore_from(src_path: str | os.PathLike[str], db_path: str | os.PathLike[str]) -> tuple[Path, int]:
    """Replace the database at `db_path` with the backup at `src_path`, through the backup API.

    The current database is saved under backups/ first. Returns (that safety copy, the backup's
    schema version); the caller migrates it when it is older. The runner must be stopped.
    """
    version = inspect_backup(src_path)
    live = connect(db_path)
    try:
        safety = backup_to(live, backups_dir(db_path) / f"before-restore-{_stamp()}.db")
        src = sqlite3.connect(f"file:{Path(src_path)}?mode=ro", uri=True)
        try:
            src.backup(live)
        finally:
            src.close()
        live.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        live.close()
    return safety, version
