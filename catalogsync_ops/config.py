"""`catalogsync.env`: the declared schema of settings, parsing with python-dotenv, validation.

The `SETTINGS` table is the one place every tunable lives: its type, default, allowed values,
whether it is a secret, and one line of help. It drives parsing, validation, the masked view,
the job snapshot, `deploy/catalogsync.env.example` and the README's config table
(`python -m catalogsync_ops.config --write-docs` regenerates both; a test keeps them in step).
"""
from __future__ import annotations

import io
import ipaddress
import os
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlparse

from dotenv.main import resolve_variables
from dotenv.parser import Binding, parse_stream

from catalogsync_ops.errors import ConfigError

MASK = "********"

# Source names accepted in DOWNLOAD_SOURCES. `demo`/`demo2` are the bundled demo platforms,
# `m3u` plays standard playlist files, the rest come through the optional `musicdl` extra.
KNOWN_SOURCES = (
    "demo", "demo2", "m3u",
    "qq", "netease", "kuwo", "migu", "kugou", "qianqian", "joox", "fivesing", "lizhi", "ximalaya",
)
LAYOUT_FIELDS = ("artist", "album", "title", "ext", "track", "platform", "playlist", "song_id")
NOTIFY_KINDS = ("job_finished", "job_failed", "runner_recovered", "disk_low")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Setting:
    """One key of catalogsync.env."""

    key: str
    kind: str  # str | int | float | bool | path | dir | choice | sources | layout | url | host | events
    default: str
    help: str
    group: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting("DB_PATH", "path", "catalogsync.db", "SQLite database shared by runnerd and the web UI; must be on a local disk.", "paths"),
    Setting("LIBRARY_DIR", "dir", "library", "Folder the downloaded, tagged songs are written to.", "paths"),
    Setting("INPUT_DIR", "dir", "input", "Folder of playlist pools: every *.txt file lists playlist URLs, one per line.", "paths"),
    Setting("LOG_DIR", "dir", "logs", "Folder for log files written beside the journal.", "paths"),
    Setting("DOWNLOAD_SOURCES", "sources", "demo", "Comma-separated sources tried in order when a song is downloaded.", "download"),
    Setting("DOWNLOAD_LAYOUT", "layout", "{artist}/{album}/{title}.{ext}", "Path of each song inside LIBRARY_DIR; fields: " + ", ".join("{%s}" % f for f in LAYOUT_FIELDS) + ".", "download"),
    Setting("DEMO_BASE_URL", "url", "http://127.0.0.1:8765", "Address of the demo platform (runnerd demo-server) used by the demo and demo2 sources.", "download"),
    Setting("MIN_FREE_DISK_MB", "int", "1024", "Downloads fail as disk_full instead of writing when the library disk has less free space (MiB).", "download", minimum=0),
    Setting("HTTP_TIMEOUT_SECONDS", "float", "30", "Seconds a source or download may stay silent before the attempt fails as timeout.", "download", minimum=1, maximum=600),
    Setting("OBJECT_BACKEND_NAME", "choice", "local", "Where files are uploaded: s3 (S3-compatible storage), local (a mirror folder) or none.", "upload", choices=("s3", "local", "none")),
    Setting("MIRROR_DIR", "dir", "mirror", "Mirror folder used when OBJECT_BACKEND_NAME=local (a second volume or a mounted share).", "upload"),
    Setting("OBJECT_BUCKET", "str", "", "Bucket name for OBJECT_BACKEND_NAME=s3.", "upload"),
    Setting("OBJECT_ENDPOINT", "url", "", "S3 endpoint URL (MinIO, Synology C2, R2, …); empty means AWS.", "upload"),
    Setting("OBJECT_REGION", "str", "us-east-1", "S3 region name.", "upload"),
    Setting("OBJECT_ACCESS_KEY_ID", "str", "", "S3 access key id.", "upload"),
    Setting("OBJECT_SECRET_ACCESS_KEY", "str", "", "S3 secret access key (masked in the UI).", "upload", secret=True),
    Setting("OBJECT_PREFIX", "str", "", "Key prefix inside the bucket or mirror, e.g. music/.", "upload"),
    Setting("OBJECT_CHECKSUM_MODE", "choice", "when_required", "S3 request checksums: when_required suits most S3-compatible servers; when_supported for AWS.", "upload", choices=("when_required", "when_supported")),
    Setting("COLLECT_WORKERS", "int", "1", "Worker threads for the collect stage.", "workers", minimum=1, maximum=16),
    Setting("SYNC_WORKERS", "int", "2", "Worker threads for the sync stage.", "workers", minimum=1, maximum=16),
    Setting("DOWNLOAD_WORKERS", "int", "3", "Worker threads for the download stage.", "workers", minimum=1, maximum=32),
    Setting("UPLOAD_WORKERS", "int", "2", "Worker threads for the upload stage.", "workers", minimum=1, maximum=32),
    Setting("MAX_ATTEMPTS", "int", "3", "Attempts per item before it is marked failed (a person can always retry).", "retries", minimum=1, maximum=50),
    Setting("RETRY_BACKOFF_SECONDS", "float", "30", "Wait before the first automatic retry; doubles each attempt, with jitter.", "retries", minimum=0, maximum=86400),
    Setting("RETRY_BACKOFF_MAX_SECONDS", "float", "3600", "Longest wait between automatic retries.", "retries", minimum=0, maximum=604800),
    Setting("AUTO_RESUME_AFTER_RECOVERY", "bool", "false", "After a crash or power cut, resume interrupted jobs at once instead of leaving them paused.", "runner"),
    Setting("SHUTDOWN_GRACE_SECONDS", "int", "30", "On SIGTERM, seconds in-flight items may finish before they are interrupted.", "runner", minimum=0, maximum=3600),
    Setting("LOG_RETENTION_DAYS", "int", "30", "Log rows older than this are deleted (days).", "runner", minimum=1, maximum=3650),
    Setting("LOG_RETENTION_ROWS", "int", "1000000", "At most this many log rows are kept.", "runner", minimum=1000),
    Setting("WEB_HOST", "host", "127.0.0.1", "Address the web UI listens on; 0.0.0.0 to reach it from the LAN (login is always required).", "web"),
    Setting("WEB_PORT", "int", "8421", "Port of the web UI.", "web", minimum=1, maximum=65535),
    Setting("NOTIFY_WEBHOOK_URL", "url", "", "Webhook for notifications (empty: none). With NOTIFY_FORMAT: a JSON endpoint, an ntfy topic URL, a Bark URL, https://api.telegram.org/bot<token>/sendMessage or a ServerChan https://sctapi.ftqq.com/<key>.send URL.", "notify", secret=True),
    Setting("NOTIFY_FORMAT", "choice", "json", "Body the webhook gets: json (generic), ntfy, bark, telegram or serverchan.", "notify", choices=("json", "ntfy", "bark", "telegram", "serverchan")),
    Setting("NOTIFY_TELEGRAM_CHAT_ID", "str", "", "Chat id the Telegram bot writes to (NOTIFY_FORMAT=telegram).", "notify"),
    Setting("NOTIFY_EVENTS", "events", ",".join(NOTIFY_KINDS), "Comma-separated events to send: " + ", ".join(NOTIFY_KINDS) + ".", "notify"),
    Setting("NOTIFY_DISK_FREE_MB", "int", "2048", "Send disk_low when the library disk has less free space than this (MiB).", "notify", minimum=0),
    Setting("NOTIFY_RETRY_SECONDS", "float", "30", "Wait before retrying a failed delivery; doubles each time, up to an hour, 8 tries.", "notify", minimum=0.1, maximum=3600),
)

