"""Documents generated from the settings table: the env example, docs/config.md and the
README's config table (`python tools/gen_docs.py`; `tests/test_docs.py` fails when stale)."""
from __future__ import annotations

from pathlib import Path

from catalogsync_ops.config.envfile import quote_value
from catalogsync_ops.config.settings import KNOWN_SOURCES, NOTIFY_KINDS, SETTINGS
from catalogsync_ops.quality import RUNGS


def render_env_example() -> str:
    """The content of deploy/catalogsync.env.example, generated from SETTINGS."""
    out = ["# catalogsync.env — settings of runnerd and the web UI.",
           "# Relative paths are resolved against the folder of this file.",
           "# Generated from catalogsync_ops/config/settings.py (python tools/gen_docs.py).", ""]
    group = None
    for setting in SETTINGS:
        if setting.group != group:
            group = setting.group
            out += [f"# --- {group}", ""] if not out[-1] == "" else [f"# --- {group}"]
        allowed = f" Allowed: {', '.join(setting.choices)}." if setting.choices else ""
        out.append(f"# {setting.help}{allowed}")
        out.append(f"{setting.key}={quote_value(setting.default)}")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def render_config_table() -> str:
    """The README's Markdown table of settings, generated from SETTINGS."""
    rows = ["| Key | Default | Meaning |", "|---|---|---|"]
    for setting in SETTINGS:
        default = f"`{setting.default}`" if setting.default else "(empty)"
        allowed = f" One of: {', '.join(f'`{c}`' for c in setting.choices)}." if setting.choices else ""
        secret = " Secret: masked everywhere in the UI." if setting.secret else ""
        rows.append(f"| `{setting.key}` | {default} | {setting.help.replace('|', '/')}{allowed}{secret} |")
    return "\n".join(rows) + "\n"


def render_config_reference() -> str:
    """docs/config.md: every setting by group, with its type, limits and default."""
    out = ["# Configuration reference", "",
           "Generated from `catalogsync_ops/config/settings.py` (`python tools/gen_docs.py`); a test keeps it current.",
           "", "Settings live in `catalogsync.env` (python-dotenv syntax: `KEY=value`, `#` comments, quotes",
           "for values with spaces). Relative paths resolve against the file's folder. Edit them in the",
           "console's Config page (validated, diffed, applied by the runner, revisioned) or in the file",
           "(the runner notices within seconds and records a revision; an invalid edit is recorded and",
           "the last valid config stays in force). `runnerd config check` validates a file.", ""]
    group = None
    for setting in SETTINGS:
        if setting.group != group:
            group = setting.group
            out += [f"## {group}", ""]
        kind = {"path": "path", "dir": "folder", "optdir": "folder (empty: the default place)",
                "choice": "one of " + ", ".join(f"`{c}`" for c in setting.choices),
                "sources": "comma-separated sources (" + ", ".join(f"`{k}`" for k in KNOWN_SOURCES) + ")",
                "ladder": "comma-separated quality rungs, best first (" + ", ".join(f"`{r}`" for r in RUNGS) + ")",
                "layout": "path template", "url": "http(s) URL", "host": "IP address or host name",
                "events": "comma-separated events (" + ", ".join(f"`{k}`" for k in NOTIFY_KINDS) + ")",
                "int": "whole number", "float": "number", "bool": "true or false", "str": "text"}[setting.kind]
        limits = []
        if setting.minimum is not None:
            limits.append(f"at least {setting.minimum:g}")
        if setting.maximum is not None:
            limits.append(f"at most {setting.maximum:g}")
        out.append(f"### `{setting.key}`")
        out.append("")
        out.append(setting.help)
        out.append("")
        out.append(f"- Type: {kind}" + (f" ({', '.join(limits)})" if limits else ""))
        out.append(f"- Default: `{setting.default}`" if setting.default else "- Default: (empty)")
        if setting.secret:
            out.append("- Secret: masked in the console, the API, diffs, job snapshots and logs.")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


TABLE_START, TABLE_END = "<!-- config-table:start -->", "<!-- config-table:end -->"


def write_docs(root: Path) -> None:
    """Regenerate the env example, docs/config.md and the README's config table from SETTINGS."""
    (root / "deploy" / "catalogsync.env.example").write_text(render_env_example(), encoding="utf-8")
    (root / "docs" / "config.md").write_text(render_config_reference(), encoding="utf-8")
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    head, _, rest = text.partition(TABLE_START)
    _, _, tail = rest.partition(TABLE_END)
    readme.write_text(f"{head}{TABLE_START}\n{render_config_table()}{TABLE_END}{tail}", encoding="utf-8")

