"""What the views of one request share: its database connection (opened on first use, closed
at teardown) and the library folder from the env file."""
from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from flask import abort, current_app, g, has_request_context, request
from werkzeug.routing import IntegerConverter

from catalogsync_ops.config.envfile import load_config
from catalogsync_ops.errors import CatalogsyncError
from catalogsync_ops.store.connection import ID_MAX, connect, end_read_snapshot, read_snapshot

_settings_cache: dict[str, tuple[tuple[int, int], dict | None]] = {}


def env_settings() -> dict | None:
    """The env file's settings, re-read only when the file changes (None: no file, or invalid —
    the config page says why). Pages read a few of them on every view."""
    env_path = current_app.config.get("ENV_PATH")
    if not env_path:
        return None
    try:
        stat = Path(env_path).stat()
    except OSError:
        return None
    key = (stat.st_mtime_ns, stat.st_size)
    cached = _settings_cache.get(str(env_path))
    if cached is None or cached[0] != key:
        try:
            values = load_config(env_path).values
        except CatalogsyncError:
            values = None
        cached = _settings_cache[str(env_path)] = (key, values)
    return cached[1]


def library_dir() -> Path | None:
    """LIBRARY_DIR from the env file (pages show its disk)."""
    settings = env_settings()
    return Path(settings["LIBRARY_DIR"]) if settings else None


# What the console may write: command rows (everything else the runner does) and its own
# accounts (users, sign-in attempts, API tokens, the session key and setup tokens).
WEB_WRITABLE = frozenset({"job_commands", "web_users", "login_attempts", "api_tokens", "web_settings"})
_WRITES = {sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE}
_SCHEMA_CHANGES = {sqlite3.SQLITE_CREATE_TABLE, sqlite3.SQLITE_DROP_TABLE, sqlite3.SQLITE_ALTER_TABLE,
                   sqlite3.SQLITE_CREATE_INDEX, sqlite3.SQLITE_DROP_INDEX, sqlite3.SQLITE_CREATE_TRIGGER,
                   sqlite3.SQLITE_DROP_TRIGGER, sqlite3.SQLITE_CREATE_VIEW, sqlite3.SQLITE_DROP_VIEW,
                   sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH}


def web_authorizer(action: int, arg1, arg2, database, trigger) -> int:
    """SQLite asks this before every statement of the console's connections: a write to any
    table but commands and the console's own accounts, or a change of the schema, is refused
    (`not authorized`), whatever the code above it does. The runner's connections have none."""
    if action in _WRITES and arg1 not in WEB_WRITABLE:
        return sqlite3.SQLITE_DENY
    if action in _SCHEMA_CHANGES:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


# A console connection's page cache, in KiB (SQLite's default is 2 MiB). Every commit of the
# runner empties it at the next page anyway, and each server thread keeps a connection: eight
# of the default size were 14 MB of the console's memory. The OS's file cache is behind it.
WEB_CACHE_KIB = 256


def web_connection(db_path, *, kept: bool = False):
    """A connection of the console: where the file lives was checked at start; writes limited.
    A kept one is used by its server thread only, and closed by the thread that stops the server."""
    conn = connect(db_path, check_filesystem=False, same_thread_only=not kept, cache_kib=WEB_CACHE_KIB)
    conn.set_authorizer(web_authorizer)
    return conn


