"""Our streaming downloader: resumable, cancellable, verified, and atomic at the final path.

The bytes go to a `.part` file beside the destination. A later attempt resumes it with
`Range` + `If-Range` (the validator is kept in a small sidecar), and starts over when the
server ignores the Range or the file changed. The size is checked against Content-Length /
Content-Range, the audio header against mutagen, and only then is the file fsynced and
renamed into place (and the folder fsynced). A crash at any moment leaves either no file at
the final path or the complete one.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import requests
import urllib3

from catalogsync_ops.errors import ErrorClass, SourceError
from catalogsync_ops.fileio import CHUNK_SIZE, DISK_FULL_ERRNOS, fsync_dir, make_folders, open_nofollow, sha256_file
from catalogsync_ops.transfer.audio import check_audio
from catalogsync_ops.transfer.http import error_class_for_exception, error_class_for_status

PROGRESS_INTERVAL_S = 0.25

Progress = Callable[[int, "int | None"], None]


class Canceled(Exception):
    """The transfer stopped at a chunk boundary because it was asked to."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"transfer stopped: {reason}")
        self.reason = reason


class CancelToken:
    """Set by the runner; checked by transfers before every chunk.

    reason 'cancel' removes the partial file; 'interrupt' keeps it so a later attempt resumes.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = "cancel"

    def cancel(self, reason: str = "cancel") -> None:
        self.reason = reason
        self._event.set()

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Canceled(self.reason)

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`, or stop (raise Canceled) as soon as the token is set."""
        self._event.wait(seconds)
        self.check()


@dataclass(frozen=True)
class FetchResult:
    """What `fetch()` left in the part file."""

    size: int
    sha256: str | None  # only when asked for (hash_body=True)
    resumed_from: int
    restarted: bool


def part_path_for(dest: Path) -> Path:
    """The temp file beside `dest` that a download of `dest` writes to."""
    return dest.with_name(f".{dest.name}.part")


def part_files(dest: Path) -> tuple[Path, Path, Path]:
    """What a download of `dest` writes beside it before the rename: the part file, its resume
    sidecar, and the sidecar's temporary file."""
    part = part_path_for(dest)
    meta = _meta_path(part)
    return part, meta, _meta_tmp(meta)


def _meta_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def remove_partial(dest: Path) -> None:
    """Remove the part file and sidecar of `dest`, if any."""
    _drop_part(part_path_for(dest))


def _meta_tmp(meta_path: Path) -> Path:
    return meta_path.with_name(meta_path.name + ".tmp")


def _write_meta(meta_path: Path, meta: dict) -> None:
    """The sidecar is replaced whole: a kill while it is written leaves the old one (still
    naming the part's validator), never an empty one that would make the next attempt start over.
    Not fsynced: after a power cut a lost sidecar only costs a download from the start."""
    tmp = _meta_tmp(meta_path)
    with open_nofollow(tmp, "wb") as handle:
        handle.write(json.dumps(meta).encode("utf-8"))
    os.replace(tmp, meta_path)


