"""Every command kind, declared once: its payload's fields (type, bounds, whether required), what
an applied one did (its phrase, made from its result) and which API token may send it.

From these specs come the payload checks (`validate_payload`, run before a row is written and
again before it is applied: a row can be older than the rules, or written by hand), the OpenAPI
schema of each payload, the reading of the console's forms and the words the console shows.
The handler of each kind is registered beside it (`engine/commands.py`, `@handles`). Adding a
kind is a `CommandKind` member, a spec here and its handler.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from catalogsync_ops.config.settings import KNOWN_SOURCES
from catalogsync_ops.engine.states import JobType
from catalogsync_ops.errors import ErrorClass, InvalidCommand
from catalogsync_ops.store.connection import ID_MAX


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
    NOTIFY_TEST = "notify_test"
    MARK_UNAVAILABLE = "mark_unavailable"
    MARK_WANTED = "mark_wanted"


SCOPE_KEYS = ("sources", "pools", "playlists", "songs")
# Drift a repair can mend (an orphan is only reported: it is the owner's file).
REPAIRABLE_DRIFT = ("file_missing", "file_changed", "object_missing", "object_changed")
PRIORITY_LIMIT = 1_000_000
SCOPE_MAX_ENTRIES = 10_000
CONFIG_MAX_BYTES = 256 * 1024
TEXT_PATTERN = "^[^\\u0000]*$"


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


def _listed(key: str, raw: Any, strict: bool, what: str) -> list | None:
    """A list field: a JSON list (strict) or, from a form, comma-separated text."""
    if strict and not isinstance(raw, list):
        raise InvalidCommand(f"{key!r} must be a list of {what}, got {_shown(raw)}")
    if isinstance(raw, str) and not strict:
        raw = [v.strip() for v in _text(key, raw, 200_000).split(",") if v.strip()]
    if not isinstance(raw, list):
        raise InvalidCommand(f"{key!r} must be a list of {what}, got {_shown(raw)}")
    if len(raw) > SCOPE_MAX_ENTRIES:
        raise InvalidCommand(f"{key!r} lists more than {SCOPE_MAX_ENTRIES} entries; leave it empty for all")
    return raw


# ---------------------------------------------------------------- fields


@dataclass(frozen=True)
class Field:
    """One payload field. `read` returns its clean value, or None to leave it out of the payload.
    `strict` (the JSON API): numbers must be JSON numbers, lists lists, and no field null, as the
    OpenAPI document says; forms send text and get it converted."""

    name: str
    required: bool = False

    def read(self, payload: dict, strict: bool) -> Any:
        raise NotImplementedError

    def schema(self) -> dict:
        raise NotImplementedError


@dataclass(frozen=True)
class Integer(Field):
    minimum: int = 1
    maximum: int = ID_MAX
    default: int | None = None  # given when the field is left out

    def read(self, payload: dict, strict: bool) -> int | None:
        value = read_integer(payload, self.name, strict, required=self.required and self.default is None,
                             minimum=self.minimum, maximum=self.maximum)
        return self.default if value is None else value

    def schema(self) -> dict:
        return {"type": "integer", "minimum": self.minimum, "maximum": self.maximum}


def read_integer(payload: dict, key: str, strict: bool, *, required: bool = True, minimum: int | None = None,
                 maximum: int = ID_MAX) -> int | None:
    value = payload.get(key)
    if value is None:
        if key in payload and strict:
            raise InvalidCommand(f"{key!r} must be a whole number, not null")
        if required:
            raise InvalidCommand(f"{key!r} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        text = value.strip() if isinstance(value, str) and not strict else ""
        if text.lstrip("-").isdigit() and text.isascii() and len(text) <= 20:
            value = int(text)
        else:
            raise InvalidCommand(f"{key!r} must be a whole number, got {_shown(value)}")
    if minimum is not None and value < minimum:
        raise InvalidCommand(f"{key!r} must be at least {minimum}, got {_shown(value)}")
    if value > maximum or value < -ID_MAX - 1:
        raise InvalidCommand(f"{key!r} must be at most {maximum}, got {_shown(value)}")
    return value


def Id(name: str, *, required: bool = True) -> Integer:  # noqa: N802 - a field's type, like the others
    return Integer(name, required=required)


@dataclass(frozen=True)
class Text(Field):
    max_len: int = 500

    def read(self, payload: dict, strict: bool) -> str | None:
        key, value = self.name, payload.get(self.name)
        if strict and key in payload and not isinstance(value, str):
            raise InvalidCommand(f"{key!r} must be text, got {_shown(value)}")
        if value is None or value == "":
            if self.required:
                raise InvalidCommand(f"{key!r} is required")
            return None
        if not isinstance(value, str):
            raise InvalidCommand(f"{key!r} must be text, got {_shown(value)}")
        return _text(key, value, self.max_len)

    def schema(self) -> dict:
        return {"type": "string", "maxLength": self.max_len, "pattern": TEXT_PATTERN}


@dataclass(frozen=True)
class Choice(Field):
    """One of a list of words (`choices` is called: the list may come from the settings)."""

    choices: Callable[[], Sequence[str]] = tuple
    what: str = "value"
    default: str | None = None
    refused: dict[str, str] = field(default_factory=dict)  # a value refused with its own reason

    def read(self, payload: dict, strict: bool) -> str | None:
        key, value = self.name, payload.get(self.name)
        if strict and key in payload and not isinstance(value, str):
            raise InvalidCommand(f"{key!r} must be text, got {_shown(value)}")
        if value is None or (value == "" and not strict):
            if self.default is not None:
                return self.default
            if self.required:
                raise InvalidCommand(f"{key!r} is required")
            return None
        if value in self.refused:
            raise InvalidCommand(self.refused[value])
        choices = list(self.choices())
        if not isinstance(value, str) or value not in choices:
            raise InvalidCommand(f"unknown {self.what} {_shown(value)}; one of: {', '.join(choices)}")
        return value

    def schema(self) -> dict:
        return {"type": "string", "enum": list(self.choices())}


@dataclass(frozen=True)
class Flag(Field):
    def read(self, payload: dict, strict: bool) -> bool | None:
        key, value = self.name, payload.get(self.name)
        if value is None or isinstance(value, bool):
            if value is None and key in payload and strict:
                raise InvalidCommand(f"{key!r} must be true or false, not null")
            return True if value else None
        if not strict and isinstance(value, str) and value.strip().lower() in ("1", "true", "on", "yes", "0",
                                                                                "false", "off", "no", ""):
            return True if value.strip().lower() in ("1", "true", "on", "yes") else None
        raise InvalidCommand(f"{key!r} must be true or false, got {_shown(value)}")

    def schema(self) -> dict:
        return {"type": "boolean"}


@dataclass(frozen=True)
class IdList(Field):
    """A list of ids (a form sends them comma-separated)."""

    def read(self, payload: dict, strict: bool) -> list[int] | None:
        raw = payload.get(self.name)
        if (raw is None and not (strict and self.name in payload)) or (raw == "" and not strict):
            if self.required:
                raise InvalidCommand(f"{self.name!r} is required: a list of ids")
            return None
        values = _listed(self.name, raw, strict, "ids")
        singular = self.name.removesuffix("s")
        ids = [read_integer({singular: v}, singular, strict, minimum=1) for v in values]
        if not ids and self.required:
            raise InvalidCommand(f"{self.name!r} needs at least one id")
        return ids or None

    def schema(self) -> dict:
        return {"type": "array", "minItems": 1 if self.required else 0, "maxItems": SCOPE_MAX_ENTRIES,
                "items": Id("").schema()}


@dataclass(frozen=True)
class ConfigText(Field):
    """The whole text of catalogsync.env."""

    def read(self, payload: dict, strict: bool) -> str:
        content = payload.get(self.name)
        if not isinstance(content, str):
            raise InvalidCommand(f"{self.name!r} (the new env file text) is required")
        if len(content) > CONFIG_MAX_BYTES:
            raise InvalidCommand("the env file is larger than 256 KiB; that is not a catalogsync.env")
        return _text(self.name, content, CONFIG_MAX_BYTES)

    def schema(self) -> dict:
        return {"type": "string", "maxLength": CONFIG_MAX_BYTES, "pattern": TEXT_PATTERN}


@dataclass(frozen=True)
class Scope(Field):
    """What a job covers: sources, pools, playlists, songs (all when empty)."""

    def read(self, payload: dict, strict: bool) -> dict[str, list]:
        raw = payload.get(self.name)
        if strict and self.name in payload and not isinstance(raw, dict):
            raise InvalidCommand(f"'scope' must be an object with keys {', '.join(SCOPE_KEYS)}")
        if raw is None or (raw == "" and not strict):
            return {}
        if not isinstance(raw, dict):
            raise InvalidCommand(f"'scope' must be an object with keys {', '.join(SCOPE_KEYS)}, got {raw!r}")
        unknown = sorted(set(raw) - set(SCOPE_KEYS))
        if unknown:
            raise InvalidCommand(f"unknown scope key {unknown[0]!r}; allowed: {', '.join(SCOPE_KEYS)}")
        scope: dict[str, list] = {}
        for key in SCOPE_KEYS:
            values = raw.get(key)
            if strict and key in raw and not isinstance(values, list):
                raise InvalidCommand(f"scope {key!r} must be a list, got {_shown(values)}")
            if not values:
                continue
            if isinstance(values, str) and not strict:
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
                values = [read_integer({"song": v}, "song", strict, minimum=1) for v in values]
            scope[key] = values
        return scope

    def schema(self) -> dict:
        text = Text("", max_len=2000).schema()
        ids = {"type": "array", "maxItems": SCOPE_MAX_ENTRIES, "items": Id("").schema()}
        return {"type": "object", "additionalProperties": False, "properties": {
            "sources": {"type": "array", "maxItems": SCOPE_MAX_ENTRIES,
                        "items": {"type": "string", "enum": list(KNOWN_SOURCES)}},
            "pools": {"type": "array", "maxItems": SCOPE_MAX_ENTRIES, "items": text},
            "playlists": {"type": "array", "maxItems": SCOPE_MAX_ENTRIES, "items": {"anyOf": [Id("").schema(), text]}},
            "songs": ids}}


# ---------------------------------------------------------------- the specs


@dataclass(frozen=True)
class CommandSpec:
    kind: CommandKind
    title: str  # what it asks for, in words (the console names a command by it)
    fields: tuple[Field, ...]
    phrase: str  # what an applied one did, with {names} from its result
    token_scope: str = "control"  # the API token scope that may send it
    # Form field name -> payload field, where a form's name differs (the form's own `kind`
    # names the command, so repair_drift's drift kind is posted as `drift_kind`).
    form_names: dict[str, str] = field(default_factory=dict)
    refine: Callable[[dict], dict] | None = None  # rules across fields, on the clean payload

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def schema(self) -> dict:
        """The payload's JSON schema (OpenAPI)."""
        return {"type": "object", "required": [f.name for f in self.fields if f.required],
                "properties": {f.name: f.schema() for f in self.fields}, "additionalProperties": False}


