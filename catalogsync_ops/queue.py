"""Job, stage and item transitions: one function, one transaction, one event each.

Every function here takes a write connection and an optional `now` (tests pass the clock in,
nothing patches it). Each checks the current state with compare-and-set, updates the row,
moves the stage's per-status counters and appends a `job_events` row, all inside one
`transaction()`; an illegal transition raises `TransitionError` and changes nothing.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from catalogsync_ops.db import Connection, iso, transaction
from catalogsync_ops.errors import NotFound, TransitionError
from catalogsync_ops.states import (
    ITEM_RETRYABLE,
    JOB_FINAL,
    STAGE_FINAL,
    STAGES_BY_JOB_TYPE,
    ErrorClass,
    ItemStatus,
    ItemType,
    JobStatus,
    JobType,
    StageStatus,
    check_transition,
)

I, J, S = ItemStatus, JobStatus, StageStatus


@dataclass(frozen=True)
class ItemSpec:
    """One unit of work to add to a stage; `item_key` is unique within the stage."""

    item_key: str
    item_type: ItemType = ItemType.NOOP
    display_text: str | None = None
    playlist_pool_id: int | None = None
    playlist_id: int | None = None
    song_id: int | None = None
    file_location_id: int | None = None
    upload_task_id: int | None = None
    payload: dict[str, Any] | None = None


@dataclass(frozen=True)
class Claim:
    """An item a worker now owns, with the attempt that fences its later transitions."""

    item_id: int
    attempt_no: int
    job_id: int
    stage_id: int
    item_type: str
    item_key: str
    payload: dict[str, Any] = field(default_factory=dict)
    song_id: int | None = None
    playlist_id: int | None = None
    playlist_pool_id: int | None = None
    file_location_id: int | None = None
    upload_task_id: int | None = None
    display_text: str | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: base * 2**(attempt-1), capped, times 0.5–1.0."""

    base_seconds: float = 30.0
    max_seconds: float = 3600.0

    def delay(self, attempt_no: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt `attempt_no + 1`."""
        raw = min(self.max_seconds, self.base_seconds * (2 ** max(0, attempt_no - 1)))
        return raw * (0.5 + (rng or random).random() / 2)


def write_event(
    conn: Connection,
    kind: str,
    *,
    now: str,
    job_id: int | None = None,
    stage_id: int | None = None,
    item_id: int | None = None,
    command_id: int | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    message: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Append one `job_events` row (callers are already inside a transaction)."""
    conn.execute(
        "INSERT INTO job_events (job_id, stage_id, item_id, command_id, kind, from_status,"
        " to_status, message, data_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (job_id, stage_id, item_id, command_id, kind, from_status, to_status, message,
         json.dumps(data, ensure_ascii=False) if data else None, now),
    )


def _get(conn: Connection, table: str, row_id: int, what: str):
    row = conn.execute(f"SELECT * FROM {table} WHERE id = ?", (row_id,)).fetchone()
    if row is None:
        raise NotFound(f"{what} {row_id} does not exist")
    return row


def get_job(conn: Connection, job_id: int):
    """Return the job_runs row or raise NotFound."""
    return _get(conn, "job_runs", job_id, "job")


def get_stage(conn: Connection, stage_id: int):
    """Return the job_stages row or raise NotFound."""
    return _get(conn, "job_stages", stage_id, "stage")


def get_item(conn: Connection, item_id: int):
    """Return the job_items row or raise NotFound."""
    return _get(conn, "job_items", item_id, "item")


def _set_job_status(conn: Connection, job, target: JobStatus, now: str, **extra: Any) -> None:
    check_transition(job["status"], target, subject=f"job {job['id']}")
    sets = ", ".join(f"{column} = ?" for column in extra)
    cursor = conn.execute(
        f"UPDATE job_runs SET status = ?, updated_at = ?{', ' + sets if sets else ''}"
        " WHERE id = ? AND status = ?",
        (target.value, now, *extra.values(), job["id"], job["status"]),
    )
    if cursor.rowcount != 1:
        raise TransitionError(f"job {job['id']} changed state while being updated; try again")


