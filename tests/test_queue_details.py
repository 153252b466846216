"""The queue's details a person reads later, and the compare-and-set conditions that keep
stale workers out: written where mutation testing found nothing guarding them."""
from __future__ import annotations

import json

import pytest
from conftest import T0, later, make_running_job
from test_queue import counts, status

from catalogsync_ops.engine import runners
from catalogsync_ops.engine.items import (
    attempts_of,
    claim_items,
    claim_next_item,
    defer_item,
    mark_item_failed,
    mark_item_interrupted,
    mark_item_skipped,
    mark_item_succeeded,
    mark_items_succeeded,
    release_items,
    seconds_until_next_due,
)
from catalogsync_ops.engine.jobs import (
    create_job,
    finalize_cancel,
    finalize_pause,
    finish_job,
    request_cancel,
    request_pause,
    resume_job,
    start_job,
)
from catalogsync_ops.engine.records import ItemSpec, RetryPolicy, get_item
from catalogsync_ops.engine.records import get_job as get_job_row
from catalogsync_ops.engine.retry import retry_failed_items, retry_item
from catalogsync_ops.engine.stages import add_items, finish_stage, start_stage
from catalogsync_ops.engine.wanted import OUTCOME_KEYS
from catalogsync_ops.errors import TransitionError
from catalogsync_ops.store.connection import iso

# ---------------------------------------------------------------- details a person reads later


def test_a_job_keeps_its_first_start_time_across_a_pause_and_resume(conn):
    job_id, stage_id = make_running_job(conn, 2)
    assert get_job_row(conn, job_id)["started_at"] == iso(T0)
    request_pause(conn, job_id, now=later(1))
    finalize_pause(conn, job_id, now=later(2))
    resume_job(conn, job_id, now=later(3))
    start_job(conn, job_id, now=later(4))
    assert get_job_row(conn, job_id)["started_at"] == iso(T0)  # the job began at T0, not at its second start


def test_an_immediate_cancel_ends_the_job_at_once_a_requested_one_when_it_settles(conn):
    queued = create_job(conn, "download", now=T0)
    assert request_cancel(conn, queued, now=later(1)) == "canceled"
    assert get_job_row(conn, queued)["finished_at"] is not None
    job_id, stage_id = make_running_job(conn, 2)
    claim_next_item(conn, stage_id, runner_instance_id=None, now=later(2))
    assert request_cancel(conn, job_id, now=later(3)) == "cancel_requested"
    assert get_job_row(conn, job_id)["finished_at"] is None  # not finished while an item is stopping


def test_a_resume_event_counts_the_interrupted_items_it_requeued(conn):
    job_id, stage_id = make_running_job(conn, 4)
    claims = [claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1)) for _ in range(2)]
    request_pause(conn, job_id, now=later(2))
    resume_job(conn, job_id, now=later(3))  # before the pause settled: nothing to requeue
    request_pause(conn, job_id, now=later(4))
    for claim in claims:
        mark_item_interrupted(conn, claim.item_id, claim.attempt_no, reason="stop", now=later(5))
    finalize_pause(conn, job_id, now=later(6))
    resume_job(conn, job_id, now=later(7))
    data = [r[0] for r in conn.execute("SELECT data_json FROM job_events WHERE kind = 'job_resumed' ORDER BY id")]
    assert data == [None, '{"requeued_interrupted": 2}']


def test_recovery_says_per_job_how_many_items_it_interrupted_or_failed(conn):
    busy, busy_stage = make_running_job(conn, 2, max_attempts=1)
    idle, _ = make_running_job(conn, 1)  # running, nothing in flight
    old = runners.register_runner(conn, pid=1, host="h", now=T0)
    claim = claim_next_item(conn, busy_stage, runner_instance_id=old, now=later(1))
    assert claim is not None
    new = runners.register_runner(conn, pid=2, host="h", now=later(100))
    runners.recover_orphaned_items(conn, current_runner_id=new, auto_resume=False, now=later(101))
    data = {r[0]: json.loads(r[1]) for r in conn.execute("SELECT job_id, data_json FROM job_events"
                                                          " WHERE kind = 'recovery'")}
    assert (data[busy]["interrupted"], data[busy]["failed"]) == (0, 1)  # its only attempt was spent
    assert (data[idle]["interrupted"], data[idle]["failed"]) == (0, 0)


