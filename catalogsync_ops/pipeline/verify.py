"""Verify: is the library on disk, and its backup, still what the catalog recorded?

A `verify` job has one stage of `verify` items, each a part of the check:

- `files` (a range of file ids): each library file is present, with its recorded size and
  modification time (fast, the default) or its recorded SHA-256 (`deep`). A file whose time
  moved but whose size did not is hashed before it is called changed; when the hash still
  matches (a tool touched it) the new time is recorded instead.
- `store`: one paged listing of the backup (ListObjectsV2 for a bucket, a walk of the mirror
  folder by a process of its own) compared with the recorded uploads: key present, size and
  ETag as recorded (and in deep mode a mirror file's hash). While it waits for the listing, a
  fast verify's second worker checks the library's parts (`stage_workers`).
- `orphans`: audio files under LIBRARY_DIR that the catalog does not know. Reported only.

What a part finds is written to `drift` (one row per kind, place and path); what it no longer
finds in the part it covered is marked resolved. Nothing on disk or in the bucket is changed:
a `repair_drift` command queues a `repair` job (see `engine/commands.py`) that downloads and
uploads again. The drift rows are `library/drift.py`'s. When a whole folder or bucket looks gone
(an unmounted disk, a wrong bucket), the part fails with that reason instead of reporting every
file missing.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from catalogsync_ops.engine.records import ItemSpec
from catalogsync_ops.engine.states import ItemType
from catalogsync_ops.errors import ErrorClass, SourceError
from catalogsync_ops.fileio import sha256_file
from catalogsync_ops.library import catalog
from catalogsync_ops.library.drift import FILE_KINDS, LIBRARY, OBJECT_KINDS, DriftKind, Found, record_drift
from catalogsync_ops.library.layout import LYRICS_SUFFIX, lyrics_beside
from catalogsync_ops.pipeline.context import Outcome, WorkContext
from catalogsync_ops.quality import Quality, judged, probe
from catalogsync_ops.store.connection import Connection, transaction
from catalogsync_ops.transfer.storage.base import Uploader

# What a music folder holds that is a song (the orphan walk looks at these only).
AUDIO_EXTENSIONS = frozenset({".mp3", ".flac", ".m4a", ".mp4", ".aac", ".ogg", ".oga", ".opus", ".wav", ".aif",
                              ".aiff", ".ape", ".wv", ".wma", ".alac", ".dsf", ".dff", ".mka", ".webm"})
# Folders a NAS or a tool keeps beside the music: hidden ones (ours: .catalogsync), Synology's
# thumbnails (@eaDir) and recycle bin (#recycle).
SKIPPED_DIR_PREFIXES = (".", "@", "#")

FILES_PER_PART = 5000  # fast: a stat each (a part takes ~20 ms)
DEEP_FILES_PER_PART = 200  # deep: a part also ends after DEEP_BYTES_PER_PART, so a pause waits little
DEEP_BYTES_PER_PART = 1 << 30


def place_of(uploader: Uploader) -> str:
    """How a backup is named in drift rows: `s3:<bucket>` or `local:<folder>`."""
    return f"{uploader.backend}:{uploader.bucket}"


# ---------------------------------------------------------------- the job's items


def verify_items(conn: Connection, scope: dict[str, Any], settings: dict[str, Any],
                 uploader: Uploader | None) -> list[ItemSpec]:
    """The parts of a verify job: ranges of file ids, the backup's listing, the orphan walk."""
    deep = bool(scope.get("deep"))
    root = str(settings["LIBRARY_DIR"])
    rows = conn.execute("SELECT id, size_bytes FROM file_locations WHERE library_root = ? AND verified_at IS NOT NULL"
                        " ORDER BY id", (root,)).fetchall()
    # The backup's listing and the orphan walk first: each is one long item, and claimed first they
    # run beside the file parts instead of after them (items are claimed in order).
    specs: list[ItemSpec] = []
    if uploader is not None:
        specs.append(ItemSpec("verify:store", ItemType.VERIFY, display_text=f"backup {place_of(uploader)}",
                              payload={"part": "store", "deep": deep}))
    specs.append(ItemSpec("verify:orphans", ItemType.VERIFY, display_text="files the catalog does not know",
                          payload={"part": "orphans"}))
    part, part_bytes = [], 0
    limit = DEEP_FILES_PER_PART if deep else FILES_PER_PART

    def close_part() -> None:
        first, last = part[0], part[-1]
        specs.append(ItemSpec(f"verify:files:{first}-{last}", ItemType.VERIFY,
                              display_text=f"library files {first}–{last} ({len(part)})",
                              payload={"part": "files", "first": first, "last": last, "deep": deep}))

    for file_id, size in rows:
        part.append(file_id)
        part_bytes += size or 0
        if len(part) >= limit or (deep and part_bytes >= DEEP_BYTES_PER_PART):
            close_part()
            part, part_bytes = [], 0
    if part:
        close_part()
    return specs