def _deep_only_for_verify(payload: dict) -> dict:
    # deep: a verify job hashes every file; other jobs have nothing to hash and ignore it.
    if payload.get("job_type") != JobType.VERIFY:
        payload.pop("deep", None)
    return payload


NOTE = Text("note", max_len=500)
JOB = Id("job_id")
SOURCE = Choice("source", required=True, choices=lambda: KNOWN_SOURCES, what="source")

SPECS: dict[CommandKind, CommandSpec] = {spec.kind: spec for spec in (
    CommandSpec(CommandKind.ENQUEUE_JOB, "Queue a job", (
        Choice("job_type", choices=lambda: [t.value for t in JobType], what="job type",
               default=JobType.FULL_PIPELINE.value),
        Scope("scope"), Integer("priority", minimum=-PRIORITY_LIMIT, maximum=PRIORITY_LIMIT, default=0), NOTE,
        Flag("deep")), "Job {job_id} queued", refine=_deep_only_for_verify),
    CommandSpec(CommandKind.PAUSE_JOB, "Pause a job", (JOB,), "Job {job_id}: {status}"),
    CommandSpec(CommandKind.RESUME_JOB, "Resume a job", (JOB,), "Job {job_id} resumed"),
    CommandSpec(CommandKind.CANCEL_JOB, "Cancel a job", (JOB,), "Job {job_id}: {status}"),
    CommandSpec(CommandKind.RETRY_ITEM, "Retry an item", (Id("item_id"),), "Item {item_id} queued again"),
    CommandSpec(CommandKind.RETRY_FAILED_ITEMS, "Retry failed items", (
        JOB, Choice("error_class", choices=lambda: [e.value for e in ErrorClass], what="error class"),
        Text("source", max_len=40)), "Job {job_id}: {requeued} failed items queued again"),
    CommandSpec(CommandKind.REPRIORITIZE_JOB, "Change a job's priority", (
        JOB, Integer("priority", required=True, minimum=-PRIORITY_LIMIT, maximum=PRIORITY_LIMIT)),
        "Job {job_id}: priority {priority}"),
    CommandSpec(CommandKind.PAUSE_RUNNER, "Pause the runner", (Text("reason", max_len=500),), "Runner paused"),
    CommandSpec(CommandKind.RESUME_RUNNER, "Resume the runner", (), "Runner resumed"),
    CommandSpec(CommandKind.APPLY_CONFIG, "Apply the config", (ConfigText("content", required=True), NOTE),
                "Config applied (revision {revision_id})", token_scope="admin"),
    CommandSpec(CommandKind.ROLLBACK_CONFIG, "Roll the config back", (Id("revision_id"), NOTE),
                "Config rolled back (revision {revision_id})", token_scope="admin"),
    CommandSpec(CommandKind.RESET_SOURCE, "Try a source again now", (SOURCE,), "Source {source}: tried again now"),
    CommandSpec(CommandKind.REPAIR_DRIFT, "Repair drift", (
        IdList("drift_ids"),
        Choice("kind", choices=lambda: REPAIRABLE_DRIFT, what="drift kind",
               refused={"orphan": "an orphan is an audio file the catalog does not know: it is reported, never "
                                  "touched; move or delete it yourself"})),
        "Repair job {job_id} queued for {drifts} drifted files", form_names={"drift_kind": "kind"}),
    CommandSpec(CommandKind.NOTIFY_TEST, "Send a test notification", (), "Test notification queued for {target}"),
    # The wanted page ticks songs as `songs` (one form also queues their download with that scope).
    CommandSpec(CommandKind.MARK_UNAVAILABLE, "Stop trying songs", (IdList("song_ids", required=True),),
                "{marked} songs marked unavailable", form_names={"songs": "song_ids"}),
    CommandSpec(CommandKind.MARK_WANTED, "Want songs again", (IdList("song_ids", required=True),),
                "{marked} songs wanted again", form_names={"songs": "song_ids"}),
)}
assert set(SPECS) == set(CommandKind), "every command kind has its spec"
# The fields each kind takes. The JSON API refuses any other (a misspelt "priorty" would
# otherwise be dropped without a word).
FIELDS: dict[str, tuple[str, ...]] = {kind.value: spec.field_names for kind, spec in SPECS.items()}


