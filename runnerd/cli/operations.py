"""Running it: `init` a home, `run` the daemon, `backup` and `restore` the database, serve
the demo platform, and `probe` what a playlist URL holds."""
from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import click

from catalogsync_ops.config.envfile import check_text, load_config, set_values
from catalogsync_ops.config.reference import render_env_example
from catalogsync_ops.config.revisions import record_revision
from catalogsync_ops.config.settings import SETTINGS
from catalogsync_ops.errors import CatalogsyncError
from catalogsync_ops.fileio import RUNNER_LOG, add_log_file
from catalogsync_ops.store.database import open_database, open_secret_files
from runnerd.cli.base import Context, cli, pass_ctx


@cli.command()
@click.option("--home", type=click.Path(path_type=Path), required=True,
              help="Folder for the env file, database, library, input pools, logs and mirror.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="A setting of the new env file other than its default (repeatable), e.g. LIBRARY_DIR=/music.")
def init(home: Path, settings: tuple[str, ...]) -> None:
    """Create a working home: env file, migrated database and folders."""
    home = home.expanduser().resolve()
    env_path = home / "catalogsync.env"
    if env_path.exists():
        raise click.ClickException(f"{env_path} already exists; not overwriting it. Edit it, or choose another --home.")
    home.mkdir(parents=True, exist_ok=True)
    text = render_env_example()
    paths = {"DB_PATH": home / "catalogsync.db", "LIBRARY_DIR": home / "library", "INPUT_DIR": home / "input",
             "LOG_DIR": home / "logs", "MIRROR_DIR": home / "mirror"}
    lines = []
    for line in text.splitlines():
        key = line.split("=", 1)[0]
        lines.append(f"{key}={paths[key]}" if key in paths and "=" in line else line)
    text = "\n".join(lines) + "\n"
    changes = dict(item.split("=", 1) for item in settings if "=" in item)
    if len(changes) != len(settings) or not set(changes) <= {s.key for s in SETTINGS}:
        wrong = [item for item in settings if "=" not in item or item.split("=", 1)[0] not in {s.key for s in SETTINGS}]
        raise click.ClickException(f"--set takes KEY=VALUE with a known KEY (runnerd config keys): {', '.join(wrong)}")
    text = set_values(text, changes)
    config, problems = check_text(text, home)
    if config is None:  # the generated file must always validate; a --set value must too
        raise click.ClickException("generated env file is invalid: " + "; ".join(map(str, problems)))
    paths["DB_PATH"] = Path(config["DB_PATH"])
    for key in ("LIBRARY_DIR", "INPUT_DIR", "LOG_DIR", "MIRROR_DIR"):
        Path(config[key]).mkdir(parents=True, exist_ok=True)
    env_path.write_text(text, encoding="utf-8")
    env_path.chmod(0o600)
    try:
        conn = open_database(paths["DB_PATH"])
    except CatalogsyncError as exc:
        raise click.ClickException(str(exc)) from None
    record_revision(conn, env_path, text, source="init", note="created by runnerd init")
    conn.close()
    for problem in open_secret_files(paths["DB_PATH"], env_path):
        click.echo(f"warning: {problem}", err=True)
    click.echo(f"Created {env_path}")
    click.echo(f"Database {paths['DB_PATH']} is ready; drop playlist pool files (*.txt) into {config['INPUT_DIR']}.")
    click.echo(f"Next: export CATALOGSYNC_ENV_FILE={env_path} and run `runnerd run`.")


@cli.command()
@click.option("--burst", is_flag=True, help="Apply pending commands, run everything runnable, then exit.")
@click.option("--if-not-running", is_flag=True,
              help="Exit 0 with a message when another runnerd already runs on this database (for boot-up tasks).")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@pass_ctx
def run(ctx: Context, burst: bool, if_not_running: bool, log_level: str) -> None:
    """Run the daemon: apply commands and work the queue until SIGTERM (exit 0).

    Exits 2 when it cannot start (another runner holds the database, a bad config, a database
    on a network share, a database from a newer release); the message says what to do.
    """
    import logging

    from runnerd.daemon import AlreadyRunning, Options, Runner, StartupError

    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        add_log_file(load_config(ctx.env_file)["LOG_DIR"], RUNNER_LOG, log_level.upper())
    except CatalogsyncError:
        pass  # the runner says what is wrong with the file as it starts
    try:
        runner = Runner(Options(env_path=ctx.env_file, db_path=ctx.db_override, burst=burst))
        code = runner.run()
    except AlreadyRunning as exc:
        if if_not_running:
            click.echo(f"runnerd: already running, nothing to do: {exc}", err=True)
            sys.exit(0)
        click.echo(f"runnerd: {exc}", err=True)
        sys.exit(2)
    except StartupError as exc:
        click.echo(f"runnerd: {exc}", err=True)
        sys.exit(2)
    except sqlite3.OperationalError as exc:
        from runnerd.health import is_disk_full

        if not is_disk_full(exc):
            raise
        # Full before it could start (while running, the runner waits for space instead).
        click.echo(f"runnerd: the disk under the database is full ({exc}); free space there (old backups in "
                   "backups/, logs) and start runnerd again", err=True)
        sys.exit(2)
    sys.exit(code)


@cli.command()
@click.argument("dest", type=click.Path(path_type=Path))
@pass_ctx
def backup(ctx: Context, dest: Path) -> None:
    """Copy the database to DEST (a file, or a folder for a dated file) while everything runs.

    Uses SQLite's online backup API: the copy is consistent even while runnerd and the console
    write. It holds the whole state: jobs, items and attempts, the catalog, config revisions
    (every version of the env file), users and API tokens. Keep the env file's secrets in mind
    when you store it.
    """
    from catalogsync_ops.store.backup import backup_to

    path = backup_to(ctx.conn, dest)
    click.echo(f"Backed up {ctx.db_path()} to {path} ({path.stat().st_size / 2**20:.1f} MiB)")


@cli.command()
@click.argument("src", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def restore(ctx: Context, src: Path, yes: bool) -> None:
    """Replace the database with the backup SRC (stop runnerd first).

    The current database is copied to backups/ beside it first, so a restore can be undone
    with another restore. An older backup is migrated to this release's schema.
    """
    from catalogsync_ops.store.backup import inspect_backup, restore_from
    from runnerd.lock import RunnerLock, RunnerLockHeld

    db_path = ctx.db_path()
    try:
        version = inspect_backup(src)
    except CatalogsyncError as exc:
        raise click.ClickException(str(exc)) from None
    lock = RunnerLock(db_path)
    try:
        lock.acquire()  # no runner may start while the file is replaced
    except RunnerLockHeld as exc:
        raise click.ClickException(f"stop runnerd before restoring: {exc}") from None
    try:
        if not yes:
            click.confirm(f"Replace {db_path} with {src} (schema v{version})?", abort=True)
        safety, _ = restore_from(src, db_path)
        conn = open_database(db_path)  # migrates an older backup
        conn.close()
    except CatalogsyncError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        lock.release()
    click.echo(f"Restored {db_path} from {src}; the database as it was is kept at {safety}")


@cli.command()
@pass_ctx
def compact(ctx: Context) -> None:
    """Give the database's free space back to the disk (stop runnerd first).

    Pruned history leaves free pages; a database made by this release gives them back a few at
    a time by itself. An older one keeps them until it is compacted once: this rewrites the
    file (it needs free space its size) and switches it to giving space back by itself.
    """
    from catalogsync_ops.store.sizes import compact as compact_database
    from runnerd.lock import RunnerLock, RunnerLockHeld

    lock = RunnerLock(ctx.db_path())
    try:
        lock.acquire()  # a rewrite holds the write lock for as long as it takes: no runner meanwhile
    except RunnerLockHeld as exc:
        raise click.ClickException(f"stop runnerd before compacting: {exc}") from None
    try:
        before, after = compact_database(ctx.conn)
    except CatalogsyncError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        lock.release()
    click.echo(f"Compacted {ctx.db_path()}: {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB; from now on "
               "pruned history gives its space back by itself")


@cli.command(name="demo-server")
@click.option("--port", default=8765, show_default=True, help="Port on 127.0.0.1 (0 picks a free one).")
@click.option("--pool-file", type=click.Path(path_type=Path), help="Write a pool file listing the demo playlists here.")
@click.option("--fail-rate", default=0.0, help="Share of audio requests answered 503 (0–1).")
@click.option("--cut-short-rate", default=0.0, help="Share of audio bodies cut off halfway (0–1).")
@click.option("--slow-ms", default=0, help="Delay before every 64 KiB of audio.")
@click.option("--songs", default=0, show_default=True, help="Add a playlist of this many generated songs.")
@click.option("--playlists", default=1, show_default=True,
              help="Spread the generated songs over this many playlists (a library at scale).")
@click.option("--song-seconds", type=float, default=None, help="Length of every song (default: 2–3 s; 30 s generated).")
@click.option("--not-found", default="", help="Comma-separated song ids whose audio answers 404 (e.g. s05,s12).")
@click.option("--ignore-range", is_flag=True, help="Answer a Range request with the whole body (200).")
@click.option("--api-fail-rate", default=0.0, help="Share of JSON API calls answered 500 (0–1).")
def demo_server(port: int, pool_file: Path | None, fail_rate: float, cut_short_rate: float, slow_ms: int,
                songs: int, playlists: int, song_seconds: float | None, not_found: str, ignore_range: bool,
                api_fail_rate: float) -> None:
    """Run the demo platform on 127.0.0.1 until Ctrl-C (faults can also be changed at /_control/faults)."""
    import signal
    import threading

    from catalogsync_ops.demo.server import DemoServer

    try:
        server = DemoServer(port, songs=songs, song_seconds=song_seconds, playlists=max(1, playlists))
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}; pick another --port") from None
    server.set_faults(fail_rate=fail_rate, cut_short_rate=cut_short_rate, slow_ms=slow_ms, ignore_range=ignore_range,
                      api_fail_rate=api_fail_rate, not_found=[s.strip() for s in not_found.split(",") if s.strip()])
    if pool_file:
        server.write_pool_file(pool_file)
        click.echo(f"wrote {pool_file}")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    click.echo(f"demo platform at {server.base_url} (set DEMO_BASE_URL={server.base_url}); Ctrl-C stops it")
    urls = server.playlist_urls()
    for url in urls[:30]:
        click.echo(f"  {url}")
    if len(urls) > 30:
        click.echo(f"  … and {len(urls) - 30} more (--pool-file lists them all)")
    stop.wait()
    server.shutdown()
    server.server_close()
