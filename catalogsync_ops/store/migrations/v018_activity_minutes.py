"""Version 18: one row per minute, stage and outcome for every attempt that ends.

Three triggers kept three tables as each attempt ended or each item succeeded: the charts'
`activity_hours`, the lifetime `transfer_totals` and the last hour's `throughput_minutes`.
Each dirtied its own page in every item's commit. Now one trigger keeps `activity_minutes`:
the attempt's end minute, its stage, its outcome and (for a failure) its error class, with the
items and bytes. The hourly housekeeping (`engine/activity.fold_minutes`) moves minutes older
than the previous hour into `activity_hours` and `transfer_totals` in one transaction; readers
add the minutes not yet moved to those tables, so a count is the same whenever they read.

`throughput_minutes` goes: it counted items succeeded per minute for the last hour's gauge,
which now counts the attempts that succeeded in `activity_minutes` (every success ends its
attempt). Its rows older than an hour were never read; the gauge counts from the upgrade.
"""
from __future__ import annotations

NAME = "activity_minutes"

SQL = """
CREATE TABLE activity_minutes (
    minute TEXT NOT NULL,
    stage_type TEXT NOT NULL,
    outcome TEXT NOT NULL,
    error_class TEXT NOT NULL DEFAULT '',
    items INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, stage_type, outcome, error_class)
) WITHOUT ROWID;
DROP TRIGGER item_attempts_activity;
DROP TRIGGER item_attempts_totals;
DROP TRIGGER job_items_throughput;
DROP TABLE throughput_minutes;
CREATE TRIGGER item_attempts_ended AFTER UPDATE OF outcome ON item_attempts
WHEN OLD.outcome = 'running' AND NEW.outcome <> 'running' BEGIN
    INSERT INTO activity_minutes (minute, stage_type, outcome, error_class, items, bytes)
    VALUES (substr(COALESCE(NEW.finished_at, strftime('%Y-%m-%dT%H:%M', 'now')), 1, 16),
            COALESCE((SELECT s.stage_type FROM job_items i JOIN job_stages s ON s.id = i.stage_id
                      WHERE i.id = NEW.item_id), 'unknown'),
            NEW.outcome,
            CASE WHEN NEW.outcome = 'failed' THEN COALESCE(NEW.error_class, 'internal') ELSE '' END,
            1, COALESCE(NEW.bytes_done, 0))
    ON CONFLICT (minute, stage_type, outcome, error_class)
    DO UPDATE SET items = items + 1, bytes = bytes + excluded.bytes;
END;
"""
