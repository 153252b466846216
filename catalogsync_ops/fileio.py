"""Small file helpers shared by the downloader, the uploaders and the config writer."""
from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

CHUNK_SIZE = 1024 * 1024
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})  # no space left, or the owner's quota used up


def fsync_dir(folder: Path) -> None:
    """fsync a folder so a rename inside it survives a power cut."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_folders(folder: Path) -> None:
    """mkdir -p, durably: each folder made is fsynced into its parent, so a file later renamed
    into it (and its folder fsynced) is not lost at a power cut with the folder's own name."""
    folder = Path(folder)
    if folder.is_dir():
        return
    missing = []
    while not folder.exists() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    for made in reversed(missing):
        try:
            made.mkdir()
        except FileExistsError:
            if not made.is_dir():
                raise
        fsync_dir(made.parent)


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def open_nofollow(path: str | os.PathLike[str], mode: str = "wb"):
    """Open a file the product writes (a part file, a sidecar, a temporary file) without following
    a symbolic link planted at its name: that raises OSError (ELOOP) instead of writing wherever
    the link points. `mode`: "wb" (created or emptied), "r+b" or "ab"."""
    flags = {"wb": os.O_WRONLY | os.O_CREAT | os.O_TRUNC, "r+b": os.O_RDWR,
             "ab": os.O_WRONLY | os.O_CREAT | os.O_APPEND}[mode]
    fd = os.open(path, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        return os.fdopen(fd, mode)
    except BaseException:
        os.close(fd)
        raise


def atomic_tmp(path: Path) -> Path:
    """The temporary file write_atomic writes `path` through."""
    return path.with_name(f".{path.name}.tmp")


def write_atomic(path: Path, data: bytes) -> str:
    """Write a small file whole or not at all (a temporary file beside it, fsynced, renamed over
    it, the folder fsynced); returns its SHA-256. The temporary name carries the file's own, so
    what a power cut leaves is recognisably ours."""
    tmp = atomic_tmp(path)
    with open_nofollow(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return hashlib.sha256(data).hexdigest()


PRIVATE_MODE = 0o600  # the database, its -wal/-shm, backups, the lock and the env file hold secrets


def create_private(path: str | os.PathLike[str]) -> None:
    """Create an empty file only its owner can read, unless it exists already."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def open_to_others(paths) -> list[tuple[Path, int]]:
    """The files among `paths` that exist and that users other than the owner may read or
    write, with their modes."""
    found = []
    for path in paths:
        try:
            mode = os.stat(path).st_mode & 0o777
        except OSError:
            continue
        if mode & 0o077:
            found.append((Path(path), mode))
    return found


def tighten(paths) -> list[tuple[Path, int]]:
    """Make the files among `paths` that others may read, and that this user owns, the owner's
    only (0600); returns those changed, with their old modes. A file of another owner is left
    as it is (open_to_others still reports it)."""
    changed = []
    for path, mode in open_to_others(paths):
        try:
            if path.stat().st_uid != os.getuid():
                continue
            path.chmod(PRIVATE_MODE)
        except OSError:
            continue
        changed.append((path, mode))
    return changed


RUNNER_LOG, CONSOLE_LOG = "runnerd.log", "catalogsync-web.log"  # in LOG_DIR


def log_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The product's log files in LOG_DIR, rotated ones included: they may hold what a secret
    produced in an error, so they are the owner's only, like the database."""
    folder = Path(folder)
    return [p for name in (RUNNER_LOG, CONSOLE_LOG) for p in sorted(folder.glob(name + "*"))] if folder.is_dir() else []


def _private_opener(path: str, flags: int) -> int:
    """A log file is created 0600 (an older release's, found 0644, the runner tightens and says so)."""
    return os.open(path, flags, PRIVATE_MODE)


def add_log_file(folder: str | os.PathLike[str], name: str, level: int | str = "INFO") -> Path | None:
    """Log to `folder/name` as well, rotating at 10 MB and keeping 5 old files (LOG_DIR), each
    file readable by its owner only.

    Returns the file, or None when the folder cannot be written (said on stderr; logging to
    stderr and the journal goes on)."""
    import logging
    from logging.handlers import RotatingFileHandler

    class PrivateRotatingFileHandler(RotatingFileHandler):
        """Each file it opens (the first and every rotated one) is created 0600."""

        def _open(self):
            return open(self.baseFilename, self.mode, encoding=self.encoding, errors=self.errors,
                        opener=_private_opener)

    path = Path(folder) / name
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        handler = PrivateRotatingFileHandler(path, maxBytes=10 * 2**20, backupCount=5, encoding="utf-8")
    except OSError as exc:
        logging.getLogger("catalogsync_ops").warning("LOG_DIR: cannot write %s (%s); logging to stderr only", path, exc)
        return None
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    return path
