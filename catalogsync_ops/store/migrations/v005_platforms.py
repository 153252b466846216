"""Version 5: the real platforms.

- Failures they produce get classes of their own (`parse`: the platform answered something
  unreadable; `encrypted`: an encrypted container; `preview`: a trial clip instead of the song).
- A playlist keeps the entries its platform listed but could not resolve, so an incomplete
  listing never unlinks songs.
- Each source has a health record and a circuit breaker (`source_health`) and hourly counts of
  its calls (`source_stats`); `source_down` and `source_recovered` become notifications, and
  `reset_source` a command (close a breaker by hand).

The CHECK lists only widen: every stored row stays valid, so the constraints are rewritten in
place (SQLite's documented procedure for changing a CHECK without rebuilding the table) instead
of copying the largest tables.
"""
from __future__ import annotations

from catalogsync_ops.store.connection import Connection
from catalogsync_ops.store.migrations.widen import widen_checks

NAME = "platforms"

OLD_ERROR_CLASSES = "'interrupted', 'internal'"
NEW_ERROR_CLASSES = "'interrupted', 'internal', 'parse', 'encrypted', 'preview'"
OLD_NOTIFY_KINDS = "'disk_low', 'test'"
NEW_NOTIFY_KINDS = "'disk_low', 'test', 'source_down', 'source_recovered'"
OLD_COMMAND_KINDS = "'apply_config', 'rollback_config'"
NEW_COMMAND_KINDS = "'apply_config', 'rollback_config', 'reset_source'"
WIDENED = {"job_items": (OLD_ERROR_CLASSES, NEW_ERROR_CLASSES),
           "item_attempts": (OLD_ERROR_CLASSES, NEW_ERROR_CLASSES),
           "notifications": (OLD_NOTIFY_KINDS, NEW_NOTIFY_KINDS),
           "job_commands": (OLD_COMMAND_KINDS, NEW_COMMAND_KINDS)}

SQL = """
CREATE TABLE playlist_unresolved (
    id INTEGER PRIMARY KEY,
    playlist_id INTEGER NOT NULL REFERENCES playlists(id) ON DELETE CASCADE,
    position INTEGER,
    external_id TEXT,
    title TEXT,
    reason TEXT NOT NULL,
    seen_at TEXT NOT NULL
);
CREATE INDEX playlist_unresolved_playlist_id_idx ON playlist_unresolved (playlist_id);
ALTER TABLE playlists ADD COLUMN unresolved_count INTEGER NOT NULL DEFAULT 0;
CREATE TABLE source_health (
    source TEXT PRIMARY KEY,
    state TEXT NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'half_open')),
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    cooldown_s REAL NOT NULL DEFAULT 0,
    opened_at TEXT,
    open_until TEXT,
    probe_started_at TEXT,
    last_error TEXT,
    last_error_class TEXT,
    last_failure_at TEXT,
    last_success_at TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE source_stats (
    source TEXT NOT NULL,
    hour TEXT NOT NULL,
    calls INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    failures_by_class TEXT NOT NULL DEFAULT '{}',
    latency_ms_total INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (source, hour)
) WITHOUT ROWID;
"""


def apply(conn: Connection) -> None:
    """Widen the CHECKs of job_items, item_attempts, notifications and job_commands."""
    widen_checks(conn, [(table, old, new) for table, (old, new) in WIDENED.items()])
