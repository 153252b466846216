"""`runnerd`: the daemon's command line. Everything but `run` reads state and writes commands."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from catalogsync_ops import __version__
from catalogsync_ops.commands import CommandKind, get_command, submit_command
from catalogsync_ops.config import (
    SETTINGS,
    check_text,
    decode_env_bytes,
    load_config,
    mask_text,
    parse_env_text,
    problems_with,
    render_env_example,
)
from catalogsync_ops.db import Connection, open_database
from catalogsync_ops.errors import CatalogsyncError, ConfigError
from catalogsync_ops.queries import job_detail, list_items, list_jobs, status_summary
from catalogsync_ops.revisions import diff_revisions, list_revisions, read_env_text, record_revision
from catalogsync_ops.states import ErrorClass, ItemStatus, JobStatus, JobType

EXIT_REJECTED = 1
EXIT_RUNNER_DOWN = 3
EXIT_TIMEOUT = 4


class Context:
    """Options shared by every subcommand; the database is opened on first use."""

    def __init__(self, env_file: Path, db: Path | None) -> None:
        self.env_file = env_file
        self.db_override = db
        self._conn: Connection | None = None

    def db_path(self) -> Path:
        if self.db_override:
            return self.db_override
        if not self.env_file.exists():
            raise click.ClickException(
                f"No env file at {str(self.env_file)!r} and no --db given. Run `runnerd init --home DIR` "
                "first, or pass --env-file (or set CATALOGSYNC_ENV_FILE).")
        try:
            return load_config(self.env_file)["DB_PATH"]
        except ConfigError:
            # A broken file must not lock a person out of status and config commands.
            parsed = parse_env_text(decode_env_bytes(self.env_file.read_bytes()))
            raw = parsed.values.get("DB_PATH") or "catalogsync.db"
            path = Path(raw)
            return path if path.is_absolute() else self.env_file.resolve().parent / path

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            try:
                self._conn = open_database(self.db_path())
            except CatalogsyncError as exc:
                raise click.ClickException(str(exc)) from None
        return self._conn


pass_ctx = click.make_pass_decorator(Context)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--env-file", type=click.Path(path_type=Path), envvar="CATALOGSYNC_ENV_FILE",
              default="catalogsync.env", show_default=True, help="The catalogsync.env to use.")
@click.option("--db", type=click.Path(path_type=Path), envvar="CATALOGSYNC_DB",
              help="Database file (default: DB_PATH from the env file).")
@click.version_option(__version__, prog_name="runnerd")
@click.pass_context
def cli(click_ctx: click.Context, env_file: Path, db: Path | None) -> None:
    """Run and control the Catalogsync pipeline (collect → sync → download → upload)."""
    click_ctx.obj = Context(env_file, db)


# ---------------------------------------------------------------- init


@cli.command()
@click.option("--home", type=click.Path(path_type=Path), required=True,
              help="Folder for the env file, database, library, input pools, logs and mirror.")
def init(home: Path) -> None:
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
    config, problems = check_text(text, home)
    if config is None:  # the generated file must always validate
        raise click.ClickException("generated env file is invalid: " + "; ".join(map(str, problems)))
    for key in ("LIBRARY_DIR", "INPUT_DIR", "LOG_DIR", "MIRROR_DIR"):
        paths[key].mkdir(parents=True, exist_ok=True)
    env_path.write_text(text, encoding="utf-8")
    env_path.chmod(0o600)
    try:
        conn = open_database(paths["DB_PATH"])
    except CatalogsyncError as exc:
        raise click.ClickException(str(exc)) from None
    record_revision(conn, env_path, text, source="init", note="created by runnerd init")
    conn.close()
    click.echo(f"Created {env_path}")
    click.echo(f"Database {paths['DB_PATH']} is ready; drop playlist pool files (*.txt) into {paths['INPUT_DIR']}.")
    click.echo(f"Next: export CATALOGSYNC_ENV_FILE={env_path} and run `runnerd run`.")


# ---------------------------------------------------------------- status and listings


def _format_status(summary: dict[str, Any]) -> str:
    runner = summary["runner"]
    lines = []
    if runner["state"] == "up":
        lines.append(f"runner: up (pid {runner['pid']} on {runner['host']}, heartbeat {runner['heartbeat_age_s']}s ago)")
    elif runner["state"] == "stopped":
        lines.append(f"runner: stopped at {runner['stopped_at']} (pid {runner['pid']} on {runner['host']}) "
                     "— start it with `runnerd run`")
    elif runner["state"] == "down":
        lines.append(f"runner: DOWN since {runner['heartbeat_at']} (last pid {runner['pid']} on {runner['host']}) "
                     "— start it with `runnerd run`")
    else:
        lines.append("runner: not running (no runner heartbeat yet) — start it with `runnerd run`")
    if runner["paused"]:
        lines.append(f"runner-wide pause: ON since {runner['paused_at']}"
                     + (f" ({runner['pause_reason']})" if runner["pause_reason"] else ""))
    lines.append(f"commands pending: {summary['pending_commands']}")
    job = summary["active_job"]
    if job:
        lines.append(f"active job {job['id']} ({job['job_type']}): {job['status']}")
        for stage in job["stages"]:
            c = stage["counts"]
            lines.append(f"  {stage['stage_type']:<9} {stage['status']:<22} {stage['done']}/{stage['total']} done"
                         f"  running {c['running']}  failed {c['failed']}  queued {c['queued']}")
    else:
        lines.append("active job: none")
    queued = summary["queued_jobs"]
    lines.append(f"queued jobs: {len(queued)}" + (": " + ", ".join(f"{j['id']} ({j['job_type']})" for j in queued[:10])
                                                  if queued else ""))
    return "\n".join(lines)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_ctx
def status(ctx: Context, as_json: bool) -> None:
    """Show the runner, the active job and pending commands. Exits 3 when no runner is up."""
    summary = status_summary(ctx.conn)
    _echo_json(summary) if as_json else click.echo(_format_status(summary))
    if summary["runner"]["state"] != "up":
        sys.exit(EXIT_RUNNER_DOWN)


@cli.command()
@click.option("--status", "statuses", multiple=True, type=click.Choice([s.value for s in JobStatus]))
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def jobs(ctx: Context, statuses: tuple[str, ...], limit: int, as_json: bool) -> None:
    """List jobs, newest first."""
    rows = list_jobs(ctx.conn, statuses=list(statuses) or None, limit=limit)
    if as_json:
        return _echo_json(rows)
    if not rows:
        click.echo("no jobs yet — enqueue one with `runnerd enqueue full_pipeline`")
    for job in rows:
        click.echo(f"{job['id']:>6}  {job['job_type']:<14} {job['status']:<22} prio {job['priority']:<3} "
                   f"created {job['created_at']}")


@cli.command()
@click.argument("job_id", type=int)
@click.option("--status", type=click.Choice([s.value for s in ItemStatus]))
@click.option("--after", "after_id", default=0, help="Show items with an id above this (paging).")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def items(ctx: Context, job_id: int, status: str | None, after_id: int, limit: int, as_json: bool) -> None:
    """List the items of a job (songs, playlists, uploads) with their state."""
    try:
        job = job_detail(ctx.conn, job_id)
    except CatalogsyncError as exc:
        raise click.ClickException(str(exc)) from None
    rows = list_items(ctx.conn, job_id, status=status, after_id=after_id, limit=limit)
    if as_json:
        return _echo_json({"job": job, "items": rows})
    for item in rows:
        error = f"  [{item['last_error_class']}] {item['last_error']}" if item["status"] == "failed" else ""
        click.echo(f"{item['id']:>8}  {item['item_type']:<8} {item['status']:<11} try {item['attempts']}/"
                   f"{item['max_attempts']}  {item['display_text'] or item['item_key']}{error}")
    if len(rows) == limit:
        click.echo(f"… more: --after {rows[-1]['id']}")


# ---------------------------------------------------------------- commands


def _submit(ctx: Context, kind: CommandKind, payload: dict[str, Any], wait: bool, timeout: float,
            as_json: bool) -> None:
    try:
        command_id, _ = submit_command(ctx.conn, kind, payload, origin="cli")
    except CatalogsyncError as exc:
        raise click.ClickException(str(exc)) from None
    if not wait:
        _echo_json({"command_id": command_id, "status": "pending"}) if as_json else \
            click.echo(f"command {command_id} ({kind.value}) is pending")
        return
    command = _wait_for(ctx, command_id, timeout)
    if as_json:
        _echo_json(command)
    elif command["status"] == "applied":
        click.echo(f"command {command_id} ({kind.value}) applied: {json.dumps(command['result'], ensure_ascii=False)}")
    elif command["status"] == "rejected":
        click.echo(f"command {command_id} ({kind.value}) rejected: {command['reject_reason']}", err=True)
    else:
        runner = status_summary(ctx.conn)["runner"]
        hint = "" if runner["state"] == "up" else " — no runner is running; start it with `runnerd run`"
        click.echo(f"command {command_id} ({kind.value}) still pending after {timeout:g}s{hint}", err=True)
    sys.exit({"applied": 0, "rejected": EXIT_REJECTED}.get(command["status"], EXIT_TIMEOUT))


def _wait_for(ctx: Context, command_id: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout if timeout > 0 else float("inf")
    while True:
        command = get_command(ctx.conn, command_id)
        if command["status"] != "pending" or time.monotonic() >= deadline:
            return command
        time.sleep(0.1)


def command_options(func):
    """--wait, --timeout and --json for every command-submitting subcommand."""
    func = click.option("--json", "as_json", is_flag=True, help="Print JSON.")(func)
    func = click.option("--timeout", default=60.0, show_default=True,
                        help="With --wait: seconds to wait (0 = forever); exit 4 when it runs out.")(func)
    func = click.option("--wait", is_flag=True, help="Wait until the runner applies or rejects the command.")(func)
    return func


@cli.command()
@click.argument("job_type", type=click.Choice([t.value for t in JobType]), default=JobType.FULL_PIPELINE.value)
@click.option("--source", "sources", multiple=True, help="Limit to playlists of this platform (repeatable).")
@click.option("--pool", "pools", multiple=True, help="Limit to this playlist pool (repeatable).")
@click.option("--playlist", "playlists", multiple=True, help="Limit to this playlist URL or id (repeatable).")
@click.option("--song", "songs", multiple=True, type=int, help="Limit to this song id (repeatable).")
@click.option("--priority", default=0, show_default=True, help="Higher runs first.")
@click.option("--note", default=None)
@command_options
@pass_ctx
def enqueue(ctx: Context, job_type: str, sources, pools, playlists, songs, priority: int, note: str | None,
            wait: bool, timeout: float, as_json: bool) -> None:
    """Queue a job (default: full_pipeline over every pool)."""
    scope = {k: list(v) for k, v in (("sources", sources), ("pools", pools), ("playlists", playlists),
                                     ("songs", songs)) if v}
    _submit(ctx, CommandKind.ENQUEUE_JOB, {"job_type": job_type, "scope": scope, "priority": priority,
                                           "note": note}, wait, timeout, as_json)


def _job_command(name: str, kind: CommandKind, help_text: str) -> None:
    @cli.command(name=name, help=help_text)
    @click.argument("job_id", type=int)
    @command_options
    @pass_ctx
    def _command(ctx: Context, job_id: int, wait: bool, timeout: float, as_json: bool) -> None:
        _submit(ctx, kind, {"job_id": job_id}, wait, timeout, as_json)


_job_command("pause", CommandKind.PAUSE_JOB, "Soft-pause a job: no new items start; running ones finish.")
_job_command("resume", CommandKind.RESUME_JOB, "Resume a paused job; interrupted items run again.")
_job_command("cancel", CommandKind.CANCEL_JOB, "Cancel a job: queued items are dropped, transfers stop.")


@cli.command()
@click.argument("item_id", type=int)
@command_options
@pass_ctx
def retry(ctx: Context, item_id: int, wait: bool, timeout: float, as_json: bool) -> None:
    """Retry one failed or interrupted item now (reopens its job if it had finished)."""
    _submit(ctx, CommandKind.RETRY_ITEM, {"item_id": item_id}, wait, timeout, as_json)


@cli.command(name="retry-failed")
@click.argument("job_id", type=int)
@click.option("--error-class", type=click.Choice([e.value for e in ErrorClass]))
@click.option("--source", default=None, help="Only items whose last attempt used this source.")
@command_options
@pass_ctx
def retry_failed(ctx: Context, job_id: int, error_class: str | None, source: str | None, wait: bool,
                 timeout: float, as_json: bool) -> None:
    """Retry every failed item of a job (optionally of one error class or source)."""
    _submit(ctx, CommandKind.RETRY_FAILED_ITEMS, {"job_id": job_id, "error_class": error_class, "source": source},
            wait, timeout, as_json)


@cli.command()
@click.argument("job_id", type=int)
@click.argument("priority", type=int)
@command_options
@pass_ctx
def reprioritize(ctx: Context, job_id: int, priority: int, wait: bool, timeout: float, as_json: bool) -> None:
    """Set a queued job's priority (higher runs first)."""
    _submit(ctx, CommandKind.REPRIORITIZE_JOB, {"job_id": job_id, "priority": priority}, wait, timeout, as_json)


