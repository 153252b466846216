"""Read-side queries shared by the CLI and the web UI: cheap, counter-based, keyset-paginated."""
from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timedelta
from typing import Any

from catalogsync_ops.engine.activity import succeeded_since, transfer_totals
from catalogsync_ops.engine.states import ItemStatus, JobStatus
from catalogsync_ops.errors import NotFound
from catalogsync_ops.store.connection import Connection, dicts, parse_iso, utcnow

# A runner heartbeats every few seconds; past this it is reported down.
HEARTBEAT_STALE_SECONDS = 20


def _process_alive(pid: int | None, host: str | None) -> bool:
    """Whether the runner's process still exists, when it ran on this machine (else: assume so).

    A pid reused by another program counts as alive only if it is a Python process; a runner
    is one, so a false "alive" needs a Python program to get exactly that pid.
    """
    if not pid or host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process: exists
    try:
        with open(f"/proc/{int(pid)}/cmdline", "rb") as handle:
            command = handle.read()
    except OSError:
        return True  # no /proc (not Linux): the process exists
    # A zombie (killed, not yet reaped) has an empty command line: gone for our purposes.
    return b"python" in command.lower() or b"runnerd" in command


def runner_liveness(conn: Connection, now: datetime | None = None) -> dict[str, Any]:
    """Is a runner up? state is 'up', 'down' (was seen) or 'never' (never started here)."""
    row = conn.execute("SELECT * FROM runner_instances ORDER BY id DESC LIMIT 1").fetchone()
    paused = conn.execute("SELECT paused, paused_at, pause_reason, degraded_reason, degraded_since FROM runner_state"
                          " WHERE id = 1").fetchone()
    out: dict[str, Any] = {"state": "never", "paused": bool(paused["paused"]), "paused_at": paused["paused_at"],
                           "pause_reason": paused["pause_reason"], "degraded": paused["degraded_reason"],
                           "degraded_since": paused["degraded_since"]}
    if row is None:
        return out
    age = ((now or utcnow()) - parse_iso(row["heartbeat_at"])).total_seconds()
    up = row["status"] in ("running", "stopping") and age <= HEARTBEAT_STALE_SECONDS
    if up and now is None and not _process_alive(row["pid"], row["host"]):
        up = False  # killed (SIGKILL, OOM, a power cut of the process): known at once, not after the heartbeat
    state = "up" if up else ("stopped" if row["status"] == "stopped" else "down")
    out.update(state=state, runner_id=row["id"], pid=row["pid"], host=row["host"],
               version=row["version"], runner_status=row["status"], started_at=row["started_at"],
               heartbeat_at=row["heartbeat_at"], heartbeat_age_s=round(age, 1), stopped_at=row["stopped_at"])
    return out


def _stage_dict(row) -> dict[str, Any]:
    out = dict(row)
    counts = {s.value: out.pop(f"n_{s.value}") for s in ItemStatus}
    out["counts"] = counts
    out["total"] = sum(counts.values())
    out["done"] = counts["succeeded"] + counts["failed"] + counts["canceled"] + counts["skipped"]
    return out


def _job_dict(row) -> dict[str, Any]:
    out = dict(row)
    out["scope"] = json.loads(out.pop("scope_json") or "{}")
    out.pop("config_snapshot_json", None)
    return out


def list_jobs(conn: Connection, *, statuses: list[str] | None = None, limit: int = 50,
              before_id: int | None = None) -> list[dict[str, Any]]:
    """Jobs newest first, keyset-paginated by id."""
    where, params = ["id < ?"], [before_id if before_id is not None else 2**62]
    if statuses:
        where.append(f"status IN ({', '.join('?' for _ in statuses)})")
        params += [JobStatus(s).value for s in statuses]
    rows = conn.execute(
        f"SELECT * FROM job_runs WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?", (*params, limit)
    ).fetchall()
    return [_job_dict(row) for row in rows]


def queued_jobs(conn: Connection) -> list[dict[str, Any]]:
    """Queued jobs in the order the scheduler will take them (priority, then age)."""
    rows = conn.execute("SELECT * FROM job_runs WHERE status = 'queued' ORDER BY priority DESC, id").fetchall()
    return [_job_dict(row) for row in rows]


