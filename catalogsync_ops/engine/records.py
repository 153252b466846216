"""The rows of the queue and the primitives every transition is built from.

`jobs.py`, `stages.py`, `items.py`, `retry.py` and `runners.py` hold the transitions: one
function, one transaction, one event each. Every transition takes a write connection and an
optional `now` (tests pass the clock in, nothing patches it), checks the current state with
compare-and-set, updates the row, moves the stage's per-status counters and appends a
`job_events` row, all inside one `transaction()`; an illegal transition raises
`TransitionError` and changes nothing. The helpers here run inside the caller's transaction.
"""
from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from catalogsync_ops.engine.states import ItemStatus, ItemType, JobStatus, StageStatus, check_transition
from catalogsync_ops.errors import NotFound, TransitionError
from catalogsync_ops.store.connection import Connection

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
        raise NotFound.coded("not_found", subject=what, id=row_id)
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


def set_job_status(conn: Connection, job, target: JobStatus, now: str, **extra: Any) -> None:
    """Move a job row to `target` if the state machine allows it and nobody moved it meanwhile."""
    check_transition(job["status"], target, subject="job", subject_id=job["id"])
    sets = ", ".join(f"{column} = ?" for column in extra)
    cursor = conn.execute(
        f"UPDATE job_runs SET status = ?, updated_at = ?{', ' + sets if sets else ''}"
        " WHERE id = ? AND status = ?",
        (target.value, now, *extra.values(), job["id"], job["status"]),
    )
    if cursor.rowcount != 1:
        raise TransitionError.coded("changed_meanwhile", subject="job", id=job["id"])


def set_stage_status(conn: Connection, stage, target: StageStatus, now: str, **extra: Any) -> None:
    """Move a stage row to `target` if the state machine allows it (compare-and-set on its status)."""
    check_transition(stage["status"], target, subject="stage", subject_id=f"{stage['id']} ({stage['stage_type']})")
    sets = ", ".join(f"{column} = ?" for column in extra)
    conn.execute(
        f"UPDATE job_stages SET status = ?, updated_at = ?{', ' + sets if sets else ''}"
        " WHERE id = ? AND status = ?",
        (target.value, now, *extra.values(), stage["id"], stage["status"]),
    )


def stages_of(conn: Connection, job_id: int, statuses: Iterable[StageStatus] | None = None):
    """The stages of a job in order, optionally only those in some statuses."""
    rows = conn.execute("SELECT * FROM job_stages WHERE job_id = ? ORDER BY seq_no", (job_id,)).fetchall()
    if statuses is None:
        return rows
    wanted = {s.value for s in statuses}
    return [row for row in rows if row["status"] in wanted]


def running_item_count(conn: Connection, job_id: int) -> int:
    """Items of a job in flight, read from the stage counters."""
    row = conn.execute("SELECT COALESCE(SUM(n_running), 0) FROM job_stages WHERE job_id = ?", (job_id,)).fetchone()
    return int(row[0])


def bulk_move_items(
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
        check_transition(source.value, target, subject="items_of_job", subject_id=job_id)
        total += conn.execute(
            f"UPDATE job_items SET status = ?, updated_at = ?{extra_set}"
            f" WHERE job_id = ? AND status = ?{extra_where}",
            (target.value, now, *set_params, job_id, source.value, *params),
        ).rowcount
    return total
