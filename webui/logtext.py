"""The runner's log lines and coded messages in the reader's language.

The runner keeps each of its own lines' template (`job_logs.code`) and values
(`job_logs.params_json`) beside the English text. A page renders the template's translation
(the catalogue's, `webui/catalogue.py`) with the values; values that are codes (statuses,
stages, error classes) read as words in the page's language. Lines from other libraries, or a
template without a translation, show the English text as written. `tests/test_catalogue.py`
fails when a log call in the runner's code has no translation.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from webui import i18n

# Lines that are values only (the config dump at start, a problem's own text): shown as written.
UNTRANSLATED = frozenset({"  %-28s %s", "%s"})


def log_text(row: Mapping[str, Any]) -> str:
    """One log row's message in the page's language."""
    message = row["message"]
    keys = row.keys() if hasattr(row, "keys") else ()
    code = row["code"] if "code" in keys else None
    if not code or code in UNTRANSLATED:
        return message
    lang = i18n.language()
    try:
        values = json.loads(row["params_json"]) if row["params_json"] else []
        if not isinstance(values, list):
            return message
        shown = tuple(lang.gettext(i18n.code_word(v)) if i18n.is_code(v) else v for v in values)
        return lang.gettext(code) % shown
    except (TypeError, ValueError):
        return message  # values that do not fit the template: the English line as written


def reason_text(command: Mapping[str, Any] | None, language: str | None = None) -> str:
    """Why a command was refused, in the page's language: made from its code and parameters.
    A command refused before codes were kept shows its text as it was written."""
    if not command or not (command.get("reject_code") or command.get("reject_reason")):
        return ""
    code = command.get("reject_code")
    if not code:
        return command.get("reject_reason") or ""
    params = command.get("reject_params")
    if params is None:
        try:
            params = json.loads(command.get("reject_params_json") or "{}")
        except ValueError:
            params = {}
    return coded_text(code, params, language)


def coded_text(code: str, params: dict[str, Any], language: str | None = None) -> str:
    """A coded message (catalogsync_ops/messages.py) in the page's language (or the one named)."""
    return i18n.coded_text(code, params, i18n.language(language) if language else None)


def drift_detail(row: Mapping[str, Any] | None) -> str:
    """What a verify found about a file or object, in the page's language (from its code; a row
    written before codes were kept shows its text)."""
    if not row:
        return ""
    keys = row.keys() if hasattr(row, "keys") else ()
    code = row["detail_code"] if "detail_code" in keys else None
    if not code:
        return row["detail"] or ""
    try:
        params = json.loads(row["detail_params_json"] or "{}")
    except ValueError:
        params = {}
    return coded_text(code, params)
