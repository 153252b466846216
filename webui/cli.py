"""`catalogsync-web`: serve the console with waitress, and manage its login without a browser."""
from __future__ import annotations

import logging
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import click

from catalogsync_ops import __version__
from catalogsync_ops.config.envfile import load_config
from catalogsync_ops.errors import CatalogsyncError, ConfigError
from catalogsync_ops.fileio import CONSOLE_LOG, add_log_file
from catalogsync_ops.store.accounts import list_tokens
from catalogsync_ops.store.database import open_database

WAITRESS_THREADS = 8  # enough for open live streams (each holds one) beside the pages
# How the console is served (tests serve it the same way). A body above 2 MiB (the largest form is
# a 256 KiB env file) is answered 413 as soon as its headers say so, before any of it is spooled
# to disk; waitress would take 1 GiB. channel_request_lookahead keeps a channel readable while
# its request runs, so a browser that closes a live stream is noticed at the next heartbeat and
# its thread freed.
MAX_REQUEST_BYTES = 2 * 1024 * 1024
# Slow clients (slowloris): a connection that sends nothing for IDLE_S, or has not finished its
# request's headers in HEADERS_S (its body in BODY_S), is closed, checked every CLEANUP_S; and
# up to CONNECTION_LIMIT connections are taken (waitress stops accepting at 100), so a hundred
# trickling connections no longer shut everyone out. docs/operations.md: exposing the console.
IDLE_S, HEADERS_S, BODY_S, CLEANUP_S = 30, 15, 60, 5
CONNECTION_LIMIT = 400
WAITRESS_OPTIONS = {"threads": WAITRESS_THREADS, "ident": "catalogsync-web", "channel_request_lookahead": 1,
                    "max_request_body_size": MAX_REQUEST_BYTES, "channel_timeout": IDLE_S,
                    "cleanup_interval": CLEANUP_S, "connection_limit": CONNECTION_LIMIT}
REUSE_CONNECTIONS_S = 30.0  # a server thread keeps its connection this long (webui/context.ThreadConnections)


def make_server(app, host: str, port: int):
    """The console's waitress server (WAITRESS_OPTIONS), closing slow clients' connections."""
    from waitress import create_server

    server = create_server(app, host=host, port=port, **WAITRESS_OPTIONS)
    waitress_maintenance = server.maintenance
    started: dict[int, tuple[object, float]] = {}  # channel -> (its unfinished request, first seen)

    def maintenance(now: float) -> None:
        waitress_maintenance(now)  # idle for IDLE_S: closed
        seen = {}
        for fd, channel in list(server.active_channels.items()):
            request = channel.request  # the request still arriving, if any
            if request is None or channel.requests:
                continue
            first = started[fd][1] if fd in started and started[fd][0] is request else now
            seen[fd] = (request, first)
            if now - first > (BODY_S if request.headers_finished else HEADERS_S):
                channel.will_close = True
        started.clear()
        started.update(seen)

    server.maintenance = maintenance
    return server


def _paths(env_file: Path, db: Path | None) -> tuple[Path, Path]:
    if db:
        return env_file, db
    try:
        return env_file, Path(load_config(env_file)["DB_PATH"])
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--env-file", type=click.Path(path_type=Path), envvar="CATALOGSYNC_ENV_FILE",
              default="catalogsync.env", show_default=True)
@click.option("--db", type=click.Path(path_type=Path), envvar="CATALOGSYNC_DB")
@click.version_option(__version__, prog_name="catalogsync-web")
@click.pass_context
def cli(ctx: click.Context, env_file: Path, db: Path | None) -> None:
    """The Catalogsync operations console (web UI)."""
    ctx.obj = (env_file, db)


@cli.command()
@click.option("--host", default=None, help="Address to listen on (default WEB_HOST, 127.0.0.1).")
@click.option("--port", default=None, type=int,
              help="Port (default WEB_PORT, 8421; 0 picks a free one and says which).")
@click.option("--trusted-proxy", "trusted", multiple=True, help="Peer whose X-Forwarded-For is believed.")
@click.option("--if-not-running", is_flag=True,
              help="Exit 0 when this console already answers on the port (for boot-up tasks).")
