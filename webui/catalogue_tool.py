"""Makes and checks the console's catalogues (`webui/catalogue.py` reads them).

    python -m webui.catalogue_tool extract      # translations/messages.pot: every message of the code,
                                                # the templates and the specs
    python -m webui.catalogue_tool update       # merge it into every .po (new messages untranslated,
                                                # gone ones dropped)
    python -m webui.catalogue_tool init LOCALE  # start a language: a .po of every message, untranslated
    python -m webui.catalogue_tool traditional  # zh_Hant_TW made from zh_Hans (OpenCC, Taiwan's words)
    python -m webui.catalogue_tool check        # all translated, none unused, placeholders equal
                                                # (tests/test_catalogue.py holds the same)

Messages come from calls (`_`, `gettext`, `ngettext`, and the markers `N_`, `Np_` for messages
kept as data) in `webui/` and its templates, and from the specs that hold words themselves:
settings' help and groups, commands' titles and phrases, refusals' templates, the codes pages
show as words, and the templates of the runner's log calls.
"""
from __future__ import annotations

import argparse
import io
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from catalogsync_ops.catalogue import DOMAIN, TRANSLATIONS, _read

HERE = Path(__file__).resolve().parent  # the console: its code and templates hold most messages

TEMPLATE = TRANSLATIONS / "messages.pot"
PROJECT = "catalogsync-ops"

PY_KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "Np_": (1, 2)}
PLACEHOLDERS = re.compile(r"%\([a-z_]+\)[sdfr]|%[-#0 +]*\d*(?:\.\d+)?[sdfr]|\{([a-z_]*)(?:![rsa])?\}")


def spec_messages() -> Iterator[tuple[str, str]]:
    """Messages that live in specs, not in calls: (message, where)."""
    from catalogsync_ops.config.settings import SETTINGS
    from catalogsync_ops.engine.command_specs import SPECS
    from catalogsync_ops.engine.queries import LOG_LEVELS
    from catalogsync_ops.messages import MESSAGES
    from webui import i18n

    for setting in SETTINGS:
        yield setting.help, f"setting {setting.key}"
        yield setting.group, "setting groups"
    for kind, spec in SPECS.items():
        yield spec.title, f"command {kind.value}"
        yield spec.phrase, f"command {kind.value}"
    for code, template in MESSAGES.items():
        yield template, f"message {code}"
    for code in i18n.CODES:
        yield i18n.code_word(code), "codes"
    for word in i18n.SUBJECTS:
        yield i18n.code_word(word), "subjects"
    for word in i18n.DRIFT_WORDS.values():
        yield word, "drift kinds"
    for word in i18n.EDGE_WORDS:
        yield word, "words between values"
    for level in LOG_LEVELS:
        yield level, "log levels"
    for template, where in log_templates():
        yield template, where
    from catalogsync_ops.engine import notify

    for key, template in notify.NOTE_WORDS.items():
        yield template, f"notification {key}"
    for key, template in notify.WANTED_WORDS:
        yield template, f"notification wanted {key}"
    from catalogsync_ops.quality import RUNG_LABELS

    for rung, word in RUNG_LABELS.items():
        yield word, f"quality rung {rung}"


LEVELS = {"debug", "info", "warning", "error", "exception", "critical"}


