"""`runnerd export-playlists`: the library as the music player sees it."""
from __future__ import annotations

from pathlib import Path

import click

from catalogsync_ops.config.envfile import load_config
from catalogsync_ops.errors import ConfigError
from catalogsync_ops.library.export import export_folder, export_playlists
from runnerd.cli.base import Context, cli, echo_json, pass_ctx


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
