"""Item transitions a worker makes: claim, then succeed, fail, skip, cancel or interrupt.

A claim is a compare-and-set on `status = 'queued'` that also opens an `item_attempts` row;
every later transition names that attempt's number, so a worker whose item was taken from it
(by recovery after a crash) cannot overwrite the new owner's result.
"""
from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from typing import Any

from catalogsync_ops.engine.records import Claim, RetryPolicy, get_item, write_event
from catalogsync_ops.engine.states import AttemptOutcome, ItemStatus, check_transition
from catalogsync_ops.errors import ErrorClass, TransitionError
from catalogsync_ops.store.connection import Connection, iso, parse_iso, transaction, utcnow

I = ItemStatus

# The claim: one compare-and-set UPDATE on the oldest due queued items of a running stage of a
# running job. Stage counters follow through the job_items triggers.
_CLAIM_UPDATE = (
    "UPDATE job_items SET status = 'running', attempts = attempts + 1, runner_instance_id = ?, worker_id = ?,"
    " started_at = ?, finished_at = NULL, updated_at = ?"
    " WHERE id IN (SELECT i.id FROM job_items i INDEXED BY job_items_claim_idx"
    "  JOIN job_stages s ON s.id = i.stage_id JOIN job_runs j ON j.id = i.job_id"
    "  WHERE i.stage_id = ? AND i.status = 'queued' AND i.next_attempt_at <= ?"
    "  AND s.status = 'running' AND j.status = 'running'"
    "  ORDER BY i.next_attempt_at, i.id LIMIT ?) AND status = 'queued'"
    " RETURNING id, job_id, attempts, item_type, item_key, payload_json, song_id, playlist_id,"
    " playlist_pool_id, file_location_id, upload_task_id, display_text, next_attempt_at"
)


def claim_items(
    conn: Connection,
    stage_id: int,
    *,
    runner_instance_id: int | None,
    worker_id: int | None = None,
    source: str | None = None,
    limit: int = 1,
    now: datetime | None = None,
) -> list[Claim]:
    """Claim up to `limit` of the oldest due queued items of a running stage of a running job.

    One transaction: the items go `running`, each gets its attempt row and its event. A worker
    that claims several runs them in order and gives back (`release_items`) any it has not
    started when its job is paused or canceled meanwhile.
    """
    ts = iso(now)
    with transaction(conn):
        tuples = conn.cursor()
        # Plain tuples, read by position in _CLAIM_UPDATE's RETURNING order (a third of the claim's
        # Python time went to sqlite3.Row); the events' JSON is made by SQLite.
        tuples.row_factory = None
        rows = tuples.execute(_CLAIM_UPDATE, (runner_instance_id, worker_id, ts, ts, stage_id, ts, limit)).fetchall()
        if not rows:
            return []
        if len(rows) > 1:
            rows.sort(key=lambda r: (r[12], r[0]))  # next_attempt_at, id: the order they were due in
        conn.executemany(
            "INSERT INTO item_attempts (item_id, attempt_no, runner_instance_id, worker_id, source, started_at)"
            " VALUES (?, ?, ?, ?, ?, ?)", [(r[0], r[2], runner_instance_id, worker_id, source, ts) for r in rows])
        conn.executemany(
            "INSERT INTO job_events (job_id, stage_id, item_id, kind, from_status, to_status, data_json, created_at)"
            " VALUES (?, ?, ?, 'item_claimed', 'queued', 'running', json_object('attempt', ?, 'worker_id', ?), ?)",
            [(r[1], stage_id, r[0], r[2], worker_id, ts) for r in rows])
    return [Claim(
        item_id=r[0], attempt_no=r[2], job_id=r[1], stage_id=stage_id, item_type=r[3], item_key=r[4],
        payload=json.loads(r[5]) if r[5] else {}, song_id=r[6], playlist_id=r[7], playlist_pool_id=r[8],
        file_location_id=r[9], upload_task_id=r[10], display_text=r[11],
    ) for r in rows]


def claim_next_item(
    conn: Connection,
    stage_id: int,
    *,
    runner_instance_id: int | None,
    worker_id: int | None = None,
    source: str | None = None,
    now: datetime | None = None,
) -> Claim | None:
    """Claim the oldest due queued item of a running stage of a running job, or None."""
    claims = claim_items(conn, stage_id, runner_instance_id=runner_instance_id, worker_id=worker_id, source=source,
                         now=now)
    return claims[0] if claims else None


