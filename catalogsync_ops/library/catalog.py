"""The catalog: pools, playlists, songs, membership, files and uploads, and the scope queries.

Upserts are idempotent (a stage that runs twice changes nothing the second time). Songs that
leave a playlist are unlinked (`removed_at`), never deleted; a pool's playlists likewise.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from catalogsync_ops.messages import stored
from catalogsync_ops.quality import Quality
from catalogsync_ops.sources.base import Track, Unresolved
from catalogsync_ops.store.connection import ID_MAX, Connection, iso, transaction


def upsert_pool(conn: Connection, name: str, *, origin: str = "file", source_path: str | None = None) -> int:
    """The id of the pool `name`, created if new."""
    ts = iso()
    with transaction(conn):
        conn.execute(
            "INSERT INTO playlist_pools (name, origin, source_path, created_at, updated_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET source_path = excluded.source_path, updated_at = excluded.updated_at",
            (name, origin, source_path, ts, ts))
        return conn.execute("SELECT id FROM playlist_pools WHERE name = ?", (name,)).fetchone()[0]


def record_pool_collected(conn: Connection, pool_id: int, *, error: str | None) -> None:
    """Note when a pool was last read, and what was wrong with it (None when nothing)."""
    with transaction(conn):
        conn.execute("UPDATE playlist_pools SET last_collected_at = ?, last_error = ? WHERE id = ?",
                     (iso(), error, pool_id))


def upsert_playlist(conn: Connection, platform: str, url: str) -> int:
    """The id of the playlist at `url`, created if new."""
    ts = iso()
    with transaction(conn):
        conn.execute(
            "INSERT INTO playlists (platform, url, created_at, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (url) DO UPDATE SET platform = excluded.platform",
            (platform, url, ts, ts))
        return conn.execute("SELECT id FROM playlists WHERE url = ?", (url,)).fetchone()[0]


def set_pool_playlists(conn: Connection, pool_id: int, entries: list[tuple[int, int]]) -> dict[str, int]:
    """Make the pool list exactly these (playlist_id, line_no) in order; others are unlinked."""
    ts = iso()
    with transaction(conn):
        keep = set()
        for position, (playlist_id, line_no) in enumerate(entries, 1):
            keep.add(playlist_id)
            conn.execute(
                "INSERT INTO pool_playlists (pool_id, playlist_id, position, line_no, removed_at) VALUES (?, ?, ?, ?, "
                "NULL)"
                " ON CONFLICT (pool_id, playlist_id) DO UPDATE SET position = excluded.position,"
                " line_no = excluded.line_no, removed_at = NULL",
                (pool_id, playlist_id, position, line_no))
        current = [r[0] for r in conn.execute(
            "SELECT playlist_id FROM pool_playlists WHERE pool_id = ? AND removed_at IS NULL", (pool_id,))]
        removed = [pid for pid in current if pid not in keep]
        conn.executemany("UPDATE pool_playlists SET removed_at = ? WHERE pool_id = ? AND playlist_id = ?",
                         [(ts, pool_id, pid) for pid in removed])
    return {"linked": len(keep), "unlinked": len(removed)}


def upsert_song(conn: Connection, track: Track) -> int:
    """The id of the song (platform, external id), its metadata refreshed."""
    ts = iso()
    with transaction(conn):
        conn.execute(
            "INSERT INTO songs (platform, external_id, title, artists, album, duration_s, track_no, cover_url,"
            " extra_json, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (platform, external_id) DO UPDATE SET title = excluded.title, artists = excluded.artists,"
            " album = excluded.album, duration_s = excluded.duration_s, track_no = excluded.track_no,"
            " cover_url = excluded.cover_url, extra_json = excluded.extra_json, updated_at = excluded.updated_at",
            (track.platform, track.external_id, track.title, json.dumps(list(track.artists), ensure_ascii=False),
             track.album, track.duration_s, track.track_no, track.cover_url,
             json.dumps(track.extra, ensure_ascii=False) if track.extra else None, ts, ts))
        return conn.execute("SELECT id FROM songs WHERE platform = ? AND external_id = ?",
                            (track.platform, track.external_id)).fetchone()[0]


def track_of(row) -> Track:
    """A songs row as a Track."""
    return Track(row["platform"], row["external_id"], row["title"], tuple(json.loads(row["artists"] or "[]")),
                 row["album"], row["duration_s"], row["track_no"], row["cover_url"],
                 json.loads(row["extra_json"]) if row["extra_json"] else {})


def set_playlist_songs(conn: Connection, playlist_id: int, song_ids: list[int], *, title: str | None = None,
                       external_id: str | None = None, unresolved: Sequence[Unresolved] = (),
                       skipped: Sequence[Unresolved] = (), missing: int = 0,
                       partial_reason: str | None = None) -> dict[str, int]:
    """Make the playlist hold these songs in this order; songs that left are unlinked.

    A listing with `unresolved` entries is incomplete: the platform dropped songs it could not
    resolve, so every later position is shifted and a song missing from it may still be in the
    playlist. Then songs are only added (after the others) and nothing is unlinked or moved;
    the unresolved entries are kept for the playlist page, and so are the `skipped` ones (lines
    of a playlist file that are not songs), which leave the listing complete. A listing that is
    not proven whole (`missing` songs on pages never read, or another `partial_reason`) is
    treated the same way, and says so on the playlist.
    """
    ts = iso()
    complete = not unresolved and not missing and partial_reason is None
    with transaction(conn):
        rows = conn.execute("SELECT song_id, position, removed_at FROM playlist_songs WHERE playlist_id = ?",
                            (playlist_id,)).fetchall()
        before = {r["song_id"] for r in rows if r["removed_at"] is None}
        known = {r["song_id"] for r in rows}
        next_position = max((r["position"] or 0 for r in rows), default=0) + 1
        seen: list[int] = []
        for position, song_id in enumerate(song_ids, 1):
            if song_id in seen:
                continue  # a song listed twice keeps its first place
            seen.append(song_id)
            if complete:
                conn.execute(
                    "INSERT INTO playlist_songs (playlist_id, song_id, position, added_at, removed_at)"
                    " VALUES (?, ?, ?, ?, NULL) ON CONFLICT (playlist_id, song_id)"
                    " DO UPDATE SET position = excluded.position, removed_at = NULL",
                    (playlist_id, song_id, position, ts))
            elif song_id in known:
                conn.execute("UPDATE playlist_songs SET removed_at = NULL WHERE playlist_id = ? AND song_id = ?",
                             (playlist_id, song_id))
            else:
                conn.execute("INSERT INTO playlist_songs (playlist_id, song_id, position, added_at, removed_at)"
                             " VALUES (?, ?, ?, ?, NULL)", (playlist_id, song_id, next_position, ts))
                next_position += 1
        gone = before - set(seen) if complete else set()
        conn.executemany("UPDATE playlist_songs SET removed_at = ? WHERE playlist_id = ? AND song_id = ?",
                         [(ts, playlist_id, sid) for sid in gone])
        conn.execute("DELETE FROM playlist_unresolved WHERE playlist_id = ?", (playlist_id,))
        conn.executemany(
            "INSERT INTO playlist_unresolved (playlist_id, position, external_id, title, reason, seen_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(playlist_id, u.position, u.external_id, u.title, u.reason, ts) for u in (*unresolved, *skipped)])
        active = conn.execute("SELECT COUNT(*) FROM playlist_songs WHERE playlist_id = ? AND removed_at IS NULL",
                              (playlist_id,)).fetchone()[0]
        conn.execute("UPDATE playlists SET title = COALESCE(?, title), external_id = COALESCE(?, external_id),"
                     " track_count = ?, unresolved_count = ?, missing_count = ?, partial_reason = ?, last_synced_at = "
                     "?,"
                     " last_error = NULL, updated_at = ? WHERE id = ?",
                     (title, external_id, active, len(unresolved) + len(skipped), missing, stored(partial_reason), ts,
                      ts, playlist_id))
    return {"songs": active, "missing": missing, "added": len(set(seen) - before), "removed": len(gone),
            "unresolved": len(unresolved),
            "skipped": len(skipped), "kept_unlisted": len(before - set(seen)) if not complete else 0}


def unresolved_entries(conn: Connection, playlist_id: int) -> list[dict]:
    """The entries the last sync of a playlist could not resolve."""
    return [dict(r) for r in conn.execute(
        "SELECT * FROM playlist_unresolved WHERE playlist_id = ? ORDER BY COALESCE(position, 1e9), id", (playlist_id,))]


def record_playlist_error(conn: Connection, playlist_id: int, error: str) -> None:
    """Keep the last sync error on the playlist (shown on the playlists page)."""
    with transaction(conn):
        conn.execute("UPDATE playlists SET last_error = ?, updated_at = ? WHERE id = ?", (error, iso(), playlist_id))


def file_at(conn: Connection, library_root: str, rel_path: str):
    """The file_locations row at a path, or None."""
    return conn.execute("SELECT * FROM file_locations WHERE library_root = ? AND rel_path = ?",
                        (library_root, rel_path)).fetchone()


def has_file(conn: Connection, song_id: int, library_root: str) -> bool:
    """Whether a file of the song is recorded in the library (verified or not)."""
    return conn.execute("SELECT 1 FROM file_locations WHERE song_id = ? AND +library_root = ? LIMIT 1",
                        (song_id, library_root)).fetchone() is not None


def verified_file_of(conn: Connection, song_id: int, library_root: str):
    """The verified file of a song in a library, or None."""
    return conn.execute("SELECT * FROM file_locations WHERE song_id = ? AND +library_root = ? AND verified_at IS NOT "
                        "NULL"
                        " ORDER BY id DESC LIMIT 1", (song_id, library_root)).fetchone()


def record_file(conn: Connection, song_id: int, library_root: str, rel_path: str, *, size: int, sha256: str,
                fmt: str, source: str, verified: bool, quality: Quality | None = None, lyrics: str | None = None,
                lyrics_sha256: str | None = None) -> int:
    """Record (or update) the file of a song at a path; `verified` once it is in place; `quality`
    as read from the file (`quality.py`); what lyrics it was given and the hash of its .lrc, in
    the same transaction (a kill after it must not leave a song whose lyrics are unrecorded)."""
    ts = iso()
    q = quality.as_row() if quality is not None else dict.fromkeys(_QUALITY_COLUMNS)
    q = {**q, "lyrics": lyrics, "lyrics_sha256": lyrics_sha256}
    # Not yet verified: recorded before the file is renamed into place, so the file found at the
    # path after a crash is adopted by its hash. That needs the row to outlive a power cut that
    # the renamed file outlives: a durable commit.
    with transaction(conn, durable=not verified):
        conn.execute(
            "INSERT INTO file_locations (song_id, library_root, rel_path, size_bytes, sha256, format, source, "
            f"verified_at, created_at, updated_at, {', '.join(_FILE_FACTS)}, probed_at)"
            f" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {', '.join('?' for _ in _FILE_FACTS)}, ?)"
            " ON CONFLICT (library_root, rel_path) DO UPDATE SET song_id = excluded.song_id,"
            " size_bytes = excluded.size_bytes, sha256 = excluded.sha256, format = excluded.format,"
            " source = excluded.source, verified_at = excluded.verified_at, updated_at = excluded.updated_at, "
            + ", ".join(f"{c} = excluded.{c}" for c in (*_FILE_FACTS, "probed_at")),
            (song_id, library_root, rel_path, size, sha256, fmt, source, ts if verified else None, ts, ts,
             *(q[c] for c in _FILE_FACTS), ts if quality is not None else None))
        return conn.execute("SELECT id FROM file_locations WHERE library_root = ? AND rel_path = ?",
                            (library_root, rel_path)).fetchone()[0]


_QUALITY_COLUMNS = ("codec", "lossless", "bitrate_kbps", "sample_rate", "bit_depth", "channels", "duration_s",
                    "quality", "spectrum", "cutoff_hz")
_FILE_FACTS = (*_QUALITY_COLUMNS, "lyrics", "lyrics_sha256")  # what a download records of the file


def record_qualities(conn: Connection, found: list[tuple[int, Quality | None]]) -> None:
    """Record what files are, read by a check of files recorded before qualities were (one
    transaction). None: mutagen could not read the file; its quality stays unknown, and it is
    not read again by every check (its hash still says whether it changed)."""
    ts = iso()
    sets = ", ".join(f"{c} = ?" for c in _QUALITY_COLUMNS)
    with transaction(conn):
        conn.executemany(f"UPDATE file_locations SET {sets}, probed_at = ? WHERE id = ?",
                         [(*(q.as_row()[c] for c in _QUALITY_COLUMNS), ts, file_id) for file_id, q in found
                          if q is not None])
        conn.executemany("UPDATE file_locations SET probed_at = ? WHERE id = ?",
                         [(ts, file_id) for file_id, q in found if q is None])


def record_lyrics(conn: Connection, file_id: int, kind: str, sidecar_sha256: str | None) -> None:
    """What lyrics a file was given (synced, plain, none) and the hash of its .lrc (None: none written)."""
    with transaction(conn):
        conn.execute("UPDATE file_locations SET lyrics = ?, lyrics_sha256 = ? WHERE id = ?",
                     (kind, sidecar_sha256, file_id))


def mark_file_verified(conn: Connection, file_id: int, *, mtime_ns: int | None = None) -> None:
    """The file is in place at its final path (with its modification time, which a later
    check compares to tell a file changed on disk)."""
    ts = iso()
    with transaction(conn):
        conn.execute("UPDATE file_locations SET verified_at = ?, mtime_ns = COALESCE(?, mtime_ns), updated_at = ?"
                     " WHERE id = ?", (ts, mtime_ns, ts, file_id))


def upload_task_for(conn: Connection, file_id: int, backend: str, bucket: str, key: str):
    """The upload task of a file to a backend/bucket/key, created pending if new."""
    ts = iso()
    with transaction(conn):
        conn.execute(
            "INSERT INTO upload_tasks (file_location_id, backend, bucket, object_key, status, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT DO NOTHING",
            (file_id, backend, bucket, key, ts, ts))
        return conn.execute("SELECT * FROM upload_tasks WHERE file_location_id = ? AND backend = ? AND bucket = ?"
                            " AND object_key = ?", (file_id, backend, bucket, key)).fetchone()


def update_upload_task(conn: Connection, task_id: int, **fields: Any) -> None:
    """Set columns of an upload task (status, etag, multipart state, error)."""
    allowed = {"status", "etag", "checksum_sha256", "size_bytes", "multipart_upload_id", "parts_json",
               "last_error", "uploaded_at"}
    bad = set(fields) - allowed
    if bad:
        raise ValueError(f"not upload task columns: {sorted(bad)}")
    sets = ", ".join(f"{k} = ?" for k in fields)
    with transaction(conn):
        conn.execute(f"UPDATE upload_tasks SET {sets}, updated_at = ? WHERE id = ?", (*fields.values(), iso(), task_id))


# ---------------------------------------------------------------- scope queries


def pools_in_scope(conn: Connection, scope: dict[str, list]) -> list:
    """Pools a job covers: those named in scope['pools'], or all of them."""
    if scope.get("pools"):
        marks = ", ".join("?" for _ in scope["pools"])
        return conn.execute(f"SELECT * FROM playlist_pools WHERE name IN ({marks}) ORDER BY id",
                            list(scope["pools"])).fetchall()
    return conn.execute("SELECT * FROM playlist_pools ORDER BY id").fetchall()


def playlist_ref(value: Any) -> int | str:
    """A scope's playlist entry as a playlist id (an int, or ASCII digits in SQLite's range) or
    else as the text of a URL: "²", "١٢" or twenty-three digits name no id, and match nothing."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 1 <= value <= ID_MAX else str(value)
    text = str(value).strip()
    if text.isascii() and text.isdigit() and len(text) <= 19 and 1 <= int(text) <= ID_MAX:
        return int(text)
    return text


