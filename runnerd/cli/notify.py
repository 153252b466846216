"""`runnerd notify …`: notifications."""
from __future__ import annotations

from catalogsync_ops.engine.commands import CommandKind
from runnerd.cli.base import Context, cli, command_options, pass_ctx, submit


@cli.group()
def notify() -> None:
    """Notifications to the webhook of NOTIFY_WEBHOOK_URL."""


@notify.command(name="test")
@command_options
@pass_ctx
def notify_test(ctx: Context, wait: bool, timeout: float, as_json: bool) -> None:
    """Send a test notification through the webhook in force (the runner sends it)."""
    submit(ctx, CommandKind.NOTIFY_TEST, {}, wait, timeout, as_json)