def run_verify(ctx: WorkContext, payload: dict[str, Any], job_id: int) -> Outcome:
    part = payload.get("part")
    if part == "files":
        return check_files(ctx, int(payload["first"]), int(payload["last"]), deep=bool(payload.get("deep")),
                           job_id=job_id)
    if part == "store":
        return check_store(ctx, deep=bool(payload.get("deep")), job_id=job_id)
    if part == "orphans":
        return find_orphans(ctx, job_id=job_id)
    raise SourceError(f"unknown verify part {part!r}", ErrorClass.INTERNAL)


# ---------------------------------------------------------------- library files


def check_files(ctx: WorkContext, first: int, last: int, *, deep: bool, job_id: int | None) -> Outcome:
    root = Path(ctx.library_root)
    if not root.is_dir():
        raise SourceError(f"LIBRARY_DIR {str(root)!r} is not there; is its volume mounted? Nothing was recorded "
                          "as missing", ErrorClass.CONFIG)
    # `+library_root`: the part's rows by their id range, not all of the root's through its index
    # (which read the whole library once per part: 20 ms a part at 100,000 files).
    tuples = ctx.conn.cursor()
    tuples.row_factory = None  # plain tuples: half the cost of sqlite3.Row
    # A fast check reads what it compares (a hash is read for the few files it hashes, a song for the
    # few it finds): 100,000 rows of hashes as Python strings cost a third of the stats.
    rows = tuples.execute(
        f"SELECT id, rel_path, size_bytes, mtime_ns, probed_at IS NULL,"
        f" {'sha256, lyrics_sha256' if deep else 'NULL, lyrics_sha256 IS NOT NULL'}"
        " FROM file_locations WHERE +library_root = ?"
        " AND verified_at IS NOT NULL AND id BETWEEN ? AND ? ORDER BY id", (ctx.library_root, first, last)).fetchall()
    found: list[Found] = []
    touched: list[tuple[int, int]] = []  # (mtime_ns, id): same content, a new time
    probed: list[tuple[int, Quality | None]] = []  # files recorded before their quality was: read it now
    hashed = hashed_bytes = 0
    base = str(root) + os.sep
    stat, check = os.stat, ctx.cancel.check
    # Each file is looked up from the library folder's descriptor (fstatat), not by its whole
    # path again: a tenth less of the check's time at 100,000 files.
    library = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for n, (file_id, rel, size, mtime_ns, unprobed, sha, lyrics) in enumerate(rows):
            if not n % 100 or deep:
                check()
            if lyrics:  # the .lrc written beside it: there, and as written (deep: its hash)
                lrc = lyrics_beside(rel)
                try:
                    stat(lrc, dir_fd=library)
                    if deep and sha256_file(base + lrc) != lyrics:
                        found.append(Found(DriftKind.FILE_CHANGED, lrc, "drift_content_differs",
                                           file_location_id=file_id))
                except (FileNotFoundError, NotADirectoryError):
                    found.append(Found(DriftKind.FILE_MISSING, lrc, "drift_not_on_disk", file_location_id=file_id))
            try:
                st = stat(rel, dir_fd=library)
            except (FileNotFoundError, NotADirectoryError):
                found.append(Found(DriftKind.FILE_MISSING, rel, "drift_not_on_disk", file_location_id=file_id))
                continue
            if st.st_size != size:
                found.append(Found(DriftKind.FILE_CHANGED, rel, "drift_size_differs",
                                   {"recorded": size, "found": st.st_size}, file_location_id=file_id))
                continue
            path = base + rel
            if unprobed:
                try:
                    probed.append((file_id, judged(path, probe(path))))
                except SourceError:
                    probed.append((file_id, None))  # not audio mutagen reads: the hash below says if it changed
            if not deep and mtime_ns == st.st_mtime_ns:
                continue
            digest = sha256_file(path)
            hashed += 1
            hashed_bytes += st.st_size
            if ctx.progress and deep:
                ctx.progress(hashed_bytes, None)
            if sha is None:
                sha = ctx.conn.execute("SELECT sha256 FROM file_locations WHERE id = ?", (file_id,)).fetchone()[0]
            if digest != sha:
                found.append(Found(DriftKind.FILE_CHANGED, rel, "drift_content_differs", file_location_id=file_id))
            elif mtime_ns != st.st_mtime_ns:
                touched.append((st.st_mtime_ns, file_id))
    finally:
        os.close(library)
    songs_missing = sum(f.kind is DriftKind.FILE_MISSING and not f.path.endswith(LYRICS_SUFFIX) for f in found)
    if rows and songs_missing == len(rows) and not _holds_audio(root):
        raise SourceError(f"LIBRARY_DIR {str(root)!r} holds no audio file at all, while the catalog records files in "
                          "it; is the right volume mounted? Nothing was recorded as missing", ErrorClass.CONFIG)
    found = _with_songs(ctx.conn, found)
    with transaction(ctx.conn):
        if touched:
            ctx.conn.executemany("UPDATE file_locations SET mtime_ns = ? WHERE id = ?", touched)
        if probed:
            catalog.record_qualities(ctx.conn, probed)
        # Resolved: what this part checked (a file being repaired is not checked until it is back).
        resolved = record_drift(ctx.conn, found, job_id=job_id, place=LIBRARY, kinds=FILE_KINDS,
                                where="file_location_id IN (SELECT id FROM file_locations WHERE +library_root = ?"
                                      " AND verified_at IS NOT NULL AND id BETWEEN ? AND ?)",
                                params=(ctx.library_root, first, last))
    return Outcome(bytes_done=hashed_bytes, details=_summary(found, checked=len(rows), resolved=resolved,
                                                             hashed=hashed, touched=len(touched),
                                                             probed=sum(q is not None for _, q in probed)))