def _set_stage_status(conn: Connection, stage, target: StageStatus, now: str, **extra: Any) -> None:
    check_transition(stage["status"], target, subject=f"stage {stage['id']} ({stage['stage_type']})")
    sets = ", ".join(f"{column} = ?" for column in extra)
    conn.execute(
        f"UPDATE job_stages SET status = ?, updated_at = ?{', ' + sets if sets else ''}"
        " WHERE id = ? AND status = ?",
        (target.value, now, *extra.values(), stage["id"], stage["status"]),
    )


def _stages(conn: Connection, job_id: int, statuses: Iterable[StageStatus] | None = None):
    rows = conn.execute("SELECT * FROM job_stages WHERE job_id = ? ORDER BY seq_no", (job_id,)).fetchall()
    if statuses is None:
        return rows
    wanted = {s.value for s in statuses}
    return [row for row in rows if row["status"] in wanted]


def running_item_count(conn: Connection, job_id: int) -> int:
    """Items of a job in flight, read from the stage counters."""
    row = conn.execute("SELECT COALESCE(SUM(n_running), 0) FROM job_stages WHERE job_id = ?", (job_id,)).fetchone()
    return int(row[0])


def _bulk_move_items(
    conn: Connection,
    job_id: int,
    sources: Iterable[ItemStatus],
    target: ItemStatus,
    now: str,
    *,
    extra_where: str = "",
    params: tuple = (),
    extra_set: str = "",
    set_params: tuple = (),
) -> int:
    """Move every item of a job in one of `sources` to `target` (the triggers keep the counters)."""
    total = 0
    for source in sources:
        check_transition(source.value, target, subject=f"items of job {job_id}")
        total += conn.execute(
            f"UPDATE job_items SET status = ?, updated_at = ?{extra_set}"
            f" WHERE job_id = ? AND status = ?{extra_where}",
            (target.value, now, *set_params, job_id, source.value, *params),
        ).rowcount
    return total


# ---------------------------------------------------------------- jobs and stages