def test_deferring_an_item_that_was_taken_meanwhile_changes_nothing(conn):
    job_id, stage_id = make_running_job(conn, 1)
    claim = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1))
    mark_item_interrupted(conn, claim.item_id, claim.attempt_no, reason="recovered", now=later(2))
    assert defer_item(conn, claim, until=later(60), reason="source down", now=later(3)) is False
    assert get_item(conn, claim.item_id)["status"] == "interrupted"


def test_seconds_until_the_next_due_item(conn):
    job_id, stage_id = make_running_job(conn, 1)
    assert seconds_until_next_due(conn, stage_id, now=later(-30)) == 30.0
    assert seconds_until_next_due(conn, stage_id, now=later(30)) == 0.0
    claim_next_item(conn, stage_id, runner_instance_id=None, now=later(31))
    assert seconds_until_next_due(conn, stage_id, now=later(31)) is None


def test_a_stage_with_queued_or_interrupted_items_cannot_finish(conn):
    job_id, stage_id = make_running_job(conn, 3)
    claim = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1))
    mark_item_interrupted(conn, claim.item_id, claim.attempt_no, reason="stop", now=later(2))
    done = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(3))
    mark_item_succeeded(conn, done.item_id, done.attempt_no, now=later(4))
    with pytest.raises(TransitionError):  # one queued, one interrupted
        finish_stage(conn, stage_id, now=later(5))
    claim_next_item(conn, stage_id, runner_instance_id=None, now=later(6))
    claim_next_item(conn, stage_id, runner_instance_id=None, now=later(6))
    with pytest.raises(TransitionError):  # none queued, two running
        finish_stage(conn, stage_id, now=later(7))


def test_recording_successes_of_items_taken_meanwhile_says_how_many(conn):
    job_id, stage_id = make_running_job(conn, 2)
    claims = claim_items(conn, stage_id, runner_instance_id=None, limit=2, now=later(1))
    mark_item_interrupted(conn, claims[0].item_id, claims[0].attempt_no, reason="recovered", now=later(2))
    with pytest.raises(TransitionError, match="1 of 2 items are no longer owned"):
        mark_items_succeeded(conn, [(c, None, None, None) for c in claims], now=later(3))


def test_a_retried_item_gets_one_more_attempt_and_a_new_job_has_priority_0(conn):
    job_id, stage_id = make_running_job(conn, 1, max_attempts=1)
    claim = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1))
    mark_item_failed(conn, claim.item_id, claim.attempt_no, error_class="timeout", error="slow", now=later(2))
    retry_item(conn, claim.item_id, now=later(3))
    item = get_item(conn, claim.item_id)
    assert (item["status"], item["attempts"], item["max_attempts"]) == ("queued", 1, 2)
    assert get_job_row(conn, job_id)["priority"] == 0


def test_an_immediate_cancel_closes_the_stages_a_requested_one_leaves_them_to_settle(conn):
    queued = create_job(conn, "full_pipeline", now=T0)
    request_cancel(conn, queued, now=later(1))
    assert {r[0] for r in conn.execute("SELECT status FROM job_stages WHERE job_id = ?", (queued,))} == {"canceled"}
    job_id, stage_id = make_running_job(conn, 2, job_type="full_pipeline")
    claim_next_item(conn, stage_id, runner_instance_id=None, now=later(2))
    request_cancel(conn, job_id, now=later(3))
    assert status(conn, "job_stages", stage_id) == "running"  # its item is still stopping
    kinds = [r[0] for r in conn.execute("SELECT kind FROM job_events WHERE kind IN ('job_canceled', 'cancel_requested')"
                                        " ORDER BY id")]
    assert kinds == ["job_canceled", "cancel_requested"]


def test_a_cancel_leaves_finished_stages_as_they_ended(conn):
    job_id, stage_id = make_running_job(conn, 1, job_type="full_pipeline")
    claim = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1))
    mark_item_succeeded(conn, claim.item_id, claim.attempt_no, now=later(2))
    finish_stage(conn, stage_id, now=later(3))
    request_cancel(conn, job_id, now=later(4))
    finalize_cancel(conn, job_id, now=later(5))
    assert [r[0] for r in conn.execute("SELECT status FROM job_stages WHERE job_id = ? ORDER BY seq_no", (job_id,))] \
        == ["completed", "canceled", "canceled", "canceled"]