def playlists_in_scope(conn: Connection, scope: dict[str, list]) -> list:
    """Playlists a job covers: linked to its pools (or named), optionally of some platforms."""
    where, params = [], []
    if scope.get("playlists"):
        named = [playlist_ref(p) for p in scope["playlists"]]
        ids = [p for p in named if isinstance(p, int)]
        urls = [p for p in named if isinstance(p, str)]
        where.append(f"(p.id IN ({', '.join('?' for _ in ids) or 'NULL'}) OR p.url IN "
                     f"({', '.join('?' for _ in urls) or 'NULL'}))")
        params += ids + urls
    else:
        pool_ids = [r["id"] for r in pools_in_scope(conn, scope)]
        where.append(f"p.id IN (SELECT playlist_id FROM pool_playlists WHERE removed_at IS NULL"
                     f" AND pool_id IN ({', '.join('?' for _ in pool_ids) or 'NULL'}))")
        params += pool_ids
    if scope.get("sources"):
        where.append(f"p.platform IN ({', '.join('?' for _ in scope['sources'])})")
        params += list(scope["sources"])
    return conn.execute(f"SELECT p.* FROM playlists p WHERE {' AND '.join(where)} ORDER BY p.id", params).fetchall()


def songs_in_scope(conn: Connection, scope: dict[str, list]) -> list[int]:
    """Song ids a job covers: named in scope['songs'], or linked to its playlists."""
    if scope.get("songs"):
        return [int(s) for s in scope["songs"]]
    playlist_ids = [r["id"] for r in playlists_in_scope(conn, scope)]
    if not playlist_ids:
        return []
    rows = conn.execute(
        f"SELECT DISTINCT song_id FROM playlist_songs WHERE removed_at IS NULL AND playlist_id IN"
        f" ({', '.join('?' for _ in playlist_ids)}) ORDER BY song_id", playlist_ids).fetchall()
    return [r[0] for r in rows]


