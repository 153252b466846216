"""What the runner does next: the scheduling policy, apart from the daemon that carries it out.

One job runs at a time. The active job (running, or being paused or canceled) comes first; with
none, the queued job of the highest priority (the oldest of those) starts, unless the runner is
paused or draining. A job being paused or canceled finishes that once its last running item
has. A running job goes through its stages in order: a stage is started (its items made),
worked, and finished once nothing of it is queued, running or interrupted and no worker holds
one of its items; a stage after one that failed is skipped; with no stage left, the job
finishes. `next_step` only reads: the daemon (runnerd/daemon.py) makes each step happen.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from catalogsync_ops.engine.records import running_item_count
from catalogsync_ops.engine.states import STAGE_FINAL
from catalogsync_ops.store.connection import Connection

# What the daemon is asked to do.
IDLE = "idle"  # no job to run now
START_JOB = "start_job"  # `job` (queued) starts
WAIT = "wait"  # `job` is pausing or canceling: its running items have not finished yet
FINISH_PAUSE = "finish_pause"
FINISH_CANCEL = "finish_cancel"
FINISH_JOB = "finish_job"  # every stage of `job` is final
SKIP_STAGE = "skip_stage"  # `stage` follows one that failed (`reason`)
START_STAGE = "start_stage"  # `stage` is pending or paused: make its items, start it
FINISH_STAGE = "finish_stage"  # `stage` has nothing left
WORK = "work"  # workers work on `stage`

_FINAL = frozenset(s.value for s in STAGE_FINAL)


@dataclass(frozen=True)
class Step:
    action: str
    job: Any = None
    stage: Any = None
    reason: str | None = None


def next_step(conn: Connection, *, may_start: bool, in_flight: int) -> Step:
    """The next thing to do. `may_start`: whether a queued job may start (the runner is neither
    paused nor draining); `in_flight`: items the workers hold now."""
    job = conn.execute("SELECT * FROM job_runs WHERE status IN ('running', 'pause_requested', 'cancel_requested')"
                       " ORDER BY id LIMIT 1").fetchone()
    if job is None:
        if not may_start:
            return Step(IDLE)
        job = conn.execute("SELECT * FROM job_runs WHERE status = 'queued' ORDER BY priority DESC, id LIMIT 1"
                           ).fetchone()
        return Step(START_JOB, job) if job is not None else Step(IDLE)
    if job["status"] in ("pause_requested", "cancel_requested"):
        # Soft pause and cancel end once the job's last running item has finished.
        if running_item_count(conn, job["id"]) != 0:
            return Step(WAIT, job)
        return Step(FINISH_PAUSE if job["status"] == "pause_requested" else FINISH_CANCEL, job)
    stages = conn.execute("SELECT * FROM job_stages WHERE job_id = ? ORDER BY seq_no", (job["id"],)).fetchall()
    current = next((s for s in stages if s["status"] not in _FINAL), None)
    if current is None:
        return Step(FINISH_JOB, job)
    failed = next((s for s in stages if s["seq_no"] < current["seq_no"] and s["status"] == "failed"), None)
    if failed is not None and current["status"] == "pending":
        return Step(SKIP_STAGE, job, current, reason=f"stage {failed['stage_type']} failed: nothing to work on")
    if current["status"] in ("pending", "paused"):
        return Step(START_STAGE, job, current)
    if current["n_queued"] + current["n_running"] + current["n_interrupted"] == 0 and in_flight == 0:
        return Step(FINISH_STAGE, job, current)
    return Step(WORK, job, current)