def test_a_stage_keeps_its_first_start_time_when_it_runs_again(conn):
    job_id, stage_id = make_running_job(conn, 2)
    request_pause(conn, job_id, now=later(1))
    finalize_pause(conn, job_id, now=later(2))
    resume_job(conn, job_id, now=later(3))
    start_job(conn, job_id, now=later(4))
    start_stage(conn, stage_id, now=later(5))
    assert conn.execute("SELECT started_at FROM job_stages WHERE id = ?", (stage_id,)).fetchone()[0] == iso(T0)


@pytest.mark.parametrize("case", ["a job paused", "a job canceled", "a job resumed"])
def test_a_recovery_that_changed_any_job_says_it_did_something(conn, case):
    job_id, _ = make_running_job(conn, 1)
    if case == "a job canceled":
        request_cancel(conn, job_id, now=later(1))  # nothing in flight, but the runner died before settling it
    new = runners.register_runner(conn, pid=2, host="h", now=later(100))
    report = runners.recover_orphaned_items(conn, current_runner_id=new, auto_resume=case == "a job resumed",
                                            now=later(101))
    assert not report.interrupted and not report.failed and report.did_anything
    assert {"a job paused": report.paused_jobs, "a job canceled": report.canceled_jobs,
            "a job resumed": report.resumed_jobs}[case] == [job_id]


def test_a_deferral_says_so_and_keeps_a_long_reason_short(conn):
    job_id, stage_id = make_running_job(conn, 1)
    claim = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1))
    assert defer_item(conn, claim, until=later(60), reason="x" * 900, now=later(2)) is True
    message = conn.execute("SELECT message FROM job_events WHERE kind = 'item_deferred'").fetchone()[0]
    assert len(message) == 500


def test_an_attempt_keeps_the_details_it_ended_with(conn):
    job_id, stage_id = make_running_job(conn, 2)
    with_details = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1))
    mark_item_succeeded(conn, with_details.item_id, with_details.attempt_no, details={"match": "晴天"}, now=later(2))
    bare = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(3))
    mark_item_succeeded(conn, bare.item_id, bare.attempt_no, now=later(4))
    assert [a["details_json"] for a in attempts_of(conn, with_details.item_id) + attempts_of(conn, bare.item_id)] == [
        '{"match": "晴天"}', None]


def test_a_running_job_with_an_unfinished_stage_cannot_finish(conn):
    job_id, stage_id = make_running_job(conn, 1, job_type="full_pipeline")
    with pytest.raises(TransitionError, match="unfinished stages: collect, sync, download, upload"):
        finish_job(conn, job_id, now=later(1))


def test_retrying_the_failed_items_of_a_job_gives_each_one_more_attempt(conn):
    job_id, stage_id = make_running_job(conn, 1, max_attempts=1)
    claim = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1))
    mark_item_failed(conn, claim.item_id, claim.attempt_no, error_class="timeout", error="slow", now=later(2))
    retry_failed_items(conn, job_id, now=later(3))
    item = get_item(conn, claim.item_id)
    assert (item["status"], item["attempts"], item["max_attempts"]) == ("queued", 1, 2)


def test_releasing_a_claim_recovery_took_meanwhile_changes_nothing(conn):
    job_id, stage_id = make_running_job(conn, 2)
    claims = claim_items(conn, stage_id, runner_instance_id=None, limit=2, now=later(1))
    mark_item_interrupted(conn, claims[0].item_id, claims[0].attempt_no, reason="recovered", now=later(2))
    assert release_items(conn, claims, reason="pausing", now=later(3)) == 1
    assert get_item(conn, claims[0].item_id)["status"] == "interrupted"
    assert len(attempts_of(conn, claims[0].item_id)) == 1  # its attempt is kept: it did run
    assert get_item(conn, claims[1].item_id)["status"] == "queued" and attempts_of(conn, claims[1].item_id) == []


def test_a_deferral_undoes_only_its_own_attempt(conn):
    job_id, stage_id = make_running_job(conn, 1)
    first = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1))
    mark_item_failed(conn, first.item_id, first.attempt_no, error_class="timeout", error="slow",
                     policy=RetryPolicy(base_seconds=0, max_seconds=0), now=later(2))
    second = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(3))
    assert defer_item(conn, second, until=later(60), reason="source down", now=later(4))
    assert [a["attempt_no"] for a in attempts_of(conn, first.item_id)] == [1]


