"""The English words of every code people read: statuses, job and stage types, outcomes, error
classes, drift kinds. A code is stored and sent as itself; where people read it, it is first made
its words here, and a catalogue (catalogue.py) translates the words, never the ids. The console's
pages, the API's messages and the runner's notifications all say a code this one way.
"""
from __future__ import annotations

from typing import Any

# The codes the runner writes (statuses, job and stage types, outcomes, worker states, event
# kinds, revision sources, error classes). Pages show them through _(): as their words
# ("completed_with_errors" reads "completed with errors"), translated like any other words.
CODES = (
    "queued", "running", "pause_requested", "paused", "cancel_requested", "completed", "completed_with_errors",
    "failed", "canceled", "pending", "skipped", "succeeded", "interrupted", "starting", "idle", "busy", "stopping",
    "stopped", "dead", "applied", "rejected", "gone", "invalid", "full_pipeline", "collect", "sync", "download",
    "upload", "verify", "repair", "upgrade", "cli", "ui", "web", "api", "external", "rollback", "startup", "init",
    "job_created", "job_started", "job_finished", "job_paused", "job_resumed", "job_canceled", "job_reprioritized",
    "recovery", "stage_started", "stage_finished", "stage_skipped", "stage_failed", "item_succeeded", "item_failed",
    "item_retried", "item_interrupted", "item_canceled", "item_skipped", "item_deferred", "item_retry_scheduled",
    "items_added", "item_claimed", "item_released", "runner_resumed", "runner_paused", "item_retry_requested",
    "items_retry_requested", "backed_up", "in_library", "untried", "closed", "open", "half_open", "incompatible",
    "connection", "timeout", "http_4xx", "http_5xx", "not_found", "no_match", "checksum_mismatch", "disk_full",
    "auth", "rate_limited", "unsupported", "config", "internal", "parse", "encrypted", "preview", "invalid_audio",
    "missing", "unavailable",
)
# A code reads as its words; a few as people write them.
_AS_WRITTEN = {"http_4xx": "HTTP 4xx", "http_5xx": "HTTP 5xx", "cli": "command line", "api": "API", "ui": "web",
               "half_open": "half-open"}
# What refusals name (a subject parameter: "job 3 does not exist").
SUBJECTS = ("job", "item", "command", "stage", "items_of_job", "config_revision")
_WORDS = {code: _AS_WRITTEN.get(code, code.replace("_", " ")) for code in (*CODES, *SUBJECTS)}


def code_word(code: Any) -> Any:
    """A code as its English words (other values as they are): the message a catalogue translates."""
    return _WORDS.get(code, code.replace("_", " ")) if isinstance(code, str) else code


def is_code(value: Any) -> bool:
    """Whether a value is one of the codes pages show as words."""
    return isinstance(value, str) and value in _WORDS


# A drift kind in words (the code itself is a word only in the CLI and the API).
DRIFT_WORDS = {"file_missing": "missing from the library", "file_changed": "changed in the library",
               "object_missing": "missing from the backup", "object_changed": "changed in the backup",
               "orphan": "not in the catalog (orphan)"}


# Words that join values, translated like any other ("a, b" reads "a、b" in Chinese).
LIST_SEPARATOR = ", "
NOTHING_FINAL = "nothing (it is final)"
EDGE_WORDS = (LIST_SEPARATOR, NOTHING_FINAL, "; ")
