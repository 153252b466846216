"""Job, stage and item transitions as a person would notice them."""
from __future__ import annotations

import json
import random

import pytest
from conftest import T0, later, make_running_job

from catalogsync_ops.engine import runners
from catalogsync_ops.engine.items import (
    attempts_of,
    claim_items,
    claim_next_item,
    mark_item_canceled,
    mark_item_failed,
    mark_item_interrupted,
    mark_item_succeeded,
    mark_items_succeeded,
    release_items,
)
from catalogsync_ops.engine.jobs import (
    create_job,
    finalize_cancel,
    finalize_pause,
    finish_job,
    reprioritize_job,
    request_cancel,
    request_pause,
    resume_job,
    start_job,
)
from catalogsync_ops.engine.queries import job_detail
from catalogsync_ops.engine.records import ItemSpec, RetryPolicy, get_item
from catalogsync_ops.engine.retry import retry_failed_items, retry_item
from catalogsync_ops.engine.stages import add_items, finish_stage, start_stage
from catalogsync_ops.errors import TransitionError


def status(conn, table, row_id):
    return conn.execute(f"SELECT status FROM {table} WHERE id = ?", (row_id,)).fetchone()[0]


def counts(conn, stage_id):
    row = conn.execute("SELECT * FROM job_stages WHERE id = ?", (stage_id,)).fetchone()
    return {k[2:]: row[k] for k in row.keys() if k.startswith("n_") and row[k]}


def test_create_job_makes_the_stages_of_its_type_in_order(conn):
    job_id = create_job(conn, "full_pipeline", now=T0)
    stages = job_detail(conn, job_id)["stages"]
    assert [s["stage_type"] for s in stages] == ["collect", "sync", "download", "upload"]
    assert [s["seq_no"] for s in stages] == [1, 2, 3, 4]
    assert {s["status"] for s in stages} == {"pending"}
    scoped = create_job(conn, "sync", scope={"playlists": [3]}, now=T0)
    created = conn.execute("SELECT data_json FROM job_events WHERE job_id = ? AND kind = 'job_created'",
                           (scoped,)).fetchone()[0]
    assert json.loads(created) == {"priority": 0, "scope": {"playlists": [3]}}


def test_adding_the_same_item_key_twice_queues_it_once(conn):
    job_id, stage_id = make_running_job(conn, 3)
    added = add_items(conn, stage_id, [ItemSpec("k1"), ItemSpec("k2"), ItemSpec("new")], max_attempts=3)
    assert added == 1
    events = conn.execute("SELECT COUNT(*) FROM job_events WHERE kind = 'items_added'").fetchone()[0]
    assert add_items(conn, stage_id, [ItemSpec("k1")], max_attempts=3) == 0
    assert conn.execute("SELECT COUNT(*) FROM job_events WHERE kind = 'items_added'").fetchone()[0] == events
    assert counts(conn, stage_id) == {"queued": 4}


def test_claim_takes_items_oldest_first_and_records_an_attempt(conn):
    job_id, stage_id = make_running_job(conn, 2)
    claim = claim_next_item(conn, stage_id, runner_instance_id=None, worker_id=7, now=later(1))
    assert claim.item_key == "k0" and claim.attempt_no == 1
    attempts = attempts_of(conn, claim.item_id)
    assert [(a["outcome"], a["worker_id"]) for a in attempts] == [("running", 7)]
    assert counts(conn, stage_id) == {"queued": 1, "running": 1}


def test_succeeding_an_item_closes_its_attempt_and_moves_the_counters(conn):
    job_id, stage_id = make_running_job(conn, 1)
    claim = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1))
    mark_item_succeeded(conn, claim.item_id, claim.attempt_no, source="demo", bytes_done=100, now=later(3))
    attempt = attempts_of(conn, claim.item_id)[0]
    assert (attempt["outcome"], attempt["source"], attempt["bytes_done"], attempt["duration_ms"]) == \
        ("succeeded", "demo", 100, 2000)
    assert counts(conn, stage_id) == {"succeeded": 1}