@cli.command(name="pause-runner")
@click.option("--reason", default=None, help="Shown in status, e.g. 'movie night'.")
@command_options
@pass_ctx
def pause_runner(ctx: Context, reason: str | None, wait: bool, timeout: float, as_json: bool) -> None:
    """Maintenance pause: claim nothing from any job until resume-runner."""
    _submit(ctx, CommandKind.PAUSE_RUNNER, {"reason": reason}, wait, timeout, as_json)


@cli.command(name="resume-runner")
@command_options
@pass_ctx
def resume_runner(ctx: Context, wait: bool, timeout: float, as_json: bool) -> None:
    """Lift the maintenance pause."""
    _submit(ctx, CommandKind.RESUME_RUNNER, {}, wait, timeout, as_json)


@cli.command(name="command")
@click.argument("command_id", type=int)
@pass_ctx
def show_command(ctx: Context, command_id: int) -> None:
    """Show one command and its outcome."""
    try:
        _echo_json(get_command(ctx.conn, command_id))
    except CatalogsyncError as exc:
        raise click.ClickException(str(exc)) from None


# ---------------------------------------------------------------- config


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
    _, problems = check_text(decode_env_bytes(path.read_bytes()), path.resolve().parent)
    for problem in problems:
        click.echo(f"{path}: {problem.severity}: {problem}", err=problem.severity == "error")
    errors = problems_with(problems, "error")
    if errors:
        sys.exit(1)
    click.echo(f"{path}: OK" + (f" ({len(problems)} warnings)" if problems else ""))
    # After an upgrade: settings this release added are not in the file; their defaults apply.
    present = set(parse_env_text(decode_env_bytes(path.read_bytes())).values)
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
    _submit(ctx, CommandKind.APPLY_CONFIG, {"content": decode_env_bytes(file.read_bytes()), "note": note},
            wait, timeout, as_json)


