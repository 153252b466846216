"""Runner instances: registration, heartbeat, runner-wide pause, and crash recovery."""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import datetime

from catalogsync_ops import __version__
from catalogsync_ops.engine.records import (
    bulk_move_items,
    get_job,
    set_job_status,
    set_stage_status,
    stages_of,
    write_event,
)
from catalogsync_ops.engine.stages import close_stages_canceled
from catalogsync_ops.engine.states import ItemStatus, JobStatus, StageStatus
from catalogsync_ops.errors import ErrorClass, TransitionError
from catalogsync_ops.store.connection import Connection, iso, transaction

I, J, S = ItemStatus, JobStatus, StageStatus


@dataclass
class RecoveryReport:
    """What `recover_orphaned_items` found and did."""

    interrupted: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    paused_jobs: list[int] = field(default_factory=list)
    resumed_jobs: list[int] = field(default_factory=list)
    canceled_jobs: list[int] = field(default_factory=list)
    gone_runners: list[int] = field(default_factory=list)

    @property
    def did_anything(self) -> bool:
        return bool(self.interrupted or self.failed or self.paused_jobs or self.canceled_jobs
                    or self.resumed_jobs)


def register_runner(conn: Connection, *, pid: int | None = None, host: str | None = None,
                    config_revision_id: int | None = None, now: datetime | None = None) -> int:
    """Record this runner process; returns its runner_instances id."""
    ts = iso(now)
    with transaction(conn):
        return int(conn.execute(
            "INSERT INTO runner_instances (pid, host, version, status, config_revision_id, started_at,"
            " heartbeat_at) VALUES (?, ?, ?, 'running', ?, ?, ?)",
            (pid or os.getpid(), host or socket.gethostname(), __version__, config_revision_id, ts, ts),
        ).lastrowid)


def heartbeat(conn: Connection, runner_id: int, *, now: datetime | None = None) -> None:
    """Tell the other processes this runner is alive."""
    with transaction(conn):
        conn.execute("UPDATE runner_instances SET heartbeat_at = ? WHERE id = ?", (iso(now), runner_id))


def mark_runner_stopped(conn: Connection, runner_id: int, *, now: datetime | None = None) -> None:
    """Record a clean shutdown."""
    ts = iso(now)
    with transaction(conn):
        conn.execute("UPDATE runner_instances SET status = 'stopped', stopped_at = ?, heartbeat_at = ?"
                     " WHERE id = ?", (ts, ts, runner_id))


def runner_paused(conn: Connection) -> bool:
    """Whether the runner-wide (maintenance) pause is on."""
    return bool(conn.execute("SELECT paused FROM runner_state WHERE id = 1").fetchone()[0])


def pause_runner(conn: Connection, *, reason: str | None = None, command_id: int | None = None,
                 now: datetime | None = None) -> None:
    """Runner-wide pause: nothing is claimed from any job until `resume_runner`."""
    ts = iso(now)
    with transaction(conn):
        if runner_paused(conn):
            raise TransitionError.coded("runner_already_paused")
        conn.execute("UPDATE runner_state SET paused = 1, paused_at = ?, pause_reason = ? WHERE id = 1",
                     (ts, reason))
        write_event(conn, "runner_paused", now=ts, command_id=command_id, message=reason)


def resume_runner(conn: Connection, *, command_id: int | None = None, now: datetime | None = None) -> None:
    """Lift the runner-wide pause."""
    ts = iso(now)
    with transaction(conn):
        if not runner_paused(conn):
            raise TransitionError.coded("runner_not_paused")
        conn.execute("UPDATE runner_state SET paused = 0, paused_at = NULL, pause_reason = NULL WHERE id = 1")
        write_event(conn, "runner_resumed", now=ts, command_id=command_id)


