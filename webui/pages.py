"""The pages: dashboard, jobs, job detail; every action becomes one command row."""
from __future__ import annotations

import hashlib
import json
import secrets
import shutil

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from jinja2 import pass_context
from markupsafe import Markup, escape

from catalogsync_ops.engine import breakers
from catalogsync_ops.engine.attention import needs_attention
from catalogsync_ops.engine.command_specs import payload_from_form
from catalogsync_ops.engine.commands import CommandKind, get_command, submit_command
from catalogsync_ops.engine.queries import (
    ITEM_ROW_COLUMNS,
    failed_counts,
    item_attempts,
    job_detail,
    job_events,
    list_items,
    list_jobs,
    list_logs,
    queued_jobs,
    recent_failures,
    status_summary,
)
from catalogsync_ops.engine.records import get_item
from catalogsync_ops.engine.states import ItemStatus, JobType
from catalogsync_ops.errors import ErrorClass, InvalidCommand, NotFound
from catalogsync_ops.library.coverage import read_coverage
from catalogsync_ops.store.connection import utcnow
from webui.charts import day_and_charts
from webui.context import arg_int, env_settings, get_db, library_dir, safe_target
from webui.format import when
from webui.i18n import N_, SELF_DESCRIBING, cell_words, event_message, gettext, language
from webui.logtext import error_text
from webui.templating import command_form

bp = Blueprint("pages", __name__)
PAGE_SIZE = 50


@bp.app_context_processor
def inject() -> dict:
    return {"form_nonce": secrets.token_urlsafe(12), "current_user": g.get("user")}


@bp.route("/")
def dashboard():
    conn = get_db()
    summary = status_summary(conn)
    disk = None
    library = library_dir()
    if library is not None:
        try:
            usage = shutil.disk_usage(library)
            disk = {"path": str(library), "free_gb": usage.free / 2**30, "total_gb": usage.total / 2**30}
        except OSError:
            disk = None
    failures = recent_failures(conn)
    day, charts = day_and_charts(conn, g.get("lang") or "en", str(current_app.config["DB_PATH"]))
    settings = env_settings()
    sources = breakers.health(conn)
    attention = needs_attention(conn, library=library, runner=summary["runner"], sources=sources,
                                disk_free_mb=int(settings["NOTIFY_DISK_FREE_MB"]) if settings else None)
    return render_template("dashboard.html", title=N_("Dashboard"), summary=summary, failures=failures, disk=disk,
                           day=day, charts=charts, library=read_coverage(conn),
                           sources=sources, attention=attention)


@bp.route("/jobs")
def jobs():
    conn = get_db()
    before = arg_int("before")
    return render_template("jobs.html", title=N_("Jobs"), queued=queued_jobs(conn),
                           jobs=list_jobs(conn, limit=PAGE_SIZE,
                                          before_id=before), job_types=[t.value for t in JobType],
                           page_size=PAGE_SIZE)


@bp.route("/jobs/<int:job_id>")
def job(job_id: int):
    conn = get_db()
    try:
        detail = job_detail(conn, job_id)
    except NotFound:
        abort(404, description=gettext("job %(id)s does not exist") % {"id": job_id})
    status = request.args.get("status") or None
    if status and status not in {s.value for s in ItemStatus}:
        abort(400, description=gettext("unknown item status %(status)r") % {"status": status})
    after = arg_int("after", 0)
    error_class = request.args.get("error_class") or None
    source = request.args.get("source") or None
    stage_names = {s["id"]: s["stage_type"] for s in detail["stages"]}
    stage = request.args.get("stage") or None
    stage_id = next((sid for sid, name in stage_names.items() if name == stage), None)
    if stage is not None and stage_id is None:
        abort(400, description=gettext("this job has no stage %(stage)r") % {"stage": stage})
    items = list_items(conn, job_id, status=status, after_id=after, limit=PAGE_SIZE, error_class=error_class,
                       source=source, stage_id=stage_id, columns=ITEM_ROW_COLUMNS)
    events = job_events(conn, job_id)
    # The latest lines only: the logs page has them all (its link is under them).
    logs = list_logs(conn, job_id=job_id, limit=10)
    failed_classes, failed_sources = failed_counts(conn, job_id)
    return render_template("job.html", title=f"{gettext('Job')} {job_id}", job=detail, items=items, status=status,
                           events=events, logs=logs,
                           all_logs=url_for("catalog.logs", job=job_id),
                           page_size=PAGE_SIZE, failed_classes=failed_classes, failed_sources=failed_sources,
                           error_class=error_class, source=source, statuses=[s.value for s in ItemStatus],
                           stage_names=stage_names, stage=stage, item_rows=item_rows, event_rows=event_rows,
                           error_classes=[e.value for e in ErrorClass])