def _drop_part(part: Path) -> None:
    meta = _meta_path(part)
    for path in (part, meta, _meta_tmp(meta)):
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def check_free_space(folder: Path, need_bytes: int, min_free_bytes: int) -> None:
    """Fail as disk_full when writing `need_bytes` would leave less than `min_free_bytes`."""
    free = shutil.disk_usage(folder).free
    if free - need_bytes < min_free_bytes:
        raise SourceError.coded("disk_space_low", ErrorClass.DISK_FULL, free_mib=free // 2**20, folder=str(folder),
                                need_mib=need_bytes // 2**20, min_mib=min_free_bytes // 2**20)


class _Throttle:
    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.last = 0.0

    def __call__(self, done: int, total: int | None, *, force: bool = False) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if force or now - self.last >= PROGRESS_INTERVAL_S:
            self.last = now
            self.progress(done, total)


def fetch(
    url: str,
    part: Path,
    *,
    session: requests.Session,
    headers: dict[str, str] | None = None,
    expected_size: int | None = None,
    cancel: CancelToken | None = None,
    progress: Progress | None = None,
    min_free_bytes: int = 0,
    timeout: float = 30,
    chunk_size: int = CHUNK_SIZE,
    hash_body: bool = False,
) -> FetchResult:
    """Stream `url` into `part`, resuming what is there; return its size (and SHA-256 if asked).

    The pipeline does not ask: tagging rewrites the file, so its hash is taken once, after
    tagging. Hashing while streaming costs about half the throughput on a NAS-class CPU.
    """
    cancel = cancel or CancelToken()
    make_folders(part.parent)
    if urlsplit(url).scheme == "file":
        return _copy_local(Path(url2pathname(urlsplit(url).path)), part, cancel, progress, min_free_bytes, chunk_size,
                           hash_body)
    meta_path = _meta_path(part)
    have = part.stat().st_size if part.exists() else 0
    meta = {}
    if have:
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
        if meta.get("url") != url:
            have, meta = 0, {}
    request_headers = dict(headers or {})
    # Audio does not compress; an identity body keeps Range offsets exact.
    request_headers.setdefault("Accept-Encoding", "identity")
    if have:
        request_headers["Range"] = f"bytes={have}-"
        validator = meta.get("etag") or meta.get("last_modified")
        if validator:
            request_headers["If-Range"] = validator
    cancel.check()
    try:
        response = session.get(url, headers=request_headers, stream=True, timeout=timeout)
    except requests.RequestException as exc:
        raise SourceError.coded("download_silent", error_class_for_exception(exc), url=url, reason=str(exc)) from None
    with response:
        if response.status_code == 416 and have:
            # The part is as long as (or longer than) the file: start over rather than guess.
            _drop_part(part)
            response.close()
            return fetch(url, part, session=session, headers=headers, expected_size=expected_size, cancel=cancel,
                         progress=progress, min_free_bytes=min_free_bytes, timeout=timeout, chunk_size=chunk_size,
                         hash_body=hash_body)
        if response.status_code >= 400:
            raise SourceError.coded("download_answered", error_class_for_status(response.status_code), url=url,
                                    http_status=response.status_code, reason=response.reason)
        start, total = _range_of(response, have)
        restarted = bool(have) and start == 0
        if expected_size is not None and total is not None and total != expected_size:
            _drop_part(part)
            raise SourceError.coded("download_size_differs", ErrorClass.CHECKSUM_MISMATCH, url=url, size=total,
                                    expected=expected_size)
        if total is not None:
            check_free_space(part.parent, total - start, min_free_bytes)
        digest = hashlib.sha256() if hash_body else None
        mode = "r+b" if start else "wb"
        if start and digest is not None:
            with open(part, "rb") as existing:
                remaining = start
                while remaining:
                    chunk = existing.read(min(CHUNK_SIZE, remaining))
                    if not chunk:
                        break
                    digest.update(chunk)
                    remaining -= len(chunk)
        throttle = _Throttle(progress)
        written = start
        try:
            with open_nofollow(part, mode) as handle:
                handle.seek(start)
                handle.truncate()
                handle.flush()
                # The part holds only bytes of this answer's file now: its validator may be kept.
                _write_meta(meta_path, {"url": url, "etag": response.headers.get("ETag"),
                                        "last_modified": response.headers.get("Last-Modified"), "size": total})
                # A body of unknown size has its free space checked as it arrives.
                space = (lambda: check_free_space(part.parent, 0, min_free_bytes)) if total is None else None
                written = _write_chunks(_arriving(response, chunk_size), handle, digest, cancel, throttle, written,
                                        total, space=space)
        except Canceled:
            if cancel.reason == "cancel":
                _drop_part(part)
            raise
        except requests.RequestException as exc:
            # (Before OSError: requests' exceptions are OSErrors.) The partial file stays: the
            # next attempt resumes it.
            raise SourceError.coded("download_broke_off", error_class_for_exception(exc), url=url, written=written,
                                    reason=str(exc)) from None
        except OSError as exc:
            if exc.errno in DISK_FULL_ERRNOS:
                _drop_part(part)
                raise SourceError.coded("disk_full_at", ErrorClass.DISK_FULL, folder=str(part.parent)) from None
            raise
        throttle(written, total, force=True)
    if total is not None and written != total:
        raise SourceError.coded("download_ended_early", ErrorClass.CONNECTION, url=url, written=written, size=total)
    return FetchResult(written, digest.hexdigest() if digest is not None else None, start, restarted)


def _arriving(response: requests.Response, chunk_size: int):
    """The body as it arrives: each piece is what one read of the socket returns (at most
    `chunk_size`). `iter_content` waits for a whole chunk, so on a slow link a cancel and the
    progress shown waited for a MiB; now they wait for one network read. urllib3's errors
    become requests' own, as `iter_content` does."""
    read1 = getattr(response.raw, "read1", None)
    if read1 is None:  # not urllib3 (an adapter of another kind)
        yield from response.iter_content(chunk_size=chunk_size)
        return
    try:
        while data := read1(chunk_size, decode_content=True):
            yield data
    except urllib3.exceptions.ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from None
    except urllib3.exceptions.DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from None
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.exceptions.ConnectionError(exc) from None
    except urllib3.exceptions.SSLError as exc:
        raise requests.exceptions.SSLError(exc) from None


SPACE_CHECK_BYTES = 16 * 2**20  # a body of unknown size checks the free space this often


def _write_chunks(chunks, handle, digest, cancel: CancelToken, throttle: _Throttle, written: int,
                  total: int | None, space: Callable[[], None] | None = None) -> int:
    """Write (and hash, given a digest) chunks, checking the cancel token before each and, given
    `space`, the free space every SPACE_CHECK_BYTES; fsync at the end."""
    update = digest.update if digest is not None else None
    next_check = written + SPACE_CHECK_BYTES
    for chunk in chunks:
        cancel.check()
        handle.write(chunk)
        if update is not None:
            update(chunk)
        written += len(chunk)
        throttle(written, total)
        if space is not None and written >= next_check:
            space()
            next_check = written + SPACE_CHECK_BYTES
    handle.flush()
    os.fsync(handle.fileno())
    return written


def _range_of(response: requests.Response, have: int) -> tuple[int, int | None]:
    """Where the body starts in the file, and the file's total size if known."""
    length = response.headers.get("Content-Length")
    if response.status_code == 206:
        m = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", response.headers.get("Content-Range", ""))
        if m and int(m.group(1)) == have:
            return have, int(m.group(3)) if m.group(3) != "*" else None
        raise SourceError.coded("wrong_range", ErrorClass.HTTP_5XX)
    # 200: the whole file (the server ignored Range, or the file changed): start over.
    return 0, int(length) if length is not None else None


def _copy_local(source: Path, part: Path, cancel: CancelToken, progress: Progress | None,
                min_free_bytes: int, chunk_size: int, hash_body: bool) -> FetchResult:
    """Copy a file a local playlist names: a regular file only (a device such as /dev/zero, a
    pipe or a folder is refused), no more than the size it had when opened, the free space checked
    as it goes. A copy that stops leaves no part file (it is not resumed)."""
    try:  # O_NONBLOCK: opening a pipe waits for no writer (a regular file reads as ever)
        src = os.fdopen(os.open(source, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)), "rb")
    except FileNotFoundError:
        raise SourceError.coded("no_file_at", ErrorClass.NOT_FOUND, path=str(source)) from None
    except OSError as exc:
        raise SourceError.coded("not_a_regular_file", ErrorClass.UNSUPPORTED, path=str(source),
                                reason=exc.strerror or str(exc)) from None
    with src:
        info = os.fstat(src.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SourceError.coded("not_a_regular_file", ErrorClass.UNSUPPORTED, path=str(source),
                                    reason="a device, a pipe or a folder")
        total = info.st_size
        check_free_space(part.parent, total, min_free_bytes)
        digest = hashlib.sha256() if hash_body else None
        throttle = _Throttle(progress)
        chunks = _at_most(src, total + 1, chunk_size)  # one byte more: a file that grew is noticed
        try:
            with open_nofollow(part, "wb") as dst:
                written = _write_chunks(chunks, dst, digest, cancel, throttle, 0, total,
                                        space=lambda: check_free_space(part.parent, 0, min_free_bytes))
            if written != total:
                raise SourceError.coded("local_file_changed", ErrorClass.CHECKSUM_MISMATCH, path=str(source),
                                        size=total, read=written)
        except BaseException:
            _drop_part(part)
            raise
    throttle(written, total, force=True)
    return FetchResult(written, digest.hexdigest() if digest is not None else None, 0, False)


def _at_most(src, limit: int, chunk_size: int):
    left = limit
    while left > 0 and (chunk := src.read(min(chunk_size, left))):
        left -= len(chunk)
        yield chunk


def commit_file(part: Path, dest: Path) -> None:
    """fsync and rename the finished part file to its final path, then fsync the folder.

    The resume sidecar goes first: a crash between the two steps leaves a part file without
    a sidecar (the next attempt starts it over), never a sidecar without its part.
    """
    fd = os.open(part, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    meta = _meta_path(part)
    for path in (meta, _meta_tmp(meta)):  # (a kill while the sidecar was written leaves its .tmp)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
    os.replace(part, dest)
    fsync_dir(dest.parent)


def download_to(url: str, dest: Path, *, session: requests.Session, known: tuple[int, str] | None = None,
                verify_audio: bool = True, **kwargs) -> tuple[FetchResult, bool]:
    """Download `url` to `dest` atomically; returns (result, adopted).

    When `dest` already holds a file of the `known` (size, sha256), it is adopted, not fetched.
    The result carries the body's SHA-256 (hashed while streaming).
    """
    dest = Path(dest)
    if known is not None and dest.exists() and dest.stat().st_size == known[0] and sha256_file(dest) == known[1]:
        return FetchResult(known[0], known[1], 0, False), True
    part = part_path_for(dest)
    kwargs.setdefault("hash_body", True)
    result = fetch(url, part, session=session, **kwargs)
    if verify_audio:
        try:
            check_audio(part)
        except SourceError:
            remove_partial(dest)
            raise
    commit_file(part, dest)
    return result, False
