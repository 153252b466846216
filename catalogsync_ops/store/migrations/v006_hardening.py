"""Version 6: hardening the console.

- A per-user session generation: signing out or changing the password bumps it, and every
  session cookie issued before stops working.
- Failed sign-ins are also counted per user name (not only per address).
- API tokens get a scope: `read` (status, metrics, lists), `control` (commands), `admin`
  (config and tokens). Tokens made before keep working as `admin`.
- The runner records when it cannot write its database (disk full) and why.
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
"""
