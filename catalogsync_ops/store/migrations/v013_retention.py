"""Version 13: history that keeps a NAS small.

Finished jobs older than HISTORY_RETENTION_DAYS lose their items, attempts and item events
(engine/retention.py, in small batches on the runner's thread); the job row, its stages with
their counters and its outcome stay, and `job_runs.pruned_at` says when the details went. So an
item deleted from a finished stage no longer takes its count with it: the delete trigger counts
down only for stages still under way (a person's retry reopens a stage before it counts again).
"""
from __future__ import annotations

NAME = "retention"

SQL = """
ALTER TABLE job_runs ADD COLUMN pruned_at TEXT;
CREATE INDEX job_runs_prunable_idx ON job_runs (finished_at) WHERE pruned_at IS NULL AND finished_at IS NOT NULL;
CREATE INDEX job_commands_settled_idx ON job_commands (applied_at) WHERE status <> 'pending';
CREATE INDEX notifications_created_idx ON notifications (created_at) WHERE status <> 'pending';
CREATE INDEX login_attempts_created_idx ON login_attempts (created_at);
DROP TRIGGER job_items_count_delete;
CREATE TRIGGER job_items_count_delete AFTER DELETE ON job_items
WHEN (SELECT status FROM job_stages WHERE id = OLD.stage_id)
     NOT IN ('completed', 'completed_with_errors', 'failed', 'canceled', 'skipped')
BEGIN
    UPDATE job_stages SET
        n_queued = n_queued - (OLD.status = 'queued'),
        n_running = n_running - (OLD.status = 'running'),
        n_succeeded = n_succeeded - (OLD.status = 'succeeded'),
        n_failed = n_failed - (OLD.status = 'failed'),
        n_canceled = n_canceled - (OLD.status = 'canceled'),
        n_skipped = n_skipped - (OLD.status = 'skipped'),
        n_interrupted = n_interrupted - (OLD.status = 'interrupted')
    WHERE id = OLD.stage_id;
END;
"""
