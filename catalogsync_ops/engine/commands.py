"""The command channel: the web UI and the CLI write `job_commands` rows; runnerd applies them.

`submit_command()` validates a payload and inserts a pending row (once per idempotency key, so
a form posted twice makes one command). `apply_pending_commands()` applies them in id order,
each in its own transaction together with the state change it causes, ending `applied` with a
result or `rejected` with a reason: a code and its parameters (catalogsync_ops/messages.py) and
the English text made from them. Each kind is declared in `engine/command_specs.py`; its
handler is registered here with `@handles`.
"""
from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from catalogsync_ops.config.envfile import Config, mask_text
from catalogsync_ops.config.revisions import apply_config_text, rollback_to
from catalogsync_ops.engine import breakers, notify, runners, wanted
from catalogsync_ops.engine.command_specs import (  # noqa: F401  (the kinds and limits are part of this interface)
    ID_MAX,
    PRIORITY_LIMIT,
    REPAIRABLE_DRIFT,
    SCOPE_KEYS,
    SPECS,
    CommandKind,
    validate_payload,
)
from catalogsync_ops.engine.jobs import create_job, reprioritize_job, request_cancel, request_pause, resume_job
from catalogsync_ops.engine.records import get_item, get_job, running_item_count
from catalogsync_ops.engine.retry import retry_failed_items, retry_item
from catalogsync_ops.engine.states import CommandStatus, JobType
from catalogsync_ops.errors import (
    CatalogsyncError,
    CommandRejected,
    IdempotencyConflict,
    InvalidCommand,
    NotFound,
)
from catalogsync_ops.store.connection import Connection, iso, transaction

log = logging.getLogger("catalogsync_ops.commands")


@dataclass
class CommandContext:
    """What handlers need from the runner: its id, the env file and the config in force."""

    env_path: Path | None
    runner_instance_id: int | None = None
    config: Config | None = None
    config_revision_id: int | None = None
    now: datetime | None = None
    on_config_applied: Callable[[int, Config], None] | None = None
    # Called just before a pause or cancel of a job (None: the runner-wide pause) is written, so
    # the runner stops starting items its workers already hold before the command is applied.
    on_stopping: Callable[[int | None], None] | None = None


def submit_command(
    conn: Connection,
    kind: CommandKind | str,
    payload: dict[str, Any] | None = None,
    *,
    origin: str = "cli",
    requested_by: str | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
    strict: bool = False,
) -> tuple[int, bool]:
    """Write a pending command; returns (id, created). A repeated idempotency key returns
    the first command's id and writes nothing."""
    clean = validate_payload(kind, payload, strict=strict)
    kind = CommandKind(kind)
    body = json.dumps(clean, ensure_ascii=False, sort_keys=True)
    with transaction(conn, durable=True):  # its id is printed or shown: it must outlive a power cut
        if idempotency_key:
            existing = conn.execute("SELECT id, kind, payload_json FROM job_commands WHERE idempotency_key = ?",
                                    (idempotency_key,)).fetchone()
            if existing is not None:
                if existing["kind"] != kind.value or existing["payload_json"] != body:
                    raise IdempotencyConflict(f"idempotency key {idempotency_key!r} was already used for another "
                                              "command "
                                         f"({existing['id']}); use a new key")
                return int(existing["id"]), False
        try:
            command_id = conn.execute(
                "INSERT INTO job_commands (kind, payload_json, status, idempotency_key, origin, requested_by,"
                " created_at) VALUES (?, ?, 'pending', ?, ?, ?, ?)",
                (kind.value, body, idempotency_key, origin, requested_by, iso(now)),
            ).lastrowid
        except sqlite3.IntegrityError as exc:
            raise InvalidCommand(f"command not written: {exc}") from None
    return int(command_id), True