def _for_song_ids(conn: Connection, song_ids: list[int], sql: str, params: tuple) -> list:
    """Run `sql` (with '{ids}' for the id list, before `params`) over song ids, 500 at a time."""
    out = []
    for start in range(0, len(song_ids), 500):
        chunk = song_ids[start:start + 500]
        out += conn.execute(sql.format(ids=", ".join("?" for _ in chunk)), (*chunk, *params)).fetchall()
    return out


def songs_needing_download(conn: Connection, scope: dict[str, list], library_root: str) -> list:
    """Songs in scope with no verified file in this library, but for unavailable ones: those the
    owner said to stop trying, and those given up on whose time to be tried again has not come
    (unless the job names its songs: the owner asked for these now)."""
    named = bool(scope.get("songs"))
    return _for_song_ids(
        conn, songs_in_scope(conn, scope),
        "SELECT s.* FROM songs s WHERE s.id IN ({ids}) AND NOT EXISTS (SELECT 1 FROM file_locations f"
        " WHERE f.song_id = s.id AND +f.library_root = ? AND f.verified_at IS NOT NULL)"
        " AND NOT EXISTS (SELECT 1 FROM missing_songs m WHERE m.song_id = s.id AND m.state = 'unavailable'"
        " AND (m.marked_by = 'owner' OR (NOT ? AND (m.recheck_after IS NULL OR m.recheck_after > ?))))"
        " ORDER BY s.id", (library_root, named, iso()))


