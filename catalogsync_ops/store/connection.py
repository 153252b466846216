"""Connections to the SQLite file shared by runnerd, the web UI and the CLI.

One `connect()` sets every pragma the two processes rely on; one `transaction()` opens
`BEGIN IMMEDIATE` and commits or rolls back. Writes inside one process are serialised by a
per-file lock, so threads queue on a Python lock (microseconds) instead of SQLite's busy
handler (which sleeps in steps of up to 100 ms).
"""
from __future__ import annotations

import math
import os
import re
import sqlite3
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from catalogsync_ops.errors import DatabaseLocationError
from catalogsync_ops.fileio import PRIVATE_MODE

ID_MAX = 2**63 - 1  # SQLite's INTEGER range: ids (and cursors) beyond it cannot exist
BUSY_TIMEOUT_MS = 15_000

# File systems on which SQLite's WAL mode is unsafe: WAL needs shared memory between every
# process that opens the file, which a network or FUSE file system does not provide.
NETWORK_FS_TYPES = frozenset(
    {
        "nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "ncpfs", "afs", "9p",
        "ceph", "glusterfs", "lustre", "gpfs", "sshfs", "davfs", "webdav", "virtiofs",
        "gfs2", "ocfs2", "beegfs", "orangefs", "pvfs2", "moosefs", "lizardfs", "cephfs",
    }
)
# A local disk through FUSE (NTFS or exFAT on USB, ntfs-3g): one machine, but its locking and
# shared memory are FUSE's. Refused unless the owner says so in the environment. The power-cut
# harness's disk (tools/forgetfs.py, a local passthrough) is accepted the same way.
LOCAL_FUSE_TYPES = frozenset({"fuseblk", "fuse.forgetfs"})
ALLOW_LOCAL_FUSE = "CATALOGSYNC_ALLOW_FUSEBLK"
_MOUNT_ESCAPE = re.compile(r"\\([0-7]{3})")

# Checkpoints: SQLite's automatic one runs inside the COMMIT that crosses its threshold, that is
# inside this process's write lock, so every other thread's write waited out its copying and
# fsyncs. Connections here turn it off, and the thread that commits runs a PASSIVE checkpoint
# after it has let go of the lock, every CHECKPOINT_COMMITS commits or CHECKPOINT_S seconds
# (a PASSIVE checkpoint never blocks writers or readers; WAL lets writers go on meanwhile).
CHECKPOINT_COMMITS = 200
CHECKPOINT_S = 1.0
# A PASSIVE checkpoint stops at the oldest reader's snapshot, and the log starts over only when
# no reader is in it: with pages read without pause (a console under load, a tab per family
# member) it would grow without end. Past WAL_RESTART_FRAMES frames (64 MiB of 4 KiB pages) the
# checkpoint waits up to WAL_RESTART_WAIT_MS for the readers of the moment (each reads for
# milliseconds; newer ones read the newest state) and starts the log over; SQLite then cuts the
# file back to WAL_KEEP_BYTES.
WAL_RESTART_FRAMES = 16_384
WAL_RESTART_WAIT_MS = 250
WAL_KEEP_BYTES = 64 * 1024 * 1024


# The write lock is not fair: a thread that lets go and writes again at once takes it back before
# the waiter it woke can run, which keeps a busy writer from switching threads at every commit
# but could leave a waiter behind for long. Once a thread has waited FAIR_WAIT_S, each thread
# that lets go pauses HANDOFF_S before it writes again, and the longest waiter (woken first) goes.
FAIR_WAIT_S = 0.05
HANDOFF_S = 0.001


