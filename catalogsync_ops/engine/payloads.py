"""Command payloads: what each kind of command takes, checked and normalised before a row is
written and again before it is applied (a row can be older than the rules, or written by hand)."""
from __future__ import annotations

from enum import StrEnum
from typing import Any

from catalogsync_ops.config.settings import KNOWN_SOURCES
from catalogsync_ops.engine.states import JobType
from catalogsync_ops.errors import ErrorClass, InvalidCommand


class CommandKind(StrEnum):
    ENQUEUE_JOB = "enqueue_job"
    PAUSE_JOB = "pause_job"
    RESUME_JOB = "resume_job"
    CANCEL_JOB = "cancel_job"
    RETRY_ITEM = "retry_item"
    RETRY_FAILED_ITEMS = "retry_failed_items"
    REPRIORITIZE_JOB = "reprioritize_job"
    PAUSE_RUNNER = "pause_runner"
    RESUME_RUNNER = "resume_runner"
    APPLY_CONFIG = "apply_config"
    ROLLBACK_CONFIG = "rollback_config"
    RESET_SOURCE = "reset_source"
    REPAIR_DRIFT = "repair_drift"


SCOPE_KEYS = ("sources", "pools", "playlists", "songs")
# The fields each kind takes. The JSON API refuses any other (a misspelt "priorty" would
# otherwise be dropped without a word); forms carry their own fields and are not checked.
FIELDS: dict[str, tuple[str, ...]] = {
    "enqueue_job": ("job_type", "scope", "priority", "note", "deep"),
    "pause_job": ("job_id",), "resume_job": ("job_id",), "cancel_job": ("job_id",),
    "retry_item": ("item_id",),
    "retry_failed_items": ("job_id", "error_class", "source"),
    "reprioritize_job": ("job_id", "priority"),
    "pause_runner": ("reason",), "resume_runner": (),
    "apply_config": ("content", "note"),
    "rollback_config": ("revision_id", "note"),
    "reset_source": ("source",),
    "repair_drift": ("drift_ids", "kind"),
}
# Drift a repair can mend (an orphan is only reported: it is the owner's file).
REPAIRABLE_DRIFT = ("file_missing", "file_changed", "object_missing", "object_changed")
ID_MAX = 2**63 - 1  # SQLite's INTEGER range
PRIORITY_LIMIT = 1_000_000
SCOPE_MAX_ENTRIES = 10_000


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(key: str, value: str, max_len: int) -> str:
    if len(value) > max_len:
        raise InvalidCommand(f"{key!r} is longer than {max_len} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidCommand(f"{key!r} holds characters that are not text (an unpaired surrogate)") from None
    if "\x00" in value:
        raise InvalidCommand(f"{key!r} holds a NUL character")
    return value


class _Fields:
    """Reads payload fields. `strict` (the JSON API): numbers must be JSON numbers, lists lists,
    and no field null, as the OpenAPI document says; forms send text and get it converted."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict

    def integer(self, payload: dict, key: str, *, required: bool = True, minimum: int | None = None,
                maximum: int = ID_MAX) -> int | None:
        value = payload.get(key)
        if value is None:
            if key in payload and self.strict:
                raise InvalidCommand(f"{key!r} must be a whole number, not null")
            if required:
                raise InvalidCommand(f"{key!r} is required")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            text = value.strip() if isinstance(value, str) and not self.strict else ""
            if text.lstrip("-").isdigit() and text.isascii() and len(text) <= 20:
                value = int(text)
            else:
                raise InvalidCommand(f"{key!r} must be a whole number, got {_shown(value)}")
        if minimum is not None and value < minimum:
            raise InvalidCommand(f"{key!r} must be at least {minimum}, got {_shown(value)}")
        if value > maximum or value < -ID_MAX - 1:
            raise InvalidCommand(f"{key!r} must be at most {maximum}, got {_shown(value)}")
        return value


    def boolean(self, payload: dict, key: str) -> bool:
        value = payload.get(key)
        if value is None or isinstance(value, bool):
            if value is None and key in payload and self.strict:
                raise InvalidCommand(f"{key!r} must be true or false, not null")
            return bool(value)
        if not self.strict and isinstance(value, str) and value.strip().lower() in ("1", "true", "on", "yes", "0",
                                                                                     "false", "off", "no", ""):
            return value.strip().lower() in ("1", "true", "on", "yes")
        raise InvalidCommand(f"{key!r} must be true or false, got {_shown(value)}")

    def string(self, payload: dict, key: str, *, required: bool = False, max_len: int = 2000) -> str | None:
        value = payload.get(key)
        if self.strict:
            if key in payload and not isinstance(value, str):
                raise InvalidCommand(f"{key!r} must be text, got {_shown(value)}")
            if value == "" and not required:
                return ""  # as sent: an enum then refuses it, a note keeps nothing
        if value is None or value == "":
            if required:
                raise InvalidCommand(f"{key!r} is required")
            return None
        if not isinstance(value, str):
            raise InvalidCommand(f"{key!r} must be text, got {_shown(value)}")
        return _text(key, value, max_len)


    def scope(self, raw: Any) -> dict[str, list]:
        if raw is None or (raw == "" and not self.strict):
            return {}
        if not isinstance(raw, dict):
            raise InvalidCommand(f"'scope' must be an object with keys {', '.join(SCOPE_KEYS)}, got {raw!r}")
        unknown = sorted(set(raw) - set(SCOPE_KEYS))
        if unknown:
            raise InvalidCommand(f"unknown scope key {unknown[0]!r}; allowed: {', '.join(SCOPE_KEYS)}")
        scope: dict[str, list] = {}
        for key in SCOPE_KEYS:
            values = raw.get(key)
            if self.strict and key in raw and not isinstance(values, list):
                raise InvalidCommand(f"scope {key!r} must be a list, got {_shown(values)}")
            if not values:
                continue
            if isinstance(values, str) and not self.strict:
                values = [v.strip() for v in _text(f"scope {key}", values, 200_000).split(",") if v.strip()]
            if not isinstance(values, list):
                raise InvalidCommand(f"scope {key!r} must be a list, got {_shown(values)}")
            if len(values) > SCOPE_MAX_ENTRIES:
                raise InvalidCommand(f"scope {key!r} lists more than {SCOPE_MAX_ENTRIES} entries; "
                                     "leave it empty for all")
            if key in ("pools", "playlists"):
                for value in values:
                    allowed = (str,) if key == "pools" else (str, int)
                    if isinstance(value, bool) or not isinstance(value, allowed):
                        raise InvalidCommand(f"scope {key!r} entries must be names, ids or URLs, got {_shown(value)}")
                    if isinstance(value, int) and not 1 <= value <= ID_MAX:
                        raise InvalidCommand(f"scope {key!r} id out of range: {_shown(value)}")
                    if isinstance(value, str):
                        _text(f"scope {key}", value, 2000)
            if key == "sources":
                bad = [v for v in values if v not in KNOWN_SOURCES]
                if bad:
                    raise InvalidCommand(f"unknown source {bad[0]!r}; known sources: {', '.join(KNOWN_SOURCES)}")
            if key == "songs":
                values = [self.integer({"song": v}, "song", minimum=1) for v in values]
            scope[key] = values
        return scope


def _repair(payload: dict, f: _Fields) -> dict[str, Any]:
    """repair_drift: the drift rows to repair by id, or all open drift of a kind, or all."""
    out: dict[str, Any] = {}
    ids = payload.get("drift_ids")
    if f.strict and "drift_ids" in payload and not isinstance(ids, list):
        raise InvalidCommand(f"'drift_ids' must be a list of drift ids, got {_shown(ids)}")
    if ids is not None and ids != "":
        if isinstance(ids, str) and not f.strict:
            ids = [v.strip() for v in _text("drift_ids", ids, 200_000).split(",") if v.strip()]
        if not isinstance(ids, list):
            raise InvalidCommand(f"'drift_ids' must be a list of drift ids, got {_shown(ids)}")
        if len(ids) > SCOPE_MAX_ENTRIES:
            raise InvalidCommand(f"'drift_ids' lists more than {SCOPE_MAX_ENTRIES} ids; repair a kind at once instead")
        if ids:
            out["drift_ids"] = [f.integer({"drift_id": v}, "drift_id", minimum=1) for v in ids]
    if (kind := f.string(payload, "kind", max_len=40)):
        if kind == "orphan":
            raise InvalidCommand("an orphan is an audio file the catalog does not know: it is reported, never "
                                 "touched; move or delete it yourself")
        if kind not in REPAIRABLE_DRIFT:
            raise InvalidCommand(f"unknown drift kind {kind!r}; one of: {', '.join(REPAIRABLE_DRIFT)}")
        out["kind"] = kind
    return out


def validate_payload(kind: CommandKind | str, payload: dict[str, Any] | None, *,
                     strict: bool = False) -> dict[str, Any]:
    """Check and normalise a command's payload; raise InvalidCommand saying what is wrong.

    `strict` (the JSON API): numbers must be JSON numbers and lists lists, as the OpenAPI
    document says; forms send text and get it converted."""
    return _validate(kind, payload, _Fields(strict))


def _validate(kind: CommandKind | str, payload: dict[str, Any] | None, f: _Fields) -> dict[str, Any]:
    try:
        kind = CommandKind(kind)
    except ValueError:
        raise InvalidCommand(f"unknown command {kind!r}; known: {', '.join(k.value for k in CommandKind)}") from None
    if payload is not None and not isinstance(payload, dict):
        raise InvalidCommand(f"'payload' must be an object, got {_shown(payload)}")
    payload = dict(payload or {})
    if f.strict and (unknown := sorted(set(payload) - set(FIELDS[kind.value]), key=str)):
        allowed = ", ".join(FIELDS[kind.value]) or "no fields"
        raise InvalidCommand(f"{kind.value} takes no field {_shown(unknown[0])}; it takes: {allowed}")
    if kind is CommandKind.ENQUEUE_JOB:
        job_type = payload.get("job_type", JobType.FULL_PIPELINE.value)
        if not isinstance(job_type, str) or job_type not in {t.value for t in JobType}:
            raise InvalidCommand(f"unknown job type {_shown(job_type)}; choose one of: "
                                 f"{', '.join(t.value for t in JobType)}")
        if f.strict and "scope" in payload and not isinstance(payload["scope"], dict):
            raise InvalidCommand(f"'scope' must be an object with keys {', '.join(SCOPE_KEYS)}")
        out = {"job_type": job_type, "scope": f.scope(payload.get("scope")),
               "priority": f.integer(payload, "priority", required=False, minimum=-PRIORITY_LIMIT,
                                maximum=PRIORITY_LIMIT) or 0}
        if (note := f.string(payload, "note", max_len=500)):
            out["note"] = note
        # deep: a verify job hashes every file; other jobs have nothing to hash and ignore it.
        if f.boolean(payload, "deep") and job_type == JobType.VERIFY:
            out["deep"] = True
        return out
    if kind is CommandKind.REPAIR_DRIFT:
        return _repair(payload, f)
    if kind in (CommandKind.PAUSE_JOB, CommandKind.RESUME_JOB, CommandKind.CANCEL_JOB):
        return {"job_id": f.integer(payload, "job_id", minimum=1)}
    if kind is CommandKind.RETRY_ITEM:
        return {"item_id": f.integer(payload, "item_id", minimum=1)}
    if kind is CommandKind.RETRY_FAILED_ITEMS:
        out = {"job_id": f.integer(payload, "job_id", minimum=1)}
        if (error_class := f.string(payload, "error_class")):
            if error_class not in {e.value for e in ErrorClass}:
                raise InvalidCommand(f"unknown error class {error_class!r}; one of: "
                                     f"{', '.join(e.value for e in ErrorClass)}")
            out["error_class"] = error_class
        if (source := f.string(payload, "source", max_len=40)):
            out["source"] = source
        return out
    if kind is CommandKind.REPRIORITIZE_JOB:
        return {"job_id": f.integer(payload, "job_id", minimum=1),
                "priority": f.integer(payload, "priority", minimum=-PRIORITY_LIMIT, maximum=PRIORITY_LIMIT)}
    if kind is CommandKind.PAUSE_RUNNER:
        reason = f.string(payload, "reason", max_len=500)
        return {"reason": reason} if reason else {}
    if kind is CommandKind.RESUME_RUNNER:
        return {}
    if kind is CommandKind.APPLY_CONFIG:
        content = payload.get("content")
        if not isinstance(content, str):
            raise InvalidCommand("'content' (the new env file text) is required")
        if len(content) > 256 * 1024:
            raise InvalidCommand("the env file is larger than 256 KiB; that is not a catalogsync.env")
        out = {"content": _text("content", content, 256 * 1024)}
        if (note := f.string(payload, "note", max_len=500)):
            out["note"] = note
        return out
    if kind is CommandKind.ROLLBACK_CONFIG:
        out = {"revision_id": f.integer(payload, "revision_id", minimum=1)}
        if (note := f.string(payload, "note", max_len=500)):
            out["note"] = note
        return out
    if kind is CommandKind.RESET_SOURCE:
        source = f.string(payload, "source", required=True, max_len=40)
        if source not in KNOWN_SOURCES:
            raise InvalidCommand(f"unknown source {source!r}; known sources: {', '.join(KNOWN_SOURCES)}")
        return {"source": source}
    raise AssertionError(kind)