def get_command(conn: Connection, command_id: int) -> dict[str, Any]:
    """One command as a dict with its payload and result decoded."""
    row = conn.execute("SELECT * FROM job_commands WHERE id = ?", (command_id,)).fetchone()
    if row is None:
        raise NotFound.coded("not_found", subject="command", id=command_id)
    out = dict(row)
    out["payload"] = json.loads(out.pop("payload_json") or "{}")
    out["result"] = json.loads(out.pop("result_json") or "null")
    out["reject_params"] = json.loads(out.pop("reject_params_json") or "{}")
    if out["kind"] == CommandKind.APPLY_CONFIG and "content" in out["payload"]:
        out["payload"]["content"] = mask_text(out["payload"]["content"])
    return out


def pending_count(conn: Connection) -> int:
    """How many commands wait for the runner."""
    return int(conn.execute("SELECT COUNT(*) FROM job_commands WHERE status = 'pending'").fetchone()[0])


# ---------------------------------------------------------------- handlers

Handler = Callable[[Connection, dict, CommandContext, int], dict]
HANDLERS: dict[CommandKind, Handler] = {}


def handles(kind: CommandKind) -> Callable[[Handler], Handler]:
    """Register the handler of a command kind (declared in engine/command_specs.py)."""
    def register(handler: Handler) -> Handler:
        HANDLERS[kind] = handler
        return handler

    return register


def _rejected(error: CatalogsyncError) -> CommandRejected:
    """A coded engine error, as the command's rejection (its code and parameters kept)."""
    if error.code:
        return CommandRejected.coded(error.code, **error.params)
    return CommandRejected(str(error))


def _job_exists(conn: Connection, job_id: int):
    try:
        return get_job(conn, job_id)
    except NotFound as exc:
        raise _rejected(exc) from None


def _no_config(ctx: CommandContext) -> None:
    if ctx.config is None:
        raise CommandRejected.coded("config_invalid")


@handles(CommandKind.ENQUEUE_JOB)
def _enqueue_job(conn: Connection, p: dict, ctx: CommandContext, command_id: int) -> dict:
    _no_config(ctx)
    scope = {**p["scope"], "deep": True} if p.get("deep") else p["scope"]
    job_id = create_job(conn, p["job_type"], scope=scope, priority=p["priority"],
                              config_revision_id=ctx.config_revision_id, config_snapshot=ctx.config.snapshot(),
                              command_id=command_id, note=p.get("note"), now=ctx.now)
    return {"job_id": job_id}


@handles(CommandKind.PAUSE_JOB)
def _pause_job(conn: Connection, p: dict, ctx: CommandContext, command_id: int) -> dict:
    job = _job_exists(conn, p["job_id"])
    if job["status"] in ("paused", "pause_requested"):
        raise CommandRejected.coded("job_already", job_id=job["id"], status=job["status"])
    if job["status"] not in ("queued", "running"):
        raise CommandRejected.coded("job_nothing_to_pause", job_id=job["id"], status=job["status"])
    if ctx.on_stopping:
        ctx.on_stopping(p["job_id"])
    status = request_pause(conn, p["job_id"], command_id=command_id, now=ctx.now)
    return {"job_id": p["job_id"], "status": status.value, "in_flight": running_item_count(conn, p["job_id"])}


@handles(CommandKind.RESUME_JOB)
def _resume_job(conn: Connection, p: dict, ctx: CommandContext, command_id: int) -> dict:
    job = _job_exists(conn, p["job_id"])
    if job["status"] not in ("paused", "pause_requested"):
        raise CommandRejected.coded("job_not_paused", job_id=job["id"], status=job["status"])
    status = resume_job(conn, p["job_id"], command_id=command_id, now=ctx.now)
    return {"job_id": p["job_id"], "status": status.value}


@handles(CommandKind.CANCEL_JOB)
def _cancel_job(conn: Connection, p: dict, ctx: CommandContext, command_id: int) -> dict:
    job = _job_exists(conn, p["job_id"])
    if job["status"] in ("canceled", "cancel_requested"):
        raise CommandRejected.coded("job_already", job_id=job["id"], status=job["status"])
    if job["status"] in ("completed", "completed_with_errors", "failed"):
        raise CommandRejected.coded("job_finished_nothing_to_cancel", job_id=job["id"], status=job["status"])
    if ctx.on_stopping:
        ctx.on_stopping(p["job_id"])
    status = request_cancel(conn, p["job_id"], command_id=command_id, now=ctx.now)
    return {"job_id": p["job_id"], "status": status.value}


