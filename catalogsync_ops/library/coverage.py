"""Is my library complete? Each wanted song's state, per playlist and in total.

A song of a playlist is, in this order: `backed_up` (in the library and uploaded),
`in_library` (a verified file), `failed` (its latest download failed: with the error class),
or `untried` (not fetched yet, or being fetched). `unresolved` counts entries the platform
listed but could not resolve (they are not songs yet). The runner writes the counts into
`coverage` after each job (`refresh_coverage`); pages and `runnerd coverage` read those rows.
The songs of one playlist, and the missing ones, are read on demand (`songs_of`, `missing`).
"""
from __future__ import annotations

import csv
import io
import json
from typing import Any

from catalogsync_ops.store.connection import Connection, dicts, iso, transaction

STATES = ("backed_up", "in_library", "failed", "untried")

# One row per (playlist, song) wanted, with the song's state. :root is the library root (named
# parameters: Python 3.12 before 3.12.4 warns about numbered ones given as a sequence).
_SONG_STATES = """
WITH wanted AS (
    SELECT ps.playlist_id, ps.song_id, ps.position FROM playlist_songs ps WHERE ps.removed_at IS NULL {playlist}
), files AS (
    -- From the wanted songs to their files (file_locations_song_idx), never the other way: a
    -- playlist's page must not read every file of the library to find its fifty.
    SELECT w.song_id, MAX(f.id) AS file_id,
           MAX(EXISTS (SELECT 1 FROM upload_tasks u WHERE u.file_location_id = f.id AND u.status = 'uploaded')) AS up
    FROM (SELECT DISTINCT song_id FROM wanted) w CROSS JOIN file_locations f ON f.song_id = w.song_id
    WHERE f.library_root = :root AND f.verified_at IS NOT NULL GROUP BY w.song_id
)
SELECT w.playlist_id, w.song_id, w.position,
       CASE WHEN f.up THEN 'backed_up' WHEN f.file_id IS NOT NULL THEN 'in_library'
            WHEN m.song_id IS NOT NULL OR l.status = 'failed' THEN 'failed' ELSE 'untried' END AS state,
       CASE WHEN f.file_id IS NULL THEN COALESCE(m.last_error_class,
            CASE WHEN l.status = 'failed' THEN l.last_error_class END) END AS error_class,
       CASE WHEN f.file_id IS NULL THEN COALESCE(m.last_error,
            CASE WHEN l.status = 'failed' THEN l.last_error END) END AS error,
       l.id AS item_id,
       CASE WHEN f.file_id IS NULL THEN m.state END AS wanted, m.since AS missing_since, m.nights,
       m.attempts, CASE WHEN q.spectrum = 'transcoded' THEN 'transcoded' ELSE q.quality END AS quality, q.codec,
       q.bitrate_kbps, q.sample_rate, q.bit_depth, q.spectrum, q.cutoff_hz
FROM wanted w LEFT JOIN files f ON f.song_id = w.song_id
LEFT JOIN file_locations q ON q.id = f.file_id
-- The wanted list (engine/wanted.py) outlives the items that history retention forgets: a song
-- that failed last spring is still missing, with its reason, not "untried".
LEFT JOIN missing_songs m ON m.song_id = w.song_id
-- The song's latest download: a step back from the end of job_items_song_idx per song (an
-- `id IN (latest per song)` list here made SQLite seek the whole list for every row).
LEFT JOIN job_items l ON l.id = (SELECT MAX(j.id) FROM job_items j WHERE j.song_id = w.song_id
                                 AND j.item_type = 'song')
"""


def _empty() -> dict[str, Any]:
    return {"wanted": 0, "in_library": 0, "backed_up": 0, "failed": 0, "untried": 0, "unresolved": 0,
            "failed_by_class": {}, "quality": {}}


def _count(into: dict[str, Any], state: str, error_class: str | None, quality: str | None) -> None:
    into["wanted"] += 1
    into[state] += 1
    if state == "backed_up":
        into["in_library"] += 1  # backed up songs are in the library too
    if state in ("backed_up", "in_library"):
        key = quality or "unknown"  # a file recorded before qualities were, not yet checked
        into["quality"][key] = into["quality"].get(key, 0) + 1
    if state == "failed":
        key = error_class or "internal"
        into["failed_by_class"][key] = into["failed_by_class"].get(key, 0) + 1


def compute_coverage(conn: Connection, library_root: str) -> dict[int, dict[str, Any]]:
    """Counts per playlist id, and under 0 the library as a whole (each song once)."""
    per: dict[int, dict[str, Any]] = {}
    total, seen = _empty(), set()
    for row in conn.execute(_SONG_STATES.format(playlist=""), {"root": str(library_root)}):
        playlist_id, song_id, state, error_class, quality = row[0], row[1], row[3], row[4], row["quality"]
        _count(per.setdefault(playlist_id, _empty()), state, error_class, quality)
        if song_id not in seen:
            seen.add(song_id)
            _count(total, state, error_class, quality)
    for playlist_id, unresolved in conn.execute("SELECT id, unresolved_count FROM playlists"):
        per.setdefault(playlist_id, _empty())["unresolved"] = unresolved
        total["unresolved"] += unresolved
    per[0] = total
    return per


