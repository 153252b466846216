"""A person's retry: one item, or every failed item of a job, reopening what had finished."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from catalogsync_ops.engine.records import (
    bulk_move_items,
    get_item,
    get_job,
    get_stage,
    set_job_status,
    set_stage_status,
    write_event,
)
from catalogsync_ops.engine.states import (
    ITEM_RETRYABLE,
    JOB_FINAL,
    STAGE_FINAL,
    ItemStatus,
    JobStatus,
    StageStatus,
    check_transition,
)
from catalogsync_ops.errors import ErrorClass, TransitionError
from catalogsync_ops.store.connection import Connection, iso, transaction

I, J, S = ItemStatus, JobStatus, StageStatus


def _reopen_for_retry(conn: Connection, job, stage_ids: Iterable[int], ts: str) -> str:
    """Reopen finished stages that got re-queued items, and a finished job; returns job status."""
    for stage_id in set(stage_ids):
        stage = get_stage(conn, stage_id)
        if stage["status"] in {s.value for s in STAGE_FINAL}:
            set_stage_status(conn, stage, S.PENDING, ts, finished_at=None)
    if job["status"] in {s.value for s in JOB_FINAL}:
        set_job_status(conn, job, J.QUEUED, ts, finished_at=None)
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
            raise TransitionError.coded("job_over_item", job_id=job["id"], status=job["status"], item_id=item_id)
        if item["status"] not in {s.value for s in ITEM_RETRYABLE}:
            raise TransitionError.coded("item_not_retryable", item_id=item_id, status=item["status"])
        check_transition(item["status"], I.QUEUED, subject="item", subject_id=item_id)
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
            raise TransitionError.coded("job_over_enqueue_new", job_id=job_id, status=job["status"])
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
        count = bulk_move_items(
            conn, job_id, [I.FAILED], I.QUEUED, ts, extra_where=extra_where, params=params,
            extra_set=", next_attempt_at = created_at, finished_at = NULL,"
                      " max_attempts = MAX(max_attempts, attempts + ?)",
            set_params=(extra_attempts,),
        )
        if not count:
            code = "job_no_failed_items" + ("_of_class" if error_class else "") + ("_from_source" if source else "")
            raise TransitionError.coded(code, job_id=job_id, **({"error_class": error_class} if error_class else {}),
                                        **({"source": source} if source else {}))
        job_status = _reopen_for_retry(conn, job, stage_ids, ts)
        write_event(conn, "items_retry_requested", now=ts, job_id=job_id, command_id=command_id,
                    from_status=I.FAILED.value, to_status=I.QUEUED.value,
                    data={"count": count, "error_class": error_class, "source": source,
                          "job_status": job_status})
    return count
