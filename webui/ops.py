"""For monitors: `/healthz` (no login) and `/metrics` (Prometheus; a session or an API token)."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, jsonify

from catalogsync_ops.engine.queries import database_readable, runner_liveness
from webui.context import get_db, library_dir
from webui.metrics import render_metrics

bp = Blueprint("ops", __name__)


@bp.route("/healthz")
def healthz():
    """200 when the console is up, the database readable and a runner's heartbeat fresh; else 503.

    The body says which part is wrong, so an uptime monitor's alert names it.
    """
    body = {"web": "up"}
    try:
        conn = get_db()
        database_readable(conn)
        body["database"] = "ok"
        runner = runner_liveness(conn)
        body.update(runner=runner["state"], runner_paused=runner["paused"],
                    runner_heartbeat_age_s=runner.get("heartbeat_age_s"))
        if runner.get("degraded"):
            body["runner_degraded"] = runner["degraded"]
    except Exception as exc:  # a monitor must get an answer, whatever broke
        body.update(database=f"unreadable: {type(exc).__name__}: {exc}", runner="unknown")
    healthy = body["database"] == "ok" and body["runner"] == "up" and "runner_degraded" not in body
    if not healthy:
        body["hint"] = ("free space on the database's disk; the runner carries on by itself"
                        if "runner_degraded" in body else
                        "start the runner: runnerd run (or its systemd unit / DSM task)" if body["database"] == "ok"
                        else "check DB_PATH: the file must exist on a local disk and be readable")
    return jsonify(body), 200 if healthy else 503


@bp.route("/metrics")
def metrics():
    text = render_metrics(get_db(), current_app.config["DB_PATH"], library_dir())
    return text, 200, {"Content-Type": "text/plain; version=0.0.4; charset=utf-8", "Cache-Control": "no-store"}


FAVICON = (Path(__file__).parent / "static" / "favicon.svg").read_bytes()


@bp.route("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico before reading the page's icon link (no login)."""
    return FAVICON, 200, {"Content-Type": "image/svg+xml", "Cache-Control": "max-age=86400"}
