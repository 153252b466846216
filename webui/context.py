"""What the views of one request share: its database connection (opened on first use, closed
at teardown) and the library folder from the env file."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from flask import abort, current_app, g, request
from werkzeug.routing import IntegerConverter

from catalogsync_ops.config.envfile import load_config
from catalogsync_ops.errors import CatalogsyncError
from catalogsync_ops.store.connection import connect

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


def get_db():
    """This request's read/write connection (readers never hold long transactions)."""
    if "db" not in g:
        g.db = connect(current_app.config["DB_PATH"])
    return g.db


def close_db(exc: BaseException | None) -> None:
    """Close this request's connection, if it opened one."""
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()


ID_MAX = 2**63 - 1  # SQLite's INTEGER range: ids and cursors beyond it cannot exist


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