class _FileWrites:
    """This process's writes to one database file: its write lock and its checkpoint pace."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.waiting: dict[int, float] = {}  # thread -> since when it waits for the lock
        self.commits = 0
        self.checkpointed_at = time.monotonic()
        self.held_s = 0.0  # how long the last transaction held the write lock (BEGIN to COMMIT)

    def take(self) -> None:
        """The write lock; a thread that has to wait for it is listed meanwhile (see let_go)."""
        if self.lock.acquire(blocking=False):
            return
        me = threading.get_ident()
        self.waiting[me] = time.monotonic()
        try:
            self.lock.acquire()
        finally:
            del self.waiting[me]

    def let_go(self) -> None:
        """Release the write lock, and pause when another thread has waited too long (FAIR_WAIT_S)."""
        self.lock.release()
        if self.waiting and time.monotonic() - min(list(self.waiting.values()), default=math.inf) > FAIR_WAIT_S:
            time.sleep(HANDOFF_S)

    def committed(self) -> bool:
        """Count a commit; True when the caller should checkpoint now (one caller at a time)."""
        with _write_locks_guard:
            self.commits += 1
            now = time.monotonic()
            if self.commits < CHECKPOINT_COMMITS and now - self.checkpointed_at < CHECKPOINT_S:
                return False
            self.commits, self.checkpointed_at = 0, now
            return True


_writes: dict[str, _FileWrites] = {}
_write_locks_guard = threading.Lock()


def _writes_for(path: str) -> _FileWrites:
    with _write_locks_guard:
        writes = _writes.get(path)
        if writes is None:
            writes = _writes[path] = _FileWrites()
        return writes


class Connection(sqlite3.Connection):
    """A sqlite3 connection that knows its file and the process-wide write lock for it."""

    path: str
    writes: _FileWrites
    readonly: bool
    durable = False  # the transaction now open commits with synchronous=FULL (transaction(durable=True))
    sync_owed = False  # a durable transaction was nested in one that is not: its WAL is fsynced after
    reading = False  # a read snapshot is open (read_snapshot): a write ends it first
    committed_at = 0.0  # time.perf_counter() when its last COMMIT returned (before any checkpoint it then ran)

    if sys.version_info < (3, 13):
        # Python 3.13 warns when a connection is dropped unclosed; earlier versions say nothing.
        # Warn the same way there, so a leak shows on every Python we support (the tests make
        # any ResourceWarning an error).
        _closed = False

        def close(self) -> None:
            self._closed = True
            super().close()

        def __del__(self) -> None:
            if not self._closed:
                warnings.warn(f"unclosed database in {self!r}", ResourceWarning, stacklevel=1, source=self)


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def iso(moment: datetime | None = None) -> str:
    """Format a moment as fixed-width UTC ISO-8601 text, which sorts like the time itself."""
    moment = moment or utcnow()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    elif moment.utcoffset():
        moment = moment.astimezone(UTC)
    # isoformat, not strftime: a tenth of the cost, and every write stamps a time or two.
    return moment.isoformat(timespec="microseconds")[:26] + "Z"


def parse_iso(text: str) -> datetime:
    """Parse text written by `iso()` back into an aware datetime (only that form: anything else
    raises ValueError, as strptime says)."""
    if len(text) == 27 and text[10] == "T" and text[19] == "." and text[26] == "Z":
        return datetime.fromisoformat(text[:26]).replace(tzinfo=UTC)  # C speed: pages parse hundreds
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _when_free(conn: sqlite3.Connection, sql: str) -> sqlite3.Cursor:
    """Run a pragma that changes the file's mode, waiting out another process doing the same: a
    journal-mode switch can answer SQLITE_BUSY at once, without SQLite's busy handler (two
    processes opening a new database together)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            return conn.execute(sql)
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def dicts(cursor: sqlite3.Cursor) -> list[dict]:
    """A query's rows as dicts by column name, read as plain tuples (a sqlite3.Row made for each
    row and then taken apart cost as much again)."""
    names = [d[0] for d in cursor.description]
    cursor.row_factory = None
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def filesystem_type(path: str | os.PathLike[str], mountinfo: str | None = None) -> str:
    """Return the file-system type of the mount that holds `path` ('' if unknown).

    `mountinfo` is the text of /proc/self/mountinfo; it is read from /proc when not given.
    """
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
    target = os.path.realpath(path)
    best_point, best_type = "", ""
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields = left.split()
        if len(fields) < 5:
            continue
        point = _MOUNT_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), fields[4])  # \040 space, \011 tab, …
        fstype = right.split()[0] if right.split() else ""
        inside = target == point or target.startswith(point.rstrip("/") + "/") or point == "/"
        if inside and len(point) >= len(best_point):
            best_point, best_type = point, fstype
    return best_type


