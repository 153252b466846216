"""The product's words: gettext catalogues, one file per language (the console's pages, the
runner's notifications).

English is the source language: a message is its English text, in the code, the templates or a
spec (a setting's help, a command's title, a refusal's template). A code shown to people (a
status, a job type) is first made its English words (`words.code_word`), so a catalogue
translates words, never ids. Every other language is one file,
`catalogsync_ops/translations/<locale>/LC_MESSAGES/messages.po` (Babel's tools and any PO editor read
it); adding a language is adding that file. Plural forms follow the file's `Plural-Forms`.

The catalogues are read once per process (`languages()`), a few milliseconds. They are made and
checked with `python -m webui.catalogue_tool` (extract, update, init, traditional, check).
"""
from __future__ import annotations

import functools
import gettext as stdlib_gettext
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRANSLATIONS = HERE / "translations"
DOMAIN = "messages"


@dataclass(frozen=True)
class Language:
    """One language of the console, as pages use it."""

    code: str  # as the web says it (BCP 47): the cookie, `<html lang>`, the switch's URL
    locale: str  # as its folder is named: zh_Hans
    name: str  # in itself: 中文 (简体)
    messages: Mapping[str, str] = field(default_factory=dict)
    plurals: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    plural: Callable[[int], int] = lambda n: 0 if n == 1 else 1

    def gettext(self, text: str) -> str:
        return self.messages.get(text) or text

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        forms = self.plurals.get(singular)
        if forms:
            return forms[min(self.plural(int(n)), len(forms) - 1)]
        return singular if n == 1 else plural


ENGLISH = Language("en", "en", "English")


def language_codes() -> tuple[str, ...]:
    """The web codes of every language with a catalogue, English first, without reading any
    (a setting's choices: cheap enough for import time)."""
    return ("en", *sorted(path.parent.parent.name.replace("_", "-")
                          for path in TRANSLATIONS.glob(f"*/LC_MESSAGES/{DOMAIN}.po")))


def language_for(code: str | None) -> Language:
    """The language of a web code (English when unknown); English reads no catalogue."""
    if not code or code == ENGLISH.code:
        return ENGLISH
    return languages().get(code, ENGLISH)


def _read(path: Path):
    from babel.messages.pofile import read_po

    with path.open("rb") as handle:
        return read_po(handle, domain=DOMAIN)


def _language(locale: str, path: Path) -> Language:
    from babel import Locale

    catalog = _read(path)
    messages: dict[str, str] = {}
    plurals: dict[str, tuple[str, ...]] = {}
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        if isinstance(message.id, tuple):
            forms = tuple(message.string or ())
            if all(forms):
                plurals[message.id[0]] = forms
        elif message.string:
            messages[message.id] = message.string
    plural = stdlib_gettext.c2py(catalog.plural_expr)
    return Language(locale.replace("_", "-"), locale, Locale.parse(locale).get_display_name(locale), messages,
                    plurals, plural)


@functools.cache
def languages() -> dict[str, Language]:
    """Every language with a catalogue, English first, by its web code."""
    found = {ENGLISH.code: ENGLISH}
    for path in sorted(TRANSLATIONS.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        language = _language(path.parent.parent.name, path)
        found[language.code] = language
    return found


def negotiate(tags: Iterable[str]) -> str | None:
    """The language for the browser's preferences (best first): the exact tag, else the one of
    the same language and script ("zh-TW", "zh-HK" and "zh-Hant" read traditional; "zh", "zh-CN"
    simplified), else the same language."""
    known = languages()
    for tag in tags:
        wanted = tag.replace("_", "-").lower()
        exact = {code.lower(): code for code in known}
        if wanted in exact:
            return exact[wanted]
        parts = wanted.split("-")
        same = [code for code in known if code.lower().split("-")[0] == parts[0]]
        if not same:
            continue
        script = _SCRIPT_OF_REGION.get(parts[1] if len(parts) > 1 else "", "")
        script = next((p for p in parts[1:] if len(p) == 4), script)
        by_script = [code for code in same if script and f"-{script}" in code.lower()]
        return (by_script or same)[0]
    return None


# Regions whose Chinese is written in traditional characters (the others: simplified).
_SCRIPT_OF_REGION = {"tw": "hant", "hk": "hant", "mo": "hant", "cn": "hans", "sg": "hans", "my": "hans"}