def _holds_audio(root: Path) -> bool:
    """Whether any audio file lies under `root` (stops at the first folder holding one)."""
    return any(_is_audio(name) for _, names in _folders(str(root)) for name in names)


def _is_audio(name: str) -> bool:
    dot = name.rfind(".")
    return dot > 0 and name[0] != "." and name[dot:].lower() in AUDIO_EXTENSIONS


def _folders(root: str):
    """Each folder under `root` as (its path relative to it with '/', ending in '/'; its files'
    names, in the folder's own order), folders in a stable order; the folders a NAS or a tool
    keeps beside the music are passed by. (String slicing, not os.path.relpath: a walk of
    100,000 files is then a tenth of a second, not one.)"""
    root = os.path.normpath(root)
    cut = len(root) + 1
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(SKIPPED_DIR_PREFIXES))
        yield folder[cut:].replace(os.sep, "/") + "/" if len(folder) > len(root) else "", files


# ---------------------------------------------------------------- the backup


def check_store(ctx: WorkContext, *, deep: bool, job_id: int | None) -> Outcome:
    uploader = ctx.uploader
    if uploader is None:
        return Outcome(skipped="OBJECT_BACKEND_NAME is none")
    place = place_of(uploader)
    s3 = uploader.backend == "s3"
    # What is compared, by key: the size, and for a bucket the ETag (a mirror's entries have none).
    listed = uploader.listing(ctx.cancel)
    uploads = _from_uploads(ctx, uploader)
    rows = _recorded(ctx, uploads, s3=s3)
    recorded = {key: (size, etag) for key, size, etag in rows} if s3 else dict(rows)
    if rows and not listed:
        raise SourceError(f"the backup {place} lists no objects at all, while {len(rows)} were uploaded to it; is "
                          "its disk mounted, or the bucket and prefix right? Nothing was recorded as missing",
                          ErrorClass.CONFIG)
    # The keys whose listing is not as recorded, found by comparing the two as sets (in C: at
    # 100,000 objects a tenth of a second less than a loop over every upload); each is then judged
    # below. A deep check judges every key (it hashes each), as does a backup where one key was
    # uploaded twice (its rows are judged one by one).
    twice = len(recorded) < len(rows)
    all_there = not deep and not twice and recorded.items() <= listed.items()
    if deep or twice:
        suspects: Any = recorded.keys()
    elif all_there:  # all as recorded (the usual night): no set is made
        suspects = ()
    else:
        suspects = {key for key, _ in recorded.items() - listed.items()}
    found: list[Found] = []
    hashed = hashed_bytes = 0
    for task_id, key, task_size, task_etag, checksum, file_id in _uploaded(ctx, uploads, s3=s3, deep=deep,
                                                                            keys=suspects):
        got = listed.get(key)
        if got is None:
            found.append(Found(DriftKind.OBJECT_MISSING, key, "drift_not_in_backup", {"place": place},
                               file_location_id=file_id, upload_task_id=task_id))
            continue
        size, etag = got if s3 else (got, None)
        if task_size is not None and size != task_size:
            found.append(Found(DriftKind.OBJECT_CHANGED, key, "drift_object_size_differs",
                               {"uploaded": task_size, "listed": size},
                               file_location_id=file_id, upload_task_id=task_id))
        elif s3 and task_etag and etag and etag != task_etag:
            found.append(Found(DriftKind.OBJECT_CHANGED, key, "drift_etag_differs",
                               {"uploaded": task_etag, "listed": etag},
                               file_location_id=file_id, upload_task_id=task_id))
        elif deep and (local := uploader.local_path(key)) is not None and checksum:
            ctx.cancel.check()
            hashed += 1
            hashed_bytes += size
            if sha256_file(local) != checksum:
                found.append(Found(DriftKind.OBJECT_CHANGED, key, "drift_object_content_differs",
                                   file_location_id=file_id, upload_task_id=task_id))
    found = _with_songs(ctx.conn, found)
    with transaction(ctx.conn):
        resolved = record_drift(ctx.conn, found, job_id=job_id, place=place, kinds=OBJECT_KINDS,
                                where="upload_task_id IN (SELECT id FROM upload_tasks WHERE status = 'uploaded')")
    return Outcome(source=uploader.backend, bytes_done=hashed_bytes,
                   details=_summary(found, checked=len(rows), resolved=resolved, hashed=hashed, listed=len(listed),
                                    not_in_catalog=len(listed) - len(recorded) if all_there
                                    else len(listed.keys() - recorded.keys())))