def refresh_coverage(conn: Connection, library_root: str) -> dict[str, Any]:
    """Recompute and store the counts (one transaction); returns the library's total."""
    counts = compute_coverage(conn, library_root)
    ts = iso()
    with transaction(conn):
        conn.execute("DELETE FROM coverage")
        conn.executemany(
            "INSERT INTO coverage (playlist_id, wanted, in_library, backed_up, failed, untried, unresolved, "
            "failed_json, quality_json, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(pid, c["wanted"], c["in_library"], c["backed_up"], c["failed"], c["untried"], c["unresolved"],
              json.dumps(c["failed_by_class"], sort_keys=True), json.dumps(c["quality"], sort_keys=True), ts)
             for pid, c in counts.items()])
    return counts[0]


def _row(row) -> dict[str, Any]:
    data = {k: row[k] for k in ("wanted", "in_library", "backed_up", "failed", "untried", "unresolved", "updated_at")}
    data["failed_by_class"] = json.loads(row["failed_json"] or "{}")
    data["quality"] = json.loads(row["quality_json"] or "{}")
    return data


def read_coverage(conn: Connection, playlist_id: int | None = None) -> dict[str, Any] | None:
    """The stored counts of one playlist, or of the whole library (None before the first job)."""
    row = conn.execute("SELECT * FROM coverage WHERE playlist_id = ?", (playlist_id or 0,)).fetchone()
    return _row(row) if row else None


def read_all_coverage(conn: Connection, playlist_ids: list[int] | None = None) -> dict[int, dict[str, Any]]:
    """Stored counts by playlist id (0: the whole library): all of them, or these and the total."""
    if playlist_ids is None:
        rows = conn.execute("SELECT * FROM coverage")
    else:
        wanted = [0, *playlist_ids]
        rows = conn.execute(f"SELECT * FROM coverage WHERE playlist_id IN ({', '.join('?' for _ in wanted)})", wanted)
    return {row["playlist_id"]: _row(row) for row in rows}


def songs_of(conn: Connection, library_root: str, playlist_id: int | None = None,
             states: tuple[str, ...] = STATES) -> list[dict[str, Any]]:
    """Wanted songs with their state, by playlist and position (one playlist, or all)."""
    where = "AND ps.playlist_id = :playlist_id" if playlist_id is not None else ""
    params = {"root": str(library_root), "playlist_id": playlist_id}
    cursor = conn.execute(
        "SELECT st.*, p.title AS playlist, s.title, s.artists, s.album, s.duration_s, s.platform, s.external_id"
        f" FROM ({_SONG_STATES.format(playlist=where)}) st JOIN songs s ON s.id = st.song_id"
        " JOIN playlists p ON p.id = st.playlist_id ORDER BY st.playlist_id, st.position, st.song_id", params)
    out, artists = [], {}  # artists as one text, made once for each list of them
    for item in dicts(cursor):
        if item["state"] not in states:
            continue
        listed = item["artists"]
        shown = artists.get(listed)
        if shown is None:
            try:
                shown = ", ".join(json.loads(listed or "[]"))
            except ValueError:
                shown = listed
            artists[listed] = shown
        item["artists"] = shown
        out.append(item)
    return out


def missing(conn: Connection, library_root: str, playlist_id: int | None = None) -> list[dict[str, Any]]:
    """The wanted songs not in the library: failed (and why) or not yet tried."""
    return songs_of(conn, library_root, playlist_id, states=("failed", "untried"))


# The wanted list's columns ride along: missing or unavailable, since when, for how many nights,
# after how many attempts.
MISSING_COLUMNS = ("playlist", "position", "artists", "title", "album", "state", "error_class", "error",
                   "wanted", "missing_since", "nights", "attempts", "platform", "external_id")


# A text cell a spreadsheet would take for a formula (OWASP's list, and the full-width forms
# some locales accept) is written with a leading apostrophe: shown as typed, never run.
_FORMULA_START = tuple("=+-@\t\r＝＋－＠")


def spreadsheet_cell(value: Any) -> Any:
    """A value as a spreadsheet cell that only ever shows: a title `=HYPERLINK(…)` stays text."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def missing_csv(rows: list[dict[str, Any]]) -> str:
    """CSV for a spreadsheet: UTF-8 with a byte-order mark (Excel then reads 周杰伦 right), its
    text cells neutralised (spreadsheet_cell)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(MISSING_COLUMNS)
    for row in rows:
        writer.writerow([spreadsheet_cell(row.get(c)) for c in MISSING_COLUMNS])
    return "\ufeff" + out.getvalue()


def missing_json(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{c: row.get(c) for c in MISSING_COLUMNS} for row in rows]
