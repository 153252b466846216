"""Templates compiled once per language.

A page's fixed words (`{{ _("Items") }}`, `label=_('Retry')`) are the same on every request in
one language, so they are looked up when a template is compiled for that language and become
part of its text: each language has its own compiled copy of every template (an overlay of the
app's environment with its own cache). Words made from data (`_(job.status)`) are still looked up
as the page renders. Links to fixed places (`path_for('static', filename='app.css')`) are built
once per mount point.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import g, has_request_context, request, url_for
from flask.templating import Environment
from jinja2 import pass_context
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream
from markupsafe import Markup, escape


class FixedWords(Extension):
    """`_("literal")` becomes the literal's words in the environment's language, at compile time."""

    def filter_stream(self, stream: TokenStream):
        words = getattr(self.environment, "page_words", None)
        if words is None:
            yield from stream
            return
        tokens = list(stream)
        i = 0
        while i < len(tokens):
            t = tokens[i]
            if (t.type == "name" and t.value == "_" and i + 3 < len(tokens) and tokens[i + 1].type == "lparen"
                    and tokens[i + 2].type == "string" and tokens[i + 3].type == "rparen"
                    and (i == 0 or tokens[i - 1].type != "dot")):
                yield Token(t.lineno, "string", words(tokens[i + 2].value))
                i += 4
                continue
            yield t
            i += 1


class PageEnvironment(Environment):
    """The app's environment: a template is taken from the page language's own overlay."""

    page_words = None  # set on each language's overlay: text -> its words in that language

    def for_language(self, code: str):
        overlays = self.__dict__.setdefault("_language_overlays", {})
        env = overlays.get(code)
        if env is None:
            from webui.i18n import words_in

            env = self.overlay(cache_size=400)
            env.page_words = words_in(code)
            env.__dict__["_language_overlays"] = {code: env}
            overlays[code] = env
        return env

    def get_template(self, name, parent=None, globals=None):
        if self.page_words is None and has_request_context() and g.get("lang"):
            return self.for_language(g.lang).get_template(name, parent, globals)
        return super().get_template(name, parent, globals)


def with_query(path: str, **values: Any) -> str:
    """`path` with the values given (None left out) as its query: a filter's link, made without
    going through the URL map again (url_for, the same result at ten times the cost)."""
    shown = {k: v for k, v in values.items() if v is not None}
    return f"{path}?{urlencode(shown)}" if shown else path


def this_page() -> str:
    """Where a form on this page sends the person back to: this page with its filters, without
    the banner of the last command (the next one brings its own)."""
    kept = [(k, v) for k, v in request.args.items(multi=True) if k != "command"]
    return f"{request.path}?{urlencode(kept)}" if kept else request.path


_PATHS: dict[tuple, str] = {}


def path_for(endpoint: str, **values: Any) -> str:
    """url_for for a link whose arguments never change (a static file, the menu): built once per
    mount point (the request's script root) and remembered."""
    key = (request.script_root, endpoint, tuple(sorted(values.items())))
    path = _PATHS.get(key)
    if path is None:
        path = _PATHS[key] = url_for(endpoint, **values)
    return path


@pass_context
def command_form(context, kind: str, label: str, fields: dict | None = None, back: str | None = None) -> Markup:
    """A one-button form that creates one command: `kind` with `fields`, then back to `back` (by
    default the page's own `back`). The page's nonce, the command and its fields make the form's
    nonce, so a form posted twice makes one command. Built as text: a template included per
    button cost a context and a lookup each."""
    fields = fields or {}
    back = context.get("back") if back is None else back
    nonce = f"{context.get('form_nonce', '')}-{kind}-{'-'.join(str(v) for v in fields.values())}"
    hidden = "".join(f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
                     for name, value in fields.items())
    return Markup(
        f'<form method="post" action="{path_for("pages.submit")}" class="inline">\n'
        f'  <input type="hidden" name="csrf_token" value="{escape(context["csrf_token"]())}">\n'
        f'  <input type="hidden" name="nonce" value="{escape(nonce)}">\n'
        f'  <input type="hidden" name="kind" value="{escape(kind)}">\n'
        f'  <input type="hidden" name="back" value="{escape(back or "")}">\n'
        f'  {hidden}\n'
        f'  <button type="submit" data-action="{escape(kind)}">{escape(label)}</button>\n'
        '</form>')