def _from_uploads(ctx: WorkContext, uploader: Any) -> tuple[str, tuple]:
    """The FROM and WHERE of this library's uploads to this backup, and their parameters (made
    once per check, for `_recorded` and `_uploaded`). The join to the files that were uploaded
    (to keep another library's uploads out) only when the catalog knows another library at all:
    a third of the query's time at 100,000 uploads."""
    params = (uploader.backend, uploader.bucket)
    where = " FROM upload_tasks u WHERE u.backend = ? AND u.bucket = ? AND u.status = 'uploaded'"
    root = ctx.library_root
    others = ctx.conn.execute("SELECT 1 FROM file_locations WHERE library_root < ? OR library_root > ? LIMIT 1",
                              (root, root)).fetchone()
    if others is None:
        return where, params
    return (where.replace(" WHERE", " JOIN file_locations f ON f.id = u.file_location_id WHERE")
            + " AND f.library_root = ?", (*params, root))


def _recorded(ctx: WorkContext, uploads: tuple[str, tuple], *, s3: bool) -> list[tuple]:
    """What was uploaded to this backup from this library, as the listing is compared with it:
    (key, size) for a mirror, (key, size, ETag) for a bucket (100,000 rows of more columns as
    Python values cost more than the rest of the check)."""
    tuples = ctx.conn.cursor()
    tuples.row_factory = None  # plain tuples: a third cheaper than sqlite3.Row over 100,000 rows
    where, params = uploads
    return tuples.execute(f"SELECT u.object_key, u.size_bytes{', u.etag' if s3 else ''}{where}", params).fetchall()