def _extra_attempts(ctx: CommandContext) -> int:
    return int(ctx.config["MAX_ATTEMPTS"]) if ctx.config else 1


@handles(CommandKind.RETRY_ITEM)
def _retry_item(conn: Connection, p: dict, ctx: CommandContext, command_id: int) -> dict:
    try:
        item = get_item(conn, p["item_id"])
    except NotFound as exc:
        raise _rejected(exc) from None
    retry_item(conn, p["item_id"], extra_attempts=_extra_attempts(ctx), command_id=command_id, now=ctx.now)
    return {"item_id": p["item_id"], "job_id": item["job_id"]}


@handles(CommandKind.RETRY_FAILED_ITEMS)
def _retry_failed_items(conn: Connection, p: dict, ctx: CommandContext, command_id: int) -> dict:
    _job_exists(conn, p["job_id"])
    count = retry_failed_items(conn, p["job_id"], error_class=p.get("error_class"), source=p.get("source"),
                                     extra_attempts=_extra_attempts(ctx), command_id=command_id, now=ctx.now)
    return {"job_id": p["job_id"], "requeued": count}


@handles(CommandKind.REPRIORITIZE_JOB)
def _reprioritize_job(conn: Connection, p: dict, ctx: CommandContext, command_id: int) -> dict:
    _job_exists(conn, p["job_id"])
    reprioritize_job(conn, p["job_id"], p["priority"], command_id=command_id, now=ctx.now)
    return {"job_id": p["job_id"], "priority": p["priority"]}


@handles(CommandKind.PAUSE_RUNNER)
def _pause_runner(conn: Connection, p: dict, ctx: CommandContext, command_id: int) -> dict:
    if ctx.on_stopping:
        ctx.on_stopping(None)
    runners.pause_runner(conn, reason=p.get("reason"), command_id=command_id, now=ctx.now)
    return {"paused": True}


@handles(CommandKind.RESUME_RUNNER)
def _resume_runner(conn: Connection, p: dict, ctx: CommandContext, command_id: int) -> dict:
    runners.resume_runner(conn, command_id=command_id, now=ctx.now)
    return {"paused": False}


@handles(CommandKind.APPLY_CONFIG)
def _apply_config(conn: Connection, p: dict, ctx: CommandContext, command_id: int) -> dict:
    if ctx.env_path is None:
        raise CommandRejected.coded("no_env_file")
    origin = conn.execute("SELECT origin FROM job_commands WHERE id = ?", (command_id,)).fetchone()
    source = {"cli": "cli", "api": "api"}.get(origin[0] if origin else "", "ui")  # the console's forms: ui
    revision_id, config = apply_config_text(conn, ctx.env_path, p["content"], source=source, note=p.get("note"),
                                            command_id=command_id, now=ctx.now)
    if ctx.on_config_applied:
        ctx.on_config_applied(revision_id, config)
    return {"revision_id": revision_id}


@handles(CommandKind.ROLLBACK_CONFIG)
def _rollback_config(conn: Connection, p: dict, ctx: CommandContext, command_id: int) -> dict:
    if ctx.env_path is None:
        raise CommandRejected.coded("no_env_file")
    revision_id, config = rollback_to(conn, ctx.env_path, p["revision_id"], note=p.get("note"),
                                      command_id=command_id, now=ctx.now)
    if ctx.on_config_applied:
        ctx.on_config_applied(revision_id, config)
    return {"revision_id": revision_id, "rollback_of": p["revision_id"]}


@handles(CommandKind.RESET_SOURCE)
def _reset_source(conn: Connection, p: dict, ctx: CommandContext, command_id: int) -> dict:
    was_open, released = breakers.reset(conn, p["source"], now=ctx.now)
    return {"source": p["source"], "was_open": was_open, "released": released}


