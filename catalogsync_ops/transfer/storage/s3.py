"""`s3`: S3-compatible object storage through boto3 (AWS, MinIO, Synology C2, R2, …).

HEAD first: an object with our size and our SHA-256 (in its metadata) is not sent again.
Large files go up as multipart uploads whose id and finished parts are handed to `on_state`
(the pipeline records them in upload_tasks), so a retry or a restart after a crash resumes
the same upload; other uploads of the same key (left by a crash before the id was recorded)
are aborted, and so is the upload of a canceled item, so none dangles. Request checksums
default to `when_required`, which S3-compatible servers that reject the newer checksum
headers accept; with `when_supported` every part also carries a CRC32 the server checks (as
boto3's own transfers do).
"""
from __future__ import annotations

import io
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from catalogsync_ops.errors import ErrorClass, SourceError
from catalogsync_ops.transfer.downloader import Canceled, CancelToken, Progress
from catalogsync_ops.transfer.storage.base import Uploader, UploadResult, UploadState

MULTIPART_THRESHOLD = 16 * 1024 * 1024
PART_SIZE = 8 * 1024 * 1024
PART_CONCURRENCY = 4


class _FileSlice(io.RawIOBase):
    """A read-only, seekable window [offset, offset + length) of a file (one multipart part)."""

    def __init__(self, path: Path, offset: int, length: int) -> None:
        self._file = open(path, "rb")
        self._offset, self._length, self._pos = offset, length, 0
        self._file.seek(offset)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        # One read of the underlying file (RawIOBase.read() would loop in 8 KiB steps).
        left = self._length - self._pos
        if left <= 0:
            return b""
        data = self._file.read(left if size is None or size < 0 else min(size, left))
        self._pos += len(data)
        return data

    def readinto(self, buffer) -> int:
        left = self._length - self._pos
        if left <= 0:
            return 0
        view = memoryview(buffer)[:left]
        n = self._file.readinto(view)
        self._pos += n
        return n

    def seek(self, position: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, min(self._length, base + position))
        self._file.seek(self._offset + self._pos)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def __len__(self) -> int:
        return self._length

    def close(self) -> None:
        self._file.close()
        super().close()


def _error(exc: Exception, what: str) -> SourceError:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch") or status in (401, 403):
            return SourceError(f"{what}: the storage refused our credentials ({code}); check "
                               "OBJECT_ACCESS_KEY_ID / OBJECT_SECRET_ACCESS_KEY", ErrorClass.AUTH)
        if code == "NoSuchBucket":
            return SourceError(f"{what}: the bucket does not exist; create it or fix OBJECT_BUCKET", ErrorClass.CONFIG)
        if status == 429 or code in ("SlowDown", "Throttling"):
            return SourceError(f"{what}: the storage asks us to slow down ({code})", ErrorClass.RATE_LIMITED)
        if code in ("InvalidRequest", "BadDigest", "XAmzContentSHA256Mismatch", "InvalidArgument"):
            return SourceError(f"{what}: the storage rejected the request ({code}: {exc}); with a non-AWS "
                               "endpoint keep OBJECT_CHECKSUM_MODE=when_required", ErrorClass.HTTP_4XX)
        return SourceError(f"{what}: {code or status} {exc}",
                           ErrorClass.HTTP_5XX if status >= 500 else ErrorClass.HTTP_4XX)
    if isinstance(exc, EndpointConnectionError):
        return SourceError(f"{what}: cannot reach the storage endpoint ({exc})", ErrorClass.CONNECTION)
    return SourceError(f"{what}: {exc}", ErrorClass.CONNECTION)


