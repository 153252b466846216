"""The console's own rows: its users (a password hash and a session generation), the one-time
setup token, API tokens (only their hashes), sign-in attempts and the session signing key.
How a password is hashed and checked is the console's (webui/auth.py); these are the reads
and writes."""
from __future__ import annotations

import secrets
from typing import Any

from catalogsync_ops.store.connection import Connection, iso, transaction


def user_count(conn: Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM web_users").fetchone()[0])


def save_user(conn: Connection, username: str, password_hash: str) -> int | None:
    """Create the user or change its password hash. Every session of the user made before is
    signed out (its generation moves on), and a setup token is used up. Returns the generation."""
    ts = iso()
    with transaction(conn):
        conn.execute(
            "INSERT INTO web_users (username, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash,"
            " updated_at = excluded.updated_at, session_generation = session_generation + 1",
            (username, password_hash, ts, ts))
        conn.execute("DELETE FROM web_settings WHERE key = 'setup_token'")
        return generation(conn, username)


def generation(conn: Connection, username: str) -> int | None:
    """The user's session generation (None: no such user)."""
    row = conn.execute("SELECT session_generation FROM web_users WHERE username = ?", (username,)).fetchone()
    return None if row is None else int(row[0])


def password_of(conn: Connection, username: str) -> Any:
    """(password_hash, session_generation) of a user, or None."""
    return conn.execute("SELECT password_hash, session_generation FROM web_users WHERE username = ?",
                        (username,)).fetchone()


def end_sessions(conn: Connection, username: str) -> None:
    """Sign the user out everywhere: every session cookie issued so far stops working."""
    with transaction(conn):
        conn.execute("UPDATE web_users SET session_generation = session_generation + 1 WHERE username = ?",
                     (username,))


def save_setup_token(conn: Connection, token_sha256: str) -> None:
    with transaction(conn):
        conn.execute("INSERT INTO web_settings (key, value, updated_at) VALUES ('setup_token', ?, ?)"
                     " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                     (token_sha256, iso()))


def setup_token(conn: Connection) -> Any:
    """(value: the token's SHA-256, updated_at) of the setup token, or None."""
    return conn.execute("SELECT value, updated_at FROM web_settings WHERE key = 'setup_token'").fetchone()


def add_token(conn: Connection, name: str, token_sha256: str, scope: str) -> None:
    with transaction(conn):
        conn.execute("INSERT INTO api_tokens (name, token_sha256, scope, created_at) VALUES (?, ?, ?, ?)",
                     (name, token_sha256, scope, iso()))


def token_by_hash(conn: Connection, token_sha256: str) -> Any:
    """A live (not revoked) API token's row by its hash, or None."""
    return conn.execute("SELECT id, name, scope, last_used_at FROM api_tokens WHERE token_sha256 = ?"
                        " AND revoked_at IS NULL", (token_sha256,)).fetchone()


def token_used(conn: Connection, token_id: int) -> None:
    with transaction(conn):
        conn.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (iso(), token_id))


def revoke_token(conn: Connection, token_id: int) -> bool:
    with transaction(conn):
        return conn.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                            (iso(), token_id)).rowcount == 1


def list_tokens(conn: Connection, *, newest_first: bool = True) -> list[dict]:
    """API tokens (their names and dates; the values are never kept)."""
    order = "DESC" if newest_first else "ASC"
    return [dict(r) for r in conn.execute(
        f"SELECT id, name, scope, created_at, last_used_at, revoked_at FROM api_tokens ORDER BY id {order}")]


def failed_sign_ins(conn: Connection, addr: str, username: str, since: str) -> tuple[int, int]:
    """Failed sign-ins since `since`: from this address, and for this user name from anywhere."""
    by_addr = conn.execute("SELECT COUNT(*) FROM login_attempts WHERE remote_addr = ? AND created_at > ?"
                           " AND succeeded = 0", (addr, since)).fetchone()[0]
    by_user = conn.execute("SELECT COUNT(*) FROM login_attempts WHERE username = ? AND created_at > ?"
                           " AND succeeded = 0", (username, since)).fetchone()[0]
    return int(by_addr), int(by_user)


def claim_sign_in(conn: Connection, addr: str, username: str, since: str, addr_limit: int,
                  user_limit: int) -> int | None:
    """Count the failed sign-ins and, when under both limits, record this attempt as failed, in
    one write transaction: forty guesses at once are counted one after another, never all
    against the same count. Returns the attempt's id (sign_in_succeeded clears it), or None
    when a limit is reached."""
    with transaction(conn):
        by_addr, by_user = failed_sign_ins(conn, addr, username, since)
        if by_addr >= addr_limit or by_user >= user_limit:
            return None
        return int(conn.execute("INSERT INTO login_attempts (remote_addr, username, succeeded, created_at)"
                                " VALUES (?, ?, 0, ?) RETURNING id", (addr, username, iso())).fetchone()[0])


def sign_in_succeeded(conn: Connection, attempt_id: int) -> None:
    with transaction(conn):
        conn.execute("UPDATE login_attempts SET succeeded = 1 WHERE id = ?", (attempt_id,))


def session_key(conn: Connection) -> str:
    """The session signing key, made once and kept so that sign-ins survive restarts."""
    with transaction(conn):
        row = conn.execute("SELECT value FROM web_settings WHERE key = 'secret_key'").fetchone()
        if row is None:
            value = secrets.token_hex(32)
            conn.execute("INSERT INTO web_settings (key, value, updated_at) VALUES ('secret_key', ?, ?)",
                         (value, iso()))
            return value
        return row[0]
