"""`runnerd config …`: show, check, apply, roll back and diff catalogsync.env."""
from __future__ import annotations

import difflib
import sys
from pathlib import Path

import click

from catalogsync_ops.config.envfile import (
    check_text,
    mask_text,
    parse_env_text,
    problems_with,
    read_env_file,
    set_values,
)
from catalogsync_ops.config.revisions import diff_revisions, list_revisions, read_env_text
from catalogsync_ops.config.settings import SETTINGS, SETTINGS_BY_KEY
from catalogsync_ops.engine.commands import CommandKind
from catalogsync_ops.errors import CatalogsyncError
from catalogsync_ops.store.database import open_secret_files
from runnerd.cli.base import Context, cli, command_options, pass_ctx, submit


@cli.group()
def config() -> None:
    """Show, check, change and roll back catalogsync.env."""


@config.command(name="show")
@pass_ctx
def config_show(ctx: Context) -> None:
    """Print the env file with secrets masked."""
    click.echo(mask_text(read_env_text(ctx.env_file)), nl=False)


@config.command(name="check")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=False)
@pass_ctx
def config_check(ctx: Context, file: Path | None) -> None:
    """Validate an env file (default: the one in use); exit 1 on errors."""
    path = file or ctx.env_file
    config, problems = check_text(read_env_file(path), path.resolve().parent)
    for problem in problems:
        click.echo(f"{path}: {problem.severity}: {problem}", err=problem.severity == "error")
    errors = problems_with(problems, "error")
    if errors:
        sys.exit(1)
    click.echo(f"{path}: OK" + (f" ({len(problems)} warnings)" if problems else ""))
    for problem in open_secret_files(config["DB_PATH"], path):
        click.echo(f"warning: {problem}")
    # After an upgrade: settings this release added are not in the file; their defaults apply.
    present = set(parse_env_text(read_env_file(path)).values)
    missing = [s for s in SETTINGS if s.key not in present]
    if missing:
        click.echo(f"{len(missing)} settings are not in the file and use their defaults "
                   f"(see `runnerd config keys` or deploy/catalogsync.env.example to set them):")
        for setting in missing:
            click.echo(f"  {setting.key}={'********' if setting.secret and setting.default else setting.default}")


@config.command(name="apply")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--note", default=None)
@command_options
@pass_ctx
def config_apply(ctx: Context, file: Path, note: str | None, wait: bool, timeout: float, as_json: bool) -> None:
    """Propose FILE's content as the new env; the runner validates and writes it."""
    submit(ctx, CommandKind.APPLY_CONFIG, {"content": read_env_file(file), "note": note},
            wait, timeout, as_json)


@config.command(name="set")
@click.argument("pairs", nargs=-1, required=True, metavar="KEY VALUE [KEY VALUE]...")
@click.option("--note", default=None, help="Why (kept with the revision).")
@command_options
@pass_ctx
def config_set(ctx: Context, pairs: tuple[str, ...], note: str | None, wait: bool, timeout: float,
               as_json: bool) -> None:
    """Change settings without editing the file: the runner validates and writes the new env
    (a revision, as from the console). Other lines and comments stay as they are."""
    if len(pairs) % 2:
        raise click.UsageError(f"{pairs[-1]!r} has no value: give KEY VALUE pairs (an empty value is '')")
    changes = dict(zip(pairs[::2], pairs[1::2], strict=True))
    unknown = [key for key in changes if key not in SETTINGS_BY_KEY]
    if unknown:
        hints = {key: difflib.get_close_matches(key.upper(), SETTINGS_BY_KEY, n=1) for key in unknown}
        said = "; ".join(f"{key} (did you mean {hints[key][0]}?)" if hints[key] else key for key in unknown)
        raise click.ClickException(f"unknown setting: {said}; `runnerd config keys` lists them all")
    text = set_values(read_env_text(ctx.env_file), changes)
    _, problems = check_text(text, ctx.env_file.resolve().parent)
    errors = problems_with(problems, "error")
    if errors:
        raise click.ClickException("; ".join(str(p) for p in errors) + " (nothing was changed)")
    submit(ctx, CommandKind.APPLY_CONFIG, {"content": text, "note": note or f"runnerd config set {' '.join(changes)}"},
           wait, timeout, as_json)


@config.command(name="rollback")
@click.argument("revision_id", type=int)
@click.option("--note", default=None)
@command_options
@pass_ctx
def config_rollback(ctx: Context, revision_id: int, note: str | None, wait: bool, timeout: float,
                    as_json: bool) -> None:
    """Make an earlier revision current again."""
    submit(ctx, CommandKind.ROLLBACK_CONFIG, {"revision_id": revision_id, "note": note}, wait, timeout, as_json)


@config.command(name="revisions")
@click.option("--limit", default=20, show_default=True)
@pass_ctx
def config_revisions(ctx: Context, limit: int) -> None:
    """List revisions of the env file, newest first."""
    for rev in list_revisions(ctx.conn, limit=limit):
        click.echo(f"{rev['id']:>5}  {rev['created_at']}  {rev['source']:<9} {rev['status']:<8} {rev['note'] or ''}")


@config.command(name="diff")
@click.argument("old_id", type=int)
@click.argument("new_id", type=int, required=False)
@pass_ctx
def config_diff(ctx: Context, old_id: int, new_id: int | None) -> None:
    """Diff a revision against another one or against the current file (secrets masked)."""
    try:
        click.echo(diff_revisions(ctx.conn, old_id, new_id, ctx.env_file) or "(no differences)", nl=False)
    except CatalogsyncError as exc:
        raise click.ClickException(str(exc)) from None


@config.command(name="keys")
def config_keys() -> None:
    """List every known setting with its default and meaning."""
    for setting in SETTINGS:
        click.echo(f"{setting.key:<28} {setting.default or '(empty)':<32} {setting.help}")
