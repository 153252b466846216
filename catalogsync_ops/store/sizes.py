"""How big the database file is and where its space goes (the System page, `runnerd compact`)."""
from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from catalogsync_ops.errors import CatalogsyncError
from catalogsync_ops.store.backup import backups_dir
from catalogsync_ops.store.connection import Connection

AUTO_VACUUM = {0: "none", 1: "full", 2: "incremental"}


class CompactError(CatalogsyncError):
    status = 409


def file_facts(conn: Connection, db_path: str | os.PathLike[str]) -> dict[str, Any]:
    """The file's size and its write-ahead log's, pages in use and free, and how freed pages
    are given back (`incremental`: a few at a time by the runner; `none`: reused, never given back)."""
    path = Path(os.path.realpath(db_path))
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    wal = Path(f"{path}-wal")
    return {"path": str(path), "bytes": pages * page_size, "wal_bytes": wal.stat().st_size if wal.exists() else 0,
            "page_size": page_size, "pages": pages, "free_pages": free, "free_bytes": free * page_size,
            "auto_vacuum": AUTO_VACUUM.get(conn.execute("PRAGMA auto_vacuum").fetchone()[0], "?")}


def table_sizes(conn: Connection) -> list[dict[str, Any]] | None:
    """Bytes per table, its indexes included, largest first; None when this SQLite was built
    without its `dbstat` table. Reads every page's header: about a second per GiB."""
    try:
        rows = conn.execute(
            "SELECT COALESCE(m.tbl_name, d.name), SUM(d.pgsize) FROM dbstat AS d"
            " LEFT JOIN sqlite_master AS m ON m.name = d.name WHERE d.aggregate = 1"
            " GROUP BY 1 ORDER BY 2 DESC").fetchall()
    except sqlite3.OperationalError:
        return None
    return [{"table": name, "bytes": int(size or 0)} for name, size in rows]


def list_backups(db_path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The copies in `backups/` beside the database (runnerd backup's dated files, the copies
    taken before upgrades and restores), newest first."""
    folder = backups_dir(db_path)
    found = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    for entry in entries:
        if entry.is_file() and entry.name.endswith(".db") and not entry.name.startswith("."):
            st = entry.stat()
            found.append({"name": entry.name, "path": entry.path, "bytes": st.st_size, "mtime": st.st_mtime})
    return sorted(found, key=lambda b: b["mtime"], reverse=True)


def compact(conn: Connection) -> tuple[int, int]:
    """Rewrite the file without its free pages, and switch it to incremental vacuum so that later
    pruning shrinks it by itself (databases made before that was the default). Needs the
    runner stopped (the caller holds its lock) and free space the size of the file. Returns
    (bytes before, bytes after)."""
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    before = conn.execute("PRAGMA page_count").fetchone()[0] * page_size
    folder = os.path.dirname(conn.path)
    free = shutil.disk_usage(folder).free
    if free < before * 1.1:
        raise CompactError(f"compacting rewrites the database, and needs about {before / 2**20:.0f} MiB free on its "
                           f"disk ({free / 2**20:.0f} MiB are): free space there first (old backups in backups/)")
    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # takes effect with the VACUUM
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the rewritten pages reach the file, and it is cut short
    after = conn.execute("PRAGMA page_count").fetchone()[0] * page_size
    return before, after
