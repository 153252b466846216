"""The JSON API under /api/: the same reads as the pages, and commands (202 + id)."""
from __future__ import annotations

import json

from flask import Blueprint, abort, current_app, g, jsonify, request

from catalogsync_ops.config.envfile import mask_text
from catalogsync_ops.config.revisions import list_revisions, read_env_text
from catalogsync_ops.engine.command_specs import SPECS
from catalogsync_ops.engine.commands import get_command, submit_command
from catalogsync_ops.engine.queries import (
    current_workers,
    item_attempts,
    job_detail,
    job_stages,
    list_items,
    list_jobs,
    list_logs,
    missing_counts,
    status_summary,
)
from catalogsync_ops.engine.states import ItemStatus, StageType
from catalogsync_ops.errors import ErrorClass, IdempotencyConflict, InvalidCommand, NotFound
from catalogsync_ops.library.catalog_reads import playlist_page
from webui.auth import require_scope
from webui.catalog_pages import below_rows, wanted_rows, wanted_state
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
    # The job page's filters: failed items of one error class or source, one stage's items.
    error_class, source, stage = (request.args.get(k) or None for k in ("error_class", "source", "stage"))
    if error_class is not None and error_class not in {e.value for e in ErrorClass}:
        abort(400, description=f"unknown error class {error_class[:40]!r}; one of: "
                               f"{', '.join(e.value for e in ErrorClass)}")
    if stage is not None and stage not in {s.value for s in StageType}:
        abort(400, description=f"unknown stage {stage[:40]!r}; one of: {', '.join(s.value for s in StageType)}")
    if source is not None and len(source) > 40:
        abort(400, description="'source' is longer than 40 characters")
    conn = get_db()
    stage_id = None
    if stage is not None:  # a stage the job does not have holds no items (no stage has id 0)
        stage_id = next((s["id"] for s in job_stages(conn, job_id) if s["stage_type"] == stage), 0)
    rows = list_items(conn, job_id, status=status, after_id=arg_int("after", 0), limit=limit,
                      error_class=error_class, source=source, stage_id=stage_id)
    return jsonify(items=rows, next_after=rows[-1]["id"] if len(rows) == limit else None)


@bp.route("/items/<int:item_id>/attempts")
def attempts(item_id: int):
    return jsonify(attempts=[dict(r) for r in item_attempts(get_db(), item_id)])


@bp.route("/workers")
def workers():
    return jsonify(workers=[dict(r) for r in current_workers(get_db())])


@bp.route("/playlists")
def playlists():
    after = arg_int("after", 0)
    rows = playlist_page(get_db(), after_id=after, limit=100)
    return jsonify(playlists=[dict(r) for r in rows], next_after=rows[-1]["id"] if len(rows) == 100 else None)


@bp.route("/wanted")
def wanted():
    """The wanted list (?state=missing|unavailable, ?after=song id): the page's rows, as JSON."""
    conn = get_db()
    rows = wanted_rows(conn, wanted_state(), arg_int("after", 0), 100)
    return jsonify(counts=missing_counts(conn), songs=rows,
                   next_after=rows[-1]["song_id"] if len(rows) == 100 else None)


@bp.route("/wanted/below")
def wanted_below():
    """Songs in the library below the best rung of DOWNLOAD_QUALITY (?after=song id), with their
    file's quality and when a better copy was last looked for."""
    rows = below_rows(get_db(), arg_int("after", 0), 100)
    return jsonify(songs=rows, next_after=rows[-1]["song_id"] if len(rows) == 100 else None)


@bp.route("/logs")
def logs():
    level = request.args.get("level")
    if level is not None and level not in LEVELS:
        abort(400, description=f"'level' must be one of {', '.join(LEVELS)}")
    text = request.args.get("q")
    if text is not None and len(text) > 200:
        abort(400, description="'q' is longer than 200 characters")
    rows = list_logs(get_db(), level=level, job_id=arg_int("job"), text=(text or "").strip() or None,
                     before_id=arg_int("before"), limit=100)
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