def test_retrying_by_source_takes_only_that_source_and_reopens_only_stages_with_failures(conn):
    job_id, stage_id = make_running_job(conn, 2, max_attempts=1, job_type="full_pipeline")
    for source in ("demo", "kuwo"):
        c = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1))
        mark_item_failed(conn, c.item_id, c.attempt_no, error_class="timeout", error="x", source=source, now=later(2))
    finish_stage(conn, stage_id, now=later(3))
    stages = [r[0] for r in conn.execute("SELECT id FROM job_stages WHERE job_id = ? ORDER BY seq_no", (job_id,))]
    done = stages[1]
    add_items(conn, done, [ItemSpec("ok")], max_attempts=1, now=later(4))
    start_stage(conn, done, now=later(5))
    c = claim_next_item(conn, done, runner_instance_id=None, now=later(6))
    mark_item_succeeded(conn, c.item_id, c.attempt_no, source="demo", now=later(7))  # same source, no failure
    finish_stage(conn, done, now=later(8))
    assert retry_failed_items(conn, job_id, source="demo", now=later(9)) == 1
    assert counts(conn, stage_id) == {"queued": 1, "failed": 1}
    assert status(conn, "job_stages", done) == "completed"  # no failed item there: left as it ended


def test_ending_an_attempt_leaves_the_earlier_attempts_as_they_ended(conn):
    no_wait = RetryPolicy(base_seconds=0, max_seconds=0)
    for batch in (False, True):
        job_id, stage_id = make_running_job(conn, 1)
        first = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1))
        mark_item_failed(conn, first.item_id, first.attempt_no, error_class="timeout", error="slow", policy=no_wait,
                         now=later(2))
        second = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(3))
        assert second.item_id == first.item_id
        if batch:
            mark_items_succeeded(conn, [(second, "demo", {"k": 1}, 5)], now=later(4))
        else:
            mark_item_succeeded(conn, second.item_id, second.attempt_no, now=later(4))
        outcomes = [(a["attempt_no"], a["outcome"]) for a in attempts_of(conn, first.item_id)]
        assert outcomes == [(1, "failed"), (2, "succeeded")], batch
        if batch:
            assert attempts_of(conn, first.item_id)[1]["details_json"] == '{"k": 1}'


def test_a_stale_claim_can_neither_release_nor_succeed_the_item_someone_else_now_runs(conn):
    job_id, stage_id = make_running_job(conn, 1)
    old = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1))
    mark_item_interrupted(conn, old.item_id, old.attempt_no, reason="recovered", now=later(2))
    retry_item(conn, old.item_id, now=later(3))
    new = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(4))
    assert new.attempt_no == 2
    assert release_items(conn, [old], reason="pausing", now=later(5)) == 0
    assert defer_item(conn, old, until=later(60), reason="source down", now=later(5)) is False
    with pytest.raises(TransitionError):
        mark_items_succeeded(conn, [(old, None, None, None)], now=later(6))
    item = get_item(conn, new.item_id)
    assert (item["status"], item["attempts"]) == ("running", 2) and len(attempts_of(conn, new.item_id)) == 2


def test_recovery_leaves_the_items_of_the_runner_that_recovers_alone(conn):
    me = runners.register_runner(conn, pid=1, host="h", now=T0)
    job_id, stage_id = make_running_job(conn, 1)
    mine = claim_next_item(conn, stage_id, runner_instance_id=me, now=later(1))
    report = runners.recover_orphaned_items(conn, current_runner_id=me, auto_resume=False, now=later(2))
    assert report.gone_runners == [] and report.interrupted == []
    assert get_item(conn, mine.item_id)["status"] == "running"
    assert conn.execute("SELECT status FROM runner_instances WHERE id = ?", (me,)).fetchone()[0] == "running"


def test_a_failure_event_names_its_error_class(conn):
    job_id, stage_id = make_running_job(conn, 1, max_attempts=1)
    c = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1))
    mark_item_failed(conn, c.item_id, c.attempt_no, error_class="no_match", error="decoys", now=later(2))
    data = conn.execute("SELECT data_json FROM job_events WHERE kind = 'item_failed'").fetchone()[0]
    assert json.loads(data) == {"attempt": 1, "error_class": "no_match"}


def test_releasing_a_claim_undoes_only_its_own_attempt(conn):
    job_id, stage_id = make_running_job(conn, 1)
    first = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1))
    mark_item_failed(conn, first.item_id, first.attempt_no, error_class="timeout", error="slow",
                     policy=RetryPolicy(base_seconds=0, max_seconds=0), now=later(2))
    held = claim_items(conn, stage_id, runner_instance_id=None, limit=1, now=later(3))
    assert release_items(conn, held, reason="pausing", now=later(4)) == 1
    assert [(a["attempt_no"], a["outcome"]) for a in attempts_of(conn, first.item_id)] == [(1, "failed")]


