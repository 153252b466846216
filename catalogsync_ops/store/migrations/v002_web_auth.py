"""Version 2: the console's users, sessions, API tokens and sign-in throttling."""
from __future__ import annotations

NAME = "web_auth"

SQL = """
CREATE TABLE web_users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
);

-- Secrets of the web process that must survive restarts (session key, one-time setup token).
CREATE TABLE web_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE login_attempts (
    id INTEGER PRIMARY KEY,
    remote_addr TEXT NOT NULL,
    succeeded INTEGER NOT NULL CHECK (succeeded IN (0, 1)),
    created_at TEXT NOT NULL
);
CREATE INDEX login_attempts_addr_idx ON login_attempts (remote_addr, created_at);
"""