def job_stages(conn: Connection, job_id: int) -> list[dict[str, Any]]:
    """The stages of a job in order, with their counters.

    `started` counts the items a worker is working on now; `counts.running` also holds the ones
    workers have claimed and not yet started (fast items are claimed in batches), which the
    pages count as waiting (`waiting` = queued + claimed)."""
    stages = [_stage_dict(r) for r in conn.execute(
        "SELECT * FROM job_stages WHERE job_id = ? ORDER BY seq_no", (job_id,)).fetchall()]
    busy = dict(conn.execute(
        "SELECT stage_id, COUNT(*) FROM job_workers WHERE state = 'busy' AND runner_instance_id ="
        " (SELECT MAX(id) FROM runner_instances WHERE status IN ('running', 'stopping')) GROUP BY stage_id").fetchall())
    for stage in stages:
        running = stage["counts"]["running"]
        stage["started"] = min(running, busy.get(stage["id"], 0))
        stage["waiting"] = stage["counts"]["queued"] + running - stage["started"]
    return stages


def job_detail(conn: Connection, job_id: int) -> dict[str, Any]:
    """A job with its stages and counters."""
    row = conn.execute("SELECT * FROM job_runs WHERE id = ?", (job_id,)).fetchone()
    if row is None:
        raise NotFound.coded("not_found", subject="job", id=job_id)
    job = _job_dict(row)
    job["config_snapshot"] = json.loads(row["config_snapshot_json"] or "{}")
    job["stages"] = job_stages(conn, job_id)
    return job


# What a list of items shows (the job page's table): fewer columns than the whole row.
ITEM_ROW_COLUMNS = ("id, job_id, stage_id, item_type, item_key, status, attempts, max_attempts, display_text,"
                    " last_error, last_error_class, last_source, last_error_code, last_error_params_json")


def list_items(conn: Connection, job_id: int, *, status: str | None = None, after_id: int = 0,
               limit: int = 50, error_class: str | None = None, source: str | None = None,
               stage_id: int | None = None, columns: str = "*") -> list[dict[str, Any]]:
    """Items of a job by id, optionally of one status, error class, source or stage; keyset-paginated.
    `columns`: every column, or ITEM_ROW_COLUMNS."""
    if columns not in ("*", ITEM_ROW_COLUMNS):
        raise ValueError(f"columns must be '*' or ITEM_ROW_COLUMNS, not {columns!r}")
    if stage_id is not None:  # one stage's items, by the claim index
        where, params = ["job_id = ?", "stage_id = ?", "id > ?"], [job_id, stage_id, after_id]
        if status:
            where.append("status = ?")
            params.append(ItemStatus(status).value)
        return dicts(conn.execute(
            f"SELECT {columns} FROM job_items WHERE {' AND '.join(where)} ORDER BY id LIMIT ?", (*params, limit)))
    if error_class or source:
        where, params = ["job_id = ?", "status = ?", "id > ?"], [job_id, ItemStatus(status or "failed").value, after_id]
        if error_class:
            where.append("last_error_class = ?")
            params.append(error_class)
        if source:
            where.append("last_source = ?")
            params.append(source)
        return dicts(conn.execute(
            f"SELECT {columns} FROM job_items WHERE {' AND '.join(where)} ORDER BY id LIMIT ?", (*params, limit)))
    if status:
        return dicts(conn.execute(
            f"SELECT {columns} FROM job_items WHERE job_id = ? AND status = ? AND id > ? ORDER BY id LIMIT ?",
            (job_id, ItemStatus(status).value, after_id, limit)))
    # Walk the primary key between the job's first and last item and filter by job ('+' keeps
    # SQLite off the job/status index, which would read every item of the job to sort them).
    # The bounds come from one index seek per status, so a page costs ~limit rows however long
    # the history before or after the job is.
    low, high = _item_id_bounds(conn, job_id)
    if low is None:
        return []
    return dicts(conn.execute(
        f"SELECT {columns} FROM job_items WHERE id > ? AND id <= ? AND +job_id = ? ORDER BY id LIMIT ?",
        (max(after_id, low - 1), high, job_id, limit)))


# The smallest and largest item id of a job in one statement: a pair of seeks on the job/status
# index per status.
_ITEM_ID_BOUNDS = "SELECT MIN(low), MAX(high) FROM ({})".format(" UNION ALL ".join(
    f"SELECT (SELECT MIN(id) FROM job_items WHERE job_id = :job AND status = '{s.value}') AS low,"
    f" (SELECT MAX(id) FROM job_items WHERE job_id = :job AND status = '{s.value}') AS high" for s in ItemStatus))


def _item_id_bounds(conn: Connection, job_id: int) -> tuple[int | None, int | None]:
    """The smallest and largest item id of a job, each by seeks on the job/status index."""
    low, high = conn.execute(_ITEM_ID_BOUNDS, {"job": job_id}).fetchone()
    return low, high


