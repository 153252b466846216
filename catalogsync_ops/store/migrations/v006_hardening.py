"""Version 6: hardening the console.

- A per-user session generation: signing out or changing the password bumps it, and every
  session cookie issued before stops working.
- Failed sign-ins are also counted per user name (not only per address).
- API tokens get a scope: `read` (status, metrics, lists), `control` (commands), `admin`
  (config and tokens). Tokens made before keep working as `admin`.
- The runner records when it cannot write its database (disk full) and why.
- Log rows are found by their item (the item page lists them).
- A job's outcome is notified once: a job reopened by a retry that ends the same way again
  sends nothing; a different outcome is sent.
"""
from __future__ import annotations

NAME = "hardening"

SQL = """
ALTER TABLE web_users ADD COLUMN session_generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE login_attempts ADD COLUMN username TEXT;
CREATE INDEX login_attempts_username_idx ON login_attempts (username, created_at);
ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'admin' CHECK (scope IN ('read', 'control', 'admin'));
ALTER TABLE runner_state ADD COLUMN degraded_reason TEXT;
ALTER TABLE runner_state ADD COLUMN degraded_since TEXT;
DROP TRIGGER job_runs_notify;
CREATE TRIGGER job_runs_notify AFTER UPDATE OF status ON job_runs
WHEN NEW.status IN ('completed', 'completed_with_errors', 'failed', 'canceled') AND OLD.status <> NEW.status
    AND COALESCE((SELECT json_extract(data_json, '$.status') FROM notifications
                  WHERE job_id = NEW.id AND kind IN ('job_finished', 'job_failed') ORDER BY id DESC LIMIT 1), '')
        <> NEW.status
BEGIN
    INSERT OR IGNORE INTO notifications (kind, dedupe_key, job_id, data_json, next_attempt_at, created_at)
    VALUES (CASE WHEN NEW.status = 'failed' THEN 'job_failed' ELSE 'job_finished' END,
            'job:' || NEW.id || ':' || NEW.status || ':' || NEW.updated_at, NEW.id,
            '{"status": "' || NEW.status || '"}', NEW.updated_at, NEW.updated_at);
END;
CREATE INDEX notifications_job_idx ON notifications (job_id, id) WHERE job_id IS NOT NULL;
CREATE INDEX job_logs_item_idx ON job_logs (item_id, id) WHERE item_id IS NOT NULL;
"""
