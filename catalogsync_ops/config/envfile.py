"""`catalogsync.env` as text: parsing with python-dotenv, validation against the settings,
masking secrets for display, and rewriting single keys in place."""
from __future__ import annotations

import difflib
import io
import ipaddress
import os
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dotenv.parser import Binding, parse_stream

from catalogsync_ops.config.references import SECRET_WORDS, resolve
from catalogsync_ops.config.settings import (
    FALSE_WORDS,
    KNOWN_SOURCES,
    LAYOUT_FIELDS,
    MASK,
    NOTIFY_KINDS,
    RETIRED_SOURCES,
    SECRET_KEYS,
    SETTINGS,
    SETTINGS_BY_KEY,
    TRUE_WORDS,
    Setting,
)
from catalogsync_ops.errors import ConfigError
from catalogsync_ops.quality import RUNGS


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
    # The values that held a reference, as written: a message about a value names these, never
    # what a reference produced.
    written: dict[str, str] = field(default_factory=dict)


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


# Far above any real catalogsync.env (a few KiB, ~60 keys); beyond them a file is refused
# unparsed, so no file can keep the runner busy (python-dotenv's own expansion is quadratic).
MAX_ENV_BYTES = 256 * 1024
MAX_ENV_KEYS = 2000


def decode_env_bytes(data: bytes) -> str:
    """Decode an env file as python-dotenv does (UTF-8), dropping a leading BOM; bytes that are
    not UTF-8 become U+FFFD, which parsing reports."""
    return data.decode("utf-8-sig", errors="replace")


def read_env_file(env_path: str | os.PathLike[str]) -> str:
    """An env file's text, at most MAX_ENV_BYTES + 1 bytes of it (parsing refuses more)."""
    with open(env_path, "rb") as handle:
        return decode_env_bytes(handle.read(MAX_ENV_BYTES + 1))


_LEADING_NAME = re.compile(r"^(\s*(?:export\s+)?)([A-Za-z_][A-Za-z0-9_.]*)")


def _masked_line(line: str) -> str:
    """A line python-dotenv could not read, with what follows a secret's name hidden
    (`OBJECT_SECRET_ACCESS_KEY: value`, a colon typed for '=', still holds the secret)."""
    match = _LEADING_NAME.match(line)
    if match and (match.group(2) in SECRET_KEYS or SECRET_WORDS.search(match.group(2))):
        rest = line[match.end():]
        separator = re.match(r"\s*[:=]?\s*", rest).group(0)
        ending = line[len(line.rstrip("\r\n")):]
        return f"{match.group(0)}{separator}{MASK}{ending}" if rest.strip() else line
    return line


