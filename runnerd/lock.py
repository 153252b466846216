"""One runner per database: an OS lock on a file beside it, naming its holder."""
from __future__ import annotations

import fcntl
import json
import os
import socket
from pathlib import Path

from catalogsync_ops.store.connection import iso


class RunnerLockHeld(Exception):
    """Another runnerd holds the lock of this database."""


class RunnerLock:
    """`flock` on `<db>.runnerd.lock`; the kernel releases it when the process dies, however it dies."""

    def __init__(self, db_path: str | os.PathLike[str]) -> None:
        self.path = Path(f"{os.path.realpath(db_path)}.runnerd.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise RunnerLockHeld with the holder's pid, host and start time."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._read_holder(fd)
            os.close(fd)
            raise RunnerLockHeld(
                f"another runnerd (pid {holder.get('pid', '?')} on {holder.get('host', '?')}, running since "
                f"{holder.get('since', '?')}) is using {str(self.path)[:-len('.runnerd.lock')]!r}. Only one runner "
                "may run per database: stop that one first (or point this one at another DB_PATH).") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": iso()}).encode())
        os.fsync(fd)
        self._fd = fd

    @staticmethod
    def _read_holder(fd: int) -> dict:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            return json.loads(os.read(fd, 4096) or b"{}")
        except (OSError, ValueError):
            return {}

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
