"""Upload backends behind one interface, chosen by OBJECT_BACKEND_NAME (s3, local, none)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

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

    def close(self) -> None:
        """Release connections."""


def build_uploader(settings: dict[str, Any]) -> Uploader | None:
    """The configured backend, or None for OBJECT_BACKEND_NAME=none."""
    name = settings.get("OBJECT_BACKEND_NAME", "local")
    prefix = settings.get("OBJECT_PREFIX") or ""
    if name == "none":
        return None
    if name == "local":
        from catalogsync_ops.transfer.storage.local import LocalUploader

        return LocalUploader(Path(settings["MIRROR_DIR"]), prefix=prefix)
    if name == "s3":
        from catalogsync_ops.transfer.storage.s3 import S3Uploader

        return S3Uploader(
            bucket=settings["OBJECT_BUCKET"], endpoint=settings.get("OBJECT_ENDPOINT") or None,
            region=settings.get("OBJECT_REGION") or None, access_key=settings.get("OBJECT_ACCESS_KEY_ID") or None,
            secret_key=settings.get("OBJECT_SECRET_ACCESS_KEY") or None, prefix=prefix,
            checksum_mode=settings.get("OBJECT_CHECKSUM_MODE", "when_required"))
    raise ValueError(f"unknown OBJECT_BACKEND_NAME {name!r}; one of s3, local, none")