def test_a_coded_failure_keeps_its_code_and_values_on_the_item_and_its_attempt_and_a_plain_one_none(conn):
    """The console words a failure from its code and values (v11): both are kept beside the
    English text, on the item and on the attempt; a failure without a code keeps none."""
    job_id, stage_id = make_running_job(conn, 2, max_attempts=1)
    coded, plain = claim_items(conn, stage_id, runner_instance_id=None, limit=2, now=later(1))
    params = {"url": "https://cdn.test/a.mp3", "http_status": 404, "reason": "Not Found"}
    mark_item_failed(conn, coded.item_id, coded.attempt_no, error_class="not_found",
                     error="download of https://cdn.test/a.mp3 answered 404 Not Found", now=later(2),
                     error_code="download_answered", error_params=params)
    mark_item_failed(conn, plain.item_id, plain.attempt_no, error_class="internal", error="boom", now=later(2))
    item, attempt = get_item(conn, coded.item_id), attempts_of(conn, coded.item_id)[-1]
    assert (item["last_error_code"], json.loads(item["last_error_params_json"])) == ("download_answered", params)
    assert (attempt["error_code"], json.loads(attempt["error_params_json"])) == ("download_answered", params)
    item, attempt = get_item(conn, plain.item_id), attempts_of(conn, plain.item_id)[-1]
    assert (item["last_error_code"], item["last_error_params_json"], item["last_error"]) == (None, None, "boom")
    assert (attempt["error_code"], attempt["error_params_json"]) == (None, None)


# ---------------------------------------------------------------- how a job ends, and what it says


def test_a_long_item_name_is_cut_to_300_characters_with_an_ellipsis(conn):
    _, stage_id = make_running_job(conn, 0)
    add_items(conn, stage_id, [ItemSpec("long", display_text="x" * 301), ItemSpec("fits", display_text="y" * 300)],
              max_attempts=1)
    names = dict(conn.execute("SELECT item_key, display_text FROM job_items WHERE stage_id = ?", (stage_id,)))
    assert names["long"] == "x" * 299 + "…" and names["fits"] == "y" * 300


def _ended(conn, job_type: str, outcomes: list[str]) -> tuple[int, str]:
    """A job of one stage whose items end as `outcomes` say (succeeded, skipped, failed), finished."""
    job_id, stage_id = make_running_job(conn, len(outcomes), job_type=job_type)
    for n, outcome in enumerate(outcomes):
        claim = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(n))
        if outcome == "succeeded":
            mark_item_succeeded(conn, claim.item_id, claim.attempt_no, now=later(n))
        elif outcome == "skipped":
            mark_item_skipped(conn, claim.item_id, claim.attempt_no, reason="nothing to do",
                              details={"offered": "320k"}, now=later(n))
        else:
            mark_item_failed(conn, claim.item_id, claim.attempt_no, error_class="not_found", error="gone",
                             retryable=False, now=later(n))
    return job_id, finish_stage(conn, stage_id, now=later(10))


def test_a_stage_whose_other_items_were_skipped_ends_with_errors_not_failed(conn):
    assert _ended(conn, "upload", ["skipped", "failed"])[1] == "completed_with_errors"
    assert _ended(conn, "upload", ["failed"])[1] == "failed"
    skipped = conn.execute("SELECT a.details_json FROM item_attempts a JOIN job_items i ON i.id = a.item_id"
                           " WHERE i.status = 'skipped'").fetchone()[0]
    assert json.loads(skipped) == {"offered": "320k"}  # what an upgrade was offered stays readable


def test_a_download_job_that_changed_nothing_is_quiet_and_one_with_new_failures_is_not(conn):
    quiet, _ = _ended(conn, "download", ["succeeded"])
    loud, _ = _ended(conn, "download", ["succeeded", "failed"])
    for job_id in (quiet, loud):
        finish_job(conn, job_id, now=later(11))
    outcomes = {job_id: json.loads(get_job_row(conn, job_id)["outcome_json"]) for job_id in (quiet, loud)}
    assert {job_id: outcome["quiet"] for job_id, outcome in outcomes.items()} == {quiet: True, loud: False}
    assert all(set(OUTCOME_KEYS) <= outcome.keys() for outcome in outcomes.values())  # the stage's counts stay
    notified = {r[0] for r in conn.execute("SELECT job_id FROM notifications")}
    assert quiet not in notified and loud in notified


