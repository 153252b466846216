"""The runner's log lines and coded messages in the reader's language.

The runner keeps each of its own lines' template (`job_logs.code`) and values
(`job_logs.params_json`) beside the English text. A page renders the template's translation
(the catalogue's, `catalogsync_ops/catalogue.py`) with the values; values that are codes (statuses,
stages, error classes) read as words in the page's language. Lines from other libraries, or a
template without a translation, show the English text as written. `tests/test_catalogue.py`
fails when a log call in the runner's code has no translation.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from markupsafe import Markup, escape

from catalogsync_ops.store.connection import utcnow
from webui import i18n
from webui.format import when

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
        shown = tuple(lang.gettext(i18n.code_word(v)) if i18n.is_code(v)
                      else i18n.coded_text(v["code"], v.get("params") or {}, lang) if _is_coded(v)
                      else v.get("text", "") if isinstance(v, dict) else v for v in values)
        return lang.gettext(code) % shown
    except (TypeError, ValueError):
        return message  # values that do not fit the template: the English line as written


def _is_coded(value: Any) -> bool:
    return isinstance(value, dict) and bool(value.get("code"))


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


def error_text(row: Mapping[str, Any] | None, field: str = "last_error") -> str:
    """Why an item or an attempt failed (`field`: "last_error" of an item, "error" of an attempt
    or of a source it tried), in the page's language when the runner kept its code; else the
    text as written (an unexpected exception, or a failure recorded before codes were kept)."""
    if not row:
        return ""
    keys = row.keys() if hasattr(row, "keys") else ()
    code = row[f"{field}_code"] if f"{field}_code" in keys else None
    text = (row[field] if field in keys else None) or ""
    if not code:
        return text
    if f"{field}_params" in keys:
        params = row[f"{field}_params"] or {}
    else:
        try:
            params = json.loads(row[f"{field}_params_json"] or "{}")
        except (KeyError, ValueError):
            params = {}
    return coded_text(code, params if isinstance(params, dict) else {})


def said_text(value: Any) -> str:
    """A message kept as its code and values (`{"code", "params"}`), or as text, in the page's language."""
    if _is_coded(value):
        return coded_text(value["code"], value.get("params") or {})
    if isinstance(value, dict):
        return str(value.get("text", ""))
    return "" if value is None else str(value)


def log_rows(rows, job_url: str | None = None, item_url: str | None = None) -> Markup:
    """Log rows as table rows, built as text (a page of a hundred lines through the template
    engine cost a context call and an escape per value): when, level, where (only when `job_url`
    and `item_url` are given: the logs page) and the line in the page's language."""
    word = i18n.cell_words()
    lang, now = i18n.language(), utcnow()
    traceback_word = escape(i18n.gettext("traceback"))
    job_word, item_word = escape(i18n.gettext("job")), escape(i18n.gettext("item"))
    out = []
    for r in rows:
        level = r["level"]
        where = ""
        if job_url is not None:
            where = f"<td>{escape(r['logger'])}"
            if r["job_id"]:
                where += f' · <a href="{job_url}{r["job_id"]}">{job_word} {r["job_id"]}</a>'
            if r["item_id"]:
                where += f' · <a href="{item_url}{r["item_id"]}">{item_word} {r["item_id"]}</a>'
            where += "</td>\n    "
        trace = (f"<details><summary>{traceback_word}</summary><pre>{escape(r['traceback'])}</pre></details>"
                 if r["traceback"] else "")
        out.append(f'<tr class="{escape(level.lower())}"><td>{when(r["created_at"], lang, now)}</td>'
                   f"<td>{word(level)}</td>{where}<td>{escape(log_text(r))}{trace}</td></tr>")
    return Markup("".join(out))
