"""What needs the owner: the short list at the top of the dashboard and of `runnerd status`.

Each entry has a `kind`, the facts to say it with (rendered in the reader's language by the
console, in English by the CLI) and at most one action: a command the console offers as a button,
or a page to open. Cheap: a handful of indexed queries, no scan of items.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from catalogsync_ops.engine import breakers
from catalogsync_ops.engine.queries import runner_liveness
from catalogsync_ops.store.connection import Connection

RECENT_JOBS = 20  # failed items are looked for in the newest jobs only


def needs_attention(conn: Connection, *, library: Path | None = None, disk_free_mb: int | None = None,
                    runner: dict[str, Any] | None = None, sources: list[dict[str, Any]] | None = None
                    ) -> list[dict[str, Any]]:
    """The things that need the owner now, most urgent first. `runner` and `sources` (the
    runner's liveness, `breakers.health`) are read here unless the caller has them already."""
    out: list[dict[str, Any]] = []
    runner = runner if runner is not None else runner_liveness(conn)
    if runner["state"] != "up":
        out.append({"kind": "runner_down", "state": runner["state"], "since": runner.get("heartbeat_at"),
                    "hint": "runnerd run"})
    if runner.get("degraded"):
        out.append({"kind": "runner_degraded", "reason": runner["degraded"], "since": runner.get("degraded_since")})
    latest = conn.execute("SELECT id, status, problems_json, created_at FROM config_revisions"
                          " ORDER BY id DESC LIMIT 1").fetchone()
    if latest is not None and latest["status"] == "invalid":
        problems = json.loads(latest["problems_json"] or "[]")
        errors = [p for p in problems if isinstance(p, dict) and p.get("severity") == "error"] or problems
        first = errors[0] if errors else {}
        out.append({"kind": "config_invalid", "revision_id": latest["id"], "since": latest["created_at"],
                    "problem": first.get("message") if isinstance(first, dict) else str(first),
                    "line": first.get("line") if isinstance(first, dict) else None, "page": "/config"})
    for job in conn.execute("SELECT id, job_type, updated_at FROM job_runs WHERE status = 'paused' ORDER BY id"):
        last = conn.execute("SELECT kind, command_id FROM job_events WHERE job_id = ? AND to_status IN"
                            " ('paused', 'pause_requested') ORDER BY id DESC LIMIT 1", (job["id"],)).fetchone()
        by = "recovery" if last is not None and last["kind"] == "recovery" else "you"
        out.append({"kind": "job_paused", "job_id": job["id"], "job_type": job["job_type"], "by": by,
                    "since": job["updated_at"], "command": {"kind": "resume_job", "job_id": job["id"]}})
    for row in conn.execute(
            "SELECT j.id, j.job_type, COUNT(i.id) AS failed FROM job_runs j JOIN job_items i ON i.job_id = j.id"
            " WHERE j.id IN (SELECT id FROM job_runs ORDER BY id DESC LIMIT ?) AND i.status = 'failed'"
            " AND j.status NOT IN ('running', 'pause_requested', 'cancel_requested', 'canceled')"
            # Songs the wanted list remembers are said once, by song, below (not once per job).
            " AND NOT (i.item_type = 'song' AND EXISTS (SELECT 1 FROM missing_songs m WHERE m.song_id = i.song_id))"
            " GROUP BY j.id ORDER BY j.id DESC", (RECENT_JOBS,)):
        out.append({"kind": "job_failed_items", "job_id": row["id"], "job_type": row["job_type"],
                    "failed": row["failed"], "command": {"kind": "retry_failed_items", "job_id": row["id"]}})
    missing = conn.execute("SELECT COUNT(*), MIN(since) FROM missing_songs WHERE state = 'missing'").fetchone()
    if missing[0]:
        out.append({"kind": "songs_missing", "missing": missing[0], "since": missing[1],
                    "page": "/wanted?state=missing"})
    for source in sources if sources is not None else breakers.health(conn):
        if source["state"] == "incompatible":
            # Closing its breaker would not help: the installed musicdl must be put right first.
            out.append({"kind": "source_incompatible", "source": source["source"], "error": source.get("last_error")})
        elif source["state"] != "closed":
            out.append({"kind": "source_down", "source": source["source"], "until": source.get("open_until"),
                        "error": source.get("last_error"), "command": {"kind": "reset_source",
                                                                       "source": source["source"]}})
    drift = {r[0]: r[1] for r in conn.execute("SELECT kind, COUNT(*) FROM drift WHERE status = 'open' GROUP BY kind")}
    if drift:
        out.append({"kind": "drift", "counts": drift, "total": sum(drift.values()), "page": "/drift"})
    if library is not None and disk_free_mb is not None:
        try:
            usage = shutil.disk_usage(library if library.exists() else library.parent)
        except OSError:
            usage = None
        if usage is not None and usage.free < disk_free_mb * 2**20:
            out.append({"kind": "disk_low", "path": str(library), "free_mb": usage.free // 2**20,
                        "threshold_mb": disk_free_mb})
    return out


def describe(entry: dict[str, Any]) -> str:
    """One line in English (the CLI; the console renders its own words)."""
    kind = entry["kind"]
    if kind == "runner_down":
        return ("the runner has never started here" if entry["state"] == "never" else
                f"the runner is {entry['state']} (last heartbeat {entry['since']})") + ": start it with `runnerd run`"
    if kind == "runner_degraded":
        return f"the runner is degraded since {entry['since']}: {entry['reason']}"
    if kind == "config_invalid":
        where = f" (line {entry['line']})" if entry.get("line") else ""
        return (f"the env file on disk is invalid{where}: {entry['problem']}; the runner keeps the last valid config "
                "(runnerd config check)")
    if kind == "job_paused":
        why = "after the runner stopped (recovery)" if entry["by"] == "recovery" else "by you"
        return f"job {entry['job_id']} ({entry['job_type']}) is paused {why}: runnerd resume {entry['job_id']}"
    if kind == "job_failed_items":
        return (f"job {entry['job_id']} ({entry['job_type']}) has {entry['failed']} failed items: "
                f"runnerd retry-failed {entry['job_id']}")
    if kind == "songs_missing":
        return (f"{entry['missing']} wanted songs are missing (the oldest since {entry['since'][:10]}): "
                "runnerd wanted list --state missing")
    if kind == "source_down":
        return f"source {entry['source']} is down until {entry['until']}: runnerd source reset {entry['source']}"
    if kind == "source_incompatible":
        return (f"source {entry['source']} does not fit the installed musicdl; its songs wait: "
                "pip install 'catalogsync-ops[musicdl]' into runnerd's environment, then restart runnerd")
    if kind == "drift":
        counts = ", ".join(f"{n} {k}" for k, n in sorted(entry["counts"].items()))
        return f"a verify found drift ({counts}): runnerd drift; runnerd repair"
    if kind == "disk_low":
        return f"the library disk has {entry['free_mb']} MiB free (below {entry['threshold_mb']} MiB): {entry['path']}"
    return kind