@handles(CommandKind.REPAIR_DRIFT)
def _repair_drift(conn: Connection, p: dict, ctx: CommandContext, command_id: int) -> dict:
    """Queue a repair job for open drift: its files downloaded again, its objects uploaded
    again. The drift rows wait as `repairing` until the job ends (see library/drift.py)."""
    _no_config(ctx)
    where, params = ["status = 'open'", f"kind IN ({', '.join('?' for _ in REPAIRABLE_DRIFT)})"], list(REPAIRABLE_DRIFT)
    if p.get("kind"):
        where.append("kind = ?")
        params.append(p["kind"])
    if p.get("drift_ids"):
        where.append(f"id IN ({', '.join('?' for _ in p['drift_ids'])})")
        params += p["drift_ids"]
    rows = conn.execute(f"SELECT * FROM drift WHERE {' AND '.join(where)} ORDER BY id", params).fetchall()
    if not rows:
        raise CommandRejected.coded("no_open_drift")
    songs = sorted({r["song_id"] for r in rows if r["song_id"] is not None})
    if not songs:
        raise CommandRejected.coded("drift_songs_gone")
    for row in rows:
        if row["kind"] in ("file_missing", "file_changed"):
            # Downloaded again (a changed file is kept aside, never overwritten), then uploaded
            # again if the new file differs from the object.
            conn.execute("UPDATE file_locations SET verified_at = NULL WHERE id = ?", (row["file_location_id"],))
            conn.execute("UPDATE upload_tasks SET status = 'pending' WHERE file_location_id = ?"
                         " AND status = 'uploaded'", (row["file_location_id"],))
        else:
            conn.execute("UPDATE upload_tasks SET status = 'pending' WHERE id = ?", (row["upload_task_id"],))
    job_id = create_job(conn, JobType.REPAIR, scope={"songs": songs}, config_revision_id=ctx.config_revision_id,
                        config_snapshot=ctx.config.snapshot(), command_id=command_id,
                        note=f"repair of {len(rows)} drifted files", now=ctx.now)
    conn.executemany("UPDATE drift SET status = 'repairing', repair_job_id = ? WHERE id = ?",
                     [(job_id, r["id"]) for r in rows])
    return {"job_id": job_id, "drifts": len(rows), "songs": len(songs)}


@handles(CommandKind.NOTIFY_TEST)
def _notify_test(conn: Connection, p: dict, ctx: CommandContext, command_id: int) -> dict:
    """Queue a test notification to the webhook in force (the notifier sends it within a second)."""
    url = str(ctx.config["NOTIFY_WEBHOOK_URL"] or "") if ctx.config is not None else ""
    if not url:
        raise CommandRejected.coded("no_webhook")
    notify.enqueue(conn, "test", f"test:{command_id}", data={"command_id": command_id}, now=ctx.now)
    notification = conn.execute("SELECT id FROM notifications WHERE dedupe_key = ?", (f"test:{command_id}",)).fetchone()
    # Only the host: the rest of a webhook URL is often its secret (a bot token, a key).
    return {"notification_id": notification[0], "target": urlsplit(url).hostname or "?"}


@handles(CommandKind.MARK_UNAVAILABLE)
def _mark_unavailable(conn: Connection, p: dict, ctx: CommandContext, command_id: int) -> dict:
    """The owner's word: stop trying these songs (no download stage takes them until marked wanted)."""
    return wanted.mark(conn, p["song_ids"], "unavailable", iso(ctx.now))


@handles(CommandKind.MARK_WANTED)
def _mark_wanted(conn: Connection, p: dict, ctx: CommandContext, command_id: int) -> dict:
    """Unavailable songs wanted again: the next download stage tries them."""
    return wanted.mark(conn, p["song_ids"], "wanted", iso(ctx.now))


assert set(HANDLERS) == set(SPECS), f"a command kind without its handler: {set(SPECS) ^ set(HANDLERS)}"