def test_nothing_is_claimed_from_a_stage_that_is_not_running(conn):
    job_id = create_job(conn, "download", now=T0)
    stage_id = job_detail(conn, job_id)["stages"][0]["id"]
    add_items(conn, stage_id, [ItemSpec("a")], max_attempts=3, now=T0)
    assert claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1)) is None


def test_soft_pause_lets_running_items_finish_and_claims_nothing_new(conn):
    job_id, stage_id = make_running_job(conn, 5)
    in_flight = [claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1)) for _ in range(2)]
    assert request_pause(conn, job_id, now=later(2)) == "pause_requested"
    assert status(conn, "job_stages", stage_id) == "pause_requested"  # what the job page shows meanwhile
    assert claim_next_item(conn, stage_id, runner_instance_id=None, now=later(3)) is None
    with pytest.raises(TransitionError, match="2 items running"):
        finalize_pause(conn, job_id, now=later(3))
    for claim in in_flight:
        mark_item_succeeded(conn, claim.item_id, claim.attempt_no, now=later(4))
    finalize_pause(conn, job_id, now=later(5))
    assert status(conn, "job_runs", job_id) == "paused"
    assert status(conn, "job_stages", stage_id) == "paused"
    assert counts(conn, stage_id) == {"succeeded": 2, "queued": 3}


def test_resume_requeues_a_paused_job_and_its_interrupted_items(conn):
    job_id, stage_id = make_running_job(conn, 2)
    claim = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1))
    request_pause(conn, job_id, now=later(2))
    mark_item_interrupted(conn, claim.item_id, claim.attempt_no, reason="hard stop", now=later(3))
    finalize_pause(conn, job_id, now=later(4))
    assert resume_job(conn, job_id, now=later(5)) == "queued"
    assert counts(conn, stage_id) == {"queued": 2}
    start_job(conn, job_id, now=later(6))
    start_stage(conn, stage_id, now=later(6))
    again = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(7))
    assert again.item_id == claim.item_id and again.attempt_no == 2


def test_resume_before_the_pause_settles_keeps_the_job_running(conn):
    job_id, stage_id = make_running_job(conn, 3)
    claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1))
    request_pause(conn, job_id, now=later(2))
    assert resume_job(conn, job_id, now=later(3)) == "running"
    assert claim_next_item(conn, stage_id, runner_instance_id=None, now=later(4)) is not None


def test_pausing_a_queued_job_pauses_it_at_once(conn):
    job_id = create_job(conn, "sync", now=T0)
    assert request_pause(conn, job_id, now=later(1)) == "paused"


def test_cancel_drops_queued_items_keeps_finished_work_and_waits_for_running_ones(conn):
    job_id, stage_id = make_running_job(conn, 4)
    done = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1))
    mark_item_succeeded(conn, done.item_id, done.attempt_no, now=later(2))
    running = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(3))
    assert request_cancel(conn, job_id, now=later(4)) == "cancel_requested"
    assert counts(conn, stage_id) == {"succeeded": 1, "running": 1, "canceled": 2}
    mark_item_canceled(conn, running.item_id, running.attempt_no, bytes_done=10, now=later(5))
    finalize_cancel(conn, job_id, now=later(6))
    assert status(conn, "job_runs", job_id) == "canceled"
    assert counts(conn, stage_id) == {"succeeded": 1, "canceled": 3}
    with pytest.raises(TransitionError, match="canceled"):
        resume_job(conn, job_id, now=later(7))


def test_failed_attempt_is_retried_after_a_backoff_then_fails_for_good(conn):
    job_id, stage_id = make_running_job(conn, 1, max_attempts=2)
    policy = RetryPolicy(base_seconds=10, max_seconds=100)
    claim = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(0))
    result = mark_item_failed(conn, claim.item_id, claim.attempt_no, error_class="http_5xx", error="502",
                              source="demo", policy=policy, rng=random.Random(1), now=later(1))
    assert result == "queued"
    # Not due yet: the backoff (5–10 s with jitter) must pass first.
    assert claim_next_item(conn, stage_id, runner_instance_id=None, now=later(2)) is None
    claim = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(12))
    assert claim.attempt_no == 2
    result = mark_item_failed(conn, claim.item_id, claim.attempt_no, error_class="http_5xx", error="502",
                              source="demo", policy=policy, now=later(13))
    assert result == "failed"
    item = get_item(conn, claim.item_id)
    assert (item["last_error_class"], item["last_source"]) == ("http_5xx", "demo")
    assert [a["outcome"] for a in attempts_of(conn, claim.item_id)] == ["failed", "failed"]