def spec_of(kind: CommandKind | str) -> CommandSpec:
    try:
        return SPECS[CommandKind(kind)]
    except ValueError:
        raise InvalidCommand(f"unknown command {kind!r}; known: {', '.join(k.value for k in CommandKind)}") from None


def validate_payload(kind: CommandKind | str, payload: dict[str, Any] | None, *,
                     strict: bool = False) -> dict[str, Any]:
    """Check and normalise a command's payload; raise InvalidCommand saying what is wrong.

    `strict` (the JSON API): numbers must be JSON numbers and lists lists, as the OpenAPI
    document says, and no field the kind does not take; forms send text and get it converted."""
    spec = spec_of(kind)
    if payload is not None and not isinstance(payload, dict):
        raise InvalidCommand(f"'payload' must be an object, got {_shown(payload)}")
    payload = dict(payload or {})
    if strict and (unknown := sorted(set(payload) - set(spec.field_names), key=str)):
        allowed = ", ".join(spec.field_names) or "no fields"
        raise InvalidCommand(f"{spec.kind.value} takes no field {_shown(unknown[0])}; it takes: {allowed}")
    out: dict[str, Any] = {}
    for each in spec.fields:
        value = each.read(payload, strict)
        if value is not None:
            out[each.name] = value
    return spec.refine(out) if spec.refine else out


def payload_from_form(kind: CommandKind | str, form: Any) -> dict[str, Any]:
    """A command's payload from a console form (a MultiDict): each field of the spec by its name
    (or its form name), left out when empty; a scope from its keys' comma-separated fields."""
    spec = spec_of(kind)
    form_name = {name: posted for posted, name in spec.form_names.items()}
    payload: dict[str, Any] = {}
    for each in spec.fields:
        if isinstance(each, Scope):
            many = getattr(form, "getlist", lambda key: [form.get(key) or ""])
            scope = {key: ",".join(v for v in many(key) if v.strip()) for key in SCOPE_KEYS}
            scope = {key: value for key, value in scope.items() if value}
            if scope:
                payload[each.name] = scope
        elif isinstance(each, IdList) and hasattr(form, "getlist"):
            # A list of checkboxes (one value each) or one comma-separated field.
            posted = ",".join(v for v in form.getlist(form_name.get(each.name, each.name)) if v.strip())
            if posted:
                payload[each.name] = posted
        elif (posted := form.get(form_name.get(each.name, each.name), "")) != "":
            payload[each.name] = posted
    return payload
