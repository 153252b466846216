"""Version 7: what the runner did, per minute and stage, for the console's charts; log lines
the console can show in the reader's language.

- `activity_hours`: attempts that ended per hour, stage and outcome (`succeeded`, or the
  failure's error class), with the bytes they moved. A trigger keeps it in the same
  transaction as the attempt's end, so a day's charts read a few dozen rows, never the
  attempts themselves. The last day of attempts is counted in when the migration runs.
- `coverage`: per playlist (and row 0 for the whole library) how many songs are wanted, in
  the library, backed up, failed (by error class), not yet tried, and unresolved on the
  platform; the runner recomputes it after each job, so pages and `runnerd coverage` read a
  row instead of joining the catalog. `job_items_song_idx` finds a song's latest download.
- `file_locations.mtime_ns`: a file's modification time when it was put in place, so a check
  can tell a file changed on disk without reading it.
- `job_logs.code` and `job_logs.params_json`: the runner's own log lines keep their template
  and values beside the English text.
"""
from __future__ import annotations

NAME = "activity"

SQL = """
CREATE TABLE activity_hours (
    hour TEXT NOT NULL,
    stage_type TEXT NOT NULL,
    outcome TEXT NOT NULL,
    items INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, stage_type, outcome)
) WITHOUT ROWID;
CREATE TRIGGER item_attempts_activity AFTER UPDATE OF outcome ON item_attempts
WHEN OLD.outcome = 'running' AND NEW.outcome IN ('succeeded', 'failed') AND NEW.finished_at IS NOT NULL
BEGIN
    INSERT INTO activity_hours (hour, stage_type, outcome, items, bytes)
    VALUES (substr(NEW.finished_at, 1, 13),
            COALESCE((SELECT s.stage_type FROM job_items i JOIN job_stages s ON s.id = i.stage_id
                      WHERE i.id = NEW.item_id), 'unknown'),
            CASE WHEN NEW.outcome = 'succeeded' THEN 'succeeded' ELSE COALESCE(NEW.error_class, 'internal') END,
            1, COALESCE(NEW.bytes_done, 0))
    ON CONFLICT (hour, stage_type, outcome)
    DO UPDATE SET items = items + 1, bytes = bytes + excluded.bytes;
END;
INSERT INTO activity_hours (hour, stage_type, outcome, items, bytes)
SELECT substr(a.finished_at, 1, 13), s.stage_type,
       CASE WHEN a.outcome = 'succeeded' THEN 'succeeded' ELSE COALESCE(a.error_class, 'internal') END,
       COUNT(*), COALESCE(SUM(a.bytes_done), 0)
FROM item_attempts a JOIN job_items i ON i.id = a.item_id JOIN job_stages s ON s.id = i.stage_id
WHERE a.outcome IN ('succeeded', 'failed') AND a.finished_at >= strftime('%Y-%m-%dT%H', 'now', '-1 day')
GROUP BY 1, 2, 3;
CREATE TABLE coverage (
    playlist_id INTEGER PRIMARY KEY,
    wanted INTEGER NOT NULL DEFAULT 0,
    in_library INTEGER NOT NULL DEFAULT 0,
    backed_up INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    untried INTEGER NOT NULL DEFAULT 0,
    unresolved INTEGER NOT NULL DEFAULT 0,
    failed_json TEXT NOT NULL DEFAULT '{}',
    updated_at TEXT NOT NULL
);
CREATE INDEX job_items_song_idx ON job_items (song_id, id) WHERE song_id IS NOT NULL;
ALTER TABLE file_locations ADD COLUMN mtime_ns INTEGER;
ALTER TABLE job_logs ADD COLUMN code TEXT;
ALTER TABLE job_logs ADD COLUMN params_json TEXT;
"""
