"""`runnerd coverage`, `missing`, `drift`, `repair` and `export-playlists`: is the library
complete and intact, and the library as the music player sees it."""
from __future__ import annotations

import json
from pathlib import Path

import click

from catalogsync_ops.config.envfile import load_config
from catalogsync_ops.engine.commands import REPAIRABLE_DRIFT, CommandKind
from catalogsync_ops.errors import ConfigError
from catalogsync_ops.library.coverage import compute_coverage, missing_csv, missing_json, read_all_coverage
from catalogsync_ops.library.coverage import missing as missing_songs
from catalogsync_ops.library.drift import DriftKind, drift_counts, list_drift
from catalogsync_ops.library.export import MARK, export_folder, export_playlists
from catalogsync_ops.quality import shares_text
from runnerd.cli.base import Context, cli, command_options, echo_json, pass_ctx, submit


@cli.command(name="export-playlists")
@click.option("--to", "folder", type=click.Path(path_type=Path, file_okay=False),
              help="Folder to write to (default: PLAYLIST_EXPORT_DIR, else LIBRARY_DIR/Playlists).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_ctx
def export_playlists_command(ctx: Context, folder: Path | None, as_json: bool) -> None:
    """Write every playlist as an M3U8 file now (the runner does it after each job)."""
    try:
        config = load_config(ctx.env_file)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    folder = folder or export_folder(config)
    if folder is None:
        raise click.ClickException("PLAYLIST_EXPORT is false; pass --to FOLDER to write them anyway")
    try:
        summary = export_playlists(ctx.conn, Path(config["LIBRARY_DIR"]), folder.resolve())
    except OSError as exc:
        raise click.ClickException(f"cannot write playlists to {str(folder)!r}: {exc.strerror or exc}") from None
    if as_json:
        return echo_json(summary.as_dict())
    click.echo(f"{summary.playlists} playlists in {summary.folder}: {len(summary.written)} written, "
               f"{summary.unchanged} unchanged, {len(summary.removed)} removed; {summary.songs} songs listed, "
               f"{summary.missing} not in the library yet")
    for name in summary.kept:
        click.echo(f"{name} is not ours (no {MARK} line), so it is kept; its playlist is written beside it with its"
                   " id in the name")


def _library_root(ctx: Context) -> str:
    try:
        return str(load_config(ctx.env_file)["LIBRARY_DIR"])
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _playlist(ctx: Context, playlist_id: int | None) -> None:
    if playlist_id is not None and not ctx.conn.execute("SELECT 1 FROM playlists WHERE id = ?",
                                                        (playlist_id, )).fetchone():
        raise click.ClickException(f"playlist {playlist_id} does not exist; `runnerd coverage` lists them")


@cli.command()
@click.option("--playlist", "playlist_id", type=int, help="One playlist (its id, as listed).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_ctx
def coverage(ctx: Context, playlist_id: int | None, as_json: bool) -> None:
    """Is the library complete? Songs wanted, in the library, backed up, failed (why), not yet tried."""
    _playlist(ctx, playlist_id)
    stored = read_all_coverage(ctx.conn)
    if not stored:  # no job has finished on this database yet: count now
        stored = {pid: {**c, "updated_at": None} for pid, c in compute_coverage(ctx.conn, _library_root(ctx)).items()}
    titles = {r[0]: r[1] for r in ctx.conn.execute("SELECT id, COALESCE(NULLIF(title, ''), url) FROM playlists")}
    chosen = [playlist_id] if playlist_id is not None else [0] + sorted(p for p in stored if p)
    rows = [{"playlist_id": p or None, "playlist": titles.get(p, "all playlists"), **stored.get(p, {})} for p in chosen]
    if as_json:
        return echo_json(rows if playlist_id is None else rows[0])
    for row in rows:
        if "wanted" not in row:
            click.echo(f"{row['playlist']}: not counted yet (the runner counts after each job)")
            continue
        failed = ", ".join(f"{k} {n}" for k, n in row["failed_by_class"].items())
        share = f"{100 * row['in_library'] / row['wanted']:.0f}%" if row["wanted"] else "—"
        click.echo(f"{row['playlist']}: {row['in_library']}/{row['wanted']} in the library ({share}), "
                   f"{row['backed_up']} backed up, {row['failed']} failed{f' ({failed})' if failed else ''}, "
                   f"{row['untried']} not yet tried, {row['unresolved']} unresolved")
        if row.get("quality"):
            click.echo(f"  quality: {shares_text(row['quality'])}")
    when = rows[0].get("updated_at")
    if not as_json:
        click.echo(f"counted {when[:19].replace('T', ' ')} UTC" if when else "counted just now")


@cli.command()
@click.option("--playlist", "playlist_id", type=int, help="One playlist (its id); default: all.")
@click.option("--format", "form", type=click.Choice(["csv", "json", "text"]), default="text", show_default=True,
              help="csv is UTF-8 with a byte-order mark, for Excel.")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), help="Write to a file instead.")
