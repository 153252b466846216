"""The console speaks the languages it has catalogues for (`webui/catalogue.py`): English, the
source, and one `.po` file each for the others. The language is the browser's, or the one chosen
with the switch in the header (a cookie)."""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from flask import Blueprint, g, redirect, request
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup, escape

from catalogsync_ops.catalogue import ENGLISH, Language, languages, negotiate
from catalogsync_ops.engine.command_specs import SPECS
from catalogsync_ops.messages import render
from catalogsync_ops.words import (  # noqa: F401 (pages use them from here)
    _WORDS,
    CODES,
    DRIFT_WORDS,
    EDGE_WORDS,
    LIST_SEPARATOR,
    NOTHING_FINAL,
    SUBJECTS,
    code_word,
    is_code,
)
from webui.context import safe_target

bp = Blueprint("i18n", __name__)

# Codes of an older console's switch and cookie, as the languages are named now.
ALIASES = {"zh": "zh-Hans", "zh-CN": "zh-Hans", "zh-TW": "zh-Hant-TW"}


def _known(code: str | None) -> str | None:
    code = ALIASES.get(code or "", code)
    return code if code in languages() else None


def current_language() -> str:
    """The page's language code: the switch's cookie, else the browser's preference, else English."""
    chosen = _known(request.cookies.get("lang"))
    if chosen:
        return chosen
    wanted = [tag for tag, _ in sorted(request.accept_languages, key=lambda pair: -pair[1])]
    return negotiate(wanted) or ENGLISH.code


def language(code: str | None = None) -> Language:
    """The page's language (or the one named)."""
    code = code or g.get("lang") or current_language()
    return languages().get(ALIASES.get(code, code), ENGLISH)


def languages_shown() -> dict[str, str]:
    """The switch in the header: every language by its name in itself."""
    return {code: lang.name for code, lang in languages().items()}


def N_(text: str) -> str:
    """Marks a message kept as data (translated where it is shown)."""
    return text


def Np_(singular: str, plural: str) -> tuple[str, str]:
    """Marks a message with plural forms kept as data (shown through `ngettext`)."""
    return singular, plural


def gettext(text: str) -> str:
    """The text (or a code, as its words) in the page's language."""
    return language().gettext(_WORDS.get(text, text))


def ngettext(singular: str, plural: str, n: int) -> str:
    """The text for `n` of something, in the page's language and its plural forms."""
    return language().ngettext(singular, plural, n)


def template_words() -> dict:
    """`_` and `ngettext` for one page's templates: the page's language looked up once."""
    lang = language()
    get = lang.gettext
    return {"_": lambda text: get(_WORDS.get(text, text)), "ngettext": lang.ngettext, "page_language": lang}


def cell_words() -> Callable[[str], Markup]:
    """`_` for a table built as text: a code's words (a status, a stage, a level) in the page's
    language, escaped, looked up once a table however many rows repeat it."""
    words = template_words()["_"]
    seen: dict[str, Markup] = {}

    def word(text: str) -> Markup:
        shown = seen.get(text)
        if shown is None:
            shown = seen[text] = escape(words(text))
        return shown

    return word


@bp.before_app_request
def choose_language() -> None:
    g.lang = current_language()


@bp.route("/lang/<code>")
def switch(code: str):
    """The language switch: remembered for a year in a cookie."""
    response = redirect(safe_target(request.args.get("back"), "/"))
    known = _known(code)
    if known:
        response.set_cookie("lang", known, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response


def setting_help(setting) -> str:
    """A setting's help text in the page's language."""
    return language().gettext(setting.help)


def words_in(code: str):
    """`_` for templates compiled in one language (webui/templating.py): text -> its words."""
    get = language(code).gettext
    return lambda text: get(_WORDS.get(text, text))


def code_words() -> dict[str, str]:
    """Every runner-written code in the page's language, for the script that updates pages live."""
    get = language().gettext
    return {code: get(_WORDS[code]) for code in CODES}


_CODE_WORDS_JSON: dict[str, Markup] = {}


def code_words_json() -> Markup:
    """code_words() as the JSON a page carries (made once per language)."""
    code = language().code
    made = _CODE_WORDS_JSON.get(code)
    if made is None:
        made = _CODE_WORDS_JSON[code] = htmlsafe_json_dumps(code_words())
    return made


# Events whose English message only repeats what the kind and the new status say: pages leave
# the message out (in every language: it names the status by its id).
SELF_DESCRIBING = frozenset({"job_created", "job_started", "job_finished", "stage_started", "stage_finished",
                             "items_added", "item_claimed", "item_succeeded", "item_released", "job_paused",
                             "job_resumed", "pause_requested", "cancel_requested", "job_canceled", "job_reprioritized"})


# What an applied command did, in words (the banner after a form): {names} come from its result.
COMMAND_PHRASES = {kind.value: spec.phrase for kind, spec in SPECS.items()}


def command_title(kind: str) -> str:
    """What a command asks for, in the page's language (its kind as written when unknown)."""
    spec = SPECS.get(kind)
    return gettext(spec.title) if spec is not None else kind


def command_phrases() -> dict[str, str]:
    get = language().gettext
    return {kind: get(phrase) for kind, phrase in COMMAND_PHRASES.items()}


def drift_word(kind: str) -> str:
    return gettext(DRIFT_WORDS.get(kind, kind))



def coded_text(code: str, params: Mapping[str, Any], lang: Language | None = None) -> str:
    """A coded message (catalogsync_ops/messages.py) in the page's language: its template and the
    codes among its values translated; a template without a translation reads in English."""
    lang = lang or language()
    return render(code, dict(params), words=lambda c: lang.gettext(code_word(c)), translate=lang.gettext)


def event_message(event: Mapping[str, Any]) -> str | None:
    """An event's message in the page's language when it was written as a code (a stage that
    failed says why), else as the runner wrote it."""
    data = json.loads(event["data_json"]) if event["data_json"] else {}
    reason = data.get("reason") if isinstance(data, dict) else None
    if isinstance(reason, dict) and reason.get("code"):
        return coded_text(reason["code"], reason.get("params") or {})
    return event["message"]


def job_status(job: Mapping[str, Any]) -> str:
    """A job's status in words; a pause or cancel under way says how many items it waits for."""
    status = job["status"]
    if status in ("pause_requested", "cancel_requested") and "stages" in job:
        flying = sum(int(stage.get("started", 0)) for stage in job["stages"])
        words = (Np_("pausing (%(n)s item in flight)", "pausing (%(n)s items in flight)") if status == "pause_requested"
                 else Np_("canceling (%(n)s item in flight)", "canceling (%(n)s items in flight)"))
        return ngettext(*words, flying) % {"n": flying}
    return gettext(status)