def release_items(conn: Connection, claims: list[Claim], *, reason: str, now: datetime | None = None) -> int:
    """Give back claimed items that never started: `running -> queued`, their attempt undone.

    Used when a worker holds claimed items it has not begun and their job is paused or
    canceled, or the runner stops. The item keeps its place in the queue; its attempt row is
    removed (it never ran) and an `item_released` event says why. Returns how many were released.
    """
    ts = iso(now)
    released = 0
    with transaction(conn):
        for claim in claims:
            row = conn.execute(
                "UPDATE job_items SET status = 'queued', attempts = attempts - 1, worker_id = NULL, started_at = NULL,"
                " updated_at = ? WHERE id = ? AND status = 'running' AND attempts = ? RETURNING job_id, stage_id",
                (ts, claim.item_id, claim.attempt_no)).fetchone()
            if row is None:
                continue  # recovery or a cancel took it meanwhile
            conn.execute("DELETE FROM item_attempts WHERE item_id = ? AND attempt_no = ?",
                         (claim.item_id, claim.attempt_no))
            write_event(conn, "item_released", now=ts, job_id=row["job_id"], stage_id=row["stage_id"],
                        item_id=claim.item_id, from_status=I.RUNNING.value, to_status=I.QUEUED.value, message=reason,
                        data={"attempt": claim.attempt_no})
            released += 1
    return released


def defer_item(conn: Connection, claim: Claim, *, until: datetime, reason: str, now: datetime | None = None) -> bool:
    """`running -> queued` until `until`, the attempt undone: the item could not run now (its only
    sources are down) and must not spend an attempt waiting. Returns whether it was deferred."""
    ts = iso(now)
    with transaction(conn):
        row = conn.execute(
            "UPDATE job_items SET status = 'queued', attempts = attempts - 1, worker_id = NULL, started_at = NULL,"
            " next_attempt_at = ?, updated_at = ? WHERE id = ? AND status = 'running' AND attempts = ?"
            " RETURNING job_id, stage_id", (iso(until), ts, claim.item_id, claim.attempt_no)).fetchone()
        if row is None:
            return False  # recovery or a cancel took it meanwhile
        conn.execute("DELETE FROM item_attempts WHERE item_id = ? AND attempt_no = ?",
                     (claim.item_id, claim.attempt_no))
        write_event(conn, "item_deferred", now=ts, job_id=row["job_id"], stage_id=row["stage_id"],
                    item_id=claim.item_id,
                    from_status=I.RUNNING.value, to_status=I.QUEUED.value, message=reason[:500],
                    data={"until": iso(until)})
    return True


