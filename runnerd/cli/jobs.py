"""Watching and steering the queue: status, listings, enqueue, pause/resume/cancel, retries,
priorities, the runner-wide pause, and one command's outcome."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from catalogsync_ops.config.envfile import load_config
from catalogsync_ops.engine.attention import describe, needs_attention
from catalogsync_ops.engine.commands import CommandKind, get_command
from catalogsync_ops.engine.queries import job_detail, list_items, list_jobs, status_summary
from catalogsync_ops.engine.states import ItemStatus, JobStatus, JobType
from catalogsync_ops.errors import CatalogsyncError, ErrorClass
from runnerd.cli.base import EXIT_RUNNER_DOWN, Context, cli, command_options, echo_json, pass_ctx, submit


def format_status(summary: dict[str, Any]) -> str:
    runner = summary["runner"]
    lines = []
    attention = [a for a in summary.get("needs_attention", []) if a["kind"] != "runner_down"]
    if attention:
        lines.append(f"NEEDS ATTENTION ({len(attention)}):")
        lines += [f"  - {describe(entry)}" for entry in attention]
    if runner["state"] == "up":
        lines.append(f"runner: up (pid {runner['pid']} on {runner['host']}, "
                     f"heartbeat {runner['heartbeat_age_s']}s ago)")
    elif runner["state"] == "stopped":
        lines.append(f"runner: stopped at {runner['stopped_at']} (pid {runner['pid']} on {runner['host']}) "
                     "— start it with `runnerd run`")
    elif runner["state"] == "down":
        lines.append(f"runner: DOWN since {runner['heartbeat_at']} (last pid {runner['pid']} on {runner['host']}) "
                     "— start it with `runnerd run`")
    else:
        lines.append("runner: not running (no runner heartbeat yet) — start it with `runnerd run`")
    if runner.get("degraded"):
        lines.append(f"DEGRADED since {runner['degraded_since']}: {runner['degraded']}")
    if runner["paused"]:
        lines.append(f"runner-wide pause: ON since {runner['paused_at']}"
                     + (f" ({runner['pause_reason']})" if runner["pause_reason"] else ""))
    lines.append(f"commands pending: {summary['pending_commands']}")
    for down in summary.get("sources_down", []):
        if down["state"] == "incompatible":
            lines.append(f"source {down['source']} is INCOMPATIBLE with the installed musicdl "
                         f"({(down['last_error'] or '')[:160]}) — its songs wait")
            continue
        when = f"until {down['open_until']}" if down["state"] == "open" else "probing now"
        lines.append(f"source {down['source']} is DOWN ({when}; {down['consecutive_failures']} failures in a row, last "
                     f"[{down['last_error_class']}] {(down['last_error'] or '')[:100]}) — its songs wait; "
                     f"`runnerd source reset {down['source']}` to try again now")
    job = summary["active_job"]
    if job:
        lines.append(f"active job {job['id']} ({job['job_type']}): {job['status']}")
        for stage in job["stages"]:
            c = stage["counts"]
            lines.append(f"  {stage['stage_type']:<9} {stage['status']:<22} {stage['done']}/{stage['total']} done"
                         f"  running {stage.get('started', c['running'])}  failed {c['failed']}"
                         f"  queued {stage.get('waiting', c['queued'])}")
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
    """Show what needs attention, the runner, the active job and pending commands. Exits 3 when no
    runner is up."""
    summary = status_summary(ctx.conn)
    try:
        config = load_config(ctx.env_file)
        library, free_mb = Path(config["LIBRARY_DIR"]), int(config["NOTIFY_DISK_FREE_MB"])
    except CatalogsyncError:
        library, free_mb = None, None
    summary["needs_attention"] = needs_attention(ctx.conn, library=library, disk_free_mb=free_mb)
    echo_json(summary) if as_json else click.echo(format_status(summary))
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
        return echo_json(rows)
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
        return echo_json({"job": job, "items": rows})
    for item in rows:
        error = f"  [{item['last_error_class']}] {item['last_error']}" if item["status"] == "failed" else ""
        click.echo(f"{item['id']:>8}  {item['item_type']:<8} {item['status']:<11} try {item['attempts']}/"
                   f"{item['max_attempts']}  {item['display_text'] or item['item_key']}{error}")
    if len(rows) == limit:
        click.echo(f"… more: --after {rows[-1]['id']}")


@cli.command()
@click.argument("job_type", type=click.Choice([t.value for t in JobType]), default=JobType.FULL_PIPELINE.value)
@click.option("--source", "sources", multiple=True, help="Limit to playlists of this platform (repeatable).")
@click.option("--pool", "pools", multiple=True, help="Limit to this playlist pool (repeatable).")
@click.option("--playlist", "playlists", multiple=True, help="Limit to this playlist URL or id (repeatable).")
@click.option("--song", "songs", multiple=True, type=int, help="Limit to this song id (repeatable).")
@click.option("--priority", default=0, show_default=True, help="Higher runs first.")
@click.option("--note", default=None)
@click.option("--deep", is_flag=True, help="verify only: hash every file instead of comparing size and time.")
@click.option("--unless-pending", is_flag=True,
              help="Do nothing when a job of this type is still queued, running or paused (for schedules: "
                   "a long night does not stack a second run behind the first).")
@command_options
@pass_ctx
def enqueue(ctx: Context, job_type: str, sources, pools, playlists, songs, priority: int, note: str | None,
            deep: bool, unless_pending: bool, wait: bool, timeout: float, as_json: bool) -> None:
    """Queue a job (default: full_pipeline over every pool; `verify` checks the library and its backup)."""
    scope = {k: list(v) for k, v in (("sources", sources), ("pools", pools), ("playlists", playlists),
                                     ("songs", songs)) if v}
    if unless_pending:
        open_job = ctx.conn.execute(
            "SELECT id, status FROM job_runs WHERE job_type = ? AND status IN ('queued', 'running', 'pause_requested',"
            " 'paused', 'cancel_requested') ORDER BY id LIMIT 1", (job_type,)).fetchone()
        asked = ctx.conn.execute("SELECT id FROM job_commands WHERE status = 'pending' AND kind = 'enqueue_job' AND"
                                 " json_extract(payload_json, '$.job_type') = ? LIMIT 1", (job_type,)).fetchone()
        if open_job or asked:
            why = (f"job {open_job['id']} ({job_type}) is {open_job['status']}" if open_job
                   else f"command {asked['id']} queues a {job_type} job already")
            echo_json({"queued": False, "reason": why}) if as_json else click.echo(f"{why}; not queuing another")
            return
    payload = {"job_type": job_type, "scope": scope, "priority": priority, "note": note}
    if deep:
        payload["deep"] = True
    submit(ctx, CommandKind.ENQUEUE_JOB, payload, wait, timeout, as_json)


def _job_command(name: str, kind: CommandKind, help_text: str) -> None:
    @cli.command(name=name, help=help_text)
    @click.argument("job_id", type=int)
    @command_options
    @pass_ctx
    def _command(ctx: Context, job_id: int, wait: bool, timeout: float, as_json: bool) -> None:
        submit(ctx, kind, {"job_id": job_id}, wait, timeout, as_json)


_job_command("pause", CommandKind.PAUSE_JOB, "Soft-pause a job: no new items start; running ones finish.")
_job_command("resume", CommandKind.RESUME_JOB, "Resume a paused job; interrupted items run again.")
_job_command("cancel", CommandKind.CANCEL_JOB, "Cancel a job: queued items are dropped, transfers stop.")


@cli.command()
@click.argument("item_id", type=int)
@command_options
@pass_ctx
def retry(ctx: Context, item_id: int, wait: bool, timeout: float, as_json: bool) -> None:
    """Retry one failed or interrupted item now (reopens its job if it had finished)."""
    submit(ctx, CommandKind.RETRY_ITEM, {"item_id": item_id}, wait, timeout, as_json)


@cli.command(name="retry-failed")
@click.argument("job_id", type=int)
@click.option("--error-class", type=click.Choice([e.value for e in ErrorClass]))
@click.option("--source", default=None, help="Only items whose last attempt used this source.")
@command_options
@pass_ctx
def retry_failed(ctx: Context, job_id: int, error_class: str | None, source: str | None, wait: bool,
                 timeout: float, as_json: bool) -> None:
    """Retry every failed item of a job (optionally of one error class or source)."""
    submit(ctx, CommandKind.RETRY_FAILED_ITEMS, {"job_id": job_id, "error_class": error_class, "source": source},
            wait, timeout, as_json)


@cli.command()
@click.argument("job_id", type=int)
@click.argument("priority", type=int)
@command_options
@pass_ctx
def reprioritize(ctx: Context, job_id: int, priority: int, wait: bool, timeout: float, as_json: bool) -> None:
    """Set a queued job's priority (higher runs first)."""
    submit(ctx, CommandKind.REPRIORITIZE_JOB, {"job_id": job_id, "priority": priority}, wait, timeout, as_json)


@cli.command(name="pause-runner")
@click.option("--reason", default=None, help="Shown in status, e.g. 'movie night'.")
@command_options
@pass_ctx
def pause_runner(ctx: Context, reason: str | None, wait: bool, timeout: float, as_json: bool) -> None:
    """Maintenance pause: claim nothing from any job until resume-runner."""
    submit(ctx, CommandKind.PAUSE_RUNNER, {"reason": reason}, wait, timeout, as_json)


@cli.command(name="resume-runner")
@command_options
@pass_ctx
def resume_runner(ctx: Context, wait: bool, timeout: float, as_json: bool) -> None:
    """Lift the maintenance pause."""
    submit(ctx, CommandKind.RESUME_RUNNER, {}, wait, timeout, as_json)


@cli.command(name="command")
@click.argument("command_id", type=int)
@pass_ctx
def show_command(ctx: Context, command_id: int) -> None:
    """Show one command and its outcome."""
    try:
        echo_json(get_command(ctx.conn, command_id))
    except CatalogsyncError as exc:
        raise click.ClickException(str(exc)) from None