def files_needing_upload(conn: Connection, scope: dict[str, list], library_root: str, backend: str,
                         bucket: str) -> list:
    """Verified files of songs in scope with no finished upload to this backend and bucket."""
    return _for_song_ids(
        conn, songs_in_scope(conn, scope),
        "SELECT f.*, s.title, s.artists FROM file_locations f JOIN songs s ON s.id = f.song_id"
        # `+f.library_root`: by each song's files (file_locations_song_idx), not by every file of the
        # root (its unique index): that read the whole library for each 500 songs, 13 s a night at 100,000.
        " WHERE f.song_id IN ({ids}) AND +f.library_root = ? AND f.verified_at IS NOT NULL"
        # Not backed up yet: no finished upload, or one still to finish (its lyrics' .lrc), or
        # lyrics recorded that were never sent (a song backed up before they were).
        " AND (SELECT COUNT(*) FILTER (WHERE u.status = 'uploaded') < COUNT(*) OR COUNT(*) = 0"
        "      OR (f.lyrics_sha256 IS NOT NULL AND COUNT(*) < 2)"
        "      FROM upload_tasks u WHERE u.file_location_id = f.id AND u.backend = ? AND u.bucket = ?)"
        " ORDER BY f.id", (library_root, backend, bucket))


def first_playlist_title(conn: Connection, song_id: int) -> str | None:
    """The title of a playlist that holds the song (for the {playlist} layout field)."""
    row = conn.execute("SELECT p.title FROM playlist_songs ps JOIN playlists p ON p.id = ps.playlist_id"
                       " WHERE ps.song_id = ? AND ps.removed_at IS NULL ORDER BY p.id LIMIT 1", (song_id,)).fetchone()
    return row[0] if row else None


