"""Version 9: playlist reads that are proven whole, and musicdl releases that do not fit.

- `playlists.missing_count` and `partial_reason`: a read that is not proven complete (a page
  that failed, fewer songs listed than the platform declares) says how many songs it could not
  see and why; such a read adds songs and never removes or moves any.
- `link_service_stats`: what each platform's third-party link services did, per hour (asked,
  answered, failed, silent), beside the platform's own `source_stats`.
- `source_health.state` gains `incompatible`: the installed musicdl lacks what the adapter
  uses (checked when the source host starts); work for that source waits instead of failing.

The CHECK lists only widen, rewritten in place as version 5 did.
"""
from __future__ import annotations

from catalogsync_ops.store.connection import Connection
from catalogsync_ops.store.migrations.widen import widen_checks

NAME = "platform_edges"

OLD_ERROR_CLASSES = "'interrupted', 'internal', 'parse', 'encrypted', 'preview'"
NEW_ERROR_CLASSES = "'interrupted', 'internal', 'parse', 'encrypted', 'preview', 'incompatible'"
WIDENED = (
    ("job_items", OLD_ERROR_CLASSES, NEW_ERROR_CLASSES),
    ("item_attempts", OLD_ERROR_CLASSES, NEW_ERROR_CLASSES),
    ("source_health", "state IN ('closed', 'open', 'half_open')",
     "state IN ('closed', 'open', 'half_open', 'incompatible')"),
)

SQL = """
ALTER TABLE playlists ADD COLUMN missing_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE playlists ADD COLUMN partial_reason TEXT;
CREATE TABLE link_service_stats (
    source TEXT NOT NULL,
    service TEXT NOT NULL,
    hour TEXT NOT NULL,
    asked INTEGER NOT NULL DEFAULT 0,
    answered INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    silent INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (source, service, hour)
);
"""


def apply(conn: Connection) -> None:
    widen_checks(conn, WIDENED)
