"""The upload backend interface: an uploader, its result, and the state of a resumable upload."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalogsync_ops.transfer.downloader import CancelToken, Progress


@dataclass
class UploadState:
    """A multipart upload in progress, as recorded in upload_tasks (so a crash can resume it)."""

    upload_id: str | None = None
    parts: dict[int, str] = field(default_factory=dict)  # part number -> ETag


@dataclass(frozen=True)
class UploadResult:
    etag: str | None
    skipped: bool  # the object was already there with our size and checksum
    bytes_sent: int


class Uploader:
    """Base of upload backends."""

    backend = "base"
    bucket = ""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix.strip("/")

    def object_key(self, rel_path: str) -> str:
        """The key of a library file (its path under LIBRARY_DIR) in the backend."""
        return f"{self.prefix}/{rel_path}" if self.prefix else rel_path

    def upload(self, path: Path, key: str, *, size: int, sha256: str, cancel: CancelToken | None = None,
               progress: Progress | None = None, state: UploadState | None = None,
               on_state: Callable[[UploadState], None] | None = None) -> UploadResult:
        raise NotImplementedError

    def listing(self, cancel: CancelToken | None = None) -> dict[str, Any]:
        """Every object under the prefix, by key: what the backup check compares with the recorded
        uploads, (size, ETag) for a bucket, the size for a mirror folder (its files have no ETag)."""
        raise NotImplementedError

    def delete(self, key: str) -> None:
        """Remove an object (one an upgrade replaced under another key); gone already is fine."""
        raise NotImplementedError

    def local_path(self, key: str) -> Path | None:
        """Where an object lies on this machine (a mirror folder), or None (a bucket)."""
        return None

    def close(self) -> None:
        """Release connections."""