def files_to_upgrade(conn: Connection, scope: dict[str, list], library_root: str, below: Sequence[str],
                     checked_before: str | None) -> list:
    """Verified files of songs in scope whose rung is one of `below` (or unknown), their
    sources not asked for a better copy since `checked_before` (None: whenever they were)."""
    marks = ", ".join("?" for _ in below) or "NULL"
    return _for_song_ids(
        conn, songs_in_scope(conn, scope),
        "SELECT f.*, s.title, s.artists FROM file_locations f JOIN songs s ON s.id = f.song_id"
        " WHERE f.song_id IN ({ids}) AND +f.library_root = ? AND f.verified_at IS NOT NULL"
        f" AND (f.quality IS NULL OR f.quality IN ({marks}))"
        " AND (? IS NULL OR f.upgrade_checked_at IS NULL OR f.upgrade_checked_at < ?) ORDER BY f.song_id",
        (library_root, *below, checked_before, checked_before))


def mark_upgrade_checked(conn: Connection, file_id: int) -> None:
    with transaction(conn):
        conn.execute("UPDATE file_locations SET upgrade_checked_at = ? WHERE id = ?", (iso(), file_id))


def retire_file(conn: Connection, old: Any, new_file_id: int) -> None:
    """An upgrade put `new_file_id` in the place of the file row `old`. Under another path, the
    old row goes and the backup's copies of it become retired objects, removed from the backup
    once the new file's upload has finished (upload.py); at the same path, the backup's copy is
    the old content, to be sent again."""
    with transaction(conn):
        if old["id"] == new_file_id:
            conn.execute("UPDATE upload_tasks SET status = 'pending', uploaded_at = NULL WHERE file_location_id = ?",
                         (old["id"],))
            return
        conn.execute(
            "INSERT OR IGNORE INTO retired_objects (backend, bucket, object_key, song_id, replaced_by, created_at)"
            " SELECT backend, bucket, object_key, ?, ?, ? FROM upload_tasks WHERE file_location_id = ?"
            " AND status = 'uploaded'", (old["song_id"], new_file_id, iso(), old["id"]))
        conn.execute("DELETE FROM file_locations WHERE id = ?", (old["id"],))


def retired_for(conn: Connection, file_id: int, backend: str, bucket: str) -> list:
    """The backup's copies of what `file_id` replaced, not removed yet; `reused` when the new
    file's own upload wrote that key again (its .lrc under the same name): not to be removed."""
    return conn.execute(
        "SELECT r.*, EXISTS (SELECT 1 FROM upload_tasks u WHERE u.file_location_id = r.replaced_by"
        " AND u.backend = r.backend AND u.bucket = r.bucket AND u.object_key = r.object_key) AS reused"
        " FROM retired_objects r WHERE r.replaced_by = ? AND r.backend = ? AND r.bucket = ? AND r.status = 'pending'"
        " ORDER BY r.id", (file_id, backend, bucket)).fetchall()


def mark_retired_removed(conn: Connection, retired_id: int) -> None:
    with transaction(conn):
        conn.execute("UPDATE retired_objects SET status = 'removed', removed_at = ? WHERE id = ?", (iso(), retired_id))
