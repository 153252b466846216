"""Version 17: upgrades, a song's file replaced by a better one (`runnerd enqueue upgrade`).

- An `upgrade` job (its stage and items: `upgrade`) looks again for songs whose file is below
  the ladder's top rung, then uploads what it replaced (its second stage, `upload`).
- `file_locations.upgrade_checked_at`: when the sources were last asked for a better copy of
  the file, so a nightly upgrade asks again only after UPGRADE_RECHECK_DAYS.
- `retired_objects`: the backup's copies of files an upgrade replaced under another name,
  removed from the mirror or bucket only once the new file's upload has finished there.

The CHECK lists only widen, rewritten in place as version 5 did.
"""
from __future__ import annotations

from catalogsync_ops.store.connection import Connection
from catalogsync_ops.store.migrations.widen import widen_checks

NAME = "upgrades"

_STAGES = "'collect', 'sync', 'download', 'upload', 'verify'"
WIDENED = (
    ("job_runs", "'full_pipeline', 'collect', 'sync', 'download', 'upload', 'verify', 'repair')",
     "'full_pipeline', 'collect', 'sync', 'download', 'upload', 'verify', 'repair', 'upgrade')"),
    ("job_stages", f"stage_type IN ({_STAGES})", f"stage_type IN ({_STAGES}, 'upgrade')"),
    ("job_workers", f"stage_type IN ({_STAGES})", f"stage_type IN ({_STAGES}, 'upgrade')"),
    ("job_items", "item_type IN ('pool', 'playlist', 'song', 'upload', 'noop', 'verify')",
     "item_type IN ('pool', 'playlist', 'song', 'upload', 'noop', 'verify', 'upgrade')"),
)

SQL = """
ALTER TABLE file_locations ADD COLUMN upgrade_checked_at TEXT;
CREATE TABLE retired_objects (
    id INTEGER PRIMARY KEY,
    backend TEXT NOT NULL,
    bucket TEXT NOT NULL DEFAULT '',
    object_key TEXT NOT NULL,
    song_id INTEGER REFERENCES songs (id) ON DELETE SET NULL,
    replaced_by INTEGER REFERENCES file_locations (id) ON DELETE SET NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'removed')),
    created_at TEXT NOT NULL,
    removed_at TEXT,
    UNIQUE (backend, bucket, object_key)
);
CREATE INDEX retired_objects_replaced_idx ON retired_objects (replaced_by, status);
"""


def apply(conn: Connection) -> None:
    widen_checks(conn, WIDENED)
