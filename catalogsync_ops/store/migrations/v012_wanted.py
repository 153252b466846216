"""Version 12: the wanted list remembers the songs it could not get, and quiet nights stay quiet.

`missing_songs`: one row per wanted song the library does not have after a download stage tried
it — `missing` (since when, for how many nights, attempts, the last failure as a class, text,
code and values, the source that said it) or `unavailable` (the owner said "stop trying", or
the song failed for `WANTED_GIVE_UP_NIGHTS` nights in a row with a class that says it is not to
be had; tried again after `recheck_after`). A song found again loses its row. Every other wanted
song is in the library or not tried yet: the wanted list reads those from the catalog.

`job_runs.outcome_json`: what a job changed about the wanted list (songs newly missing, still
missing, found again) and whether it is `quiet`: a finished job that changed nothing the owner
has to know queues no notification (the trigger reads it in the same transaction).
"""
from __future__ import annotations

NAME = "wanted"

SQL = """
CREATE TABLE missing_songs (
    song_id INTEGER PRIMARY KEY REFERENCES songs (id) ON DELETE CASCADE,
    state TEXT NOT NULL CHECK (state IN ('missing', 'unavailable')),
    since TEXT NOT NULL,
    nights INTEGER NOT NULL DEFAULT 0,
    permanent_nights INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error_class TEXT,
    last_error TEXT,
    last_error_code TEXT,
    last_error_params_json TEXT,
    last_source TEXT,
    last_job_id INTEGER,
    last_tried_at TEXT,
    marked_by TEXT CHECK (marked_by IN ('owner', 'auto')),
    recheck_after TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX missing_songs_state_idx ON missing_songs (state, since);
ALTER TABLE job_runs ADD COLUMN outcome_json TEXT;
DROP TRIGGER job_runs_notify;
CREATE TRIGGER job_runs_notify AFTER UPDATE OF status ON job_runs
WHEN NEW.status IN ('completed', 'completed_with_errors', 'failed', 'canceled') AND OLD.status <> NEW.status
    AND COALESCE((SELECT json_extract(data_json, '$.status') FROM notifications
                  WHERE job_id = NEW.id AND kind IN ('job_finished', 'job_failed') ORDER BY id DESC LIMIT 1), '')
        <> NEW.status
    AND NOT (NEW.status = 'completed' AND COALESCE(json_extract(NEW.outcome_json, '$.quiet'), 0) = 1)
BEGIN
    INSERT OR IGNORE INTO notifications (kind, dedupe_key, job_id, data_json, next_attempt_at, created_at)
    VALUES (CASE WHEN NEW.status = 'failed' THEN 'job_failed' ELSE 'job_finished' END,
            'job:' || NEW.id || ':' || NEW.status || ':' || NEW.updated_at, NEW.id,
            '{"status": "' || NEW.status || '"}', NEW.updated_at, NEW.updated_at);
END;
"""