def recover_orphaned_items(
    conn: Connection,
    *,
    current_runner_id: int | None,
    auto_resume: bool = False,
    now: datetime | None = None,
) -> RecoveryReport:
    """Clean up after a runner that died: run before this runner claims anything.

    Items left running by another runner become interrupted (or failed, once the crash has
    used up their attempts: a song that kills the process every time must not loop), their
    attempts close as interrupted, and each job that was active is paused with a `recovery`
    event, or re-queued at once when `auto_resume` is on. A job whose cancel was in progress
    is canceled.
    """
    ts = iso(now)
    report = RecoveryReport()
    with transaction(conn):
        gone = conn.execute(
            "SELECT id FROM runner_instances WHERE status IN ('running', 'stopping') AND id IS NOT ?",
            (current_runner_id,),
        ).fetchall()
        report.gone_runners = [r[0] for r in gone]
        conn.execute(
            "UPDATE runner_instances SET status = 'gone', stopped_at = ? "
            "WHERE status IN ('running', 'stopping') AND id IS NOT ?",
            (ts, current_runner_id),
        )
        orphans = conn.execute(
            # Through job_items_job_status_idx: only unfinished jobs can hold running items.
            "SELECT id, job_id, stage_id, attempts, max_attempts FROM job_items"
            " WHERE job_id IN (SELECT id FROM job_runs WHERE status NOT IN"
            " ('completed', 'completed_with_errors', 'failed', 'canceled'))"
            " AND status = 'running' AND runner_instance_id IS NOT ?",
            (current_runner_id,),
        ).fetchall()
        per_job: dict[int, dict[str, int]] = {}
        for item in orphans:
            exhausted = item["attempts"] >= item["max_attempts"]
            target = I.FAILED if exhausted else I.INTERRUPTED
            reason = ("the runner stopped during this item on every attempt; giving up"
                      if exhausted else "the runner stopped while this item was running")
            conn.execute(
                "UPDATE job_items SET status = ?, worker_id = NULL, updated_at = ?, last_error = ?,"
                " last_error_class = 'interrupted', finished_at = CASE WHEN ? = 'failed' THEN ? END"
                " WHERE id = ? AND status = 'running'",
                (target.value, ts, reason, target.value, ts, item["id"]),
            )
            conn.execute(
                "UPDATE item_attempts SET outcome = 'interrupted', error_class = ?, error = ?,"
                " finished_at = ?, duration_ms = CAST(ROUND((julianday(?) - julianday(started_at)) * 86400000)"
                " AS INTEGER) WHERE item_id = ? AND attempt_no = ? AND outcome = 'running'",
                (ErrorClass.INTERRUPTED.value, reason, ts, ts, item["id"], item["attempts"]),
            )
            (report.failed if exhausted else report.interrupted).append(item["id"])
            counts = per_job.setdefault(item["job_id"], {"interrupted": 0, "failed": 0})
            counts["failed" if exhausted else "interrupted"] += 1
        active = conn.execute(
            "SELECT * FROM job_runs WHERE status IN ('running', 'pause_requested', 'cancel_requested')"
        ).fetchall()
        active_ids = {job["id"] for job in active}
        for job_id in sorted(set(per_job) | active_ids):
            job = get_job(conn, job_id)
            before = job["status"]
            counts = per_job.get(job_id, {"interrupted": 0, "failed": 0})
            if job["status"] == J.CANCEL_REQUESTED:
                bulk_move_items(conn, job_id, [I.QUEUED, I.INTERRUPTED], I.CANCELED, ts,
                                 extra_set=", finished_at = ?", set_params=(ts,))
                set_job_status(conn, job, J.CANCELED, ts, finished_at=ts)
                close_stages_canceled(conn, job_id, ts)
                report.canceled_jobs.append(job_id)
                outcome = J.CANCELED
            elif job["status"] in (J.RUNNING, J.PAUSE_REQUESTED):
                set_job_status(conn, job, J.PAUSED, ts)
                for stage in stages_of(conn, job_id, [S.RUNNING, S.PAUSE_REQUESTED]):
                    set_stage_status(conn, stage, S.PAUSED, ts)
                outcome = J.PAUSED
                if auto_resume:
                    job = get_job(conn, job_id)
                    set_job_status(conn, job, J.QUEUED, ts)
                    bulk_move_items(conn, job_id, [I.INTERRUPTED], I.QUEUED, ts)
                    report.resumed_jobs.append(job_id)
                    outcome = J.QUEUED
                else:
                    report.paused_jobs.append(job_id)
            else:
                # A paused or queued job whose items were still running (a pause in progress
                # when the runner died is covered above): only the items changed.
                outcome = J(job["status"])
            write_event(
                conn, "recovery", now=ts, job_id=job_id, from_status=before, to_status=outcome.value,
                message=(f"recovered after the runner stopped: {counts['interrupted']} items interrupted,"
                         f" {counts['failed']} failed after using every attempt; job {outcome.value}"),
                data={**counts, "gone_runners": report.gone_runners, "auto_resume": auto_resume},
            )
    return report
