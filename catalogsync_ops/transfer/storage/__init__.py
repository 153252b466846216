"""Upload backends behind one interface, chosen by OBJECT_BACKEND_NAME (s3, local, none)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from catalogsync_ops.transfer.storage.base import Uploader
from catalogsync_ops.transfer.storage.local import LocalUploader


def build_uploader(settings: dict[str, Any]) -> Uploader | None:
    """The configured backend, or None for OBJECT_BACKEND_NAME=none."""
    name = settings.get("OBJECT_BACKEND_NAME", "local")
    prefix = settings.get("OBJECT_PREFIX") or ""
    if name == "none":
        return None
    if name == "local":
        return LocalUploader(Path(settings["MIRROR_DIR"]), prefix=prefix)
    if name == "s3":
        from catalogsync_ops.transfer.storage.s3 import S3Uploader

        return S3Uploader(
            bucket=settings["OBJECT_BUCKET"], endpoint=settings.get("OBJECT_ENDPOINT") or None,
            region=settings.get("OBJECT_REGION") or None, access_key=settings.get("OBJECT_ACCESS_KEY_ID") or None,
            secret_key=settings.get("OBJECT_SECRET_ACCESS_KEY") or None, prefix=prefix,
            checksum_mode=settings.get("OBJECT_CHECKSUM_MODE", "when_required"))
    raise ValueError(f"unknown OBJECT_BACKEND_NAME {name!r}; one of s3, local, none")
