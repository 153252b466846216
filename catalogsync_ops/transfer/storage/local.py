"""`local`: a mirror folder (a second volume or a mounted share), written atomically."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
from catalogsync_ops.transfer.storage import mirror_listing
from catalogsync_ops.transfer.storage.base import Uploader, UploadResult, UploadState

LISTING_CHECK_S = 0.25  # how often a listing under way looks for a pause or cancel


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

    def listing(self, cancel: CancelToken | None = None) -> dict[str, Any]:
        """Every file under the prefix: its key and size (a mirror's entries have no ETag). Made by
        a process of its own (`mirror_listing.py`), waited for with Python's lock let go."""
        base = self.root / self.prefix if self.prefix else self.root
        if not self.root.is_dir():
            raise SourceError(f"the mirror folder {str(self.root)!r} is not there; is its disk mounted?",
                              ErrorClass.CONFIG)
        proc = subprocess.Popen([sys.executable, "-I", "-S", mirror_listing.__file__, str(self.root), str(base)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            while True:
                try:
                    out, err = proc.communicate(timeout=LISTING_CHECK_S)
                    break
                except subprocess.TimeoutExpired:
                    if cancel:
                        cancel.check()
        except BaseException:
            proc.kill()  # the listing this call started, by its own handle
            proc.wait()
            raise
        if proc.returncode not in (0, mirror_listing.ERROR_STATUS):
            said = err.decode("utf-8", "replace").strip().splitlines()
            raise SourceError(f"the listing of the mirror folder {str(self.root)!r} ended with status "
                              f"{proc.returncode}: {said[-1] if said else 'nothing said'}", ErrorClass.INTERNAL)
        try:
            if proc.returncode == mirror_listing.ERROR_STATUS:
                error = mirror_listing.error_of(out)
            else:
                return mirror_listing.parse(out)
        except ValueError as exc:  # an answer cut short or garbled: said, not taken as a listing
            raise SourceError(f"the listing of the mirror folder {str(self.root)!r} could not be read: {exc}",
                              ErrorClass.INTERNAL) from None
        raise error

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
