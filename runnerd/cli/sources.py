"""`runnerd source …`: the health of each source and its circuit breaker."""
from __future__ import annotations

import click

from catalogsync_ops.config.settings import KNOWN_SOURCES
from catalogsync_ops.engine import breakers
from catalogsync_ops.engine.commands import CommandKind
from runnerd.cli.base import Context, cli, command_options, echo_json, pass_ctx, submit


@cli.group()
def source() -> None:
    """The health of each source, and closing a breaker by hand."""


def format_health(rows: list[dict]) -> list[str]:
    """One line per source: breaker, calls and failures over 24 h, average time, last error."""
    lines = []
    for row in rows:
        state = {"closed": "up", "open": f"DOWN until {row['open_until']}", "half_open": "probing",
                 "incompatible": f"INCOMPATIBLE (checked again {row['open_until']})"}.get(row["state"], row["state"])
        rate = f"{row['failures']}/{row['calls']} failed" if row["calls"] else "no calls"
        latency = f", {row['avg_latency_ms']} ms a call" if row["avg_latency_ms"] is not None else ""
        error = f"; last error [{row['last_error_class']}] {row['last_error'][:120]}" if row["last_error"] else ""
        lines.append(f"{row['source']:<9} {state:<40} {rate} in 24 h{latency}{error}")
        for service, c in (row.get("link_services") or {}).items():
            lines.append(f"          link service {service}: asked {c['asked']}, gave an answer {c['answered']}, "
                         f"failed {c['failed']}, silent {c['silent']} in 24 h")
    return lines


@source.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@pass_ctx
def source_list(ctx: Context, as_json: bool) -> None:
    """Each source's breaker, calls and failures by class over 24 hours, and last error."""
    rows = breakers.health(ctx.conn)
    if as_json:
        return echo_json(rows)
    if not rows:
        click.echo("no source has been called yet")
    for line in format_health(rows):
        click.echo(line)


@source.command(name="reset")
@click.argument("name", type=click.Choice(KNOWN_SOURCES))
@command_options
@pass_ctx
def source_reset(ctx: Context, name: str, wait: bool, timeout: float, as_json: bool) -> None:
    """Close NAME's breaker now: its waiting work runs again at once."""
    submit(ctx, CommandKind.RESET_SOURCE, {"source": name}, wait, timeout, as_json)