@config.command(name="rollback")
@click.argument("revision_id", type=int)
@click.option("--note", default=None)
@command_options
@pass_ctx
def config_rollback(ctx: Context, revision_id: int, note: str | None, wait: bool, timeout: float,
                    as_json: bool) -> None:
    """Make an earlier revision current again."""
    _submit(ctx, CommandKind.ROLLBACK_CONFIG, {"revision_id": revision_id, "note": note}, wait, timeout, as_json)


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


# ---------------------------------------------------------------- the daemon


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
    sys.exit(code)


# ---------------------------------------------------------------- backups


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
    from catalogsync_ops.backup import backup_to

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
    from catalogsync_ops.backup import inspect_backup, restore_from
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


# ---------------------------------------------------------------- demo and diagnostics


@cli.command(name="demo-server")
@click.option("--port", default=8765, show_default=True, help="Port on 127.0.0.1 (0 picks a free one).")
@click.option("--pool-file", type=click.Path(path_type=Path), help="Write a pool file listing the demo playlists here.")
@click.option("--fail-rate", default=0.0, help="Share of audio requests answered 503 (0–1).")
@click.option("--cut-short-rate", default=0.0, help="Share of audio bodies cut off halfway (0–1).")
@click.option("--slow-ms", default=0, help="Delay before every 64 KiB of audio.")
def demo_server(port: int, pool_file: Path | None, fail_rate: float, cut_short_rate: float, slow_ms: int) -> None:
    """Run the demo platform on 127.0.0.1 until Ctrl-C (faults can be changed at /_control/faults)."""
    import signal
    import threading

    from catalogsync_ops.demo.server import DemoServer

    try:
        server = DemoServer(port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}; pick another --port") from None
    server.set_faults(fail_rate=fail_rate, cut_short_rate=cut_short_rate, slow_ms=slow_ms)
    if pool_file:
        server.write_pool_file(pool_file)
        click.echo(f"wrote {pool_file}")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    click.echo(f"demo platform at {server.base_url} (set DEMO_BASE_URL={server.base_url}); Ctrl-C stops it")
    for url in server.playlist_urls():
        click.echo(f"  {url}")
    stop.wait()
    server.shutdown()
    server.server_close()