def test_not_found_failures_are_not_retried_automatically(conn):
    job_id, stage_id = make_running_job(conn, 1, max_attempts=5)
    claim = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(0))
    assert mark_item_failed(conn, claim.item_id, claim.attempt_no, error_class="not_found", error="404",
                            retryable=False, now=later(1)) == "failed"


def test_backoff_doubles_and_is_capped():
    policy = RetryPolicy(base_seconds=10, max_seconds=35)
    rng = random.Random(0)
    delays = [policy.delay(n, rng) for n in (1, 2, 3, 4)]
    assert 5 <= delays[0] <= 10 and 10 <= delays[1] <= 20 and 17.5 <= delays[2] <= 35 and delays[3] <= 35


def test_a_stale_worker_cannot_overwrite_the_result_of_a_newer_attempt(conn):
    job_id, stage_id = make_running_job(conn, 1)
    old = claim_next_item(conn, stage_id, runner_instance_id=1, now=later(1))
    runners.recover_orphaned_items(conn, current_runner_id=2, auto_resume=True, now=later(2))
    start_job(conn, job_id, now=later(3))
    start_stage(conn, stage_id, now=later(3))
    new = claim_next_item(conn, stage_id, runner_instance_id=2, now=later(4))
    with pytest.raises(TransitionError, match="owned by attempt"):
        mark_item_succeeded(conn, old.item_id, old.attempt_no, now=later(5))
    mark_item_succeeded(conn, new.item_id, new.attempt_no, now=later(6))


def test_succeeding_twice_raises(conn):
    job_id, stage_id = make_running_job(conn, 1)
    claim = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1))
    mark_item_succeeded(conn, claim.item_id, claim.attempt_no, now=later(2))
    with pytest.raises(TransitionError, match="succeeded"):
        mark_item_succeeded(conn, claim.item_id, claim.attempt_no, now=later(3))


def test_stage_and_job_finish_with_errors_and_a_retry_reopens_them(conn):
    job_id, stage_id = make_running_job(conn, 2, max_attempts=1)
    a = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1))
    b = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1))
    mark_item_succeeded(conn, a.item_id, a.attempt_no, now=later(2))
    mark_item_failed(conn, b.item_id, b.attempt_no, error_class="timeout", error="slow", now=later(2))
    assert finish_stage(conn, stage_id, now=later(3)) == "completed_with_errors"
    assert finish_job(conn, job_id, now=later(3)) == "completed_with_errors"
    retry_item(conn, b.item_id, extra_attempts=3, now=later(4))
    assert status(conn, "job_runs", job_id) == "queued"
    assert status(conn, "job_stages", stage_id) == "pending"
    start_job(conn, job_id, now=later(5))
    start_stage(conn, stage_id, now=later(5))
    again = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(6))
    assert again.item_id == b.item_id and again.attempt_no == 2
    mark_item_succeeded(conn, again.item_id, again.attempt_no, now=later(7))
    assert finish_stage(conn, stage_id, now=later(8)) == "completed"
    assert finish_job(conn, job_id, now=later(8)) == "completed"
    assert len(attempts_of(conn, b.item_id)) == 2


