"""What every `runnerd` subcommand shares: the top-level group, its options, the lazily opened
database, and submitting a command (optionally waiting for the runner's answer)."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from catalogsync_ops import __version__
from catalogsync_ops.config.envfile import load_config, parse_env_text, read_env_file
from catalogsync_ops.engine.command_specs import SPECS
from catalogsync_ops.engine.commands import CommandKind, get_command, submit_command
from catalogsync_ops.engine.queries import status_summary
from catalogsync_ops.errors import CatalogsyncError, ConfigError
from catalogsync_ops.messages import word
from catalogsync_ops.store.connection import Connection
from catalogsync_ops.store.database import open_database

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
            parsed = parse_env_text(read_env_file(self.env_file))
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

    def close(self) -> None:
        """Close the database when the command ends (however it ends)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


pass_ctx = click.make_pass_decorator(Context)


def echo_json(data: Any) -> None:
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
    click_ctx.call_on_close(click_ctx.obj.close)


def submit(ctx: Context, kind: CommandKind, payload: dict[str, Any], wait: bool, timeout: float,
            as_json: bool) -> None:
    try:
        command_id, _ = submit_command(ctx.conn, kind, payload, origin="cli")
    except CatalogsyncError as exc:
        raise click.ClickException(str(exc)) from None
    if not wait:
        echo_json({"command_id": command_id, "status": "pending"}) if as_json else \
            click.echo(f"command {command_id} ({kind.value}) is pending")
        return
    command = wait_for(ctx, command_id, timeout)
    if as_json:
        echo_json(command)
    elif command["status"] == "applied":
        click.echo(f"command {command_id} ({kind.value}) applied: {applied_phrase(kind, command['result'])}")
    elif command["status"] == "rejected":
        click.echo(f"command {command_id} ({kind.value}) rejected: {command['reject_reason']}", err=True)
    else:
        runner = status_summary(ctx.conn)["runner"]
        hint = "" if runner["state"] == "up" else " — no runner is running; start it with `runnerd run`"
        click.echo(f"command {command_id} ({kind.value}) still pending after {timeout:g}s{hint}", err=True)
    sys.exit({"applied": 0, "rejected": EXIT_REJECTED}.get(command["status"], EXIT_TIMEOUT))


def applied_phrase(kind: CommandKind, result: Any) -> str:
    """What an applied command did, in words (its spec's phrase, codes among the values as words)."""
    try:
        return SPECS[kind].phrase.format(**{k: word(v) for k, v in dict(result or {}).items()})
    except (KeyError, IndexError, ValueError, TypeError):
        return json.dumps(result, ensure_ascii=False)


def wait_for(ctx: Context, command_id: int, timeout: float) -> dict[str, Any]:
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