def _uploaded(ctx: WorkContext, uploads: tuple[str, tuple], *, s3: bool, deep: bool, keys: Any) -> list[tuple]:
    """The uploads of `keys` to this backup from this library, each as the check judges it: (task,
    key, size, ETag, checksum, file); read only when there are keys to judge."""
    if not keys:
        return []
    tuples = ctx.conn.cursor()
    tuples.row_factory = None
    where, params = uploads
    rows = tuples.execute(f"SELECT u.id, u.object_key, u.size_bytes, {'u.etag' if s3 else 'NULL'},"
                          f" {'u.checksum_sha256' if deep else 'NULL'}, u.file_location_id{where}", params).fetchall()
    return [row for row in rows if row[1] in keys]


def _with_songs(conn, found: list[Found]) -> list[Found]:
    """The drift found, each with the song of its file (looked up for these few, not every task)."""
    ids = sorted({f.file_location_id for f in found if f.file_location_id is not None})
    songs: dict[int, int] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        songs.update(conn.execute(f"SELECT id, song_id FROM file_locations WHERE id IN ({', '.join('?' * len(chunk))})",
                                  chunk).fetchall())
    return [replace(f, song_id=songs.get(f.file_location_id)) if f.file_location_id in songs else f for f in found]


# ---------------------------------------------------------------- orphans


def find_orphans(ctx: WorkContext, *, job_id: int | None) -> Outcome:
    root = ctx.library_root
    if not Path(root).is_dir():
        raise SourceError(f"LIBRARY_DIR {root!r} is not there; is its volume mounted?", ErrorClass.CONFIG)
    tuples = ctx.conn.cursor()
    tuples.row_factory = None
    known = {rel for rel, in tuples.execute("SELECT rel_path FROM file_locations WHERE library_root = ?", (root,))}
    found: list[Found] = []
    seen = 0
    for prefix, names in _folders(root):
        ctx.cancel.check()
        # The files the catalog knows first (a set lookup each); only the rest are asked whether
        # they are audio.
        unknown = [name for name in names if prefix + name not in known]
        audio = sorted(name for name in unknown if _is_audio(name))  # the few found sorted, not every name
        seen += len(names) - len(unknown) + len(audio)
        found.extend(Found(DriftKind.ORPHAN, prefix + name, "drift_orphan") for name in audio)
    with transaction(ctx.conn):
        resolved = record_drift(ctx.conn, found, job_id=job_id, place=LIBRARY, kinds=(DriftKind.ORPHAN,))
    return Outcome(details=_summary(found, checked=seen, resolved=resolved))


def _summary(found: list[Found], **counts: int) -> dict[str, Any]:
    by_kind: dict[str, int] = {}
    for f in found:
        by_kind[f.kind.value] = by_kind.get(f.kind.value, 0) + 1
    details: dict[str, Any] = {k: v for k, v in counts.items() if v}
    details["checked"] = counts.get("checked", 0)
    details["found"] = by_kind
    if found:
        details["examples"] = [{"kind": f.kind.value, "path": f.path, "detail": f.detail} for f in found[:20]]
    return details