def log_templates() -> Iterator[tuple[str, str]]:
    """Every constant template of a log call (`log.<level>(...)`) in the runner's and the core's
    code: the lines the logs pages show in the reader's language."""
    import ast

    from webui.logtext import UNTRANSLATED

    root = HERE.parent
    for folder in ("runnerd", "catalogsync_ops"):
        for path in sorted((root / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in LEVELS
                        and isinstance(node.func.value, ast.Name) and node.func.value.id in ("log", "logger")
                        and node.args and isinstance(node.args[0], ast.Constant)
                        and node.args[0].value not in UNTRANSLATED):
                    yield node.args[0].value, f"{path.relative_to(root)}:{node.lineno}"
                elif (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                      and node.targets[0].id.endswith("_TEMPLATE") and isinstance(node.value, ast.Constant)):
                    yield node.value.value, f"{path.relative_to(root)}:{node.lineno}"  # a line written directly


def extract():
    """Every message the console can show, as a Babel catalog (the template of every language)."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    catalog = Catalog(project=PROJECT, domain=DOMAIN, charset="utf-8")
    method_map = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
    options = {"**/templates/**.html": {"extensions": "", "trimmed": "false"}}
    for filename, lineno, message, comments, context in extract_from_dir(
            str(HERE), method_map, options_map=options, keywords=PY_KEYWORDS, comment_tags=("translators:",),
            strip_comment_tags=True):
        if Path(filename).parts[0] in ("translations", "static"):
            continue
        catalog.add(message, None, [(f"webui/{filename}", lineno)], auto_comments=comments, context=context)
    for message, where in spec_messages():
        if message:
            catalog.add(message, None, [(where, 0)])
    for message in catalog:
        if message.id and _placeholders(message.id if isinstance(message.id, str) else message.id[0]):
            message.flags.discard("python-format")
    return catalog


def _placeholders(text: str) -> list[str]:
    """The values a message takes: bare %s in order (they are positional), named ones as a set."""
    positional, named = [], set()
    for match in PLACEHOLDERS.finditer(text):
        if match.group(0).startswith("{"):
            named.add("{" + match.group(1) + "}")
        elif match.group(0).startswith("%("):
            named.add(match.group(0))
        else:
            positional.append(match.group(0))
    return positional + sorted(named)


def _po_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def _write(catalog, path: Path, *, locations: bool = False) -> None:
    """Write a catalogue. A language's file leaves out where each message is used (so an edit
    elsewhere does not touch it); the template (`extract`, not kept in the tree) keeps them."""
    from babel.messages.pofile import write_po

    catalog.fuzzy = False
    catalog.copyright_holder = catalog.last_translator = catalog.language_team = "Catalogsync Ops"
    catalog.msgid_bugs_address = ""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, sort_output=True, omit_header=False, include_previous=False,
             no_location=not locations)
    path.write_bytes(buffer.getvalue())


def locales() -> list[str]:
    return sorted(p.parent.parent.name for p in TRANSLATIONS.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def update(template=None) -> None:
    """Merge the messages into every language: new ones untranslated, gone ones dropped."""
    template = template or extract()
    for locale in locales():
        catalog = _read(_po_path(locale))
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        _write(catalog, _po_path(locale))


def init(locale: str) -> Path:
    from babel.messages.catalog import Catalog

    template = extract()
    catalog = Catalog(locale=locale, domain=DOMAIN, project=PROJECT, charset="utf-8")
    catalog.update(template, no_fuzzy_matching=True)
    _write(catalog, _po_path(locale))
    return _po_path(locale)


def traditional(source: str = "zh_Hans", target: str = "zh_Hant_TW", out: Path | None = None) -> Path:
    """The traditional-character catalogue for Taiwan, made from the simplified one by OpenCC
    (s2twp: characters and Taiwan's own words, 软件 → 軟體). Placeholders pass unchanged."""
    from babel.messages.catalog import Catalog
    from opencc import OpenCC

    convert = OpenCC("s2twp").convert
    simplified = _read(_po_path(source))
    made = Catalog(locale=target, domain=DOMAIN, project=PROJECT, charset="utf-8")
    for message in simplified:
        if not message.id:
            continue
        if isinstance(message.string, tuple):
            string = tuple(_keep_placeholders(convert, s) for s in message.string)
        else:
            string = _keep_placeholders(convert, message.string) if message.string else ""
        made.add(message.id, string, message.locations, flags=message.flags, auto_comments=message.auto_comments,
                 context=message.context)
    out = out or _po_path(target)
    _write(made, out)
    return out


def _keep_placeholders(convert: Callable[[str], str], text: str) -> str:
    """`convert` the words of `text`, never its placeholders or what is written in ASCII."""
    parts = re.split(r"(%\([a-z_]+\)[sdfr]|%[-#0 +]*\d*(?:\.\d+)?[sdfr]|\{[a-z_]*\}|[\x00-\x7f]+)", text)
    return "".join(part if i % 2 else convert(part) for i, part in enumerate(parts))


def problems(template=None) -> list[str]:
    """What is wrong with the catalogues: untranslated, unused, or with other placeholders."""
    template = template or extract()
    wanted = {m.id if isinstance(m.id, str) else m.id[0]: m for m in template if m.id}
    found: list[str] = []
    for locale in locales():
        catalog = _read(_po_path(locale))
        have = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalog if m.id}
        for key in sorted(wanted.keys() - have.keys()):
            found.append(f"{locale}: not in the catalogue: {key!r}")
        for key in sorted(have.keys() - wanted.keys()):
            found.append(f"{locale}: no longer used: {key!r}")
        for key, message in have.items():
            if key not in wanted:
                continue
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if isinstance(wanted[key].id, tuple) != isinstance(message.id, tuple):
                found.append(f"{locale}: {key!r} is plural in one place only")
            if message.fuzzy or not all(strings):
                found.append(f"{locale}: not translated: {key!r}")
                continue
            for string in strings:
                if _placeholders(string) not in (_placeholders(ids[0]), _placeholders(ids[-1])):
                    found.append(f"{locale}: {key!r}: placeholders {_placeholders(ids[0])} "
                                 f"became {_placeholders(string)}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webui.catalogue_tool", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("extract", "update", "init", "traditional", "check"))
    parser.add_argument("locale", nargs="?")
    args = parser.parse_args(argv)
    if args.command == "extract":
        _write(extract(), TEMPLATE, locations=True)
        print(f"wrote {TEMPLATE}")
    elif args.command == "update":
        update()
        print(f"updated {', '.join(locales())}")
    elif args.command == "init":
        if not args.locale:
            parser.error("init needs a locale (zh_Hant_HK, ja, …)")
        print(f"wrote {init(args.locale)}: translate its messages, then restart the console")
    elif args.command == "traditional":
        print(f"wrote {traditional()}")
    else:
        found = problems()
        for line in found:
            print(line)
        print(f"{len(found)} problems in {', '.join(locales())}")
        return 1 if found else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
