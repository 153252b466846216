"""States of jobs, stages, items, workers and commands, with their legal transitions.

Each enum is stored as TEXT with a CHECK constraint listing its values (written out in
`store/migrations/`; `tests/test_schema.py` keeps the two in step). `check_transition()` is
the single gate every state change goes through.
"""
from __future__ import annotations

from enum import StrEnum

from catalogsync_ops.errors import TransitionError


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSE_REQUESTED = "pause_requested"
    PAUSED = "paused"
    CANCEL_REQUESTED = "cancel_requested"
    COMPLETED = "completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors"
    FAILED = "failed"
    CANCELED = "canceled"


class StageStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSE_REQUESTED = "pause_requested"
    PAUSED = "paused"
    COMPLETED = "completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors"
    FAILED = "failed"
    CANCELED = "canceled"
    SKIPPED = "skipped"


class ItemStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"


class AttemptOutcome(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    CANCELED = "canceled"
    SKIPPED = "skipped"


class WorkerState(StrEnum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    STOPPING = "stopping"
    STOPPED = "stopped"
    DEAD = "dead"


class CommandStatus(StrEnum):
    PENDING = "pending"
    APPLIED = "applied"
    REJECTED = "rejected"


class RunnerStatus(StrEnum):
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    GONE = "gone"


class JobType(StrEnum):
    FULL_PIPELINE = "full_pipeline"
    COLLECT = "collect"
    SYNC = "sync"
    DOWNLOAD = "download"
    UPLOAD = "upload"
    VERIFY = "verify"
    REPAIR = "repair"
    UPGRADE = "upgrade"


class StageType(StrEnum):
    COLLECT = "collect"
    SYNC = "sync"
    DOWNLOAD = "download"
    UPLOAD = "upload"
    VERIFY = "verify"
    UPGRADE = "upgrade"


class ItemType(StrEnum):
    POOL = "pool"
    PLAYLIST = "playlist"
    SONG = "song"
    UPLOAD = "upload"
    NOOP = "noop"
    VERIFY = "verify"
    UPGRADE = "upgrade"


STAGES_BY_JOB_TYPE: dict[JobType, tuple[StageType, ...]] = {
    JobType.FULL_PIPELINE: (StageType.COLLECT, StageType.SYNC, StageType.DOWNLOAD, StageType.UPLOAD),
    JobType.COLLECT: (StageType.COLLECT,),
    JobType.SYNC: (StageType.SYNC,),
    JobType.DOWNLOAD: (StageType.DOWNLOAD,),
    JobType.UPLOAD: (StageType.UPLOAD,),
    JobType.VERIFY: (StageType.VERIFY,),
    # What a repair_drift command queues: the songs whose files drifted, downloaded again,
    # and the files whose objects went missing, uploaded again (its scope names both).
    JobType.REPAIR: (StageType.DOWNLOAD, StageType.UPLOAD),
    # Songs below the ladder's top rung looked for again, a better file put in place of the
    # old one, then uploaded (and the old copy in the backup removed after it).
    JobType.UPGRADE: (StageType.UPGRADE, StageType.UPLOAD),
}

J, S, I = JobStatus, StageStatus, ItemStatus

JOB_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    J.QUEUED: frozenset({J.RUNNING, J.PAUSED, J.CANCELED}),
    J.RUNNING: frozenset(
        {J.PAUSE_REQUESTED, J.PAUSED, J.CANCEL_REQUESTED, J.COMPLETED,
         J.COMPLETED_WITH_ERRORS, J.FAILED}
    ),
    # pause_requested -> running: a resume that arrives before the pause has settled.
    J.PAUSE_REQUESTED: frozenset({J.PAUSED, J.RUNNING, J.CANCEL_REQUESTED}),
    J.PAUSED: frozenset({J.QUEUED, J.CANCELED}),
    J.CANCEL_REQUESTED: frozenset({J.CANCELED}),
    # A finished job with errors reopens when a person retries its failed items.
    J.COMPLETED: frozenset({J.QUEUED}),
    J.COMPLETED_WITH_ERRORS: frozenset({J.QUEUED}),
    J.FAILED: frozenset({J.QUEUED}),
    J.CANCELED: frozenset(),
}

STAGE_TRANSITIONS: dict[StageStatus, frozenset[StageStatus]] = {
    # pending|paused -> failed: its items could not be made (the job's scope or the catalog
    # held something the stage cannot read); the job fails with the reason, the runner goes on.
    S.PENDING: frozenset({S.RUNNING, S.SKIPPED, S.FAILED, S.CANCELED}),
    S.RUNNING: frozenset(
        {S.PAUSE_REQUESTED, S.PAUSED, S.COMPLETED, S.COMPLETED_WITH_ERRORS, S.FAILED, S.CANCELED}
    ),
    S.PAUSE_REQUESTED: frozenset({S.PAUSED, S.RUNNING, S.CANCELED}),
    S.PAUSED: frozenset({S.RUNNING, S.FAILED, S.CANCELED}),
    # Reopened (back to pending) when a person retries an item, or when an earlier stage
    # finished again and this one must pick up what it produced.
    S.COMPLETED: frozenset({S.PENDING}),
    S.COMPLETED_WITH_ERRORS: frozenset({S.PENDING}),
    S.FAILED: frozenset({S.PENDING}),
    S.CANCELED: frozenset(),
    S.SKIPPED: frozenset({S.PENDING}),
}

ITEM_TRANSITIONS: dict[ItemStatus, frozenset[ItemStatus]] = {
    I.QUEUED: frozenset({I.RUNNING, I.CANCELED, I.SKIPPED}),
    # running -> queued is a failed attempt with an automatic retry scheduled
    # (next_attempt_at set); the attempt row keeps the failure.
    I.RUNNING: frozenset(
        {I.SUCCEEDED, I.FAILED, I.CANCELED, I.SKIPPED, I.INTERRUPTED, I.QUEUED}
    ),
    I.SUCCEEDED: frozenset(),
    I.FAILED: frozenset({I.QUEUED}),
    I.CANCELED: frozenset({I.QUEUED}),
    I.SKIPPED: frozenset(),
    # interrupted -> failed: the item has used up its attempts (a song that kills the
    # process every time must not loop forever).
    I.INTERRUPTED: frozenset({I.QUEUED, I.FAILED, I.CANCELED}),
}

COMMAND_TRANSITIONS: dict[CommandStatus, frozenset[CommandStatus]] = {
    CommandStatus.PENDING: frozenset({CommandStatus.APPLIED, CommandStatus.REJECTED}),
    CommandStatus.APPLIED: frozenset(),
    CommandStatus.REJECTED: frozenset(),
}

WORKER_TRANSITIONS: dict[WorkerState, frozenset[WorkerState]] = {
    WorkerState.STARTING: frozenset({WorkerState.IDLE, WorkerState.STOPPED, WorkerState.DEAD}),
    WorkerState.IDLE: frozenset(
        {WorkerState.BUSY, WorkerState.STOPPING, WorkerState.STOPPED, WorkerState.DEAD}
    ),
    WorkerState.BUSY: frozenset(
        {WorkerState.IDLE, WorkerState.STOPPING, WorkerState.STOPPED, WorkerState.DEAD}
    ),
    WorkerState.STOPPING: frozenset({WorkerState.STOPPED, WorkerState.DEAD}),
    WorkerState.STOPPED: frozenset(),
    WorkerState.DEAD: frozenset(),
}

JOB_FINAL = frozenset({J.COMPLETED, J.COMPLETED_WITH_ERRORS, J.FAILED, J.CANCELED})
JOB_ACTIVE = frozenset({J.RUNNING, J.PAUSE_REQUESTED, J.CANCEL_REQUESTED})
STAGE_FINAL = frozenset({S.COMPLETED, S.COMPLETED_WITH_ERRORS, S.FAILED, S.CANCELED, S.SKIPPED})
ITEM_FINAL = frozenset({I.SUCCEEDED, I.FAILED, I.CANCELED, I.SKIPPED})
ITEM_RETRYABLE = frozenset({I.FAILED, I.CANCELED, I.INTERRUPTED})

_TABLES = {
    JobStatus: ("job", JOB_TRANSITIONS),
    StageStatus: ("stage", STAGE_TRANSITIONS),
    ItemStatus: ("item", ITEM_TRANSITIONS),
    CommandStatus: ("command", COMMAND_TRANSITIONS),
    WorkerState: ("worker", WORKER_TRANSITIONS),
}


def can_transition(current: StrEnum, target: StrEnum) -> bool:
    """Tell whether `current -> target` is in the transition table of its enum."""
    _, table = _TABLES[type(target)]
    return type(target)(current) in table and target in table[type(target)(current)]


def check_transition(current: str, target: StrEnum, *, subject: str = "", subject_id: object = "") -> None:
    """Raise TransitionError unless `current -> target` is legal for the enum of `target`.
    `subject` is a code ("job", "item", "stage", "items_of_job"), `subject_id` names which."""
    kind, table = _TABLES[type(target)]
    current_state = type(target)(current)
    if target not in table[current_state]:
        raise TransitionError.coded("cannot_become", subject=subject or kind, id=subject_id,
                                    status=current_state.value, to=target.value,
                                    allowed=sorted(s.value for s in table[current_state]))


def sql_check(column: str, enum: type[StrEnum], *, nullable: bool = False) -> str:
    """Return a CHECK constraint clause listing every value of `enum`."""
    values = ", ".join(f"'{member.value}'" for member in enum)
    clause = f"{column} IN ({values})"
    if nullable:
        clause = f"{column} IS NULL OR {clause}"
    return f"CHECK ({clause})"