def test_an_upgrade_follows_a_full_pipeline_that_did_not_fail_once(conn):
    def pipeline(outcome: str) -> int:
        job_id = create_job(conn, "full_pipeline", scope={"pools": ["rock"]}, now=T0)
        start_job(conn, job_id, now=T0)
        for n, stage in enumerate(conn.execute("SELECT id, stage_type FROM job_stages WHERE job_id = ?"
                                               " ORDER BY seq_no", (job_id,)).fetchall()):
            start_stage(conn, stage[0], now=later(n))
            if stage[1] == "download":
                add_items(conn, stage[0], [ItemSpec("s")], max_attempts=1, now=later(n))
                claim = claim_next_item(conn, stage[0], runner_instance_id=None, now=later(n))
                if outcome == "failed":
                    mark_item_failed(conn, claim.item_id, claim.attempt_no, error_class="not_found", error="gone",
                                     retryable=False, now=later(n))
                else:
                    mark_item_succeeded(conn, claim.item_id, claim.attempt_no, now=later(n))
            finish_stage(conn, stage[0], now=later(n))
        finish_job(conn, job_id, upgrade_after=True, now=later(9))
        return job_id

    def upgrades() -> int:
        return conn.execute("SELECT COUNT(*) FROM job_runs WHERE job_type = 'upgrade'").fetchone()[0]

    job_id = create_job(conn, "full_pipeline", now=T0)  # UPGRADE_AFTER_PIPELINE off: finish_job's default
    start_job(conn, job_id, now=T0)
    for n, (stage_id,) in enumerate(conn.execute("SELECT id FROM job_stages WHERE job_id = ?", (job_id,)).fetchall()):
        start_stage(conn, stage_id, now=later(n))
        finish_stage(conn, stage_id, now=later(n))
    assert finish_job(conn, job_id, now=later(9)) == "completed" and upgrades() == 0
    pipeline("failed")
    assert upgrades() == 0  # a pipeline that failed is looked at first
    first = pipeline("succeeded")
    assert upgrades() == 1
    note, scope = conn.execute("SELECT note, scope_json FROM job_runs WHERE job_type = 'upgrade'").fetchone()
    assert f"after job {first}" in note and json.loads(scope) == {"pools": ["rock"]}  # the pipeline's own scope
    pipeline("succeeded")
    assert upgrades() == 1  # one is open already: not a second
    job_id, stage_id = make_running_job(conn, 0, job_type="download")
    finish_stage(conn, stage_id, now=later(20))
    finish_job(conn, job_id, upgrade_after=True, now=later(21))
    assert upgrades() == 1  # only a full pipeline is followed by one


def test_a_stage_that_is_not_told_when_to_give_up_never_gives_up_on_a_song(conn):
    from catalogsync_ops.library.catalog import upsert_song
    from catalogsync_ops.sources.base import Track

    song = upsert_song(conn, Track(platform="demo", external_id="404", title="Gone", artists=("A",)))
    job_id, stage_id = make_running_job(conn, 0, job_type="download")
    add_items(conn, stage_id, [ItemSpec("song", item_type="song", song_id=song)], max_attempts=1, now=T0)
    claim = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1))
    mark_item_failed(conn, claim.item_id, claim.attempt_no, error_class="not_found", error="gone", retryable=False,
                     now=later(1))
    assert finish_stage(conn, stage_id, now=later(2)) == "failed"  # give_up_nights left out: 0, never
    assert conn.execute("SELECT state, permanent_nights FROM missing_songs WHERE song_id = ?",
                        (song,)).fetchone()[:] == ("missing", 1)
    # The next night meets the same gap: a known one, said as such, and the stage is complete.
    _, stage_id = make_running_job(conn, 0, job_type="download", now=later(3600))
    add_items(conn, stage_id, [ItemSpec("song", item_type="song", song_id=song)], max_attempts=1, now=later(3600))
    claim = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(3601))
    mark_item_failed(conn, claim.item_id, claim.attempt_no, error_class="not_found", error="gone", retryable=False,
                     now=later(3601))
    assert finish_stage(conn, stage_id, now=later(3602)) == "completed"
    assert conn.execute("SELECT state, permanent_nights FROM missing_songs WHERE song_id = ?",
                        (song,)).fetchone()[:] == ("missing", 2)
    said = [r[0] for r in conn.execute("SELECT message FROM job_events WHERE kind = 'stage_finished' ORDER BY id")]
    assert said == ["stage download failed", "stage download completed (1 still missing)"]
