"""Version 4: the notification outbox and lifetime transfer totals."""
from __future__ import annotations

NAME = "notifications"

SQL = """
-- Notifications waiting for the webhook (an outbox): a trigger queues one per finished job in
-- the same transaction as the job's last transition, so none is lost or sent twice; runnerd's
-- notifier delivers them with retries (and marks them skipped while no webhook is set).
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL
        CHECK (kind IN ('job_finished', 'job_failed', 'runner_recovered', 'disk_low', 'test')),
    dedupe_key TEXT NOT NULL UNIQUE,
    job_id INTEGER,
    data_json TEXT,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'skipped')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX notifications_pending_idx ON notifications (next_attempt_at) WHERE status = 'pending';
CREATE TRIGGER job_runs_notify AFTER UPDATE OF status ON job_runs
WHEN NEW.status IN ('completed', 'completed_with_errors', 'failed', 'canceled') AND OLD.status <> NEW.status
BEGIN
    INSERT OR IGNORE INTO notifications (kind, dedupe_key, job_id, data_json, next_attempt_at, created_at)
    VALUES (CASE WHEN NEW.status = 'failed' THEN 'job_failed' ELSE 'job_finished' END,
            'job:' || NEW.id || ':' || NEW.status || ':' || NEW.updated_at, NEW.id,
            '{"status": "' || NEW.status || '"}', NEW.updated_at, NEW.updated_at);
END;

-- Lifetime totals per stage type and attempt outcome (items and bytes), for /metrics: kept by
-- a trigger when an attempt ends, so they only grow, whatever retention removes later.
CREATE TABLE transfer_totals (
    stage_type TEXT NOT NULL,
    outcome TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (stage_type, outcome)
) WITHOUT ROWID;
CREATE TRIGGER item_attempts_totals AFTER UPDATE OF outcome ON item_attempts
WHEN OLD.outcome = 'running' AND NEW.outcome <> 'running' BEGIN
    INSERT INTO transfer_totals (stage_type, outcome, attempts, bytes)
    VALUES ((SELECT s.stage_type FROM job_items i JOIN job_stages s ON s.id = i.stage_id WHERE i.id = NEW.item_id),
            NEW.outcome, 1, COALESCE(NEW.bytes_done, 0))
    ON CONFLICT (stage_type, outcome) DO UPDATE SET attempts = attempts + 1, bytes = bytes + excluded.bytes;
END;
"""