def test_finishing_an_earlier_stage_again_reopens_the_later_ones(conn):
    job_id = create_job(conn, "full_pipeline", now=T0)
    stages = [s["id"] for s in job_detail(conn, job_id)["stages"]]
    add_items(conn, stages[0], [ItemSpec("pool")], max_attempts=1, now=T0)
    start_job(conn, job_id, now=T0)
    start_stage(conn, stages[0], now=T0)
    claim = claim_next_item(conn, stages[0], runner_instance_id=None, now=T0)
    mark_item_failed(conn, claim.item_id, claim.attempt_no, error_class="http_4xx", error="403", now=T0)
    finish_stage(conn, stages[0], now=T0)
    for stage_id in stages[1:]:
        start_stage(conn, stage_id, now=T0)
        finish_stage(conn, stage_id, now=T0)
    assert finish_job(conn, job_id, now=T0) == "failed"
    retry_item(conn, claim.item_id, now=later(1))
    assert [status(conn, "job_stages", s) for s in stages] == ["pending", "completed", "completed", "completed"]
    start_job(conn, job_id, now=later(2))
    start_stage(conn, stages[0], now=later(2))
    again = claim_next_item(conn, stages[0], runner_instance_id=None, now=later(2))
    mark_item_succeeded(conn, again.item_id, again.attempt_no, now=later(3))
    finish_stage(conn, stages[0], now=later(4))
    # Sync, download and upload run again to pick up what the pool now yields.
    assert [status(conn, "job_stages", s) for s in stages] == ["completed", "pending", "pending", "pending"]
    data = [r[0] for r in conn.execute("SELECT data_json FROM job_events WHERE kind = 'stage_finished' ORDER BY id")]
    assert json.loads(data[-1]) == {"reopened_stages": stages[1:]} and data[0] is None


def test_retry_failed_items_can_be_limited_to_one_error_class(conn):
    job_id, stage_id = make_running_job(conn, 3, max_attempts=1)
    for error_class in ("timeout", "no_match", "timeout"):
        c = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1))
        mark_item_failed(conn, c.item_id, c.attempt_no, error_class=error_class, error="x", now=later(2))
    assert retry_failed_items(conn, job_id, error_class="timeout", now=later(3)) == 2
    assert counts(conn, stage_id) == {"queued": 2, "failed": 1}
    with pytest.raises(TransitionError, match="no failed items with error class 'timeout'"):
        retry_failed_items(conn, job_id, error_class="timeout", now=later(4))
    with pytest.raises(TransitionError, match="no failed items with error class 'no_match' and source 'kuwo'$"):
        retry_failed_items(conn, job_id, error_class="no_match", source="kuwo", now=later(4))


def test_retrying_a_succeeded_item_is_refused(conn):
    job_id, stage_id = make_running_job(conn, 1)
    c = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1))
    mark_item_succeeded(conn, c.item_id, c.attempt_no, now=later(2))
    with pytest.raises(TransitionError, match="only failed, interrupted or canceled"):
        retry_item(conn, c.item_id, now=later(3))


def test_recovery_interrupts_orphaned_items_and_pauses_their_job(conn):
    job_id, stage_id = make_running_job(conn, 3)
    dead_runner = runners.register_runner(conn, pid=111, host="nas", now=T0)
    claim = claim_next_item(conn, stage_id, runner_instance_id=dead_runner, now=later(1))
    new_runner = runners.register_runner(conn, pid=222, host="nas", now=later(10))
    report = runners.recover_orphaned_items(conn, current_runner_id=new_runner, now=later(10))
    assert report.interrupted == [claim.item_id] and report.paused_jobs == [job_id]
    assert status(conn, "job_runs", job_id) == "paused"
    assert status(conn, "job_items", claim.item_id) == "interrupted"
    assert attempts_of(conn, claim.item_id)[0]["outcome"] == "interrupted"
    assert status(conn, "runner_instances", dead_runner) == "gone"
    event = conn.execute("SELECT * FROM job_events WHERE kind = 'recovery'").fetchone()
    assert event["job_id"] == job_id and "1 items interrupted" in event["message"]


def test_recovery_with_auto_resume_requeues_the_job(conn):
    job_id, stage_id = make_running_job(conn, 2)
    claim_next_item(conn, stage_id, runner_instance_id=5, now=later(1))
    report = runners.recover_orphaned_items(conn, current_runner_id=6, auto_resume=True, now=later(2))
    assert report.resumed_jobs == [job_id]
    assert status(conn, "job_runs", job_id) == "queued"
    assert counts(conn, stage_id) == {"queued": 2}