SETTINGS_BY_KEY = {s.key: s for s in SETTINGS}
SECRET_KEYS = frozenset(s.key for s in SETTINGS if s.secret)


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth a look) in an env file, with its line."""

    line: int | None
    key: str | None
    message: str
    severity: str = "error"  # error | warning

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where}: {self.message}"


@dataclass
class ParsedEnv:
    """What python-dotenv read, with the line of each binding and what is wrong with it."""

    text: str
    values: dict[str, str | None]
    lines: dict[str, int]
    bindings: list[tuple[Binding, int]]
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class Config:
    """A validated configuration: typed values for every declared key, plus unknown keys."""

    values: dict[str, Any]
    unknown: dict[str, str | None]
    warnings: tuple[Problem, ...]
    env_path: Path | None = None

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def snapshot(self) -> dict[str, Any]:
        """The job snapshot: every declared value, secrets masked, JSON-ready."""
        out: dict[str, Any] = {}
        for setting in SETTINGS:
            value = self.values[setting.key]
            if setting.secret and value:
                value = MASK
            out[setting.key] = str(value) if isinstance(value, Path) else value
        return out


def decode_env_bytes(data: bytes) -> str:
    """Decode an env file as python-dotenv does (UTF-8), dropping a leading BOM."""
    return data.decode("utf-8-sig")


def parse_env_text(text: str) -> ParsedEnv:
    """Parse env text the way python-dotenv does, keeping line numbers and problems."""
    text = text.lstrip("\ufeff")
    bindings: list[tuple[Binding, int]] = []
    problems: list[Problem] = []
    raw: list[tuple[str, str | None]] = []
    lines: dict[str, int] = {}
    line_no = 1
    for binding in parse_stream(io.StringIO(text)):
        chunk = binding.original.string
        # python-dotenv folds leading blank lines into the next binding; point at the key.
        body = chunk.lstrip()
        start = line_no + chunk[: len(chunk) - len(body)].count("\n") if body else line_no
        bindings.append((binding, start))
        if binding.error:
            shown = chunk.strip()
            problems.append(Problem(start, None, f"cannot read {shown[:80]!r}: expected KEY=value "
                                    "(quote values that contain spaces or #)"))
        elif binding.key is not None:
            if binding.key in lines:
                problems.append(Problem(start, binding.key, f"{binding.key} is also set on line "
                                        f"{lines[binding.key]}; this later line wins", "warning"))
            lines[binding.key] = start
            raw.append((binding.key, binding.value))
        line_no += chunk.count("\n")
    values = dict(resolve_variables(raw, override=True))
    return ParsedEnv(text=text, values=values, lines=lines, bindings=bindings, problems=problems)


def _convert(setting: Setting, raw: str, base_dir: Path) -> Any:
    """Turn one raw string into the setting's type; raise ValueError saying what is allowed."""
    kind, value = setting.kind, raw.strip()
    if kind in ("str",):
        return value
    if kind == "int" or kind == "float":
        try:
            number = int(value) if kind == "int" else float(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a {'whole ' if kind == 'int' else ''}number") from None
        if setting.minimum is not None and number < setting.minimum:
            raise ValueError(f"{value} is below the minimum {setting.minimum:g}")
        if setting.maximum is not None and number > setting.maximum:
            raise ValueError(f"{value} is above the maximum {setting.maximum:g}")
        return number
    if kind == "bool":
        if value.lower() in TRUE_WORDS:
            return True
        if value.lower() in FALSE_WORDS:
            return False
        raise ValueError(f"{value!r} is not true or false (use one of {', '.join(TRUE_WORDS + FALSE_WORDS)})")
    if kind == "choice":
        if value not in setting.choices:
            raise ValueError(f"{value!r} is not allowed; choose one of: {', '.join(setting.choices)}")
        return value
    if kind in ("path", "dir"):
        if not value:
            raise ValueError("a path is required")
        if "\x00" in value:
            raise ValueError("the path contains a NUL character")
        path = Path(os.path.expanduser(value))
        path = path if path.is_absolute() else (base_dir / path)
        path = Path(os.path.normpath(path))
        if kind == "dir" and path.exists() and not path.is_dir():
            raise ValueError(f"{str(path)!r} exists and is not a folder")
        return path
    if kind == "sources":
        names = [part.strip() for part in value.split(",") if part.strip()]
        if not names:
            raise ValueError(f"name at least one source (known: {', '.join(KNOWN_SOURCES)})")
        unknown = [n for n in names if n not in KNOWN_SOURCES]
        if unknown:
            raise ValueError(f"unknown source {unknown[0]!r}; known sources: {', '.join(KNOWN_SOURCES)}")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"source {duplicates[0]!r} is listed twice")
        return tuple(names)
    if kind == "layout":
        try:
            fields = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a valid template ({exc})") from None
        bad = [f for f in fields if f not in LAYOUT_FIELDS]
        if bad:
            raise ValueError(f"unknown field {{{bad[0]}}}; allowed: " + ", ".join("{%s}" % f for f in LAYOUT_FIELDS))
        if not value.endswith(".{ext}"):
            raise ValueError("the layout must end with .{ext} so files keep their format's extension")
        if value.startswith("/") or ".." in Path(value).parts:
            raise ValueError("the layout must stay inside LIBRARY_DIR (no leading / and no ..)")
        return value
    if kind == "url":
        if not value:
            return ""
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"{value!r} is not an http(s) URL, e.g. https://s3.example.com")
        return value
    if kind == "events":
        names = [part.strip() for part in value.split(",") if part.strip()]
        unknown = [n for n in names if n not in NOTIFY_KINDS]
        if unknown:
            raise ValueError(f"unknown event {unknown[0]!r}; choose from: {', '.join(NOTIFY_KINDS)}")
        return tuple(names)
    if kind == "host":
        try:
            ipaddress.ip_address(value)
            return value
        except ValueError:
            if re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", value):
                return value
            raise ValueError(f"{value!r} is not an IP address or host name (e.g. 127.0.0.1 or 0.0.0.0)") from None
    raise AssertionError(f"unhandled setting kind {kind!r}")