def active_job(conn: Connection) -> dict[str, Any] | None:
    """The job the runner is working on (running, pausing or canceling), if any."""
    row = conn.execute("SELECT id FROM job_runs WHERE status IN ('running', 'pause_requested', 'cancel_requested')"
                       " ORDER BY id LIMIT 1").fetchone()
    return job_detail(conn, row[0]) if row else None


def status_summary(conn: Connection, now: datetime | None = None) -> dict[str, Any]:
    """Everything `runnerd status` and the dashboard show at a glance."""
    pending = conn.execute("SELECT COUNT(*), MIN(created_at) FROM job_commands WHERE status = 'pending'").fetchone()
    by_status = {row[0]: row[1] for row in conn.execute("SELECT status, COUNT(*) FROM job_runs GROUP BY status")}
    runner = runner_liveness(conn, now)
    job = active_job(conn)
    if job is not None and runner["state"] != "up":
        # Nobody works on it: what a dead runner's workers held waits for the next start.
        job["runner_down"] = True
        for stage in job["stages"]:
            stage["waiting"] += stage["started"]
            stage["started"] = 0
    return {
        "runner": runner,
        "pending_commands": pending[0],
        "oldest_pending_command_at": pending[1],
        "active_job": job,
        "queued_jobs": [{"id": j["id"], "job_type": j["job_type"], "priority": j["priority"]}
                        for j in queued_jobs(conn)],
        "jobs_by_status": by_status,
        # When the runner last counted the library's coverage (after a job): pages that show it
        # see this change and refresh.
        "library_counted_at": (conn.execute("SELECT updated_at FROM coverage WHERE playlist_id = 0").fetchone()
                               or [None])[0],
        "sources_down": [dict(r) for r in conn.execute(
            "SELECT source, state, open_until, consecutive_failures, last_error_class, last_error, last_error_code,"
            " last_error_params_json FROM source_health"
            " WHERE state != 'closed' ORDER BY source")],
    }


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def list_logs(conn: Connection, *, level: str | None = None, job_id: int | None = None, item_id: int | None = None,
              text: str | None = None, before_id: int | None = None, limit: int = 100) -> list[Any]:
    """Log rows, newest first: of `level` and above, of one job or item, whose message holds
    `text`, older than `before_id` (keyset pagination). Every page and /api/logs read through this."""
    where, params = [], []
    if item_id:
        where.append("item_id = ?")
        params.append(item_id)
    if level:
        at_least = LOG_LEVELS[LOG_LEVELS.index(level):]
        where.append(f"level IN ({', '.join('?' for _ in at_least)})")
        params += list(at_least)
    if job_id:
        where.append("job_id = ?")
        params.append(job_id)
    if text:
        where.append("message LIKE ?")
        params.append(f"%{text}%")
    if before_id:
        where.append("id < ?")
        params.append(before_id)
    sql = "SELECT * FROM job_logs" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT ?"
    return conn.execute(sql, (*params, limit)).fetchall()


def job_events(conn: Connection, job_id: int, *, limit: int = 20) -> list[Any]:
    """A job's latest events, newest first, with the display text of their item."""
    return conn.execute("SELECT e.*, i.display_text FROM job_events e LEFT JOIN job_items i ON i.id = e.item_id"
                        " WHERE e.job_id = ? ORDER BY e.id DESC LIMIT ?", (job_id, limit)).fetchall()


def failed_counts(conn: Connection, job_id: int) -> tuple[list[Any], list[Any]]:
    """A job's failed items counted by error class, and by the source that failed last."""
    by_class = conn.execute("SELECT last_error_class, COUNT(*) FROM job_items WHERE job_id = ? AND status = 'failed'"
                            " GROUP BY 1", (job_id,)).fetchall()
    by_source = conn.execute("SELECT last_source, COUNT(*) FROM job_items WHERE job_id = ? AND status = 'failed'"
                             " AND last_source IS NOT NULL GROUP BY 1", (job_id,)).fetchall()
    return by_class, by_source


def recent_failures(conn: Connection, *, jobs: int = 20, limit: int = 10) -> list[Any]:
    """Failed items of the latest jobs, counted by error class and source, most first."""
    return conn.execute(
        "SELECT last_error_class, last_source, COUNT(*) AS n FROM job_items WHERE status = 'failed'"
        " AND job_id IN (SELECT id FROM job_runs ORDER BY id DESC LIMIT ?) GROUP BY 1, 2 ORDER BY n DESC LIMIT ?",
        (jobs, limit)).fetchall()


def item_attempts(conn: Connection, item_id: int) -> list[Any]:
    """An item's attempts, first first, with the name of the worker that made each."""
    return conn.execute("SELECT a.*, w.name AS worker_name FROM item_attempts a LEFT JOIN job_workers w"
                        " ON w.id = a.worker_id WHERE a.item_id = ? ORDER BY a.attempt_no", (item_id,)).fetchall()