@pass_context
def item_rows(context, items, stage_names: dict) -> Markup:
    """The job page's items table, built as text: 50 rows of seven cells through the template
    engine were half the page's time (an escape and a yield per value)."""
    word = cell_words()
    base = url_for("pages.item", item_id=0)[:-1]
    out = []
    for it in items:
        iid, status = it["id"], it["status"]
        error = ""
        if it["last_error_class"]:
            source = f" · {escape(it['last_source'])}" if it["last_source"] else ""
            error = f"[{word(it['last_error_class'])}{source}] {escape(error_text(it)[:120])}"
        retry = ""
        if status in ("failed", "interrupted"):
            retry = command_form(context, "retry_item", gettext("Retry"), {"item_id": iid})
        out.append(
            f'<tr data-item="{iid}">\n'
            f'      <td><a href="{base}{iid}">{iid}</a></td>\n'
            f'      <td>{word(stage_names.get(it["stage_id"], ""))}</td>\n'
            f'      <td>{escape(it["display_text"] or it["item_key"])}</td><td class="status" data-state="{status}">'
            f'{word(status)}</td>\n'
            f'      <td>{it["attempts"]}/{it["max_attempts"]}</td>\n'
            f'      <td>{error}</td>\n'
            f'      <td>{retry}</td>\n'
            f'    </tr>\n')
    return Markup("".join(out))


@bp.route("/items/<int:item_id>")
def item(item_id: int):
    conn = get_db()
    try:
        row = get_item(conn, item_id)
    except NotFound:
        abort(404, description=gettext("item %(id)s does not exist") % {"id": item_id})
    attempts = item_attempts(conn, item_id)
    logs = list_logs(conn, item_id=item_id, limit=50)
    return render_template("item.html", title=f"{gettext('Item')} {item_id}", item=row, attempts=attempts, logs=logs,
                           details=[json.loads(a["details_json"]) if a["details_json"] else {} for a in attempts])


@bp.route("/commands", methods=["POST"])
def submit():
    """A form posted from any page: one command, then back where the person was (PRG)."""
    try:
        kind = CommandKind(request.form.get("kind", ""))
    except ValueError:
        abort(400, description=gettext("unknown command %(kind)r") % {"kind": request.form.get("kind")})
    try:
        payload = payload_from_form(kind, request.form)
    except InvalidCommand as exc:
        abort(400, description=str(exc))
    # One form may send several commands (a button each, over the songs ticked): the page's nonce
    # with what was asked is the key, so the same post twice is one command and another is another.
    nonce = request.form.get("nonce") or None
    key = None
    if nonce:
        asked = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]
        key = f"{nonce}:{kind.value}:{asked}"
    try:
        command_id, _ = submit_command(get_db(), kind, payload, origin="web", requested_by=g.user,
                                       idempotency_key=key)
    except InvalidCommand as exc:
        abort(400, description=str(exc))
    back = safe_target(request.form.get("back"), url_for("pages.dashboard"))
    sep = "&" if "?" in back else "?"
    return redirect(f"{back}{sep}command={command_id}")


@bp.route("/commands/<int:command_id>")
def command(command_id: int):
    try:
        row = get_command(get_db(), command_id)
    except NotFound:
        abort(404, description=gettext("command %(id)s does not exist") % {"id": command_id})
    return render_template("command.html", title=f"{gettext('Command')} {command_id}", command=row)


def event_rows(events, item_base: str) -> Markup:
    """The job page's latest events as list entries, built as text (as `item_rows`)."""
    word = cell_words()
    lang, now = language(), utcnow()
    out = []
    for e in events:
        text = f"<li>{when(e['created_at'], lang, now)} {word(e['kind'])}"
        if e["item_id"]:
            shown = e["display_text"] or f"#{e['item_id']}"
            text += f' <a href="{item_base}{e["item_id"]}">{escape(shown)}</a>'
        if e["to_status"]:
            text += f" → {word(e['to_status'])}"
        if e["message"] and e["kind"] not in SELF_DESCRIBING:
            text += f": {escape(event_message(e))}"
        out.append(text + "</li>")
    return Markup("".join(out))