def is_network_filesystem(fstype: str) -> bool:
    """Tell whether a file-system type is one on which SQLite WAL must not be used."""
    base = fstype.lower()
    return base in NETWORK_FS_TYPES or base.startswith("fuse") or base.startswith("nfs") or base in LOCAL_FUSE_TYPES


def check_local_filesystem(db_path: str | os.PathLike[str], mountinfo: str | None = None) -> None:
    """Refuse a database whose folder is on a network or FUSE file system."""
    fstype = filesystem_type(os.path.dirname(os.path.realpath(db_path)), mountinfo)
    if fstype.lower() in LOCAL_FUSE_TYPES:
        if os.environ.get(ALLOW_LOCAL_FUSE) == "1":
            return
        raise DatabaseLocationError(
            f"The database {str(db_path)!r} is on a {fstype!r} file system: a disk formatted NTFS or exFAT (often a "
            "USB disk) reached through FUSE. SQLite in WAL mode needs file locks and shared memory that FUSE does "
            "not reliably give, and a power cut there can corrupt the database. Put DB_PATH on the NAS's own "
            "volume (ext4 or Btrfs, for example /volume1/…) — the library can stay on the USB disk. If you accept "
            f"the risk, set {ALLOW_LOCAL_FUSE}=1 in the environment of runnerd and the console.")
    if fstype and is_network_filesystem(fstype):
        raise DatabaseLocationError(
            f"The database {str(db_path)!r} is on a {fstype!r} file system. SQLite in WAL mode "
            "needs shared memory between runnerd and the web UI, which network and FUSE file "
            "systems (NFS, SMB/CIFS, sshfs, …) do not provide, so the database could be "
            "corrupted. Put DB_PATH on a local disk of the NAS (for example /volume1/…) and "
            "keep the library on the share if you like."
        )


def connect(
    path: str | os.PathLike[str],
    *,
    readonly: bool = False,
    check_filesystem: bool = True,
    same_thread_only: bool = True,
    cache_kib: int | None = None,
) -> Connection:
    """Open the database with WAL, busy timeout, foreign keys and a Row factory.

    Readers get `query_only` so a bug cannot write through them. The connection is in
    autocommit mode: writes go through `transaction()`. `cache_kib`: its page cache, if not
    SQLite's default (2 MiB).
    """
    path = os.path.realpath(path)
    if check_filesystem:
        check_local_filesystem(path)
    existed = os.path.exists(path)
    conn = sqlite3.connect(
        path,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,
        # Off only for a connection one thread uses and another closes after it has ended
        # (the console's kept connections, closed when the server stops).
        check_same_thread=same_thread_only,
        factory=Connection,
    )
    try:
        conn.path = path
        conn.readonly = readonly
        conn.writes = _writes_for(path)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not existed:
            # Before anything is written: SQLite gives the -wal and -shm files the database file's mode.
            try:
                os.chmod(path, PRIVATE_MODE)
            except OSError:
                pass  # not made here after all (no folder: the first statement says so)
        if not readonly:
            if not existed:
                # Before the first table: freed pages can then be given back a few at a time
                # (engine/retention.py) instead of by a VACUUM that rewrites the whole file.
                _when_free(conn, "PRAGMA auto_vacuum = INCREMENTAL")
            mode = _when_free(conn, "PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise DatabaseLocationError(
                    f"Could not switch {path!r} to WAL mode (got {mode!r}). Put the database on a "
                    "local disk where the runner and the web UI can share memory."
                )
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA wal_autocheckpoint = 0")  # checkpoints run outside the write lock: transaction()
        conn.execute(f"PRAGMA journal_size_limit = {WAL_KEEP_BYTES}")
        if cache_kib:
            conn.execute(f"PRAGMA cache_size = -{int(cache_kib)}")
        if readonly:
            conn.execute("PRAGMA query_only = ON")
    except BaseException:
        conn.close()  # not a database, locked, no WAL: the caller gets an error, not a connection
        raise
    return conn


