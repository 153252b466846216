"""Upload: push a library file to the configured backend."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from catalogsync_ops.errors import ErrorClass, SourceError
from catalogsync_ops.library import catalog
from catalogsync_ops.library.layout import lyrics_beside
from catalogsync_ops.pipeline.context import Outcome, WorkContext
from catalogsync_ops.store.connection import iso
from catalogsync_ops.transfer.storage.base import UploadState


def upload_file(ctx: WorkContext, file_id: int) -> Outcome:
    """Push one library file to the configured backend (idempotent; multipart resumes)."""
    if ctx.uploader is None:
        return Outcome(skipped="OBJECT_BACKEND_NAME is none")
    row = ctx.conn.execute("SELECT * FROM file_locations WHERE id = ?", (file_id,)).fetchone()
    if row is None:
        raise SourceError(f"file {file_id} is no longer in the catalog", ErrorClass.NOT_FOUND)
    path = Path(row["library_root"]) / row["rel_path"]
    if not path.is_file():
        raise SourceError(f"{str(path)!r} is missing from the library; retry its download first", ErrorClass.NOT_FOUND)
    uploader = ctx.uploader
    key = uploader.object_key(row["rel_path"])
    task = catalog.upload_task_for(ctx.conn, file_id, uploader.backend, uploader.bucket, key)
    state = UploadState(task["multipart_upload_id"],
                        {int(k): v for k, v in json.loads(task["parts_json"] or "{}").items()})

    def on_state(new: UploadState) -> None:
        catalog.update_upload_task(ctx.conn, task["id"], multipart_upload_id=new.upload_id,
                                   parts_json=json.dumps(new.parts) if new.parts else None)

    catalog.update_upload_task(ctx.conn, task["id"], status="uploading")
    try:
        result = uploader.upload(path, key, size=row["size_bytes"], sha256=row["sha256"], cancel=ctx.cancel,
                                 progress=ctx.progress, state=state, on_state=on_state)
    except SourceError as exc:
        catalog.update_upload_task(ctx.conn, task["id"], status="failed", last_error=str(exc))
        raise
    catalog.update_upload_task(ctx.conn, task["id"], status="uploaded", etag=result.etag, checksum_sha256=row["sha256"],
                               size_bytes=row["size_bytes"], multipart_upload_id=None, parts_json=None,
                               last_error=None, uploaded_at=iso())
    details = {"key": key, "bucket": uploader.bucket, "skipped_existing": result.skipped}
    sent = result.bytes_sent
    if row["lyrics_sha256"]:
        lyrics_key, lyrics_sent = _upload_lyrics(ctx, row)
        details["lyrics_key"] = lyrics_key
        sent += lyrics_sent
    # What this file replaced (an upgrade under another name) leaves the backup only now.
    removed = []
    for retired in catalog.retired_for(ctx.conn, file_id, uploader.backend, uploader.bucket):
        if not retired["reused"]:
            uploader.delete(retired["object_key"])
            removed.append(retired["object_key"])
        catalog.mark_retired_removed(ctx.conn, retired["id"])
    if removed:
        details["removed_replaced"] = removed
    return Outcome(source=uploader.backend, bytes_done=sent, details=details)


def _upload_lyrics(ctx: WorkContext, row) -> tuple[str | None, int]:
    """The song's .lrc goes to the backup beside it, as its own object with its own upload task
    (so verify checks it and a repair puts it back). An .lrc changed or gone on disk since it was
    recorded is left for verify to report, not uploaded."""
    rel = lyrics_beside(row["rel_path"])
    lrc = Path(row["library_root"]) / rel
    try:
        data = lrc.read_bytes()
    except FileNotFoundError:
        return None, 0
    digest = hashlib.sha256(data).hexdigest()
    if digest != row["lyrics_sha256"]:
        return None, 0
    uploader = ctx.uploader
    key = uploader.object_key(rel)
    task = catalog.upload_task_for(ctx.conn, row["id"], uploader.backend, uploader.bucket, key)
    if task["status"] == "uploaded" and task["checksum_sha256"] == digest:
        return key, 0
    catalog.update_upload_task(ctx.conn, task["id"], status="uploading")
    try:
        result = uploader.upload(lrc, key, size=len(data), sha256=digest, cancel=ctx.cancel)
    except SourceError as exc:
        catalog.update_upload_task(ctx.conn, task["id"], status="failed", last_error=str(exc))
        raise
    catalog.update_upload_task(ctx.conn, task["id"], status="uploaded", etag=result.etag, checksum_sha256=digest,
                               size_bytes=len(data), last_error=None, uploaded_at=iso())
    return key, result.bytes_sent