class ThreadConnections:
    """Connections kept per server thread between requests (`REUSE_CONNECTIONS_S` > 0, set by
    `catalogsync-web serve`): opening one reads the whole schema, about half a millisecond a page.

    What keeps this safe on a box that runs for months: a request's statements are all reset
    when it ends (pages render to a string; no cursor outlives its view), a transaction left
    open is rolled back at teardown, and each connection is closed and opened anew after
    `max_age_s` anyway, so no read snapshot can hold the WAL from being checkpointed for longer.
    """

    def __init__(self, max_age_s: float) -> None:
        self.max_age_s = max_age_s
        self.local = threading.local()
        self.lock = threading.Lock()
        self.every: set = set()

    def get(self, db_path) -> object:
        held = getattr(self.local, "conn", None)
        if held is not None and time.monotonic() - self.local.opened > self.max_age_s:
            self._drop(held)
            held = None
        if held is None:
            held = web_connection(db_path, kept=True)
            self.local.conn, self.local.opened = held, time.monotonic()
            with self.lock:
                self.every.add(held)
        return held

    def release(self, conn) -> None:
        end_read_snapshot(conn)
        if conn.in_transaction:
            conn.rollback()

    def _drop(self, conn) -> None:
        self.local.conn = None
        with self.lock:
            self.every.discard(conn)
        conn.close()

    def close_all(self) -> None:
        """At shutdown: close every thread's connection (from the thread that stops the server)."""
        with self.lock:
            held, self.every = self.every, set()
        for conn in held:
            conn.close()


def get_db():
    """This request's read/write connection (readers never hold long transactions). Where the
    file lives was checked when the console started (create_app opens it): not per request."""
    if "db" not in g:
        pool = current_app.extensions.get("catalogsync_connections")
        g.db = pool.get(current_app.config["DB_PATH"]) if pool else web_connection(current_app.config["DB_PATH"])
        if has_request_context() and request.method in ("GET", "HEAD"):
            read_snapshot(g.db)  # a page reads one moment, and pays for the runner's commits once
    return g.db


def close_db(exc: BaseException | None) -> None:
    """End this request's use of its connection: closed, or kept for the thread's next request."""
    conn = g.pop("db", None)
    if conn is None:
        return
    pool = current_app.extensions.get("catalogsync_connections")
    if pool is None:
        conn.close()
        return
    try:
        pool.release(conn)
    except Exception:
        pool._drop(conn)


class IdConverter(IntegerConverter):
    """`<int:…>` in routes: 0 … 2^63-1, so a larger number is a 404, never an overflow."""

    def __init__(self, map, *args, **kwargs) -> None:  # noqa: A002 -- werkzeug's name
        kwargs.setdefault("max", ID_MAX)
        super().__init__(map, *args, **kwargs)


def arg_int(name: str, default: int | None = None, *, minimum: int = 0, maximum: int = ID_MAX,
            clamp: bool = False) -> int | None:
    """A whole-number query argument; 400 saying why when it is not one, or out of range
    (`clamp`: brought into range instead, for limits)."""
    raw = request.args.get(name)
    if raw is None or (raw == "" and not request.path.startswith("/api/")):
        return default  # an empty form field on a page; the API takes numbers only
    text = raw.strip()
    if not (text.lstrip("-").isdigit() and text.isascii() and (clamp or len(text) <= 20)):
        abort(400, description=f"{name!r} must be a whole number, got {raw[:40]!r}")
    if len(text) > 20:  # only when clamping: beyond any range, so its end of the range
        value = -ID_MAX if text.startswith("-") else ID_MAX
    else:
        value = int(text)
    if clamp:
        return max(minimum, min(maximum, value))
    if not minimum <= value <= maximum:
        abort(400, description=f"{name!r} must be between {minimum} and {maximum}, got {text[:40]}")
    return value


def safe_target(target: object, default: str) -> str:
    """`target` if it is a path on this site, else `default`: the one check of every redirect
    a request names (`next`, `back`). Browsers drop tabs and newlines and read `\\` as `/`, so
    "/\t/evil.example" would leave the site: any control character or backslash is refused."""
    if not isinstance(target, str) or not target.startswith("/") or len(target) > 2000:
        return default
    if any(ord(c) < 32 or ord(c) == 127 for c in target) or "\\" in target or target.startswith("//"):
        return default
    try:
        parts = urlsplit(target)
    except ValueError:
        return default
    return target if not parts.scheme and not parts.netloc else default