def create_job(
    conn: Connection,
    job_type: JobType | str,
    *,
    scope: dict[str, Any] | None = None,
    priority: int = 0,
    config_revision_id: int | None = None,
    config_snapshot: dict[str, Any] | None = None,
    command_id: int | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> int:
    """Create a queued job with its stages (all pending); returns the job id."""
    job_type = JobType(job_type)
    ts = iso(now)
    with transaction(conn):
        job_id = conn.execute(
            "INSERT INTO job_runs (job_type, status, priority, scope_json, config_revision_id,"
            " config_snapshot_json, command_id, note, created_at, updated_at)"
            " VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?)",
            (job_type.value, priority, json.dumps(scope or {}, ensure_ascii=False),
             config_revision_id, json.dumps(config_snapshot or {}, ensure_ascii=False),
             command_id, note, ts, ts),
        ).lastrowid
        conn.executemany(
            "INSERT INTO job_stages (job_id, seq_no, stage_type, status, updated_at)"
            " VALUES (?, ?, ?, 'pending', ?)",
            [(job_id, seq, stage.value, ts) for seq, stage in enumerate(STAGES_BY_JOB_TYPE[job_type], 1)],
        )
        write_event(conn, "job_created", now=ts, job_id=job_id, command_id=command_id,
                    to_status=J.QUEUED.value, message=f"{job_type.value} job queued",
                    data={"priority": priority, "scope": scope or {}})
    return int(job_id)


def add_items(
    conn: Connection,
    stage_id: int,
    items: Iterable[ItemSpec],
    *,
    max_attempts: int,
    now: datetime | None = None,
) -> int:
    """Queue items in a stage; keys already present are left alone. Returns how many were new."""
    ts = iso(now)
    with transaction(conn):
        stage = get_stage(conn, stage_id)
        if stage["status"] in {s.value for s in STAGE_FINAL}:
            raise TransitionError(f"stage {stage_id} is {stage['status']}; no items can be added")
        rows = [
            (stage["job_id"], stage_id, ItemType(spec.item_type).value, spec.item_key, max_attempts, ts,
             spec.playlist_pool_id, spec.playlist_id, spec.song_id, spec.file_location_id,
             spec.upload_task_id, spec.display_text,
             json.dumps(spec.payload, ensure_ascii=False) if spec.payload else None, ts, ts)
            for spec in items
        ]
        cursor = conn.executemany(
            "INSERT OR IGNORE INTO job_items (job_id, stage_id, item_type, item_key, max_attempts,"
            " next_attempt_at, playlist_pool_id, playlist_id, song_id, file_location_id,"
            " upload_task_id, display_text, payload_json, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        added = max(cursor.rowcount, 0)
        if added:
            conn.execute("UPDATE job_stages SET materialized_at = ?, updated_at = ? WHERE id = ?", (ts, ts, stage_id))
            write_event(conn, "items_added", now=ts, job_id=stage["job_id"], stage_id=stage_id,
                        message=f"{added} items queued", data={"count": added, "offered": len(rows)})
    return added


def start_job(conn: Connection, job_id: int, *, now: datetime | None = None) -> None:
    """queued -> running: the scheduler picked this job."""
    ts = iso(now)
    with transaction(conn):
        job = get_job(conn, job_id)
        if job["status"] != J.QUEUED:
            raise TransitionError(f"job {job_id} is {job['status']}; only a queued job can start")
        _set_job_status(conn, job, J.RUNNING, ts, started_at=job["started_at"] or ts)
        write_event(conn, "job_started", now=ts, job_id=job_id, from_status=job["status"],
                    to_status=J.RUNNING.value)


def start_stage(conn: Connection, stage_id: int, *, now: datetime | None = None) -> None:
    """pending|paused -> running, only while its job runs."""
    ts = iso(now)
    with transaction(conn):
        stage = get_stage(conn, stage_id)
        job = get_job(conn, stage["job_id"])
        if stage["status"] not in (S.PENDING, S.PAUSED):
            raise TransitionError(f"stage {stage_id} is {stage['status']}; only a pending or paused stage can start")
        if job["status"] != J.RUNNING:
            raise TransitionError(f"job {job['id']} is {job['status']}; its stages cannot start")
        _set_stage_status(conn, stage, S.RUNNING, ts, started_at=stage["started_at"] or ts)
        write_event(conn, "stage_started", now=ts, job_id=job["id"], stage_id=stage_id,
                    from_status=stage["status"], to_status=S.RUNNING.value,
                    message=f"stage {stage['stage_type']} started")


def finish_stage(conn: Connection, stage_id: int, *, now: datetime | None = None) -> StageStatus:
    """running -> completed | completed_with_errors | failed once no item is left to run.

    Later stages of the job that had already finished go back to pending, so they pick up
    what this stage produced when it ran again (after a person's retry).
    """
    ts = iso(now)
    with transaction(conn):
        stage = get_stage(conn, stage_id)
        left = stage["n_queued"] + stage["n_running"] + stage["n_interrupted"]
        if stage["status"] == S.RUNNING and left:
            raise TransitionError(
                f"stage {stage_id} still has {stage['n_queued']} queued, {stage['n_running']} running"
                f" and {stage['n_interrupted']} interrupted items; it cannot finish yet"
            )
        if stage["n_failed"] and not (stage["n_succeeded"] or stage["n_skipped"]):
            target = S.FAILED
        elif stage["n_failed"]:
            target = S.COMPLETED_WITH_ERRORS
        else:
            target = S.COMPLETED
        _set_stage_status(conn, stage, target, ts, finished_at=ts)
        reopened = []
        for later in conn.execute(
            "SELECT * FROM job_stages WHERE job_id = ? AND seq_no > ? AND status IN (?, ?, ?)",
            (stage["job_id"], stage["seq_no"], S.COMPLETED.value, S.COMPLETED_WITH_ERRORS.value, S.FAILED.value),
        ).fetchall():
            _set_stage_status(conn, later, S.PENDING, ts, finished_at=None)
            reopened.append(later["id"])
        write_event(conn, "stage_finished", now=ts, job_id=stage["job_id"], stage_id=stage_id,
                    from_status=stage["status"], to_status=target.value,
                    message=f"stage {stage['stage_type']} {target.value}",
                    data={"reopened_stages": reopened} if reopened else None)
    return target


def finish_job(conn: Connection, job_id: int, *, now: datetime | None = None) -> JobStatus:
    """running -> completed | completed_with_errors | failed once every stage is final."""
    ts = iso(now)
    with transaction(conn):
        job = get_job(conn, job_id)
        stages = _stages(conn, job_id)
        open_stages = [s["stage_type"] for s in stages if s["status"] not in {x.value for x in STAGE_FINAL}]
        if open_stages and job["status"] == J.RUNNING:
            raise TransitionError(f"job {job_id} still has unfinished stages: {', '.join(open_stages)}")
        statuses = {s["status"] for s in stages}
        if S.FAILED in statuses:
            target = J.FAILED
        elif S.COMPLETED_WITH_ERRORS in statuses:
            target = J.COMPLETED_WITH_ERRORS
        else:
            target = J.COMPLETED
        _set_job_status(conn, job, target, ts, finished_at=ts)
        write_event(conn, "job_finished", now=ts, job_id=job_id, from_status=job["status"],
                    to_status=target.value, message=f"job {target.value}")
    return target


def request_pause(conn: Connection, job_id: int, *, command_id: int | None = None,
                  now: datetime | None = None) -> JobStatus:
    """running -> pause_requested (in-flight items finish); queued -> paused at once."""
    ts = iso(now)
    with transaction(conn):
        job = get_job(conn, job_id)
        target = J.PAUSED if job["status"] == J.QUEUED else J.PAUSE_REQUESTED
        _set_job_status(conn, job, target, ts)
        if target == J.PAUSE_REQUESTED:
            for stage in _stages(conn, job_id, [S.RUNNING]):
                _set_stage_status(conn, stage, S.PAUSE_REQUESTED, ts)
        write_event(conn, "pause_requested" if target == J.PAUSE_REQUESTED else "job_paused",
                    now=ts, job_id=job_id, command_id=command_id, from_status=job["status"],
                    to_status=target.value,
                    data={"in_flight": running_item_count(conn, job_id)})
    return target


def finalize_pause(conn: Connection, job_id: int, *, now: datetime | None = None) -> None:
    """pause_requested -> paused, once the last in-flight item has finished."""
    ts = iso(now)
    with transaction(conn):
        job = get_job(conn, job_id)
        if job["status"] != J.PAUSE_REQUESTED:
            raise TransitionError(f"job {job_id} is {job['status']}; only a job whose pause was requested "
                                  "can finish pausing")
        in_flight = running_item_count(conn, job_id)
        if in_flight:
            raise TransitionError(f"job {job_id} still has {in_flight} items running; it pauses when they finish")
        _set_job_status(conn, job, J.PAUSED, ts)
        for stage in _stages(conn, job_id, [S.PAUSE_REQUESTED, S.RUNNING]):
            _set_stage_status(conn, stage, S.PAUSED, ts)
        write_event(conn, "job_paused", now=ts, job_id=job_id, from_status=job["status"],
                    to_status=J.PAUSED.value)


def resume_job(conn: Connection, job_id: int, *, command_id: int | None = None,
               now: datetime | None = None) -> JobStatus:
    """paused -> queued (interrupted items re-queued); pause_requested -> running."""
    ts = iso(now)
    with transaction(conn):
        job = get_job(conn, job_id)
        if job["status"] == J.PAUSE_REQUESTED:
            target = J.RUNNING
            _set_job_status(conn, job, target, ts)
            for stage in _stages(conn, job_id, [S.PAUSE_REQUESTED]):
                _set_stage_status(conn, stage, S.RUNNING, ts)
            requeued = 0
        elif job["status"] == J.PAUSED:
            target = J.QUEUED
            _set_job_status(conn, job, target, ts)
            # Interrupted items keep their place in the queue (they were due when claimed).
            requeued = _bulk_move_items(conn, job_id, [I.INTERRUPTED], I.QUEUED, ts)
        else:
            raise TransitionError(f"job {job_id} is {job['status']}; only a paused job can be resumed")
        write_event(conn, "job_resumed", now=ts, job_id=job_id, command_id=command_id,
                    from_status=job["status"], to_status=target.value,
                    data={"requeued_interrupted": requeued} if requeued else None)
    return target


def request_cancel(conn: Connection, job_id: int, *, command_id: int | None = None,
                   now: datetime | None = None) -> JobStatus:
    """Cancel a job: queued work is canceled now; running items stop at their next chunk.

    A job with nothing in flight (queued, paused) is canceled at once; a running one becomes
    cancel_requested until `finalize_cancel`. Finished work stays finished.
    """
    ts = iso(now)
    with transaction(conn):
        job = get_job(conn, job_id)
        immediate = job["status"] in (J.QUEUED, J.PAUSED)
        target = J.CANCELED if immediate else J.CANCEL_REQUESTED
        _set_job_status(conn, job, target, ts, **({"finished_at": ts} if immediate else {}))
        canceled = _bulk_move_items(conn, job_id, [I.QUEUED, I.INTERRUPTED], I.CANCELED, ts,
                                    extra_set=", finished_at = ?", set_params=(ts,))
        if immediate:
            _close_stages_canceled(conn, job_id, ts)
        write_event(conn, "job_canceled" if immediate else "cancel_requested", now=ts, job_id=job_id,
                    command_id=command_id, from_status=job["status"], to_status=target.value,
                    data={"items_canceled": canceled, "in_flight": running_item_count(conn, job_id)})
    return target


def _close_stages_canceled(conn: Connection, job_id: int, ts: str) -> None:
    for stage in _stages(conn, job_id):
        if stage["status"] not in {s.value for s in STAGE_FINAL}:
            _set_stage_status(conn, stage, S.CANCELED, ts, finished_at=ts)


def finalize_cancel(conn: Connection, job_id: int, *, now: datetime | None = None) -> None:
    """cancel_requested -> canceled, once no item of the job is running."""
    ts = iso(now)
    with transaction(conn):
        job = get_job(conn, job_id)
        if job["status"] != J.CANCEL_REQUESTED:
            raise TransitionError(f"job {job_id} is {job['status']}; only a job whose cancel was requested "
                                  "can finish canceling")
        in_flight = running_item_count(conn, job_id)
        if in_flight:
            raise TransitionError(f"job {job_id} still has {in_flight} items stopping")
        _set_job_status(conn, job, J.CANCELED, ts, finished_at=ts)
        _close_stages_canceled(conn, job_id, ts)
        write_event(conn, "job_canceled", now=ts, job_id=job_id, from_status=job["status"],
                    to_status=J.CANCELED.value)


def reprioritize_job(conn: Connection, job_id: int, priority: int, *, command_id: int | None = None,
                     now: datetime | None = None) -> None:
    """Change the priority of a job that has not finished (higher runs first)."""
    ts = iso(now)
    with transaction(conn):
        job = get_job(conn, job_id)
        if job["status"] in {s.value for s in JOB_FINAL}:
            raise TransitionError(f"job {job_id} is {job['status']}; its priority no longer matters")
        conn.execute("UPDATE job_runs SET priority = ?, updated_at = ? WHERE id = ?", (priority, ts, job_id))
        write_event(conn, "job_reprioritized", now=ts, job_id=job_id, command_id=command_id,
                    data={"from": job["priority"], "to": priority})


def _reopen_for_retry(conn: Connection, job, stage_ids: Iterable[int], ts: str) -> str:
    """Reopen finished stages that got re-queued items, and a finished job; returns job status."""
    for stage_id in set(stage_ids):
        stage = get_stage(conn, stage_id)
        if stage["status"] in {s.value for s in STAGE_FINAL}:
            _set_stage_status(conn, stage, S.PENDING, ts, finished_at=None)
    if job["status"] in {s.value for s in JOB_FINAL}:
        _set_job_status(conn, job, J.QUEUED, ts, finished_at=None)
        return J.QUEUED.value
    return job["status"]


def retry_item(conn: Connection, item_id: int, *, extra_attempts: int = 1, command_id: int | None = None,
               now: datetime | None = None) -> None:
    """A person's retry: failed|interrupted|canceled -> queued now, reopening a finished job."""
    ts = iso(now)
    with transaction(conn):
        item = get_item(conn, item_id)
        job = get_job(conn, item["job_id"])
        if job["status"] in (J.CANCELED, J.CANCEL_REQUESTED):
            raise TransitionError(f"job {job['id']} is {job['status']}; enqueue a new job to fetch item {item_id}")
        if item["status"] not in {s.value for s in ITEM_RETRYABLE}:
            raise TransitionError(f"item {item_id} is {item['status']}; only failed, interrupted or "
                                  "canceled items can be retried")
        check_transition(item["status"], I.QUEUED, subject=f"item {item_id}")
        conn.execute(
            # Back in its original place in the queue: a person's retry runs soon, not last.
            "UPDATE job_items SET status = 'queued', next_attempt_at = created_at, updated_at = ?,"
            " finished_at = NULL, max_attempts = MAX(max_attempts, attempts + ?) WHERE id = ? AND status = ?",
            (ts, extra_attempts, item_id, item["status"]),
        )
        job_status = _reopen_for_retry(conn, job, [item["stage_id"]], ts)
        write_event(conn, "item_retry_requested", now=ts, job_id=job["id"], stage_id=item["stage_id"],
                    item_id=item_id, command_id=command_id, from_status=item["status"],
                    to_status=I.QUEUED.value, data={"job_status": job_status})


def retry_failed_items(
    conn: Connection,
    job_id: int,
    *,
    error_class: str | None = None,
    source: str | None = None,
    extra_attempts: int = 1,
    command_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """Re-queue every failed item of a job (optionally of one error class or source)."""
    ts = iso(now)
    with transaction(conn):
        job = get_job(conn, job_id)
        if job["status"] in (J.CANCELED, J.CANCEL_REQUESTED):
            raise TransitionError(f"job {job_id} is {job['status']}; enqueue a new job instead")
        extra_where, params = "", ()
        if error_class:
            extra_where += " AND last_error_class = ?"
            params += (ErrorClass(error_class).value,)
        if source:
            extra_where += " AND last_source = ?"
            params += (source,)
        stage_ids = [r[0] for r in conn.execute(
            f"SELECT DISTINCT stage_id FROM job_items WHERE job_id = ? AND status = 'failed'{extra_where}",
            (job_id, *params)).fetchall()]
        count = _bulk_move_items(
            conn, job_id, [I.FAILED], I.QUEUED, ts, extra_where=extra_where, params=params,
            extra_set=", next_attempt_at = created_at, finished_at = NULL,"
                      " max_attempts = MAX(max_attempts, attempts + ?)",
            set_params=(extra_attempts,),
        )
        if not count:
            what = " and ".join(filter(None, [error_class and f"error class {error_class!r}",
                                              source and f"source {source!r}"]))
            raise TransitionError(f"job {job_id} has no failed items{' with ' + what if what else ''}")
        job_status = _reopen_for_retry(conn, job, stage_ids, ts)
        write_event(conn, "items_retry_requested", now=ts, job_id=job_id, command_id=command_id,
                    from_status=I.FAILED.value, to_status=I.QUEUED.value,
                    data={"count": count, "error_class": error_class, "source": source,
                          "job_status": job_status})
    return count
