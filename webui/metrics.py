"""`/metrics` in the Prometheus text format, read from counters the database already keeps
(stage counters, lifetime transfer totals, the activity minutes): no scan of a big table."""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from catalogsync_ops.engine.queries import metric_counts, runner_liveness
from catalogsync_ops.engine.states import JobStatus, StageType, WorkerState
from catalogsync_ops.library.coverage import read_coverage
from catalogsync_ops.library.drift import DriftKind, drift_counts
from catalogsync_ops.quality import shares
from catalogsync_ops.store.connection import Connection


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str,
               samples: Iterable[tuple[dict[str, str], float]]) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            label_text = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
            # Exact: `:g` keeps six digits, so a byte counter past a megabyte came out rounded.
            number = str(int(value)) if float(value).is_integer() else repr(float(value))
            self.lines.append(f"{name}{{{label_text}}} {number}" if label_text else f"{name} {number}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def render_metrics(conn: Connection, db_path: str | os.PathLike[str], library_dir: Path | None = None) -> str:
    """Every metric, as Prometheus text exposition format 0.0.4."""
    out = _Writer()
    runner = runner_liveness(conn)
    counts = metric_counts(conn, runner)
    statuses, by_stage = counts["item_statuses"], counts["items_by_stage"]
    out.family("catalogsync_items", "gauge", "Items of every job by stage and status (from the stage counters).",
               (({"stage": stage.value, "status": status}, by_stage.get(stage.value, [0] * len(statuses))[i])
                for stage in StageType for i, status in enumerate(statuses)))
    jobs = counts["jobs"]
    out.family("catalogsync_jobs", "gauge", "Jobs by status.",
               (({"status": s.value}, jobs.get(s.value, 0)) for s in JobStatus))
    totals = counts["transfer_totals"]
    out.family("catalogsync_attempts_total", "counter", "Finished item attempts since the database was created.",
               (({"stage": r[0] or "unknown", "outcome": r[1]}, r[2]) for r in totals))
    out.family("catalogsync_transferred_bytes_total", "counter",
               "Bytes downloaded (stage=download) and uploaded (stage=upload) by finished attempts.",
               (({"stage": stage}, sum(r[3] for r in totals if r[0] == stage)) for stage in ("download", "upload")))
    out.family("catalogsync_items_finished_last_hour", "gauge", "Items that succeeded in the last 60 minutes.",
               [({}, counts["finished_last_hour"])])
    workers = counts["workers"]
    out.family("catalogsync_workers", "gauge", "Worker threads of the running runner by state.",
               (({"state": state}, workers.get(state, 0)) for state in (s.value for s in WorkerState)))
    out.family("catalogsync_runner_up", "gauge", "1 when a runner's heartbeat is fresh.",
               [({}, 1 if runner["state"] == "up" else 0)])
    out.family("catalogsync_runner_paused", "gauge", "1 while the runner-wide pause is on.",
               [({}, 1 if runner["paused"] else 0)])
    if runner.get("heartbeat_age_s") is not None:
        out.family("catalogsync_runner_heartbeat_age_seconds", "gauge", "Seconds since the last runner heartbeat.",
                   [({}, runner["heartbeat_age_s"])])
    out.family("catalogsync_commands_pending", "gauge", "Commands waiting for the runner.",
               [({}, counts["commands_pending"])])
    health = counts["sources"]
    out.family("catalogsync_source_up", "gauge", "1 while a source's circuit breaker is closed (0: open or probing).",
               (({"source": r[0]}, 1 if r[1] == "closed" else 0) for r in health))
    out.family("catalogsync_source_state", "gauge", "1 for the state each source's breaker is in (incompatible: "
               "the installed musicdl does not fit; its work waits).",
               (({"source": r[0], "state": state}, 1 if r[1] == state else 0) for r in health
                for state in ("closed", "open", "half_open", "incompatible")))
    out.family("catalogsync_source_consecutive_failures", "gauge", "Calls in a row that found the source down.",
               (({"source": r[0]}, r[2]) for r in health))
    out.family("catalogsync_source_calls_total", "counter", "Calls made to each source.",
               (({"source": r[0]}, r[3]) for r in health))
    out.family("catalogsync_source_failures_total", "counter", "Calls to each source that failed.",
               (({"source": r[0]}, r[4]) for r in health))
    library = read_coverage(conn)
    if library is not None:
        out.family("catalogsync_library_songs", "gauge",
                   "Songs of all playlists (each once) by state, as the runner counted them after the last job.",
                   (({"state": state}, library[state]) for state in ("wanted", "in_library", "backed_up", "failed",
                                                                      "untried", "unresolved")))
        out.family("catalogsync_library_songs_failed", "gauge", "Songs not in the library whose last download failed,"
                   " by error class.", (({"error_class": k}, n) for k, n in sorted(library["failed_by_class"].items())))
        out.family("catalogsync_library_songs_quality", "gauge", "Songs in the library by the quality rung of their"
                   " file, read from the file (lossless, 320, 256, 192, 128, low; unknown: not read yet).",
                   (({"quality": rung}, n) for rung, n, _ in shares(library.get("quality", {}))))
    drift = drift_counts(conn)
    out.family("catalogsync_library_drift", "gauge", "What the last verify found and is not resolved, by kind"
               " (files missing or changed, objects missing or changed, orphans).",
               (({"kind": k.value}, drift.get(k.value, 0)) for k in DriftKind))
    notes = counts["notifications"]
    out.family("catalogsync_notifications", "gauge", "Notifications by delivery status.",
               (({"status": s}, notes.get(s, 0)) for s in ("pending", "sent", "failed", "skipped")))
    db = Path(os.path.realpath(db_path))
    sizes = []
    for suffix in ("", "-wal"):
        try:
            sizes.append(({"file": "wal" if suffix else "db"}, Path(f"{db}{suffix}").stat().st_size))
        except FileNotFoundError:
            sizes.append(({"file": "wal" if suffix else "db"}, 0))
    out.family("catalogsync_database_bytes", "gauge", "Size of the database file and of its write-ahead log.", sizes)
    if library_dir is not None:
        try:
            usage = shutil.disk_usage(library_dir)
        except OSError:
            usage = None
        if usage is not None:
            out.family("catalogsync_library_free_bytes", "gauge", "Free space on the library disk.", [({}, usage.free)])
    return out.text()