def test_an_item_that_kills_the_runner_every_time_ends_failed(conn):
    job_id, stage_id = make_running_job(conn, 1, max_attempts=2)
    for runner_id in (1, 2):
        queue_state = status(conn, "job_runs", job_id)
        if queue_state != "running":
            start_job(conn, job_id, now=later(runner_id))
            start_stage(conn, stage_id, now=later(runner_id))
        claim_next_item(conn, stage_id, runner_instance_id=runner_id, now=later(runner_id))
        runners.recover_orphaned_items(conn, current_runner_id=runner_id + 1, auto_resume=True, now=later(runner_id))
    assert counts(conn, stage_id) == {"failed": 1}
    item = conn.execute("SELECT * FROM job_items").fetchone()
    assert item["last_error_class"] == "interrupted" and "every attempt" in item["last_error"]


def test_recovery_finishes_a_cancel_that_was_in_progress(conn):
    job_id, stage_id = make_running_job(conn, 2)
    claim_next_item(conn, stage_id, runner_instance_id=1, now=later(1))
    request_cancel(conn, job_id, now=later(2))
    runners.recover_orphaned_items(conn, current_runner_id=2, now=later(3))
    assert status(conn, "job_runs", job_id) == "canceled"
    assert counts(conn, stage_id) == {"canceled": 2}


def test_runner_wide_pause_is_remembered_and_double_pause_is_refused(conn):
    runners.pause_runner(conn, reason="movie night", now=T0)
    assert runners.runner_paused(conn)
    with pytest.raises(TransitionError, match="already paused"):
        runners.pause_runner(conn, now=T0)
    runners.resume_runner(conn, now=T0)
    assert not runners.runner_paused(conn)


def test_reprioritizing_a_finished_job_is_refused(conn):
    job_id = create_job(conn, "sync", now=T0)
    request_cancel(conn, job_id, now=T0)
    with pytest.raises(TransitionError, match="canceled"):
        reprioritize_job(conn, job_id, 5, now=T0)


def test_claiming_several_keeps_queue_order_and_releasing_undoes_the_unstarted_ones(conn):

    job_id, stage_id = make_running_job(conn, 5)
    claims = claim_items(conn, stage_id, runner_instance_id=None, worker_id=None, limit=3, now=later(1))
    assert [c.item_key for c in claims] == ["k0", "k1", "k2"] and all(c.attempt_no == 1 for c in claims)
    mark_items_succeeded(conn, [(claims[0], "demo", {"x": 1}, 10)], now=later(2))
    assert release_items(conn, claims[1:], reason="pausing", now=later(3)) == 2
    rows = {r["item_key"]: r for r in conn.execute("SELECT * FROM job_items")}
    assert rows["k0"]["status"] == "succeeded" and rows["k1"]["status"] == "queued" and rows["k1"]["attempts"] == 0
    assert conn.execute("SELECT COUNT(*) FROM item_attempts").fetchone()[0] == 1  # only k0's, which ran
    stage = conn.execute("SELECT * FROM job_stages WHERE id = ?", (stage_id,)).fetchone()
    assert (stage["n_queued"], stage["n_running"], stage["n_succeeded"]) == (4, 0, 1)
    assert conn.execute("SELECT COUNT(*) FROM job_events WHERE kind = 'item_released'").fetchone()[0] == 2
    # Released items keep their place: the next claim takes k1 again, as attempt 1.
    again = claim_items(conn, stage_id, runner_instance_id=None, limit=1, now=later(4))
    assert [(c.item_key, c.attempt_no) for c in again] == [("k1", 1)]
    # A batch of successes with one item no longer owned records nothing, so it can be done one by one.
    with pytest.raises(TransitionError):
        mark_items_succeeded(conn, [(again[0], None, None, None), (claims[0], None, None, None)], now=later(5))
    assert conn.execute("SELECT status FROM job_items WHERE item_key = 'k1'").fetchone()[0] == "running"
