"""The wanted list's memory: which wanted songs the library could not get, across every job.

When a download stage finishes, its song items are folded into `missing_songs` in the same
transaction: a failed song is missing (one more night, its attempts and last failure kept), a
song that succeeded loses its row (found again, if it had one). A song that failed for
`give_up_nights` stages in a row with a class in GONE_FOR_GOOD becomes unavailable, tried again
only after `recheck_days`; the owner can mark a song unavailable (never tried again until marked
wanted) or wanted again. What the stage changed comes back as counts: the job's outcome, which
decides whether a night is quiet (see jobs.finish_job).
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from catalogsync_ops.errors import GONE_FOR_GOOD
from catalogsync_ops.store.connection import Connection, iso, parse_iso

OUTCOME_KEYS = ("added", "newly_missing", "still_missing", "found_again", "given_up")


def known_missing(conn: Connection, stage_id: int, job_started_at: str | None) -> set[int]:
    """Songs of the stage's failed items that were already missing or unavailable before the job."""
    return {row[0] for row in conn.execute(
        "SELECT i.song_id FROM job_items i JOIN missing_songs m ON m.song_id = i.song_id"
        " WHERE i.stage_id = ? AND i.status = 'failed' AND i.item_type = 'song' AND m.since < ?",
        (stage_id, job_started_at or "9999"))}


def record_download_stage(conn: Connection, stage: Any, job: Any, ts: str, *, give_up_nights: int,
                          recheck_days: int) -> dict[str, int]:
    """Fold a finished download stage's songs into `missing_songs` (inside the caller's transaction)."""
    stage_id, job_id = stage["id"], job["id"]
    known = known_missing(conn, stage_id, job["started_at"])
    failed = conn.execute(
        "SELECT song_id, attempts, last_error_class, last_error, last_error_code, last_error_params_json,"
        " last_source, updated_at FROM job_items WHERE stage_id = ? AND status = 'failed' AND item_type = 'song'"
        " AND song_id IS NOT NULL", (stage_id,)).fetchall()
    recheck = iso(parse_iso(ts) + timedelta(days=recheck_days))
    given_up = 0
    for row in failed:
        gone = int(row["last_error_class"] in GONE_FOR_GOOD)
        conn.execute(
            "INSERT INTO missing_songs (song_id, state, since, nights, permanent_nights, attempts, last_error_class,"
            " last_error, last_error_code, last_error_params_json, last_source, last_job_id, last_tried_at,"
            " updated_at) VALUES (?, 'missing', ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (song_id) DO UPDATE SET"
            # A stage finishing again in the same job (a person's retry) is the same night.
            "  nights = nights + (last_job_id IS NOT excluded.last_job_id),"
            "  permanent_nights = CASE WHEN last_job_id IS excluded.last_job_id THEN permanent_nights"
            "    WHEN excluded.permanent_nights = 1 THEN permanent_nights + 1 ELSE 0 END,"
            "  attempts = attempts + CASE WHEN last_job_id IS excluded.last_job_id THEN 0 ELSE excluded.attempts END,"
            "  last_error_class = excluded.last_error_class, last_error = excluded.last_error,"
            "  last_error_code = excluded.last_error_code, last_error_params_json = excluded.last_error_params_json,"
            "  last_source = excluded.last_source, last_job_id = excluded.last_job_id,"
            "  last_tried_at = excluded.last_tried_at, updated_at = excluded.updated_at",
            (row["song_id"], ts, gone, row["attempts"], row["last_error_class"], row["last_error"],
             row["last_error_code"], row["last_error_params_json"], row["last_source"], job_id, row["updated_at"], ts))
    if failed:
        ids = [row["song_id"] for row in failed]
        marks = ",".join("?" * len(ids))
        if give_up_nights > 0:
            given_up = conn.execute(
                f"UPDATE missing_songs SET state = 'unavailable', marked_by = 'auto', recheck_after = ?, updated_at = ?"
                f" WHERE state = 'missing' AND permanent_nights >= ? AND song_id IN ({marks})",
                (recheck, ts, give_up_nights, *ids)).rowcount
        # An unavailable song tried again (its recheck came) and still gone: next try in recheck_days.
        conn.execute(f"UPDATE missing_songs SET recheck_after = ? WHERE state = 'unavailable' AND marked_by = 'auto'"
                     f" AND recheck_after <= ? AND song_id IN ({marks})", (recheck, ts, *ids))
    found = conn.execute(
        "DELETE FROM missing_songs WHERE song_id IN (SELECT song_id FROM job_items WHERE stage_id = ?"
        " AND status = 'succeeded' AND item_type = 'song' AND song_id IS NOT NULL)", (stage_id,)).rowcount
    added = conn.execute("SELECT COUNT(*) FROM job_items WHERE stage_id = ? AND status = 'succeeded'"
                         " AND item_type = 'song'", (stage_id,)).fetchone()[0]
    return {"added": added, "newly_missing": len(failed) - len(known), "still_missing": len(known),
            "found_again": found, "given_up": given_up}


def add_to_outcome(conn: Connection, job_id: int, counts: dict[str, int]) -> dict[str, Any]:
    """Add a stage's counts to its job's outcome (a person's retry of a stage replaces that stage's)."""
    row = conn.execute("SELECT outcome_json FROM job_runs WHERE id = ?", (job_id,)).fetchone()
    outcome = json.loads(row[0] or "{}") if row else {}
    for key in OUTCOME_KEYS:
        outcome[key] = int(outcome.get(key, 0)) + int(counts.get(key, 0))
    conn.execute("UPDATE job_runs SET outcome_json = ? WHERE id = ?", (json.dumps(outcome), job_id))
    return outcome


def changed(outcome: dict[str, Any]) -> bool:
    """Whether a job's outcome holds news for the owner: songs added, newly missing or found again."""
    return any(int(outcome.get(key, 0)) for key in ("added", "newly_missing", "found_again"))


def mark(conn: Connection, song_ids: Iterable[int], state: str, ts: str) -> dict[str, int]:
    """The owner's word on songs (inside the caller's transaction): `unavailable` (stop trying) or
    `wanted` (try again at the next download). Songs already in the library are left as they are."""
    ids = sorted(set(int(i) for i in song_ids))
    listed = json.dumps(ids)  # one statement each for any number of songs (json_each reads the list)
    known = {r[0] for r in conn.execute("SELECT id FROM songs WHERE id IN (SELECT value FROM json_each(?))",
                                        (listed,))}
    held = {r[0] for r in conn.execute(
        "SELECT DISTINCT song_id FROM file_locations WHERE verified_at IS NOT NULL"
        " AND song_id IN (SELECT value FROM json_each(?))", (listed,))}
    todo = [(song_id, ts, ts) if state == "unavailable" else (ts, song_id)
            for song_id in ids if song_id in known and song_id not in held]
    counts = {"marked": 0, "in_library": len(known & held), "unknown": len(ids) - len(known)}
    if todo and state == "unavailable":
        conn.executemany(
            "INSERT INTO missing_songs (song_id, state, since, marked_by, updated_at)"
            " VALUES (?, 'unavailable', ?, 'owner', ?) ON CONFLICT (song_id) DO UPDATE SET state = 'unavailable',"
            " marked_by = 'owner', recheck_after = NULL, updated_at = excluded.updated_at", todo)
        counts["marked"] = len(todo)
    elif todo:
        counts["marked"] = conn.executemany(
            "UPDATE missing_songs SET state = 'missing', marked_by = NULL, recheck_after = NULL,"
            " permanent_nights = 0, updated_at = ? WHERE song_id = ? AND state = 'unavailable'", todo).rowcount
    return counts