@cli.command()
@click.argument("url")
@click.option("--download-sources", default=None, help="Comma-separated sources to match each track on.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def probe(ctx: Context, url: str, download_sources: str | None, as_json: bool) -> None:
    """Show what a playlist URL holds and, with --download-sources, the best match per track."""
    from catalogsync_ops.config import SETTINGS_BY_KEY
    from catalogsync_ops.matching import best_match
    from catalogsync_ops.sources import build_source, platform_for_url
    from catalogsync_ops.sources.base import SourceError

    settings = {k: s.default for k, s in SETTINGS_BY_KEY.items()}
    if ctx.env_file.exists():
        try:
            settings.update(load_config(ctx.env_file).values)
        except ConfigError:
            pass  # probing must work while the config is being fixed
    platform = platform_for_url(url)
    if platform is None:
        raise click.ClickException(f"no source recognises {url!r}: expected a demo playlist URL, an .m3u/.m3u8 "
                                   "file or URL, or a qq/netease/kuwo/migu/kugou/… playlist (musicdl extra)")
    try:
        playlist = build_source(platform, settings=settings).parse_playlist(url)
    except SourceError as exc:
        raise click.ClickException(f"{platform}: {exc} [{exc.error_class}]") from None
    report = {"platform": platform, "title": playlist.title, "tracks": []}
    others = []
    for name in (download_sources.split(",") if download_sources else []):
        try:
            others.append(build_source(name.strip(), settings=settings))
        except SourceError as exc:
            raise click.ClickException(str(exc)) from None
    for track in playlist.tracks:
        entry = {"title": track.title, "artists": list(track.artists), "album": track.album,
                 "duration_s": track.duration_s, "matches": {}}
        for source in others:
            if source.name == platform:
                entry["matches"][source.name] = {"title": track.display, "score": 1.0, "same_platform": True}
                continue
            try:
                match, scored = best_match(track, source.search(track)) if source.can_search else (None, [])
            except SourceError as exc:
                entry["matches"][source.name] = {"error": str(exc), "error_class": exc.error_class.value}
                continue
            best = match or (scored[0] if scored else None)
            entry["matches"][source.name] = {"title": best.track.display if best else None,
                                             "score": best.score if best else None, "accepted": match is not None}
        report["tracks"].append(entry)
    if as_json:
        return _echo_json(report)
    click.echo(f"{platform}: {playlist.title} ({len(playlist.tracks)} tracks)")
    for i, entry in enumerate(report["tracks"], 1):
        who = ", ".join(entry["artists"])
        click.echo(f"{i:>3}. {who + ' - ' if who else ''}{entry['title']}")
        for name, m in entry["matches"].items():
            if "error" in m:
                click.echo(f"       {name}: error [{m['error_class']}] {m['error']}")
            elif m.get("title") is None:
                click.echo(f"       {name}: no candidates")
            else:
                verdict = "ok" if m.get("accepted", True) else "NO MATCH (below threshold)"
                click.echo(f"       {name}: {m['title']}  score {m['score']:.2f}  {verdict}")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="runnerd")


if __name__ == "__main__":
    main()
