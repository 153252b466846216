"""Version 8: checking the library against the disk and the backup, and mending what drifted.

- A `verify` job (its stage and items: `verify`) compares each library file with its recorded
  size and modification time (or its hash), the backup's listing with the recorded uploads,
  and the library folder with the catalog (audio files nobody recorded).
- `drift`: what a verify found, one row per file or object and kind, open until a later
  verify finds it mended or a `repair_drift` command queues its repair (a `repair` job that
  downloads and uploads again; nothing is ever deleted).

The CHECK lists only widen, rewritten in place as version 5 did.
"""
from __future__ import annotations

from catalogsync_ops.store.connection import Connection
from catalogsync_ops.store.migrations.widen import widen_checks

NAME = "verify"

WIDENED = (
    ("job_runs", "job_type IN ('full_pipeline', 'collect', 'sync', 'download', 'upload')",
     "job_type IN ('full_pipeline', 'collect', 'sync', 'download', 'upload', 'verify', 'repair')"),
    ("job_stages", "stage_type IN ('collect', 'sync', 'download', 'upload')",
     "stage_type IN ('collect', 'sync', 'download', 'upload', 'verify')"),
    ("job_workers", "stage_type IN ('collect', 'sync', 'download', 'upload')",
     "stage_type IN ('collect', 'sync', 'download', 'upload', 'verify')"),
    ("job_items", "item_type IN ('pool', 'playlist', 'song', 'upload', 'noop')",
     "item_type IN ('pool', 'playlist', 'song', 'upload', 'noop', 'verify')"),
    ("job_commands", "'apply_config', 'rollback_config', 'reset_source'",
     "'apply_config', 'rollback_config', 'reset_source', 'repair_drift'"),
)

SQL = """
CREATE TABLE drift (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL
        CHECK (kind IN ('file_missing', 'file_changed', 'object_missing', 'object_changed', 'orphan')),
    place TEXT NOT NULL,
    path TEXT NOT NULL,
    file_location_id INTEGER REFERENCES file_locations (id) ON DELETE SET NULL,
    upload_task_id INTEGER REFERENCES upload_tasks (id) ON DELETE SET NULL,
    song_id INTEGER REFERENCES songs (id) ON DELETE SET NULL,
    detail TEXT,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'repairing', 'resolved')),
    found_job_id INTEGER,
    repair_job_id INTEGER,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    resolved_at TEXT,
    UNIQUE (kind, place, path)
);
CREATE INDEX drift_status_idx ON drift (status, kind);
CREATE INDEX drift_file_idx ON drift (file_location_id);
"""


def apply(conn: Connection) -> None:
    widen_checks(conn, WIDENED)