def _end_attempt(
    conn: Connection,
    item_id: int,
    attempt_no: int,
    target: ItemStatus,
    outcome: AttemptOutcome,
    ts: str,
    *,
    event: str,
    error_class: ErrorClass | str | None = None,
    error: str | None = None,
    source: str | None = None,
    details: dict[str, Any] | None = None,
    bytes_done: int | None = None,
    next_attempt_at: str | None = None,
    message: str | None = None,
    error_code: str | None = None,
    error_params: dict[str, Any] | None = None,
) -> None:
    """Move a running item (owned through its attempt number) to `target` and close the attempt."""
    error_class = ErrorClass(error_class).value if error_class else None
    params_json = json.dumps(error_params or {}, ensure_ascii=False, default=str) if error_code else None
    row = conn.execute(
        "UPDATE job_items SET status = ?, updated_at = ?, worker_id = NULL,"
        " finished_at = CASE WHEN ? = 'queued' THEN NULL ELSE ? END,"
        " next_attempt_at = COALESCE(?, next_attempt_at),"
        " last_error = CASE WHEN ? IS NULL THEN last_error ELSE ? END,"
        " last_error_class = CASE WHEN ? IS NULL THEN last_error_class ELSE ? END,"
        " last_error_code = CASE WHEN ? IS NULL THEN last_error_code ELSE ? END,"
        " last_error_params_json = CASE WHEN ? IS NULL THEN last_error_params_json ELSE ? END,"
        " last_source = COALESCE(?, last_source)"
        " WHERE id = ? AND status = 'running' AND attempts = ?"
        " RETURNING job_id, stage_id",
        (target.value, ts, target.value, ts, next_attempt_at, error, error, error_class, error_class,
         error, error_code, error, params_json, source, item_id, attempt_no),
    ).fetchone()
    if row is None:
        item = get_item(conn, item_id)
        if item["status"] != I.RUNNING:
            check_transition(item["status"], target, subject="item", subject_id=item_id)
        raise TransitionError.coded("item_owned_elsewhere", item_id=item_id, owner=item["attempts"], attempt=attempt_no)
    conn.execute(
        "UPDATE item_attempts SET outcome = ?, error_class = ?, error = ?, error_code = ?, error_params_json = ?,"
        " source = COALESCE(?, source),"
        " details_json = COALESCE(?, details_json), bytes_done = COALESCE(?, bytes_done), finished_at = ?,"
        " duration_ms = CAST(ROUND((julianday(?) - julianday(started_at)) * 86400000) AS INTEGER)"
        " WHERE item_id = ? AND attempt_no = ?",
        (outcome.value, error_class, error, error_code, params_json, source,
         json.dumps(details, ensure_ascii=False) if details else None, bytes_done, ts, ts, item_id, attempt_no),
    )
    write_event(conn, event, now=ts, job_id=row["job_id"], stage_id=row["stage_id"], item_id=item_id,
                from_status=I.RUNNING.value, to_status=target.value, message=message,
                data={"attempt": attempt_no, **({"error_class": error_class} if error_class else {})})


def mark_item_succeeded(
    conn: Connection,
    item_id: int,
    attempt_no: int,
    *,
    source: str | None = None,
    details: dict[str, Any] | None = None,
    bytes_done: int | None = None,
    now: datetime | None = None,
) -> None:
    """running -> succeeded; call only after the work is durable (file renamed, row written)."""
    ts = iso(now)
    with transaction(conn):
        _end_attempt(conn, item_id, attempt_no, I.SUCCEEDED, AttemptOutcome.SUCCEEDED, ts,
                     event="item_succeeded", source=source, details=details, bytes_done=bytes_done)


def mark_items_succeeded(conn: Connection, results: list[tuple[Claim, str | None, dict | None, int | None]],
                         *, now: datetime | None = None) -> None:
    """Record many successes at once: the same rows and events as `mark_item_succeeded` for each.

    `results` holds (claim, source, details, bytes_done). All or nothing: when any item is no
    longer owned by its attempt (recovery took it), TransitionError is raised and nothing is
    written, so the caller can record them one by one.
    """
    ts = iso(now)
    with transaction(conn):
        changed = conn.executemany(
            "UPDATE job_items SET status = 'succeeded', updated_at = ?, worker_id = NULL, finished_at = ?,"
            " last_source = COALESCE(?, last_source) WHERE id = ? AND status = 'running' AND attempts = ?",
            [(ts, ts, source, c.item_id, c.attempt_no) for c, source, _, _ in results]).rowcount
        if changed != len(results):
            raise TransitionError.coded("items_owned_elsewhere", lost=len(results) - changed, count=len(results))
        conn.executemany(
            "UPDATE item_attempts SET outcome = 'succeeded', error_class = NULL, error = NULL,"
            " source = COALESCE(?, source), details_json = COALESCE(?, details_json),"
            " bytes_done = COALESCE(?, bytes_done), finished_at = ?,"
            " duration_ms = CAST(ROUND((julianday(?) - julianday(started_at)) * 86400000) AS INTEGER)"
            " WHERE item_id = ? AND attempt_no = ?",
            [(source, json.dumps(details, ensure_ascii=False) if details else None, bytes_done, ts, ts, c.item_id,
              c.attempt_no) for c, source, details, bytes_done in results])
        conn.executemany(
            "INSERT INTO job_events (job_id, stage_id, item_id, kind, from_status, to_status, data_json, created_at)"
            " VALUES (?, ?, ?, 'item_succeeded', 'running', 'succeeded', json_object('attempt', ?), ?)",
            [(c.job_id, c.stage_id, c.item_id, c.attempt_no, ts) for c, _, _, _ in results])


