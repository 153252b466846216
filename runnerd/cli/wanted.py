"""`runnerd wanted …`: the wanted songs the library could not get, and the owner's word on them."""
from __future__ import annotations

import json

import click

from catalogsync_ops.engine.commands import CommandKind
from catalogsync_ops.engine.queries import WANTED_STATES, missing_counts, missing_songs
from runnerd.cli.base import Context, cli, command_options, echo_json, pass_ctx, submit


@cli.group()
def wanted() -> None:
    """Wanted songs that are missing or unavailable, and marking them."""


def format_missing(row: dict) -> str:
    """One line per song: id, state, since, nights, attempts, last failure, the song."""
    artists = ", ".join(json.loads(row["artists"] or "[]"))
    why = f"[{row['last_error_class']}] {(row['last_error'] or '')[:100]}" if row["last_error_class"] else ""
    by = " (by you)" if row["marked_by"] == "owner" else ""
    again = f", tried again after {row['recheck_after'][:10]}" if row["recheck_after"] else ""
    return (f"{row['song_id']:>7}  {row['state']}{by}{again} since {row['since'][:10]}, {row['nights']} nights, "
            f"{row['attempts']} attempts  {artists} - {row['title']}  {why}").rstrip()


@wanted.command(name="list")
@click.option("--state", type=click.Choice(WANTED_STATES), help="Only songs in this state.")
@click.option("--after", "after_id", type=int, default=0, help="Songs after this song id (the next page).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_ctx
def wanted_list(ctx: Context, state: str | None, after_id: int, limit: int, as_json: bool) -> None:
    """Wanted songs the library does not have: missing (tried and failed) or unavailable."""
    rows = missing_songs(ctx.conn, state=state, after_id=after_id, limit=limit)
    if as_json:
        return echo_json({"counts": missing_counts(ctx.conn), "songs": rows})
    counts = missing_counts(ctx.conn)
    click.echo(f"{counts['missing']} missing, {counts['unavailable']} unavailable")
    for row in rows:
        click.echo(format_missing(row))


@wanted.command(name="mark-unavailable")
@click.argument("song_ids", nargs=-1, type=click.IntRange(min=1), required=True)
@command_options
@pass_ctx
def wanted_mark_unavailable(ctx: Context, song_ids: tuple[int, ...], wait: bool, timeout: float,
                            as_json: bool) -> None:
    """Stop trying SONG_IDS: no download takes them until they are marked wanted again."""
    submit(ctx, CommandKind.MARK_UNAVAILABLE, {"song_ids": list(song_ids)}, wait, timeout, as_json)


@wanted.command(name="mark-wanted")
@click.argument("song_ids", nargs=-1, type=click.IntRange(min=1), required=True)
@command_options
@pass_ctx
def wanted_mark_wanted(ctx: Context, song_ids: tuple[int, ...], wait: bool, timeout: float, as_json: bool) -> None:
    """Want SONG_IDS again: the next download tries them."""
    submit(ctx, CommandKind.MARK_WANTED, {"song_ids": list(song_ids)}, wait, timeout, as_json)