class S3Uploader(Uploader):
    backend = "s3"

    def __init__(self, *, bucket: str, endpoint: str | None = None, region: str | None = None,
                 access_key: str | None = None, secret_key: str | None = None, prefix: str = "",
                 checksum_mode: str = "when_required", part_size: int = PART_SIZE,
                 multipart_threshold: int = MULTIPART_THRESHOLD, concurrency: int = PART_CONCURRENCY) -> None:
        super().__init__(prefix)
        self.bucket = bucket
        self.part_size = part_size
        self.multipart_threshold = multipart_threshold
        self.concurrency = concurrency
        # Per-part checksums the server verifies; only where the endpoint is known to take them.
        self.part_checksum = "CRC32" if checksum_mode == "when_supported" else None
        config = BotoConfig(
            request_checksum_calculation=checksum_mode, response_checksum_validation=checksum_mode,
            retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=max(10, concurrency * 2),
            connect_timeout=10, read_timeout=60,
        )
        self.client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=access_key,
            aws_secret_access_key=secret_key, config=config)

    def head(self, key: str) -> dict | None:
        """The object's size and our checksum, or None when it does not exist."""
        try:
            meta = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return None
            raise _error(exc, f"HEAD {key}") from None
        except BotoCoreError as exc:
            raise _error(exc, f"HEAD {key}") from None
        return {"size": meta["ContentLength"], "sha256": (meta.get("Metadata") or {}).get("sha256"),
                "etag": meta.get("ETag")}

    def upload(self, path: Path, key: str, *, size: int, sha256: str, cancel: CancelToken | None = None,
               progress: Progress | None = None, state: UploadState | None = None,
               on_state: Callable[[UploadState], None] | None = None) -> UploadResult:
        cancel = cancel or CancelToken()
        existing = self.head(key)
        if existing and existing["size"] == size and existing["sha256"] == sha256:
            self._abort_others(key, keep=None)
            return UploadResult(etag=existing["etag"], skipped=True, bytes_sent=0)
        try:
            if size < self.multipart_threshold:
                cancel.check()
                with open(path, "rb") as body:
                    answer = self.client.put_object(Bucket=self.bucket, Key=key, Body=body,
                                                    Metadata={"sha256": sha256}, ContentLength=size)
                if progress:
                    progress(size, size)
                return UploadResult(etag=answer.get("ETag"), skipped=False, bytes_sent=size)
            return self._multipart(path, key, size, sha256, cancel, progress, state or UploadState(), on_state)
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, f"upload of {key}") from None

    def _abort_others(self, key: str, keep: str | None) -> None:
        """Abort multipart uploads of `key` other than `keep` (left by a crash)."""
        try:
            listing = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=key)
        except (ClientError, BotoCoreError):
            return
        for upload in listing.get("Uploads", []):
            if upload["Key"] == key and upload["UploadId"] != keep:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload["UploadId"])

    def _multipart(self, path: Path, key: str, size: int, sha256: str, cancel: CancelToken,
                   progress: Progress | None, state: UploadState,
                   on_state: Callable[[UploadState], None] | None) -> UploadResult:
        done: dict[int, str] = {}
        sums: dict[int, str] = {}  # part number -> its CRC32, for uploads created with one
        algorithm = self.part_checksum
        if state.upload_id:
            try:
                pages = self.client.get_paginator("list_parts").paginate(
                    Bucket=self.bucket, Key=key, UploadId=state.upload_id)
                listed = [p for page in pages for p in page.get("Parts", [])]
            except ClientError:
                listed, state = [], UploadState()  # the upload is gone (completed or aborted): start again
            if state.upload_id and not listed:
                # Nothing sent yet: start clean rather than guess the checksum it was created with.
                self.abort(key, state)
                state = UploadState()
            done = {p["PartNumber"]: p["ETag"] for p in listed}
            sums = {p["PartNumber"]: p["ChecksumCRC32"] for p in listed if p.get("ChecksumCRC32")}
            if listed:
                # A resumed upload keeps the checksum it was created with, whatever the config says now.
                algorithm = "CRC32" if sums else None
        self._abort_others(key, keep=state.upload_id)
        if not state.upload_id:
            extra = {"ChecksumAlgorithm": algorithm} if algorithm else {}
            created = self.client.create_multipart_upload(Bucket=self.bucket, Key=key, Metadata={"sha256": sha256},
                                                          **extra)
            state = UploadState(created["UploadId"], {})
            if on_state:
                on_state(state)
        count = (size + self.part_size - 1) // self.part_size
        todo = [n for n in range(1, count + 1) if n not in done]
        lock = threading.Lock()
        sent = [sum(min(self.part_size, size - (n - 1) * self.part_size) for n in done)]

        stop = threading.Event()  # a part failed: the others do not start

        def send(number: int) -> None:
            cancel.check()
            if stop.is_set():
                return
            offset = (number - 1) * self.part_size
            length = min(self.part_size, size - offset)
            extra = {"ChecksumAlgorithm": algorithm} if algorithm else {}
            with _FileSlice(path, offset, length) as body:  # streamed from disk, never held whole
                answer = self.client.upload_part(Bucket=self.bucket, Key=key, UploadId=state.upload_id,
                                                 PartNumber=number, Body=body, ContentLength=length, **extra)
            with lock:
                done[number] = answer["ETag"]
                if answer.get("ChecksumCRC32"):
                    sums[number] = answer["ChecksumCRC32"]
                state.parts = dict(done)
                sent[0] += length
                if on_state:
                    on_state(state)
                if progress:
                    progress(sent[0], size)

        try:
            with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="s3-part") as pool:
                futures = [pool.submit(send, n) for n in todo]
                finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
                for future in finished:
                    if future.exception() is not None:
                        stop.set()
                        raise future.exception()
            answer = self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=state.upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": done[n],
                                            **({"ChecksumCRC32": sums[n]} if n in sums else {})}
                                           for n in sorted(done)]})
        except Canceled as exc:
            if exc.reason == "cancel":
                # Canceled for good: abort so nothing dangles. An interrupt keeps the upload to resume.
                self.abort(key, state)
                if on_state:
                    on_state(UploadState())
            raise
        return UploadResult(etag=answer.get("ETag"), skipped=False, bytes_sent=sent[0])

    def listing(self, cancel: CancelToken | None = None) -> dict[str, Any]:
        """Every object under the prefix: its key, and its size and ETag (ListObjectsV2, 1,000 keys a page)."""
        prefix = f"{self.prefix}/" if self.prefix else ""
        listed: dict[str, tuple[int, str | None]] = {}
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                if cancel:
                    cancel.check()
                for obj in page.get("Contents", ()):
                    listed[obj["Key"]] = (int(obj["Size"]), obj.get("ETag"))
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, f"listing of bucket {self.bucket}") from None
        return listed

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, f"DELETE {key}") from None

    def abort(self, key: str, state: UploadState) -> None:
        """Abort a recorded multipart upload (a failed item giving up for good)."""
        if state.upload_id:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=state.upload_id)
            except (ClientError, BotoCoreError):
                pass

    def close(self) -> None:
        self.client.close()