def validate(parsed: ParsedEnv, base_dir: Path) -> tuple[Config | None, list[Problem]]:
    """Check every key against the schema; returns the config (None if any error) and problems."""
    problems = list(parsed.problems)
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = parsed.values.get(setting.key)
        line = parsed.lines.get(setting.key)
        if raw is None:
            if setting.key in parsed.values:
                problems.append(Problem(line, setting.key, f"{setting.key} has no '=' and no value; "
                                        f"write {setting.key}={setting.default}"))
            raw = setting.default
        try:
            values[setting.key] = _convert(setting, raw, base_dir)
        except ValueError as exc:
            problems.append(Problem(line, setting.key, f"{setting.key}: {exc}"))
    unknown = {k: v for k, v in parsed.values.items() if k not in SETTINGS_BY_KEY}
    for key in unknown:
        close = [s.key for s in SETTINGS if s.key.split("_")[0] == key.split("_")[0]][:3]
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        problems.append(Problem(parsed.lines.get(key), key, f"{key} is not a known setting; it is kept but "
                                f"not used{hint}", "warning"))
    if not problems_with(problems, "error"):
        problems.extend(_cross_checks(values, parsed))
    errors = problems_with(problems, "error")
    if errors:
        return None, problems
    return Config(values=values, unknown=unknown, warnings=tuple(problems)), problems


