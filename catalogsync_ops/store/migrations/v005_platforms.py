"""Version 5: failures the real platforms produce get classes of their own (`parse`: the
platform answered something unreadable; `encrypted`: an encrypted container; `preview`: a
trial clip instead of the song), and a playlist keeps the entries its platform listed but
could not resolve, so an incomplete listing never unlinks songs.

The error-class CHECK lists only widen: every stored row stays valid, so the constraint is
rewritten in place (SQLite's documented procedure for changing a CHECK without rebuilding the
table) instead of copying the two largest tables.
"""
from __future__ import annotations

from catalogsync_ops.store.connection import Connection

NAME = "platforms"

OLD_ERROR_CLASSES = "'interrupted', 'internal'"
NEW_ERROR_CLASSES = "'interrupted', 'internal', 'parse', 'encrypted', 'preview'"

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
"""


def apply(conn: Connection) -> None:
    """Widen the error-class CHECKs of job_items and item_attempts, inside the caller's transaction."""
    version = conn.execute("PRAGMA schema_version").fetchone()[0]
    conn.execute("PRAGMA writable_schema = ON")
    try:
        for table in ("job_items", "item_attempts"):
            sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()[0]
            if NEW_ERROR_CLASSES in sql:
                continue
            if OLD_ERROR_CLASSES not in sql:
                raise RuntimeError(f"{table}'s CHECK is not the one version 1 wrote; refusing to rewrite it")
            conn.execute("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
                         (sql.replace(OLD_ERROR_CLASSES, NEW_ERROR_CLASSES), table))
        conn.execute(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        conn.execute("PRAGMA writable_schema = OFF")