def current_workers(conn: Connection) -> list[Any]:
    """The workers of the latest runner, by name."""
    return conn.execute("SELECT * FROM job_workers WHERE runner_instance_id = (SELECT MAX(id) FROM runner_instances)"
                        " ORDER BY name").fetchall()


def latest_job(conn: Connection, job_type: str) -> Any:
    """The newest job of a type (its row), or None."""
    return conn.execute("SELECT * FROM job_runs WHERE job_type = ? ORDER BY id DESC LIMIT 1", (job_type,)).fetchone()


def metric_counts(conn: Connection, runner: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """The counts /metrics exposes, from the counters the database keeps (no big table scanned)."""
    statuses = [s.value for s in ItemStatus]
    sums = ", ".join(f"COALESCE(SUM(n_{s}), 0)" for s in statuses)
    hour_ago = (now or utcnow()) - timedelta(hours=1)
    return {
        "items_by_stage": {row[0]: row[1:] for row in conn.execute(
            f"SELECT stage_type, {sums} FROM job_stages GROUP BY stage_type")},
        "item_statuses": statuses,
        "jobs": dict(conn.execute("SELECT status, COUNT(*) FROM job_runs GROUP BY status").fetchall()),
        "transfer_totals": transfer_totals(conn),
        "finished_last_hour": succeeded_since(conn, hour_ago),
        "workers": dict(conn.execute("SELECT state, COUNT(*) FROM job_workers WHERE runner_instance_id = ?"
                                     " GROUP BY state", (runner.get("runner_id", -1),)).fetchall())
        if runner["state"] == "up" else {},
        "commands_pending": conn.execute("SELECT COUNT(*) FROM job_commands WHERE status = 'pending'").fetchone()[0],
        "sources": conn.execute("SELECT h.source, h.state, h.consecutive_failures, COALESCE(SUM(s.calls), 0),"
                                " COALESCE(SUM(s.failures), 0) FROM source_health h LEFT JOIN source_stats s"
                                " ON s.source = h.source GROUP BY h.source ORDER BY h.source").fetchall(),
        "notifications": dict(conn.execute("SELECT status, COUNT(*) FROM notifications GROUP BY status").fetchall()),
    }


def database_readable(conn: Connection) -> None:
    """Raise (sqlite3's error) unless the database answers a read."""
    conn.execute("SELECT 1 FROM schema_migrations LIMIT 1").fetchone()


def data_version(conn: Connection) -> int:
    """SQLite's data_version: it changes when another connection commits (a page's live stream
    polls it, a cheap 'did anything change')."""
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def latest_event_id(conn: Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM job_events").fetchone()[0])


def events_after(conn: Connection, after_id: int, *, limit: int = 500) -> list[Any]:
    """Job events after `after_id`, oldest first (what a live page has not seen yet)."""
    return conn.execute("SELECT id, job_id, stage_id, item_id, kind, to_status, message FROM job_events"
                        " WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)).fetchall()


def history_kept(conn: Connection) -> dict[str, Any]:
    """How many jobs there are, how many are down to their summary (retention), and when the
    oldest one that still has its details was made."""
    row = conn.execute("SELECT COUNT(*), COALESCE(SUM(pruned_at IS NOT NULL), 0),"
                       " MIN(CASE WHEN pruned_at IS NULL THEN created_at END) FROM job_runs").fetchone()
    return {"jobs": row[0], "pruned": row[1], "oldest_kept": row[2]}


WANTED_STATES = ("missing", "unavailable")


def missing_songs(conn: Connection, *, state: str | None = None, after_id: int = 0,
                  limit: int = 50) -> list[dict[str, Any]]:
    """Wanted songs the library could not get (missing, or unavailable), by song id, with the
    song's words and the last failure (engine/wanted.py keeps them)."""
    where, params = ["m.song_id > ?"], [after_id]
    if state:
        where.append("m.state = ?")
        params.append(state)
    return dicts(conn.execute(
        "SELECT m.*, s.platform, s.title, s.artists, s.album FROM missing_songs m JOIN songs s ON s.id = m.song_id"
        f" WHERE {' AND '.join(where)} ORDER BY m.song_id LIMIT ?", (*params, limit)))


def missing_counts(conn: Connection) -> dict[str, int]:
    """How many wanted songs are missing and unavailable."""
    counts = dict.fromkeys(WANTED_STATES, 0)
    counts.update({row[0]: row[1] for row in conn.execute("SELECT state, COUNT(*) FROM missing_songs GROUP BY 1")})
    return counts