def _cross_checks(values: dict[str, Any], parsed: ParsedEnv) -> list[Problem]:
    out = []
    if values["OBJECT_BACKEND_NAME"] == "s3" and not values["OBJECT_BUCKET"]:
        out.append(Problem(parsed.lines.get("OBJECT_BACKEND_NAME"), "OBJECT_BUCKET",
                           "OBJECT_BUCKET is required when OBJECT_BACKEND_NAME=s3"))
    if values["NOTIFY_FORMAT"] == "telegram" and values["NOTIFY_WEBHOOK_URL"] and not values["NOTIFY_TELEGRAM_CHAT_ID"]:
        out.append(Problem(parsed.lines.get("NOTIFY_FORMAT"), "NOTIFY_TELEGRAM_CHAT_ID",
                           "NOTIFY_TELEGRAM_CHAT_ID is required when NOTIFY_FORMAT=telegram (the chat the bot writes to)"))
    if values["RETRY_BACKOFF_MAX_SECONDS"] < values["RETRY_BACKOFF_SECONDS"]:
        out.append(Problem(parsed.lines.get("RETRY_BACKOFF_MAX_SECONDS"), "RETRY_BACKOFF_MAX_SECONDS",
                           "RETRY_BACKOFF_MAX_SECONDS must be at least RETRY_BACKOFF_SECONDS"))
    return out