def read_snapshot(conn: Connection) -> None:
    """Read everything from here to `end_read_snapshot` as of one moment: one page of the console
    reads consistent numbers, and SQLite checks the log and drops its page cache once, not at
    every statement (with the runner committing hundreds of times a second, that was most of
    a page's time). A write on the connection ends the snapshot first (`transaction`)."""
    if not conn.in_transaction:
        conn.execute("BEGIN")
        conn.reading = True


def end_read_snapshot(conn: Connection) -> None:
    """End the snapshot `read_snapshot` opened (nothing was written in it)."""
    if conn.reading:
        conn.reading = False
        if conn.in_transaction:
            conn.execute("COMMIT")


def _fsync_wal(conn: Connection) -> None:
    """What synchronous=FULL does at a commit, after it: the write-ahead log fsynced, and with
    it every commit in it."""
    try:
        fd = os.open(conn.path + "-wal", os.O_RDONLY)
    except FileNotFoundError:
        return  # checkpointed and gone: what it held is in the database file, synced
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def transaction(conn: Connection, *, durable: bool = False) -> Iterator[Connection]:
    """Run the block in one write transaction (`BEGIN IMMEDIATE`), nested via SAVEPOINT.

    The outermost level also holds this process's write lock for the file, so threads of
    one process never make each other wait in SQLite's busy handler, and none waits much
    longer than FAIR_WAIT_S while others write.

    Commits are not fsynced (synchronous=NORMAL: WAL mode keeps the file whole, and a power
    cut loses at most the last commits, until the next checkpoint). `durable=True` is for a
    commit someone will act on: a command row whose id is printed, a command shown applied, a
    file row that must be there before its file is renamed into place, a notification about
    to be sent. It is fsynced (synchronous=FULL), and with it every commit before it.
    """
    if conn.reading:
        end_read_snapshot(conn)  # a snapshot cannot become a write once others have committed
    if conn.in_transaction:
        if durable and not conn.durable:
            conn.sync_owed = True  # synchronous cannot change inside a transaction: fsynced after COMMIT
        # SAVEPOINT names may repeat: ROLLBACK TO / RELEASE act on the innermost one.
        conn.execute("SAVEPOINT nested")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK TO nested")
            conn.execute("RELEASE nested")
            raise
        else:
            conn.execute("RELEASE nested")
        return
    writes = conn.writes
    writes.take()
    try:
        began = time.perf_counter()
        if durable:
            conn.execute("PRAGMA synchronous = FULL")  # only outside a transaction
            conn.durable = True
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")
                conn.committed_at = time.perf_counter()
        finally:
            writes.held_s = time.perf_counter() - began
            if durable:
                conn.durable = False
                conn.execute("PRAGMA synchronous = NORMAL")
            if conn.sync_owed:
                conn.sync_owed = False
                _fsync_wal(conn)
    finally:
        writes.let_go()
    if writes.committed():
        checkpoint(conn)


def checkpoint(conn: Connection) -> None:
    """Copy the log into the database file without waiting; start the log over if it has grown
    past WAL_RESTART_FRAMES because readers never let it (see WAL_RESTART_FRAMES)."""
    try:
        _busy, frames, _copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if frames > WAL_RESTART_FRAMES:
            conn.execute(f"PRAGMA busy_timeout = {WAL_RESTART_WAIT_MS}")
            try:
                conn.execute("PRAGMA wal_checkpoint(RESTART)")
            finally:
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    except sqlite3.OperationalError:
        pass  # busy or interrupted: the next one copies these pages too
