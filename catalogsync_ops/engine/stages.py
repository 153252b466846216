"""Stage transitions: items added, a stage started, a stage finished (and later ones reopened)."""
from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from catalogsync_ops.engine import wanted
from catalogsync_ops.engine.records import (
    ItemSpec,
    get_job,
    get_stage,
    set_stage_status,
    stages_of,
    write_event,
)
from catalogsync_ops.engine.states import STAGE_FINAL, ItemType, JobStatus, StageStatus, StageType
from catalogsync_ops.errors import TransitionError
from catalogsync_ops.messages import Said, as_param
from catalogsync_ops.store.connection import Connection, iso, transaction

J, S = JobStatus, StageStatus


DISPLAY_MAX = 300  # characters of an item's name kept for pages and logs (a title, a URL, a path)


def shown(text: str | None) -> str | None:
    """An item's name as pages show it: at most DISPLAY_MAX characters, an ellipsis where cut."""
    return text if text is None or len(text) <= DISPLAY_MAX else text[:DISPLAY_MAX - 1] + "…"


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
            raise TransitionError.coded("stage_no_items", stage_id=stage_id, status=stage["status"])
        rows = [
            (stage["job_id"], stage_id, ItemType(spec.item_type).value, spec.item_key, max_attempts, ts,
             spec.playlist_pool_id, spec.playlist_id, spec.song_id, spec.file_location_id,
             spec.upload_task_id, shown(spec.display_text),
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


def start_stage(conn: Connection, stage_id: int, *, now: datetime | None = None) -> None:
    """pending|paused -> running, only while its job runs."""
    ts = iso(now)
    with transaction(conn):
        stage = get_stage(conn, stage_id)
        job = get_job(conn, stage["job_id"])
        if stage["status"] not in (S.PENDING, S.PAUSED):
            raise TransitionError.coded("stage_cannot_start", stage_id=stage_id, status=stage["status"])
        if job["status"] != J.RUNNING:
            raise TransitionError.coded("stage_job_cannot_start", job_id=job["id"], status=job["status"])
        set_stage_status(conn, stage, S.RUNNING, ts, started_at=stage["started_at"] or ts)
        write_event(conn, "stage_started", now=ts, job_id=job["id"], stage_id=stage_id,
                    from_status=stage["status"], to_status=S.RUNNING.value,
                    message=f"stage {stage['stage_type']} started")


def skip_stage(conn: Connection, stage_id: int, *, reason: str, now: datetime | None = None) -> None:
    """pending -> skipped: an earlier stage failed, so this one has nothing to work on. A retry
    that mends the earlier stage puts it back to pending (finish_stage)."""
    ts = iso(now)
    with transaction(conn):
        stage = get_stage(conn, stage_id)
        set_stage_status(conn, stage, S.SKIPPED, ts, finished_at=ts)
        write_event(conn, "stage_skipped", now=ts, job_id=stage["job_id"], stage_id=stage_id,
                    from_status=stage["status"], to_status=S.SKIPPED.value, message=reason)


def fail_stage(conn: Connection, stage_id: int, *, reason: Said, now: datetime | None = None) -> None:
    """pending|paused|running -> failed: the stage could not be built or closed (`reason` says
    why, as a code). Its job then fails with that reason; nothing else stops."""
    ts = iso(now)
    with transaction(conn):
        stage = get_stage(conn, stage_id)
        set_stage_status(conn, stage, S.FAILED, ts, finished_at=ts)
        write_event(conn, "stage_failed", now=ts, job_id=stage["job_id"], stage_id=stage_id,
                    from_status=stage["status"], to_status=S.FAILED.value, message=str(reason),
                    data={"reason": as_param(reason)})


def finish_stage(conn: Connection, stage_id: int, *, now: datetime | None = None, give_up_nights: int = 0,
                 recheck_days: int = 30) -> StageStatus:
    """running -> completed | completed_with_errors | failed once no item is left to run.

    A download stage folds its songs into the wanted list's memory (engine/wanted.py): songs
    that were already missing or unavailable before the job started and failed again are no
    error of this stage (it is `completed`, "N still missing"); only new failures are.
    Later stages of the job that had already finished go back to pending, so they pick up
    what this stage produced when it ran again (after a person's retry).
    """
    ts = iso(now)
    with transaction(conn):
        stage = get_stage(conn, stage_id)
        left = stage["n_queued"] + stage["n_running"] + stage["n_interrupted"]
        if stage["status"] == S.RUNNING and left:
            raise TransitionError.coded("stage_unfinished", stage_id=stage_id, queued=stage["n_queued"],
                                        running=stage["n_running"], interrupted=stage["n_interrupted"])
        counts = None
        if stage["stage_type"] == StageType.DOWNLOAD:
            job = conn.execute("SELECT id, started_at FROM job_runs WHERE id = ?", (stage["job_id"],)).fetchone()
            counts = wanted.record_download_stage(conn, stage, job, ts, give_up_nights=give_up_nights,
                                                  recheck_days=recheck_days)
            wanted.add_to_outcome(conn, stage["job_id"], counts)
        known = counts["still_missing"] if counts else 0
        new_failures = stage["n_failed"] - known
        if new_failures and not (stage["n_succeeded"] or stage["n_skipped"] or known):
            target = S.FAILED
        elif new_failures:
            target = S.COMPLETED_WITH_ERRORS
        else:
            target = S.COMPLETED
        set_stage_status(conn, stage, target, ts, finished_at=ts)
        reopened = []
        for later in conn.execute(
            "SELECT * FROM job_stages WHERE job_id = ? AND seq_no > ? AND status IN (?, ?, ?, ?)",
            (stage["job_id"], stage["seq_no"], S.COMPLETED.value, S.COMPLETED_WITH_ERRORS.value, S.FAILED.value,
             S.SKIPPED.value),
        ).fetchall():
            set_stage_status(conn, later, S.PENDING, ts, finished_at=None)
            reopened.append(later["id"])
        data: dict[str, Any] = {"reopened_stages": reopened} if reopened else {}
        if counts:
            data["wanted"] = counts
        write_event(conn, "stage_finished", now=ts, job_id=stage["job_id"], stage_id=stage_id,
                    from_status=stage["status"], to_status=target.value,
                    message=f"stage {stage['stage_type']} {target.value}"
                            + (f" ({known} still missing)" if known else ""),
                    data=data or None)
    return target


def close_stages_canceled(conn: Connection, job_id: int, ts: str) -> None:
    """Mark every unfinished stage of a job canceled (inside the caller's transaction)."""
    for stage in stages_of(conn, job_id):
        if stage["status"] not in {s.value for s in STAGE_FINAL}:
            set_stage_status(conn, stage, S.CANCELED, ts, finished_at=ts)