def problems_with(problems: Iterable[Problem], severity: str) -> list[Problem]:
    """The problems of one severity."""
    return [p for p in problems if p.severity == severity]


def check_text(text: str, base_dir: Path) -> tuple[Config | None, list[Problem]]:
    """Parse and validate env text; the config is None when any problem is an error."""
    return validate(parse_env_text(text), base_dir)


def load_config(env_path: str | os.PathLike[str]) -> Config:
    """Read and validate an env file; raise ConfigError listing every error with its line."""
    env_path = Path(env_path)
    try:
        text = decode_env_bytes(env_path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"No config file at {str(env_path)!r}. Create one with `runnerd init --home DIR`, "
                          "or point --env-file / CATALOGSYNC_ENV_FILE at it.") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{str(env_path)!r} is not UTF-8 text ({exc}); save it as UTF-8.") from None
    config, problems = check_text(text, env_path.resolve().parent)
    if config is None:
        errors = problems_with(problems, "error")
        raise ConfigError(f"{env_path} has {len(errors)} error(s):\n" + "\n".join(f"  {p}" for p in errors), errors)
    return Config(values=config.values, unknown=config.unknown, warnings=config.warnings, env_path=env_path)


# ------------------------------------------------------------------ masking


def _quote(value: str) -> str:
    if value == "" or re.fullmatch(r"[A-Za-z0-9_./:@+,=-]+", value):
        return value
    if "'" not in value and "\n" not in value:
        return f"'{value}'"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _rewrite(text: str, replace: dict[int, str]) -> str:
    """Rebuild `text` with the bindings at the given indexes replaced by new `KEY=value` lines."""
    parsed = parse_env_text(text)
    out = []
    for index, (binding, _) in enumerate(parsed.bindings):
        chunk = binding.original.string
        if index in replace:
            body = chunk.lstrip("\r\n")
            lead = chunk[: len(chunk) - len(body)]
            ending = "\r\n" if body.endswith("\r\n") else ("\n" if body.endswith("\n") else "")
            export = "export " if body.lstrip().startswith("export ") else ""
            chunk = f"{lead}{export}{binding.key}={replace[index]}{ending}"
        out.append(chunk)
    return "".join(out)


def mask_text(text: str) -> str:
    """The env text with every secret value replaced by the mask, for display and diffs."""
    parsed = parse_env_text(text)
    replace = {i: MASK for i, (b, _) in enumerate(parsed.bindings)
               if b.key in SECRET_KEYS and b.value}
    return _rewrite(parsed.text, replace) if replace else parsed.text


def mask_values(values: dict[str, Any]) -> dict[str, Any]:
    """A copy of a key→value mapping with secret values masked."""
    return {k: (MASK if k in SECRET_KEYS and v else v) for k, v in values.items()}


def unmask_text(new_text: str, current_text: str) -> str:
    """Put the saved secret back wherever the submitted text still carries the mask."""
    current = parse_env_text(current_text).values
    parsed = parse_env_text(new_text)
    replace = {}
    for index, (binding, line) in enumerate(parsed.bindings):
        if binding.key in SECRET_KEYS and binding.value == MASK:
            saved = current.get(binding.key)
            if not saved:
                raise ConfigError(f"line {line}: {binding.key} was submitted masked but has no saved value; "
                                  "type the value itself",
                                  [Problem(line, binding.key, "masked value with nothing saved")])
            replace[index] = _quote(saved)
    return _rewrite(parsed.text, replace) if replace else new_text


def set_values(text: str, changes: dict[str, str]) -> str:
    """The env text with some keys set to new raw values: their last line rewritten in place,
    new keys appended. Comments, order and other lines stay as they are."""
    parsed = parse_env_text(text)
    last: dict[str, int] = {}
    for index, (binding, _) in enumerate(parsed.bindings):
        if binding.key in changes:
            last[binding.key] = index
    out = _rewrite(parsed.text, {index: _quote(changes[key]) for key, index in last.items()}) if last else parsed.text
    missing = [key for key in changes if key not in last]
    if missing:
        if out and not out.endswith("\n"):
            out += "\n"
        out += "".join(f"{key}={_quote(changes[key])}\n" for key in missing)
    return out


