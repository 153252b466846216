"""The disks under the runner: the library disk running low (a notification) and the database
disk full (the runner stops claiming, says why, and carries on by itself when space is back).

A full database disk must not crash-loop the runner: every write fails with SQLITE_FULL, so
workers would die, be restarted, die again, and the runner would end on a traceback. Instead
the runner marks itself degraded (in the log, in systemd's status and, once it can write, in
`runner_state`), claims nothing, keeps the results its workers hold, and tries to write again
every `RETRY_S`; the first write that succeeds with `RESUME_FREE_BYTES` free ends it.
"""
from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
import time
from pathlib import Path

from catalogsync_ops import sdnotify
from catalogsync_ops.engine import notify
from catalogsync_ops.fileio import DISK_FULL_ERRNOS
from catalogsync_ops.store.connection import Connection, iso, transaction

log = logging.getLogger("runnerd")

RETRY_S = 10.0
RESUME_FREE_BYTES = 8 * 2**20  # room for a write-ahead log between checkpoints (1,000 pages) and then some


def is_disk_full(exc: BaseException) -> bool:
    """Whether an error says the disk (or the quota) under a file is full."""
    if isinstance(exc, sqlite3.OperationalError):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "database or disk is full" in str(exc)
    return isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS


class DatabaseDiskGuard:
    """The runner's degraded state while the database disk is full (shared with the workers)."""

    def __init__(self, db_path: Path, retry_s: float = RETRY_S) -> None:
        self.db_path = db_path
        self.retry_s = retry_s
        self.full = threading.Event()  # set: claim nothing
        self.reason: str | None = None
        self._next_try = 0.0
        self._lock = threading.Lock()

    def enter(self, exc: BaseException) -> None:
        """The database could not be written for lack of space: stop claiming, say so once."""
        with self._lock:
            if self.full.is_set():
                return
            self.reason = (f"the disk under the database {self.db_path} is full ({exc}); nothing new is started. "
                           "Free space there (old backups in backups/, logs); the runner carries on by itself.")
            self.full.set()
            self._next_try = time.monotonic() + self.retry_s
        log.error("Degraded: %s", self.reason)
        sdnotify.notify("STATUS=degraded: the database disk is full")

    def wait(self, stopping: threading.Event) -> None:
        """A worker holding results waits this long before writing them again."""
        stopping.wait(self.retry_s)

    def try_recover(self, conn: Connection, runner_id: int | None) -> bool:
        """Every `retry_s` while degraded: write the degraded mark (or clear it); True once writing works."""
        if not self.full.is_set() or time.monotonic() < self._next_try:
            return False
        self._next_try = time.monotonic() + self.retry_s
        try:
            free = shutil.disk_usage(Path(self.db_path).parent).free
        except OSError:
            free = RESUME_FREE_BYTES
        if free < RESUME_FREE_BYTES:  # a write might fit, but the next minute of work would not
            self.record(conn)
            return False
        try:
            with transaction(conn):
                conn.execute("UPDATE runner_state SET degraded_reason = NULL, degraded_since = NULL WHERE id = 1")
                if runner_id is not None:
                    conn.execute("UPDATE runner_instances SET heartbeat_at = ? WHERE id = ?", (iso(), runner_id))
        except sqlite3.OperationalError as exc:
            if not is_disk_full(exc):
                raise
            self.record(conn)  # full still; if a little room was freed, the reason shows
            return False
        self.full.clear()
        self.reason = None
        log.warning("The database disk has space again: claiming work again")
        sdnotify.notify(f"STATUS=working the queue (runner {runner_id})")
        return True

    def record(self, conn: Connection) -> None:
        """Try to put the degraded reason where `runnerd status` and the console read it."""
        try:
            with transaction(conn):
                conn.execute("UPDATE runner_state SET degraded_reason = ?, degraded_since = COALESCE(degraded_since, ?)"
                             " WHERE id = 1", (self.reason, iso()))
        except sqlite3.OperationalError:
            pass  # full indeed: the log and systemd's status say it meanwhile


class LibraryDiskWatch:
    """Queue a disk_low notification when the library disk drops below NOTIFY_DISK_FREE_MB (once per drop)."""

    def __init__(self) -> None:
        self.low = False

    def check(self, conn: Connection, library: Path, threshold_mb: int) -> None:
        threshold = threshold_mb * 2**20
        try:
            free = shutil.disk_usage(library if library.exists() else library.parent).free
        except OSError:
            return
        if free < threshold and not self.low:
            self.low = True
            log.warning("The library disk has %d MiB free (below NOTIFY_DISK_FREE_MB=%d)", free // 2**20, threshold_mb)
            notify.enqueue(conn, "disk_low", f"disk_low:{iso()}",
                           data={"free_mb": free // 2**20, "threshold_mb": threshold_mb, "path": str(library)})
        elif free >= threshold * 1.1:
            self.low = False
