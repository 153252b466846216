"""The command channel: validated payloads, one command per form post, applied exactly once."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import T0, make_running_job

from catalogsync_ops.config.envfile import load_config
from catalogsync_ops.config.revisions import list_revisions, record_revision
from catalogsync_ops.config.settings import MASK
from catalogsync_ops.engine.commands import (
    CommandContext,
    CommandKind,
    apply_pending_commands,
    get_command,
    pending_count,
    submit_command,
)
from catalogsync_ops.engine.jobs import create_job, finish_job
from catalogsync_ops.engine.records import get_item, get_job
from catalogsync_ops.engine.runners import runner_paused
from catalogsync_ops.engine.stages import finish_stage
from catalogsync_ops.errors import InvalidCommand


@pytest.fixture
def env_path(tmp_path: Path, conn) -> Path:
    path = tmp_path / "catalogsync.env"
    text = "MAX_ATTEMPTS=4\nOBJECT_SECRET_ACCESS_KEY=hunter2\n"
    path.write_text(text, encoding="utf-8")
    record_revision(conn, path, text, source="init")
    return path


@pytest.fixture
def ctx(env_path: Path, conn) -> CommandContext:
    return CommandContext(env_path=env_path, runner_instance_id=None, config=load_config(env_path),
                          config_revision_id=list_revisions(conn)[0]["id"], now=T0)


@pytest.mark.parametrize("kind,payload,needle", [
    ("explode", {}, "unknown command 'explode'"),
    ("enqueue_job", {"job_type": "dance"}, "unknown job type 'dance'"),
    ("enqueue_job", {"scope": {"artists": ["x"]}}, "unknown scope key 'artists'"),
    ("enqueue_job", {"scope": {"sources": ["spotify"]}}, "unknown source 'spotify'"),
    ("pause_job", {}, "'job_id' is required"),
    ("pause_job", {"job_id": "twelve"}, "must be a whole number"),
    ("retry_item", {"item_id": 0}, "at least 1"),
    ("retry_failed_items", {"job_id": 1, "error_class": "gremlins"}, "unknown error class 'gremlins'"),
    ("apply_config", {}, "'content'"),
])
def test_malformed_commands_are_refused_before_they_are_written(conn, kind, payload, needle):
    with pytest.raises(InvalidCommand, match=needle):
        submit_command(conn, kind, payload)
    assert pending_count(conn) == 0


def test_a_form_posted_twice_makes_one_command(conn):
    first = submit_command(conn, "pause_job", {"job_id": 3}, origin="web", idempotency_key="form-abc")
    second = submit_command(conn, "pause_job", {"job_id": 3}, origin="web", idempotency_key="form-abc")
    assert first == (first[0], True) and second == (first[0], False)
    assert pending_count(conn) == 1


def test_reusing_an_idempotency_key_for_another_command_is_refused(conn):
    submit_command(conn, "pause_job", {"job_id": 3}, idempotency_key="k")
    with pytest.raises(InvalidCommand, match="already used"):
        submit_command(conn, "cancel_job", {"job_id": 3}, idempotency_key="k")


def test_enqueue_creates_a_job_with_the_config_snapshot_and_revision(conn, ctx):
    command_id, _ = submit_command(conn, "enqueue_job", {"job_type": "full_pipeline", "scope": {"sources": ["demo"]}})
    [(cid, status, result)] = apply_pending_commands(conn, ctx)
    assert (cid, status) == (command_id, "applied")
    job = conn.execute("SELECT * FROM job_runs WHERE id = ?", (result["job_id"],)).fetchone()
    assert job["config_revision_id"] == ctx.config_revision_id and job["command_id"] == command_id
    assert '"MAX_ATTEMPTS": 4' in job["config_snapshot_json"]
    assert "hunter2" not in job["config_snapshot_json"] and MASK in job["config_snapshot_json"]


def test_commands_apply_in_id_order_exactly_once(conn, ctx):
    ids = [submit_command(conn, "enqueue_job", {"job_type": "sync"})[0] for _ in range(3)]
    ids.append(submit_command(conn, "pause_job", {"job_id": 2})[0])
    results = apply_pending_commands(conn, ctx)
    assert [r[0] for r in results] == ids and {r[1] for r in results} == {"applied"}
    assert apply_pending_commands(conn, ctx) == []
    assert conn.execute("SELECT COUNT(*) FROM job_runs").fetchone()[0] == 3
    assert get_job(conn, 2)["status"] == "paused"


@pytest.mark.parametrize("kind,payload,reason", [
    ("pause_job", {"job_id": 99}, "job 99 does not exist"),
    ("resume_job", {"job_id": 1}, "job 1 is queued; only a paused job can be resumed"),
    ("retry_item", {"item_id": 5}, "item 5 does not exist"),
    ("resume_runner", {}, "the runner is not paused"),
    ("rollback_config", {"revision_id": 42}, "config revision 42 does not exist"),
])
def test_a_command_that_makes_no_sense_is_rejected_with_a_reason(conn, ctx, kind, payload, reason):
    create_job(conn, "sync", now=T0)
    command_id, _ = submit_command(conn, kind, payload)
    apply_pending_commands(conn, ctx)
    command = get_command(conn, command_id)
    assert command["status"] == "rejected" and reason in command["reject_reason"], command
    assert command["reject_code"], command  # a code and its values, for the reader's language


def test_pausing_a_completed_job_is_rejected_and_changes_nothing(conn, ctx):
    job_id, stage_id = make_running_job(conn, 0)
    finish_stage(conn, stage_id, now=T0)
    finish_job(conn, job_id, now=T0)
    events = conn.execute("SELECT COUNT(*) FROM job_events").fetchone()[0]
    command_id, _ = submit_command(conn, "pause_job", {"job_id": job_id})
    apply_pending_commands(conn, ctx)
    assert get_command(conn, command_id)["reject_reason"] == f"job {job_id} is completed; nothing to pause"
    assert conn.execute("SELECT COUNT(*) FROM job_events").fetchone()[0] == events


def test_apply_config_command_writes_the_file_and_an_invalid_one_is_rejected(conn, ctx, env_path):
    good, _ = submit_command(conn, "apply_config", {"content": f"MAX_ATTEMPTS=6\nOBJECT_SECRET_ACCESS_KEY={MASK}\n"})
    bad, _ = submit_command(conn, "apply_config", {"content": "MAX_ATTEMPTS=many\n"})
    apply_pending_commands(conn, ctx)
    assert get_command(conn, good)["status"] == "applied"
    assert env_path.read_text() == "MAX_ATTEMPTS=6\nOBJECT_SECRET_ACCESS_KEY=hunter2\n"
    rejected = get_command(conn, bad)
    assert rejected["status"] == "rejected" and "line 1: MAX_ATTEMPTS" in rejected["reject_reason"]
    assert "hunter2" not in str(get_command(conn, good))  # the stored payload is shown masked


def test_runner_pause_and_retry_commands_change_state(conn, ctx):
    submit_command(conn, CommandKind.PAUSE_RUNNER, {"reason": "movie"})
    apply_pending_commands(conn, ctx)
    assert runner_paused(conn)
    job_id, stage_id = make_running_job(conn, 1, max_attempts=1)
    from catalogsync_ops.engine.items import claim_next_item, mark_item_failed

    claim = claim_next_item(conn, stage_id, runner_instance_id=None, now=T0)
    mark_item_failed(conn, claim.item_id, claim.attempt_no, error_class="timeout", error="slow", now=T0)
    command_id, _ = submit_command(conn, "retry_failed_items", {"job_id": job_id, "error_class": "timeout"})
    apply_pending_commands(conn, ctx)
    assert get_command(conn, command_id)["result"] == {"job_id": job_id, "requeued": 1}
    item = get_item(conn, claim.item_id)
    # A person's retry grants MAX_ATTEMPTS more attempts from the config in force (4).
    assert item["status"] == "queued" and item["max_attempts"] == 5


def test_a_repair_of_drift_whose_song_left_the_catalog_is_rejected_and_changes_nothing(conn, ctx):
    conn.execute("INSERT INTO drift (kind, place, path, status, first_seen_at, last_seen_at)"
                 " VALUES ('file_missing', 'library', 'gone/song.mp3', 'open', '2026-01-01', '2026-01-01')")
    command_id, _ = submit_command(conn, "repair_drift", {})
    apply_pending_commands(conn, ctx)
    command = get_command(conn, command_id)
    assert command["status"] == "rejected" and "no longer in the catalog" in command["reject_reason"]
    assert conn.execute("SELECT COUNT(*) FROM job_runs").fetchone()[0] == 0
    assert conn.execute("SELECT status FROM drift").fetchone()[0] == "open"


def test_a_command_reads_back_with_its_payload_and_config_contents_masked(conn, ctx):
    command_id, _ = submit_command(conn, "pause_job", {"job_id": 7})
    assert get_command(conn, command_id)["payload"] == {"job_id": 7}
    config_id, _ = submit_command(conn, "apply_config", {"content": "OBJECT_SECRET_ACCESS_KEY=hunter2\n"})
    assert "hunter2" not in get_command(conn, config_id)["payload"]["content"]


@pytest.mark.parametrize("origin,source", [("cli", "cli"), ("api", "api"), ("web", "ui")])
def test_a_config_revision_says_where_its_command_came_from(conn, ctx, env_path, origin, source):
    command_id, _ = submit_command(conn, "apply_config", {"content": "MAX_ATTEMPTS=5\n"}, origin=origin)
    apply_pending_commands(conn, ctx)
    assert get_command(conn, command_id)["status"] == "applied"
    assert list_revisions(conn)[0]["source"] == source


def test_a_payload_nested_too_deeply_is_rejected_not_a_crash(conn, ctx):
    deep = "[" * 100_000 + "]" * 100_000
    conn.execute("INSERT INTO job_commands (kind, payload_json, status, created_at) VALUES"
                 " ('enqueue_job', ?, 'pending', '2026-01-01')", ('{"scope": ' + deep + "}",))
    apply_pending_commands(conn, ctx)
    row = conn.execute("SELECT status, reject_reason FROM job_commands").fetchone()
    assert row[0] == "rejected" and row[1].startswith("invalid payload")


def test_a_command_a_dead_runner_was_applying_is_rejected_with_why(conn):
    from catalogsync_ops.engine import runners
    from catalogsync_ops.engine.commands import reject_interrupted_commands

    old = runners.register_runner(conn, pid=1, host="h", now=T0)
    command_id, _ = submit_command(conn, "enqueue_job", {"job_type": "sync"})
    conn.execute("UPDATE job_commands SET runner_instance_id = ? WHERE id = ?", (old, command_id))
    other, _ = submit_command(conn, "enqueue_job", {"job_type": "sync"})  # not taken: stays pending
    new = runners.register_runner(conn, pid=2, host="h", now=T0)
    assert reject_interrupted_commands(conn, new, now=T0) == [command_id]
    command = get_command(conn, command_id)
    assert command["status"] == "rejected" and "the runner stopped while applying" in command["reject_reason"]
    assert get_command(conn, other)["status"] == "pending"


def test_a_payload_the_runner_cannot_read_is_rejected_as_invalid(conn, ctx):
    conn.execute("INSERT INTO job_commands (kind, payload_json, status, created_at) VALUES"
                 " ('pause_job', '{\"job_id\": \"one\"}', 'pending', '2026-01-01')")
    apply_pending_commands(conn, ctx)
    row = conn.execute("SELECT status, reject_reason FROM job_commands").fetchone()
    assert row[0] == "rejected" and row[1].startswith("invalid payload") and "job_id" in row[1]


def test_a_command_that_fails_unexpectedly_is_rejected_and_the_runner_goes_on(conn, ctx, tmp_path):
    import dataclasses

    folder = tmp_path / "a-folder.env"
    folder.mkdir()  # the env file's path is a folder: writing it raises IsADirectoryError
    broken = dataclasses.replace(ctx, env_path=folder)
    command_id, _ = submit_command(conn, "apply_config", {"content": "MAX_ATTEMPTS=5\n"})
    apply_pending_commands(conn, broken)
    command = get_command(conn, command_id)
    assert command["status"] == "rejected" and command["reject_reason"].startswith("could not be applied (")
    assert command["reject_reason"].endswith("); nothing was changed")


def test_a_repair_requeues_a_missing_file_for_download_and_a_missing_object_for_upload(conn, ctx):
    ts = "2026-01-01T00:00:00Z"
    for n in (1, 2):
        conn.execute("INSERT INTO songs (id, platform, external_id, title, created_at, updated_at)"
                     " VALUES (?, 'demo', ?, ?, ?, ?)", (n, f"s{n}", f"song {n}", ts, ts))
        conn.execute("INSERT INTO file_locations (id, song_id, library_root, rel_path, size_bytes, sha256, verified_at,"
                     " created_at, updated_at) VALUES (?, ?, '/lib', ?, 1, 'x', ?, ?, ?)",
                     (n, n, f"{n}.mp3", ts, ts, ts))
        conn.execute("INSERT INTO upload_tasks (id, file_location_id, backend, object_key, status, created_at,"
                     " updated_at) VALUES (?, ?, 'mirror', ?, 'uploaded', ?, ?)", (n, n, f"{n}.mp3", ts, ts))
    conn.execute("INSERT INTO drift (kind, place, path, file_location_id, upload_task_id, song_id, first_seen_at,"
                 " last_seen_at) VALUES ('file_missing', 'library', '1.mp3', 1, 1, 1, ?, ?)", (ts, ts))
    conn.execute("INSERT INTO drift (kind, place, path, file_location_id, upload_task_id, song_id, first_seen_at,"
                 " last_seen_at) VALUES ('object_missing', 'mirror', '2.mp3', 2, 2, 2, ?, ?)", (ts, ts))
    command_id, _ = submit_command(conn, "repair_drift", {})
    apply_pending_commands(conn, ctx)
    assert get_command(conn, command_id)["result"]["songs"] == 2
    files = dict(conn.execute("SELECT id, verified_at IS NULL FROM file_locations").fetchall())
    uploads = dict(conn.execute("SELECT id, status FROM upload_tasks").fetchall())
    assert files == {1: 1, 2: 0}  # the missing file is fetched again; the other file is fine
    assert uploads == {1: "pending", 2: "pending"}  # both objects are written again


def test_a_runner_marks_a_command_taken_in_a_commit_of_its_own_before_applying_it(conn, ctx, db_path, opened):
    """So that if applying it kills the runner, the next start knows which command did."""
    import dataclasses

    from catalogsync_ops.engine import runners
    from catalogsync_ops.store.connection import connect

    runner_id = runners.register_runner(conn, pid=1, host="h", now=T0)
    job_id, _ = make_running_job(conn, 1)
    other = opened(connect(db_path))  # what another process (the next runner) would read meanwhile
    seen = []
    taking = dataclasses.replace(ctx, runner_instance_id=runner_id, on_stopping=lambda job: seen.append(
        other.execute("SELECT runner_instance_id FROM job_commands WHERE kind = 'pause_job'").fetchone()[0]))
    submit_command(conn, "pause_job", {"job_id": job_id})
    apply_pending_commands(conn, taking)
    assert seen == [runner_id]


def test_a_command_is_applied_once_even_when_asked_twice(conn, ctx):
    from catalogsync_ops.engine.commands import apply_command
    from catalogsync_ops.errors import NotFound

    command_id, _ = submit_command(conn, "enqueue_job", {"job_type": "sync"})
    apply_command(conn, command_id, ctx)
    with pytest.raises(NotFound, match="is not pending"):
        apply_command(conn, command_id, ctx)
    assert conn.execute("SELECT COUNT(*) FROM job_runs").fetchone()[0] == 1


def test_pause_resume_cancel_and_verify_commands_apply_without_runner_hooks(conn, ctx):
    job_id, _ = make_running_job(conn, 1)
    results = {}
    for kind, payload in (("pause_runner", {}), ("resume_runner", {}), ("pause_job", {"job_id": job_id}),
                          ("cancel_job", {"job_id": job_id}), ("enqueue_job", {"job_type": "verify", "deep": True})):
        command_id, _ = submit_command(conn, kind, payload)
        apply_pending_commands(conn, ctx)
        command = get_command(conn, command_id)
        assert command["status"] == "applied", command
        results[kind] = command["result"]
    assert results["pause_runner"] == {"paused": True} and results["resume_runner"] == {"paused": False}
    verify = results["enqueue_job"]["job_id"]
    assert json.loads(get_job(conn, verify)["scope_json"])["deep"] is True


def test_a_rollback_applies_without_a_runner_hook_and_form_fields_arrive_as_text(conn, ctx, env_path):
    first = list_revisions(conn)[0]["id"]
    submit_command(conn, "apply_config", {"content": "MAX_ATTEMPTS=6\n"})
    command_id, _ = submit_command(conn, "rollback_config", {"revision_id": str(first)})  # as a form sends it
    apply_pending_commands(conn, ctx)
    assert get_command(conn, command_id)["status"] == "applied"
    assert "MAX_ATTEMPTS=4" in env_path.read_text(encoding="utf-8")


def test_a_test_notification_goes_to_the_webhook_in_force_and_names_only_its_host(conn, ctx, env_path):
    from dataclasses import replace

    command_id, _ = submit_command(conn, "notify_test", {})
    apply_pending_commands(conn, ctx)  # the env file sets no webhook
    command = get_command(conn, command_id)
    assert command["status"] == "rejected" and command["reject_code"] == "no_webhook", command
    assert conn.execute("SELECT COUNT(*) FROM notifications").fetchone()[0] == 0
    with env_path.open("a", encoding="utf-8") as env:
        env.write("NOTIFY_WEBHOOK_URL=https://hooks.example.net/bot123:SECRET/x\n")
    hooked = replace(ctx, config=load_config(env_path))
    command_id, _ = submit_command(conn, "notify_test", {})
    apply_pending_commands(conn, hooked)
    command = get_command(conn, command_id)
    assert command["status"] == "applied", command
    [(notification_id, kind)] = conn.execute("SELECT id, kind FROM notifications").fetchall()
    assert kind == "test"
    assert command["result"] == {"notification_id": notification_id, "target": "hooks.example.net"}
    assert "SECRET" not in json.dumps(command["result"])
    no_config = replace(ctx, config=None)  # a runner without its config says so; it never sends blind
    command_id, _ = submit_command(conn, "notify_test", {})
    apply_pending_commands(conn, no_config)
    assert get_command(conn, command_id)["reject_code"] == "no_webhook"