# ------------------------------------------------------------------ generated docs


def render_env_example() -> str:
    """The content of deploy/catalogsync.env.example, generated from SETTINGS."""
    out = ["# catalogsync.env — settings of runnerd and the web UI.",
           "# Relative paths are resolved against the folder of this file.",
           "# Generated from catalogsync_ops/config.py (python -m catalogsync_ops.config --write-docs).", ""]
    group = None
    for setting in SETTINGS:
        if setting.group != group:
            group = setting.group
            out += [f"# --- {group}", ""] if not out[-1] == "" else [f"# --- {group}"]
        allowed = f" Allowed: {', '.join(setting.choices)}." if setting.choices else ""
        out.append(f"# {setting.help}{allowed}")
        out.append(f"{setting.key}={_quote(setting.default)}")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def render_config_table() -> str:
    """The README's Markdown table of settings, generated from SETTINGS."""
    rows = ["| Key | Default | Meaning |", "|---|---|---|"]
    for setting in SETTINGS:
        default = f"`{setting.default}`" if setting.default else "(empty)"
        allowed = f" One of: {', '.join(f'`{c}`' for c in setting.choices)}." if setting.choices else ""
        secret = " Secret: masked everywhere in the UI." if setting.secret else ""
        rows.append(f"| `{setting.key}` | {default} | {setting.help.replace('|', '/')}{allowed}{secret} |")
    return "\n".join(rows) + "\n"


def render_config_reference() -> str:
    """docs/config.md: every setting by group, with its type, limits and default."""
    out = ["# Configuration reference", "",
           "Generated from `catalogsync_ops/config.py` (`python tools/gen_docs.py`); a test keeps it current.",
           "", "Settings live in `catalogsync.env` (python-dotenv syntax: `KEY=value`, `#` comments, quotes",
           "for values with spaces). Relative paths resolve against the file's folder. Edit them in the",
           "console's Config page (validated, diffed, applied by the runner, revisioned) or in the file",
           "(the runner notices within seconds and records a revision; an invalid edit is recorded and",
           "the last valid config stays in force). `runnerd config check` validates a file.", ""]
    group = None
    for setting in SETTINGS:
        if setting.group != group:
            group = setting.group
            out += [f"## {group}", ""]
        kind = {"path": "path", "dir": "folder", "choice": "one of " + ", ".join(f"`{c}`" for c in setting.choices),
                "sources": "comma-separated sources (" + ", ".join(f"`{k}`" for k in KNOWN_SOURCES) + ")",
                "layout": "path template", "url": "http(s) URL", "host": "IP address or host name",
                "events": "comma-separated events (" + ", ".join(f"`{k}`" for k in NOTIFY_KINDS) + ")",
                "int": "whole number", "float": "number", "bool": "true or false", "str": "text"}[setting.kind]
        limits = []
        if setting.minimum is not None:
            limits.append(f"at least {setting.minimum:g}")
        if setting.maximum is not None:
            limits.append(f"at most {setting.maximum:g}")
        out.append(f"### `{setting.key}`")
        out.append("")
        out.append(setting.help)
        out.append("")
        out.append(f"- Type: {kind}" + (f" ({', '.join(limits)})" if limits else ""))
        out.append(f"- Default: `{setting.default}`" if setting.default else "- Default: (empty)")
        if setting.secret:
            out.append("- Secret: masked in the console, the API, diffs, job snapshots and logs.")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


TABLE_START, TABLE_END = "<!-- config-table:start -->", "<!-- config-table:end -->"


def write_docs(root: Path) -> None:
    """Regenerate the env example, docs/config.md and the README's config table from SETTINGS."""
    (root / "deploy" / "catalogsync.env.example").write_text(render_env_example(), encoding="utf-8")
    (root / "docs" / "config.md").write_text(render_config_reference(), encoding="utf-8")
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    head, _, rest = text.partition(TABLE_START)
    _, _, tail = rest.partition(TABLE_END)
    readme.write_text(f"{head}{TABLE_START}\n{render_config_table()}{TABLE_END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--write-docs"]:
        write_docs(Path(__file__).resolve().parent.parent)
    else:
        sys.stdout.write(render_env_example())