@click.pass_obj
def serve(obj, host: str | None, port: int | None, trusted: tuple[str, ...], if_not_running: bool) -> None:
    """Serve the console with waitress until Ctrl-C."""

    from catalogsync_ops import sdnotify
    from webui import create_app
    from webui.auth import new_setup_token, user_count

    env_file, db = _paths(*obj)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_config(env_file) if env_file.exists() else None
    if config is not None:
        add_log_file(config["LOG_DIR"], CONSOLE_LOG)
    host = host or (config["WEB_HOST"] if config else "127.0.0.1")
    port = port if port is not None else (int(config["WEB_PORT"]) if config else 8421)
    try:
        conn = open_database(db)
    except CatalogsyncError as exc:
        raise click.ClickException(str(exc)) from None
    token = new_setup_token(conn) if user_count(conn) == 0 else None
    conn.close()
    app = create_app({"DB_PATH": db, "ENV_PATH": env_file, "TRUSTED_PROXIES": trusted,
                      "REUSE_CONNECTIONS_S": REUSE_CONNECTIONS_S})
    try:
        server = make_server(WorkSlots(app), host, port)
    except OSError as exc:
        if if_not_running and _console_answers(host, port):
            click.echo(f"catalogsync-web already serves http://{host}:{port}; nothing to do", err=True)
            return
        raise click.ClickException(f"cannot listen on {host}:{port} ({exc.strerror}); another program uses the "
                                   "port, or the address is not this machine's: set WEB_PORT / WEB_HOST in the env "
                                   "file, or pass --port / --host") from None
    # Said once the port is bound (create_server binds it): whoever waits for this line (the
    # quickstart, a person) can connect at once. Port 0 asks for a free port: this is where it is.
    port = server.effective_port
    if token:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        click.echo(f"No user yet. Open this one-time link within 24 hours to create one:\n"
                   f"  http://{shown}:{port}/setup?token={token}", err=True)
    click.echo(f"catalogsync-web on http://{host}:{port}", err=True)
    sdnotify.notify("READY=1\nSTATUS=serving the console")
    # SIGTERM ends it as Ctrl-C does: as a container's first process, a signal it does not
    # handle is ignored (the container would be killed when its stop grace runs out).
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        sdnotify.notify("STOPPING=1")
        server.close()
        app.extensions["catalogsync_connections"].close_all()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


class WorkSlots:
    """One request runs its view at a time; the others wait their turn in order. Python runs one
    thread at a time, and SQLite hands Python's lock over at every row it steps: two pages
    rendering together pass it back and forth thousands of times a second (bench/webui_load.py
    measured 57 thread switches a job page with two at once, 24 with one, and a quarter more pages
    served). A view that takes longer than PATIENCE_S (a slow query) does not hold the others back:
    a request that has waited that long runs beside it. The slot is held while the view runs and
    the page renders, and freed when the app hands its answer over: the server writes it out, and
    a live stream's body (a generator) runs, unslotted."""

    PATIENCE_S = 0.25

    def __init__(self, app, slots: int = 1, patience_s: float = PATIENCE_S) -> None:
        self.app = app
        self.slots = threading.BoundedSemaphore(max(1, slots))
        self.patience_s = patience_s

    def __call__(self, environ, start_response):
        slotted = self.slots.acquire(timeout=self.patience_s)
        try:
            return self.app(environ, start_response)
        finally:
            if slotted:
                self.slots.release()


def _console_answers(host: str, port: int) -> bool:
    """Whether our console (not some other program) answers on host:port."""
    import urllib.request

    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    try:
        with urllib.request.urlopen(f"http://{shown}:{port}/api/ping", timeout=3) as answer:
            return answer.headers.get("Server", "").startswith("catalogsync-web") and answer.read() == b"ok\n"
    except OSError:
        return False


@contextmanager
def _accounts(db: Path):
    """The database for an account command: opened (and migrated) as the console opens it,
    with the console's limits on what it may write, and closed at the end."""
    from webui.context import web_authorizer

    conn = open_database(db)
    conn.set_authorizer(web_authorizer)
    try:
        yield conn
    finally:
        conn.close()


@cli.command(name="set-password")
@click.argument("username")
@click.pass_obj
def set_password_cmd(obj, username: str) -> None:
    """Set (or create) USERNAME's password, read from stdin."""
    from webui.auth import set_password

    _, db = _paths(*obj)
    password = sys.stdin.readline().rstrip("\r\n") if not sys.stdin.isatty() else click.prompt(
        "New password", hide_input=True, confirmation_prompt=True)
    try:
        with _accounts(db) as conn:
            set_password(conn, username, password)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"password of {username!r} set")


@cli.command(name="create-token")
@click.argument("name")
@click.option("--scope", type=click.Choice(["read", "control", "admin"]), default="read", show_default=True,
              help="read: status, lists, /metrics; control: also commands; admin: also the config.")
@click.pass_obj
def create_token_cmd(obj, name: str, scope: str) -> None:
    """Print a new API token (use it as Authorization: Bearer <token>)."""
    from webui.auth import create_token

    _, db = _paths(*obj)
    with _accounts(db) as conn:
        click.echo(create_token(conn, name, scope))


@cli.command(name="tokens")
@click.pass_obj
def tokens_cmd(obj) -> None:
    """List API tokens (never their values) with when they were last used."""
    _, db = _paths(*obj)
    with _accounts(db) as conn:
        rows = list_tokens(conn, newest_first=False)
    for row in rows:
        state = f"revoked {row['revoked_at'][:19]}" if row["revoked_at"] else "active"
        click.echo(f"{row['id']:>4}  {row['name']:<24} {row['scope']:<8} {state:<28} "
                   f"last used {(row['last_used_at'] or 'never')[:19]}")


@cli.command(name="revoke-token")
@click.argument("token_id", type=int)
@click.pass_obj
def revoke_token_cmd(obj, token_id: int) -> None:
    """Revoke an API token by its id (see `tokens`)."""
    from catalogsync_ops.store.accounts import revoke_token

    _, db = _paths(*obj)
    with _accounts(db) as conn:
        revoked = revoke_token(conn, token_id)
    if not revoked:
        raise click.ClickException(f"no active token {token_id}; `catalogsync-web tokens` lists them")
    click.echo(f"token {token_id} revoked")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="catalogsync-web")