def apply_command(conn: Connection, command_id: int, ctx: CommandContext) -> tuple[CommandStatus, Any]:
    """Apply one pending command in one transaction; returns (applied, result) or (rejected, reason).

    The handler runs inside a savepoint: when it rejects, whatever it changed is rolled back
    and only the rejection is written, so a command is never half-applied.
    """
    ts = iso(ctx.now)
    if ctx.runner_instance_id is not None:
        # Taken, in a commit of its own: if applying it kills the runner, the next start rejects
        # it (reject_interrupted_commands) instead of dying on it again.
        with transaction(conn):
            conn.execute("UPDATE job_commands SET runner_instance_id = ? WHERE id = ? AND status = 'pending'",
                         (ctx.runner_instance_id, command_id))
    # Durable: a --wait, the console and the API show its outcome as soon as it is committed.
    with transaction(conn, durable=True):
        row = conn.execute("SELECT * FROM job_commands WHERE id = ? AND status = 'pending'",
                           (command_id,)).fetchone()
        if row is None:
            raise NotFound(f"command {command_id} is not pending")
        try:
            with transaction(conn):
                try:
                    payload = validate_payload(row["kind"], json.loads(row["payload_json"] or "{}"))
                except (InvalidCommand, ValueError, RecursionError) as exc:
                    raise CommandRejected.coded("invalid_payload", detail=str(exc)) from None
                result = HANDLERS[CommandKind(row["kind"])](conn, payload, ctx, command_id)
                body = json.dumps(result, ensure_ascii=False)
        except CatalogsyncError as exc:
            rejected = exc if exc.code else None
            reason = str(exc)
        except sqlite3.OperationalError:
            raise  # the database itself (locked, full, gone): not this command's fault; it stays pending
        except Exception as exc:  # a bug or an input no check foresaw must not stop the runner
            log.exception("Command %s (%s) failed while being applied", command_id, row["kind"])
            rejected = CommandRejected.coded("apply_failed", detail=f"{type(exc).__name__}: {str(exc)[:300]}")
            reason = str(rejected)
        else:
            conn.execute(
                "UPDATE job_commands SET status = 'applied', result_json = ?, applied_at = ?, runner_instance_id = ?"
                " WHERE id = ?", (body, ts, ctx.runner_instance_id, command_id))
            return CommandStatus.APPLIED, result
        code, params = (rejected.code, json.dumps(rejected.params, ensure_ascii=False, default=str)) if rejected \
            else (None, None)
        conn.execute(
            "UPDATE job_commands SET status = 'rejected', reject_reason = ?, reject_code = ?, reject_params_json = ?,"
            " applied_at = ?, runner_instance_id = ? WHERE id = ?",
            (reason, code, params, ts, ctx.runner_instance_id, command_id))
        return CommandStatus.REJECTED, reason


def reject_interrupted_commands(conn: Connection, current_runner_id: int, *, now: datetime | None = None) -> list[int]:
    """Reject the commands a runner had taken but not finished when it died.

    A command whose applying stopped the process (a crash, a kill) would otherwise stop every
    runner that starts after it: the crash-loop guard. Returns the ids rejected.
    """
    with transaction(conn):
        rows = conn.execute("SELECT id FROM job_commands WHERE status = 'pending' AND runner_instance_id IS NOT NULL"
                            " AND runner_instance_id != ?", (current_runner_id,)).fetchall()
        reason = str(CommandRejected.coded("runner_stopped_applying"))
        conn.executemany(
            "UPDATE job_commands SET status = 'rejected', applied_at = ?, reject_reason = ?,"
            " reject_code = 'runner_stopped_applying', reject_params_json = '{}' WHERE id = ?",
            [(iso(now), reason, r[0]) for r in rows])
    return [r[0] for r in rows]


def apply_pending_commands(conn: Connection, ctx: CommandContext, *,
                           limit: int = 100) -> list[tuple[int, CommandStatus, Any]]:
    """Apply pending commands in id order; returns what happened to each."""
    ids = [r[0] for r in conn.execute(
        "SELECT id FROM job_commands WHERE status = 'pending' ORDER BY id LIMIT ?", (limit,)).fetchall()]
    return [(command_id, *apply_command(conn, command_id, ctx)) for command_id in ids]
