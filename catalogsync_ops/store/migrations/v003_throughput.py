"""Version 3: per-stage throughput buckets for the dashboard."""
from __future__ import annotations

NAME = "throughput"

SQL = """
-- Songs, playlists and uploads finished per minute, for the dashboard's chart: one row per
-- minute, bumped by a trigger in the same transaction as the item's success.
CREATE TABLE throughput_minutes (
    minute TEXT PRIMARY KEY,
    items INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TRIGGER job_items_throughput AFTER UPDATE OF status ON job_items
WHEN NEW.status = 'succeeded' AND OLD.status <> 'succeeded' BEGIN
    INSERT INTO throughput_minutes (minute, items) VALUES (substr(NEW.updated_at, 1, 16), 1)
    ON CONFLICT (minute) DO UPDATE SET items = items + 1;
END;
"""
