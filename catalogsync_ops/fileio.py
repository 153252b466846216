"""Small file helpers shared by the downloader, the uploaders and the config writer."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

CHUNK_SIZE = 1024 * 1024


def fsync_dir(folder: Path) -> None:
    """fsync a folder so a rename inside it survives a power cut."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


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