@pass_ctx
def missing(ctx: Context, playlist_id: int | None, form: str, output: Path | None) -> None:
    """The songs of your playlists that are not in the library, and why."""
    _playlist(ctx, playlist_id)
    rows = missing_songs(ctx.conn, _library_root(ctx), playlist_id)
    if form == "csv":
        text = missing_csv(rows)
    elif form == "json":
        text = json.dumps(missing_json(rows), ensure_ascii=False, indent=2) + "\n"
    else:
        text = "".join(f"{r['playlist']} #{r['position']}: {r['artists']} - {r['title']}: "
                       f"{r['state']}{' [' + r['error_class'] + ']' if r['error_class'] else ''}\n" for r in rows)
        text += f"{len(rows)} songs missing\n"
    if output:
        output.write_text(text, encoding="utf-8", newline="")
        click.echo(f"{len(rows)} missing songs written to {output}", err=True)
    else:
        click.echo(text, nl=False)


@cli.command()
@click.option("--kind", type=click.Choice([k.value for k in DriftKind]), help="Only this kind.")
@click.option("--all", "include_resolved", is_flag=True, help="Also what a later verify or repair resolved.")
@click.option("--limit", default=500, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_ctx
def drift(ctx: Context, kind: str | None, include_resolved: bool, limit: int, as_json: bool) -> None:
    """What the last verify found: files missing or changed, objects missing or changed, orphans."""
    rows = list_drift(ctx.conn, kind=kind, include_resolved=include_resolved, limit=limit)
    if as_json:
        return echo_json({"counts": drift_counts(ctx.conn), "drift": rows})
    for row in rows:
        click.echo(f"{row['id']:>6}  {row['kind']:<14} {row['status']:<9} {row['place']}: {row['path']}"
                   f"  ({row['detail']})")
    counts = drift_counts(ctx.conn)
    if not counts:
        last = ctx.conn.execute("SELECT id, status, finished_at FROM job_runs WHERE job_type = 'verify'"
                                " ORDER BY id DESC LIMIT 1").fetchone()
        click.echo("No drift." + (f" Last verify: job {last['id']}, {last['status']}." if last else
                                  " No verify has run yet: `runnerd enqueue verify`."))
    else:
        click.echo(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) +
                   " (repair: `runnerd repair`, or `--kind KIND`; an orphan is only reported)")


@cli.command()
@click.argument("drift_ids", nargs=-1, type=int)
@click.option("--kind", type=click.Choice(REPAIRABLE_DRIFT), help="All open drift of this kind.")
@command_options
@pass_ctx
def repair(ctx: Context, drift_ids: tuple[int, ...], kind: str | None, wait: bool, timeout: float,
           as_json: bool) -> None:
    """Queue a repair: drifted files downloaded again, missing objects uploaded again (no ids: all open drift)."""
    counts = drift_counts(ctx.conn, status="open")
    if not any(n for k, n in counts.items() if k in REPAIRABLE_DRIFT and (kind is None or k == kind)):
        raise click.ClickException("there is no open drift to repair" + (f" of kind {kind}" if kind else "") +
                                   "; `runnerd drift` lists what the last verify found")
    payload: dict = {}
    if drift_ids:
        payload["drift_ids"] = list(drift_ids)
    if kind:
        payload["kind"] = kind
    submit(ctx, CommandKind.REPAIR_DRIFT, payload, wait, timeout, as_json)
