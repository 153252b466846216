"""The config page: the env file as a form (from the schema) and as text, with validation,
a diff against the file, revisions and rollback. Changes go to the runner as commands."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for

from catalogsync_ops.config.envfile import (
    check_text,
    mask_text,
    parse_env_text,
    problems_with,
    set_values,
    unmask_text,
)
from catalogsync_ops.config.revisions import diff_texts, get_revision, list_revisions, read_env_text
from catalogsync_ops.config.settings import MASK, SECRET_KEYS, SETTINGS
from catalogsync_ops.engine.commands import CommandKind, submit_command
from catalogsync_ops.errors import ConfigError, NotFound
from webui.context import get_db
from webui.i18n import N_, gettext

bp = Blueprint("config", __name__)


def _env_path() -> Path:
    path = current_app.config.get("ENV_PATH")
    if path is None:
        abort(404, description=gettext("this console was started without an env file (--env-file)"))
    return path


def _groups(values: dict, posted: dict) -> list[tuple[str, list[dict]]]:
    groups: dict[str, list[dict]] = {}
    for setting in SETTINGS:
        raw = values.get(setting.key)
        saved_secret = setting.secret and raw and setting.key not in posted
        shown = MASK if saved_secret else (raw if raw is not None else "")
        groups.setdefault(setting.group, []).append({"setting": setting, "value": shown})
    return list(groups.items())


def _proposal(current: str) -> tuple[str, dict[str, str]]:
    """The env text the posted form stands for, and the form values to show again."""
    if request.form.get("mode") == "text":
        return request.form.get("content", ""), {}
    posted = {s.key: request.form.get(s.key, "") for s in SETTINGS if s.key in request.form}
    current_values = parse_env_text(current).values
    defaults = {s.key: s.default for s in SETTINGS}
    changes = {k: v for k, v in posted.items()
               if not (k in SECRET_KEYS and v == MASK) and v != (current_values.get(k) or "")
               and not (k not in current_values and v in ("", defaults[k]))}
    return (set_values(current, changes) if changes else current), posted


@bp.route("/config", methods=["GET", "POST"])
def config():
    """GET shows the file; POST action=check validates and diffs; action=apply also queues it."""
    env_path = _env_path()
    current = read_env_text(env_path)
    proposed, posted, problems, diff = None, {}, [], ""
    if request.method == "POST":
        proposed, posted = _proposal(current)
        try:
            unmasked = unmask_text(proposed, current)
        except ConfigError as exc:
            problems, unmasked = exc.problems or [str(exc)], None
        if unmasked is not None:
            config_ok, problems = check_text(unmasked, env_path.resolve().parent)
            diff = diff_texts(current, unmasked, old_name="current", new_name="proposed")
            if request.form.get("action") == "apply" and config_ok is not None and unmasked != current:
                command_id, _ = submit_command(get_db(), CommandKind.APPLY_CONFIG,
                                               {"content": unmasked, "note": request.form.get("note") or None},
                                               origin="web", requested_by=g.user,
                                               idempotency_key=request.form.get("nonce") or None)
                return redirect(url_for("config.config", command=command_id))
    # The file as it is on disk: edited by hand into something invalid, the runner keeps the last
    # valid config, and this page says so (the dashboard does too).
    on_disk, disk_problems = check_text(current, env_path.resolve().parent)
    disk_errors = problems_with(disk_problems, "error") if on_disk is None else []
    values = parse_env_text(current).values
    values = {**{k: v for k, v in values.items()}, **posted}
    groups = _groups(values, posted)
    # A posted text comes back as the person typed it; the file's own secrets stay masked.
    text = proposed if request.form.get("mode") == "text" else mask_text(current)
    return render_template("config.html", title=N_("Config"), groups=groups, text=text, proposed=proposed,
                           problems=problems, diff=diff, revisions=list_revisions(get_db(), limit=30),
                           env_path=env_path, disk_errors=disk_errors, mode=request.form.get("mode"),
                           note=request.form.get("note", ""))


@bp.route("/config/revisions/<int:revision_id>")
def revision(revision_id: int):
    env_path = _env_path()
    try:
        row = get_revision(get_db(), revision_id)
    except NotFound as exc:
        abort(404, description=str(exc))
    diff = diff_texts(row["content"], read_env_text(env_path), old_name=f"revision {revision_id}",
                      new_name="current file")
    return render_template("revision.html", title=f"{gettext('Revision')} {revision_id}", revision=row,
                           content=mask_text(row["content"]), diff=diff)