def mark_item_failed(
    conn: Connection,
    item_id: int,
    attempt_no: int,
    *,
    error_class: ErrorClass | str,
    error: str,
    source: str | None = None,
    details: dict[str, Any] | None = None,
    bytes_done: int | None = None,
    retryable: bool = True,
    policy: RetryPolicy = RetryPolicy(),
    rng: random.Random | None = None,
    now: datetime | None = None,
    error_code: str | None = None,
    error_params: dict[str, Any] | None = None,
) -> ItemStatus:
    """A failed attempt: back to queued after a backoff while attempts remain, else failed.
    `error_code` and `error_params` (a coded SourceError's) are kept beside the text."""
    moment = now or utcnow()
    ts = iso(moment)
    with transaction(conn):
        item = get_item(conn, item_id)
        if retryable and item["status"] == I.RUNNING and item["attempts"] < item["max_attempts"]:
            delay = policy.delay(item["attempts"], rng)
            due = iso(moment + timedelta(seconds=delay))
            _end_attempt(conn, item_id, attempt_no, I.QUEUED, AttemptOutcome.FAILED, ts,
                         event="item_retry_scheduled", error_class=error_class, error=error,
                         source=source, details=details, bytes_done=bytes_done, next_attempt_at=due,
                         error_code=error_code, error_params=error_params,
                         message=f"attempt {item['attempts']} of {item['max_attempts']} failed; retry in {delay:.0f}s")
            return I.QUEUED
        _end_attempt(conn, item_id, attempt_no, I.FAILED, AttemptOutcome.FAILED, ts,
                     event="item_failed", error_class=error_class, error=error, source=source,
                     details=details, bytes_done=bytes_done, error_code=error_code, error_params=error_params)
        return I.FAILED


def mark_item_skipped(conn: Connection, item_id: int, attempt_no: int, *, reason: str,
                      details: dict[str, Any] | None = None, now: datetime | None = None) -> None:
    """running -> skipped: nothing to do for this item (e.g. the upload backend is `none`, or an
    upgrade found nothing better: `details` say what each source offered)."""
    ts = iso(now)
    with transaction(conn):
        _end_attempt(conn, item_id, attempt_no, I.SKIPPED, AttemptOutcome.SKIPPED, ts,
                     event="item_skipped", message=reason, details=details or None)


def mark_item_canceled(conn: Connection, item_id: int, attempt_no: int, *,
                       bytes_done: int | None = None, now: datetime | None = None) -> None:
    """running -> canceled: the worker saw its job's cancel and stopped at a chunk boundary."""
    ts = iso(now)
    with transaction(conn):
        _end_attempt(conn, item_id, attempt_no, I.CANCELED, AttemptOutcome.CANCELED, ts,
                     event="item_canceled", bytes_done=bytes_done)


def mark_item_interrupted(conn: Connection, item_id: int, attempt_no: int, *, reason: str,
                          bytes_done: int | None = None, now: datetime | None = None) -> None:
    """running -> interrupted: a hard stop ended the attempt; resume re-queues it."""
    ts = iso(now)
    with transaction(conn):
        _end_attempt(conn, item_id, attempt_no, I.INTERRUPTED, AttemptOutcome.INTERRUPTED, ts,
                     event="item_interrupted", error_class=ErrorClass.INTERRUPTED, error=reason,
                     bytes_done=bytes_done)


def attempts_of(conn: Connection, item_id: int) -> list[dict[str, Any]]:
    """The attempt history of one item, oldest first."""
    return [dict(row) for row in conn.execute(
        "SELECT * FROM item_attempts WHERE item_id = ? ORDER BY attempt_no, id", (item_id,))]


def seconds_until_next_due(conn: Connection, stage_id: int, now: datetime | None = None) -> float | None:
    """Seconds until the earliest queued item of a stage becomes due (0 if one is due now)."""
    row = conn.execute(
        "SELECT MIN(next_attempt_at) FROM job_items WHERE stage_id = ? AND status = 'queued'", (stage_id,)
    ).fetchone()
    if row[0] is None:
        return None
    return max(0.0, (parse_iso(row[0]) - (now or utcnow())).total_seconds())
