"""Regenerate the generated docs: docs/cli.md from the commands' --help, and (through
catalogsync_ops.config.reference) docs/config.md, deploy/catalogsync.env.example and the README's
config table from the settings schema. tests/test_docs.py fails when any of them is stale.

Usage: python tools/gen_docs.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from catalogsync_ops.config.reference import write_docs  # noqa: E402


def _walk(command: click.Command, path: list[str], parent: click.Context | None):
    ctx = command.make_context(path[-1], [], parent=parent, resilient_parsing=True, max_content_width=100,
                               terminal_width=100)
    yield path, ctx
    if isinstance(command, click.Group):
        for name in sorted(command.list_commands(ctx)):
            yield from _walk(command.get_command(ctx, name), [*path, name], ctx)


def render_cli_reference() -> str:
    from runnerd.cli import cli as runnerd_cli
    from webui.cli import cli as web_cli

    out = ["# Command-line reference", "",
           "Generated from the commands' `--help` (`python tools/gen_docs.py`); a test keeps it current.", "",
           "Where each `runnerd` command is defined, by group:", "",
           "| module | commands |", "|---|---|"]
    by_module: dict[str, list[str]] = {}
    for name, sub in sorted(runnerd_cli.commands.items()):
        by_module.setdefault(sub.callback.__module__ if sub.callback else "?", []).append(name)
    out += [f"| `{module.replace('.', '/')}.py` | {', '.join(f'`{n}`' for n in names)} |"
            for module, names in sorted(by_module.items())]
    out.append("")
    for program, command in (("runnerd", runnerd_cli), ("catalogsync-web", web_cli)):
        for path, ctx in _walk(command, [program], None):
            out += [f"{'#' * min(len(path) + 1, 4)} `{' '.join(path)}`", "", "```", ctx.get_help().rstrip(), "```", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def main() -> None:
    write_docs(ROOT)
    (ROOT / "docs" / "cli.md").write_text(render_cli_reference(), encoding="utf-8")


if __name__ == "__main__":
    main()