def parse_env_text(text: str) -> ParsedEnv:
    """Parse env text the way python-dotenv does, keeping line numbers and problems."""
    text = text.lstrip("\ufeff")
    bindings: list[tuple[Binding, int]] = []
    problems: list[Problem] = []
    if len(text.encode("utf-8", "replace")) > MAX_ENV_BYTES:
        problems.append(Problem(None, None, f"the file is larger than {MAX_ENV_BYTES // 1024} KiB, and a "
                                "catalogsync.env is a few KiB: is this the right file? It was not read"))
        return ParsedEnv(text=text, values={}, lines={}, bindings=[], problems=problems)
    if "\ufffd" in text:
        line = text[:text.index("\ufffd")].count("\n") + 1
        problems.append(Problem(line, None, "this line is not UTF-8 text; save the file as UTF-8"))
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
            shown = _masked_line(chunk.strip())
            problems.append(Problem(start, None, f"cannot read {shown[:80]!r}: expected KEY=value "
                                    "(quote values that contain spaces or #)"))
        elif binding.key is not None:
            if binding.key in lines:
                problems.append(Problem(start, binding.key, f"{binding.key} is also set on line "
                                        f"{lines[binding.key]}; this later line wins", "warning"))
            lines[binding.key] = start
            raw.append((binding.key, binding.value))
        line_no += chunk.count("\n")
    if len(lines) > MAX_ENV_KEYS:
        problems.append(Problem(None, None, f"the file sets {len(lines)} keys, and a catalogsync.env sets about 60 "
                                f"(limit {MAX_ENV_KEYS}): is this the right file? It was not read"))
        return ParsedEnv(text=text, values={}, lines={}, bindings=[], problems=problems)
    values, refused = resolve(raw)
    for key, names in refused.items():
        shown = ", ".join(f"${{{n}}}" for n in names)
        problems.append(Problem(lines.get(key), key, f"{key} refers to a secret ({shown}); "
                                "a secret is not copied into another setting, so the reference stays as written",
                                "warning"))
    written = {key: value for key, value in raw if value and "${" in value}
    return ParsedEnv(text=text, values=values, lines=lines, bindings=bindings, problems=problems, written=written)


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
    if kind == "optdir":
        if not value.strip():
            return None  # the default place, which depends on another setting
        kind = "dir"
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
        retired = [n for n in names if n in RETIRED_SOURCES]
        if retired:
            raise ValueError(f"{retired[0]!r} is no longer offered ({RETIRED_SOURCES[retired[0]]}); remove it")
        unknown = [n for n in names if n not in KNOWN_SOURCES]
        if unknown:
            raise ValueError(f"unknown source {unknown[0]!r}; known sources: {', '.join(KNOWN_SOURCES)}")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"source {duplicates[0]!r} is listed twice")
        return tuple(names)
    if kind == "ladder":
        rungs = [part.strip() for part in value.split(",") if part.strip()]
        if not rungs:
            raise ValueError(f"name at least one rung, best first (from: {', '.join(RUNGS)})")
        unknown = [r for r in rungs if r not in RUNGS]
        if unknown:
            raise ValueError(f"unknown rung {unknown[0]!r}; the rungs, best first: {', '.join(RUNGS)}")
        if len(set(rungs)) != len(rungs):
            raise ValueError(f"rung {next(r for r in rungs if rungs.count(r) > 1)!r} is listed twice")
        if rungs != sorted(rungs, key=RUNGS.index):
            raise ValueError(f"list the rungs best first, e.g. {','.join(sorted(rungs, key=RUNGS.index))}")
        return tuple(rungs)
    if kind == "layout":
        try:
            fields = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a valid template ({exc})") from None
        bad = [f for f in fields if f not in LAYOUT_FIELDS]
        if bad:
            raise ValueError(f"unknown field {{{bad[0]}}}; allowed: " + ", ".join(f"{{{f}}}" for f in LAYOUT_FIELDS))
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
            message = str(exc)
            if setting.secret and raw and raw.strip():
                # Problems are shown and logged: a secret's value never goes with them.
                message = message.replace(repr(raw.strip()), "the value (hidden)").replace(raw.strip(), MASK)
            elif setting.key in parsed.written and raw and raw.strip():
                # …nor what a reference produced: the value is named as it was written.
                written = parsed.written[setting.key]
                message = message.replace(repr(raw.strip()), repr(written)).replace(raw.strip(), written)
            problems.append(Problem(line, setting.key, f"{setting.key}: {message}"))
    unknown = {k: v for k, v in parsed.values.items() if k not in SETTINGS_BY_KEY}
    for key in unknown:
        # The nearest keys by spelling, else the keys of the same group of words (DOWNLOAD_…).
        close = difflib.get_close_matches(key, SETTINGS_BY_KEY, n=3, cutoff=0.75) \
            or [s.key for s in SETTINGS if s.key.split("_")[0] == key.split("_")[0]][:3]
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
                           "NOTIFY_TELEGRAM_CHAT_ID is required when NOTIFY_FORMAT=telegram (the chat the bot writes "
                           "to)"))
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
        text = read_env_file(env_path)
    except FileNotFoundError:
        raise ConfigError(f"No config file at {str(env_path)!r}. Create one with `runnerd init --home DIR`, "
                          "or point --env-file / CATALOGSYNC_ENV_FILE at it.") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {str(env_path)!r}: {exc}") from None
    config, problems = check_text(text, env_path.resolve().parent)
    if config is None:
        errors = problems_with(problems, "error")
        raise ConfigError(f"{env_path} has {len(errors)} error(s):\n" + "\n".join(f"  {p}" for p in errors), errors)
    return Config(values=config.values, unknown=config.unknown, warnings=config.warnings, env_path=env_path)


# ------------------------------------------------------------------ masking


def quote_value(value: str) -> str:
    """A value as it is written after `KEY=`: bare when safe, else quoted so dotenv reads it back."""
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


def mask_text(text: str, *, changed: Iterable[str] = ()) -> str:
    """The env text with every secret value replaced by the mask, for display and diffs —
    also on lines python-dotenv cannot read that start with a secret's name. Secrets named in
    `changed` show as changed (a diff that must say so without saying the value)."""
    parsed = parse_env_text(text)
    if not parsed.bindings and parsed.problems:  # refused unread (too large): show none of it
        return "\n".join(_masked_line(line) for line in parsed.text[:MAX_ENV_BYTES].splitlines())
    changed = set(changed)
    replace = {i: f"{MASK} (changed)" if b.key in changed else MASK for i, (b, _) in enumerate(parsed.bindings)
               if b.key in SECRET_KEYS and b.value}
    masked = _rewrite(parsed.text, replace) if replace else parsed.text
    if any(b.error for b, _ in parsed.bindings):
        masked = "".join(_masked_line(line) for line in masked.splitlines(keepends=True))
    return masked


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
            replace[index] = quote_value(saved)
    return _rewrite(parsed.text, replace) if replace else new_text


def set_values(text: str, changes: dict[str, str]) -> str:
    """The env text with some keys set to new raw values: their last line rewritten in place,
    new keys appended. Comments, order and other lines stay as they are."""
    parsed = parse_env_text(text)
    last: dict[str, int] = {}
    for index, (binding, _) in enumerate(parsed.bindings):
        if binding.key in changes:
            last[binding.key] = index
    out = _rewrite(parsed.text, {index: quote_value(changes[key]) for key,
                                 index in last.items()}) if last else parsed.text
    missing = [key for key in changes if key not in last]
    if missing:
        if out and not out.endswith("\n"):
            out += "\n"
        out += "".join(f"{key}={quote_value(changes[key])}\n" for key in missing)
    return out


def changed_secrets(old: str, new: str) -> set[str]:
    """The secret keys whose values differ between two env texts."""
    before, after = parse_env_text(old).values, parse_env_text(new).values
    return {key for key in SECRET_KEYS if (before.get(key) or "") != (after.get(key) or "")}
