"""The JSON API under /api/: the same reads as the pages, and commands (202 + id)."""
from __future__ import annotations

import json

from flask import Blueprint, abort, current_app, g, jsonify, request

from catalogsync_ops.config.envfile import mask_text
from catalogsync_ops.config.revisions import list_revisions, read_env_text
from catalogsync_ops.engine.command_specs import SPECS
from catalogsync_ops.engine.commands import get_command, submit_command
from catalogsync_ops.engine.queries import job_detail, list_items, list_jobs, status_summary
from catalogsync_ops.engine.states import ItemStatus
from catalogsync_ops.errors import IdempotencyConflict, InvalidCommand, NotFound
from webui.auth import require_scope
from webui.context import arg_int, get_db
from webui.i18n import current_language
from webui.logtext import reason_text
from webui.openapi import LEVELS, document
from webui.ops import healthz as health

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.route("/ping")
def ping():
    """Answers 'ok' without touching the database (load balancers, and the load benchmark's baseline)."""
    return "ok\n", 200, {"Content-Type": "text/plain"}


@bp.route("/healthz")
def healthz():
    """The same answer as /healthz (no login): 200 when all is well, 503 naming what is not."""
    return health()


@bp.route("/status")
def status():
    return jsonify(status_summary(get_db()))


@bp.route("/jobs")
def jobs():
    return jsonify(jobs=list_jobs(get_db(), limit=arg_int("limit", 50, minimum=1, maximum=500, clamp=True),
                                  before_id=arg_int("before")))


@bp.route("/jobs/<int:job_id>")
def job(job_id: int):
    try:
        return jsonify(job_detail(get_db(), job_id))
    except NotFound as exc:
        abort(404, description=str(exc))


@bp.route("/jobs/<int:job_id>/items")
def items(job_id: int):
    limit = arg_int("limit", 50, minimum=1, maximum=500, clamp=True)
    status = request.args.get("status")
    if status is not None and status not in {s.value for s in ItemStatus}:
        abort(400, description=f"unknown item status {status[:40]!r}; one of: {', '.join(s.value for s in ItemStatus)}")
    rows = list_items(get_db(), job_id, status=status, after_id=arg_int("after", 0), limit=limit)
    return jsonify(items=rows, next_after=rows[-1]["id"] if len(rows) == limit else None)


@bp.route("/items/<int:item_id>/attempts")
def attempts(item_id: int):
    rows = get_db().execute("SELECT * FROM item_attempts WHERE item_id = ? ORDER BY attempt_no", (item_id,)).fetchall()
    return jsonify(attempts=[dict(r) for r in rows])


@bp.route("/workers")
def workers():
    rows = get_db().execute("SELECT * FROM job_workers WHERE runner_instance_id = (SELECT MAX(id) FROM "
                            "runner_instances)"
                            " ORDER BY name").fetchall()
    return jsonify(workers=[dict(r) for r in rows])


@bp.route("/playlists")
def playlists():
    after = arg_int("after", 0)
    rows = get_db().execute("SELECT * FROM playlists WHERE id > ? ORDER BY id LIMIT 100", (after,)).fetchall()
    return jsonify(playlists=[dict(r) for r in rows], next_after=rows[-1]["id"] if len(rows) == 100 else None)


@bp.route("/logs")
def logs():
    before = arg_int("before") or 2**62
    level = request.args.get("level")
    sql, params = "SELECT * FROM job_logs WHERE id < ?", [before]
    if level is not None:
        if level not in LEVELS:
            abort(400, description=f"'level' must be one of {', '.join(LEVELS)}")
        sql += " AND level = ?"
        params.append(level)
    rows = get_db().execute(sql + " ORDER BY id DESC LIMIT 100", params).fetchall()
    return jsonify(logs=[dict(r) for r in rows], next_before=rows[-1]["id"] if len(rows) == 100 else None)


@bp.route("/config")
def config():
    env_path = current_app.config.get("ENV_PATH")
    if env_path is None:
        abort(404, description="this console was started without an env file")
    return jsonify(path=str(env_path), content=mask_text(read_env_text(env_path)))


@bp.route("/config/revisions")
def revisions():
    return jsonify(revisions=list_revisions(get_db(), limit=100, before_id=arg_int("before")))


@bp.route("/openapi.json")
def openapi():
    return jsonify(document())


@bp.route("/commands", methods=["POST"])
def post_command():
    example = 'send JSON like {"kind": "pause_job", "payload": {"job_id": 3}}'
    try:
        body = json.loads(request.get_data(cache=False) or b"null")
    except (ValueError, RecursionError):
        abort(400, description=f"the body is not valid JSON (or is nested too deeply); {example}")
    if not isinstance(body, dict) or not isinstance(body.get("kind"), str):
        abort(400, description=example)
    key = body.get("idempotency_key")
    if "idempotency_key" in body and not (isinstance(key, str) and 0 < len(key) <= 200
                                          and not any(ord(c) < 32 or ord(c) == 127 for c in key)):
        abort(400, description="'idempotency_key' must be text of 1 to 200 characters, no control characters")
    spec = SPECS.get(body["kind"])  # (an unknown kind is refused below, with the known ones)
    if spec is not None and spec.token_scope != "control":
        require_scope(spec.token_scope)
    if "payload" in body and not isinstance(body["payload"], dict):
        abort(400, description=f"'payload' must be an object; {example}")
    try:
        command_id, created = submit_command(get_db(), body["kind"], body.get("payload"), origin="api",
                                             requested_by=g.user, idempotency_key=key, strict=True)
    except IdempotencyConflict as exc:
        abort(409, description=str(exc))
    except InvalidCommand as exc:
        abort(400, description=str(exc))
    return jsonify(id=command_id, status="pending", created=created), 202


@bp.route("/commands/<int:command_id>")
def command(command_id: int):
    try:
        command = get_command(get_db(), command_id)
    except NotFound as exc:
        abort(404, description=str(exc))
    if command.get("reject_reason"):
        command["reject_reason_text"] = reason_text(command, current_language())
    return jsonify(command)
