"""Job transitions: create, start, finish, pause, resume, cancel, reprioritize.

A soft pause is two steps: `request_pause` (no new claims; in-flight items finish) and
`finalize_pause` once none is left running. A cancel likewise: `request_cancel` cancels
queued work at once, and `finalize_cancel` closes the job when the last transfer stopped.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from catalogsync_ops.engine import wanted
from catalogsync_ops.engine.records import (
    bulk_move_items,
    get_job,
    running_item_count,
    set_job_status,
    set_stage_status,
    stages_of,
    write_event,
)
from catalogsync_ops.engine.stages import close_stages_canceled
from catalogsync_ops.engine.states import (
    JOB_FINAL,
    STAGE_FINAL,
    STAGES_BY_JOB_TYPE,
    ItemStatus,
    JobStatus,
    JobType,
    StageStatus,
    StageType,
)
from catalogsync_ops.errors import TransitionError
from catalogsync_ops.store.connection import Connection, iso, transaction

I, J, S = ItemStatus, JobStatus, StageStatus


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


def start_job(conn: Connection, job_id: int, *, now: datetime | None = None) -> None:
    """queued -> running: the scheduler picked this job."""
    ts = iso(now)
    with transaction(conn):
        job = get_job(conn, job_id)
        if job["status"] != J.QUEUED:
            raise TransitionError.coded("job_not_queued", job_id=job_id, status=job["status"])
        set_job_status(conn, job, J.RUNNING, ts, started_at=job["started_at"] or ts)
        write_event(conn, "job_started", now=ts, job_id=job_id, from_status=job["status"],
                    to_status=J.RUNNING.value)


def finish_job(conn: Connection, job_id: int, *, upgrade_after: bool = False,
               now: datetime | None = None) -> JobStatus:
    """running -> completed | completed_with_errors | failed once every stage is final. With
    `upgrade_after` (UPGRADE_AFTER_PIPELINE), a full pipeline that did not fail queues an upgrade
    behind it, unless one is open already."""
    ts = iso(now)
    with transaction(conn):
        job = get_job(conn, job_id)
        stages = stages_of(conn, job_id)
        open_stages = [s["stage_type"] for s in stages if s["status"] not in {x.value for x in STAGE_FINAL}]
        if open_stages and job["status"] == J.RUNNING:
            raise TransitionError.coded("job_stages_open", job_id=job_id, stages=", ".join(open_stages))
        statuses = {s["status"] for s in stages}
        if S.FAILED in statuses:
            target = J.FAILED
        elif S.COMPLETED_WITH_ERRORS in statuses:
            target = J.COMPLETED_WITH_ERRORS
        else:
            target = J.COMPLETED
        if any(s["stage_type"] == StageType.DOWNLOAD for s in stages):
            # A night that only met songs already missing, and changed nothing, is quiet: it
            # queues no notification (the trigger on job_runs reads `quiet`).
            outcome = json.loads(job["outcome_json"] or "{}")
            outcome["quiet"] = target == J.COMPLETED and not wanted.changed(outcome)
            conn.execute("UPDATE job_runs SET outcome_json = ? WHERE id = ?", (json.dumps(outcome), job_id))
        set_job_status(conn, job, target, ts, finished_at=ts)
        write_event(conn, "job_finished", now=ts, job_id=job_id, from_status=job["status"],
                    to_status=target.value, message=f"job {target.value}")
        if upgrade_after and job["job_type"] == JobType.FULL_PIPELINE and target != J.FAILED and not conn.execute(
                "SELECT 1 FROM job_runs WHERE job_type = 'upgrade' AND status IN ('queued', 'running',"
                " 'pause_requested', 'paused', 'cancel_requested')").fetchone():
            create_job(conn, JobType.UPGRADE, scope=json.loads(job["scope_json"] or "{}"),
                       config_revision_id=job["config_revision_id"],
                       note=f"after job {job_id} (UPGRADE_AFTER_PIPELINE)", now=now)
    return target


def request_pause(conn: Connection, job_id: int, *, command_id: int | None = None,
                  now: datetime | None = None) -> JobStatus:
    """running -> pause_requested (in-flight items finish); queued -> paused at once."""
    ts = iso(now)
    with transaction(conn):
        job = get_job(conn, job_id)
        target = J.PAUSED if job["status"] == J.QUEUED else J.PAUSE_REQUESTED
        set_job_status(conn, job, target, ts)
        if target == J.PAUSE_REQUESTED:
            for stage in stages_of(conn, job_id, [S.RUNNING]):
                set_stage_status(conn, stage, S.PAUSE_REQUESTED, ts)
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
            raise TransitionError.coded("job_not_pause_requested", job_id=job_id, status=job["status"])
        in_flight = running_item_count(conn, job_id)
        if in_flight:
            raise TransitionError.coded("job_still_running", job_id=job_id, count=in_flight)
        set_job_status(conn, job, J.PAUSED, ts)
        for stage in stages_of(conn, job_id, [S.PAUSE_REQUESTED, S.RUNNING]):
            set_stage_status(conn, stage, S.PAUSED, ts)
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
            set_job_status(conn, job, target, ts)
            for stage in stages_of(conn, job_id, [S.PAUSE_REQUESTED]):
                set_stage_status(conn, stage, S.RUNNING, ts)
            requeued = 0
        elif job["status"] == J.PAUSED:
            target = J.QUEUED
            set_job_status(conn, job, target, ts)
            # Interrupted items keep their place in the queue (they were due when claimed).
            requeued = bulk_move_items(conn, job_id, [I.INTERRUPTED], I.QUEUED, ts)
        else:
            raise TransitionError.coded("job_not_paused", job_id=job_id, status=job["status"])
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
        set_job_status(conn, job, target, ts, **({"finished_at": ts} if immediate else {}))
        canceled = bulk_move_items(conn, job_id, [I.QUEUED, I.INTERRUPTED], I.CANCELED, ts,
                                    extra_set=", finished_at = ?", set_params=(ts,))
        if immediate:
            close_stages_canceled(conn, job_id, ts)
        write_event(conn, "job_canceled" if immediate else "cancel_requested", now=ts, job_id=job_id,
                    command_id=command_id, from_status=job["status"], to_status=target.value,
                    data={"items_canceled": canceled, "in_flight": running_item_count(conn, job_id)})
    return target


def finalize_cancel(conn: Connection, job_id: int, *, now: datetime | None = None) -> None:
    """cancel_requested -> canceled, once no item of the job is running."""
    ts = iso(now)
    with transaction(conn):
        job = get_job(conn, job_id)
        if job["status"] != J.CANCEL_REQUESTED:
            raise TransitionError.coded("job_not_cancel_requested", job_id=job_id, status=job["status"])
        in_flight = running_item_count(conn, job_id)
        if in_flight:
            raise TransitionError.coded("job_still_stopping", job_id=job_id, count=in_flight)
        # An item that stopped with a retry scheduled (its transfer failed as the cancel came)
        # went back to the queue meanwhile: it is canceled with the rest.
        bulk_move_items(conn, job_id, [I.QUEUED, I.INTERRUPTED], I.CANCELED, ts, extra_set=", finished_at = ?",
                        set_params=(ts,))
        set_job_status(conn, job, J.CANCELED, ts, finished_at=ts)
        close_stages_canceled(conn, job_id, ts)
        write_event(conn, "job_canceled", now=ts, job_id=job_id, from_status=job["status"],
                    to_status=J.CANCELED.value)


def reprioritize_job(conn: Connection, job_id: int, priority: int, *, command_id: int | None = None,
                     now: datetime | None = None) -> None:
    """Change the priority of a job that has not finished (higher runs first)."""
    ts = iso(now)
    with transaction(conn):
        job = get_job(conn, job_id)
        if job["status"] in {s.value for s in JOB_FINAL}:
            raise TransitionError.coded("job_priority_moot", job_id=job_id, status=job["status"])
        conn.execute("UPDATE job_runs SET priority = ?, updated_at = ? WHERE id = ?", (priority, ts, job_id))
        write_event(conn, "job_reprioritized", now=ts, job_id=job_id, command_id=command_id,
                    data={"from": job["priority"], "to": priority})
