"""`local`: a mirror folder (a second volume or a mounted share), written atomically."""
from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from catalogsync_ops.errors import ErrorClass, SourceError
from catalogsync_ops.fileio import fsync_dir, make_folders
from catalogsync_ops.transfer.downloader import (
    CHUNK_SIZE,
    Canceled,
    CancelToken,
    Progress,
    commit_file,
    sha256_file,
)
from catalogsync_ops.transfer.storage.base import Uploader, UploadResult, UploadState


class LocalUploader(Uploader):
    backend = "local"

    def __init__(self, root: Path, *, prefix: str = "") -> None:
        super().__init__(prefix)
        self.root = Path(root)
        self.bucket = str(self.root)

    def upload(self, path: Path, key: str, *, size: int, sha256: str, cancel: CancelToken | None = None,
               progress: Progress | None = None, state: UploadState | None = None,
               on_state: Callable[[UploadState], None] | None = None) -> UploadResult:
        dest = self.root / key
        if dest.exists() and dest.stat().st_size == size and sha256_file(dest) == sha256:
            return UploadResult(etag=sha256, skipped=True, bytes_sent=0)
        make_folders(dest.parent)
        part = dest.with_name(f".{dest.name}.part")
        cancel = cancel or CancelToken()
        sent = 0
        try:
            with open(path, "rb") as src, open(part, "wb") as dst:
                while chunk := src.read(CHUNK_SIZE):
                    cancel.check()
                    dst.write(chunk)
                    sent += len(chunk)
                    if progress:
                        progress(sent, size)
        except (Canceled, OSError):
            part.unlink(missing_ok=True)
            raise
        commit_file(part, dest)
        return UploadResult(etag=sha256, skipped=False, bytes_sent=sent)

    def listing(self, cancel: CancelToken | None = None) -> Iterator[tuple[str, int, str | None]]:
        base = self.root / self.prefix if self.prefix else self.root
        if not self.root.is_dir():
            raise SourceError(f"the mirror folder {str(self.root)!r} is not there; is its disk mounted?",
                              ErrorClass.CONFIG)
        root = os.path.normpath(self.root)
        cut = len(root) + 1
        base = os.path.normpath(base)
        # Depth first, as os.walk without following links (in the folders' own order). Each folder
        # is read through its descriptor, so a file's size is a stat relative to it (fstatat), not
        # of its whole path again; keys by string slicing (os.path.relpath costs ten times the stat).
        folders = [(base, base[cut:].replace(os.sep, "/") + "/" if len(base) > len(root) else "")]
        while folders:
            folder, prefix = folders.pop()
            if cancel:
                cancel.check()
            try:
                fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            except (FileNotFoundError, NotADirectoryError):
                continue
            try:
                with os.scandir(fd) as listing:
                    for entry in listing:
                        name = entry.name
                        try:
                            if entry.is_dir():
                                if not entry.is_symlink():  # a linked folder is passed by, as os.walk does
                                    folders.append((folder + os.sep + name, prefix + name + "/"))
                                continue
                            if name[0] == "." and name.endswith(".part"):
                                continue  # an upload in progress, not an object yet
                            size = entry.stat().st_size
                        except FileNotFoundError:
                            continue
                        yield prefix + name, size, None
            finally:
                os.close(fd)

    def delete(self, key: str) -> None:
        path = self.root / key
        root = self.root.resolve()
        if root not in path.parent.resolve().parents and path.parent.resolve() != root:
            return  # a key naming "../" or a planted link never removes a file elsewhere
        try:
            if stat.S_ISREG(os.lstat(path).st_mode):
                path.unlink()
                fsync_dir(path.parent)
        except FileNotFoundError:
            pass

    def local_path(self, key: str) -> Path | None:
        return self.root / key
