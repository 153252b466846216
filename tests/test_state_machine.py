"""Random sequences of transitions over a real database file, checked after every step.

After each step: every stage's counters equal COUNT(*) by status; no item is held by two
attempts; a transition the rules forbid raised and changed nothing; a legal one left exactly
the events it should; a claim takes an item only of a running stage of a running job, and
always takes one when such an item is due.

The hard states are where bugs live: a job being paused, canceled or recovered while items
are in flight. A `busy_job` rule makes a running job with claimed items in one step, and the
job rules pick a job with items in flight three times in four, so those meetings are common;
STATS counts them and the test fails when they become rare.
"""
from __future__ import annotations

import hashlib
import math
import os
import shutil
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import T0
from helpers.depth import examples
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from catalogsync_ops.engine import runners
from catalogsync_ops.engine.items import (
    claim_next_item,
    mark_item_canceled,
    mark_item_failed,
    mark_item_interrupted,
    mark_item_succeeded,
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
from catalogsync_ops.engine.records import ItemSpec, RetryPolicy
from catalogsync_ops.engine.retry import retry_failed_items, retry_item
from catalogsync_ops.engine.stages import add_items, finish_stage, start_stage
from catalogsync_ops.engine.states import ItemStatus
from catalogsync_ops.errors import CatalogsyncError
from catalogsync_ops.store.database import open_database

POLICY = RetryPolicy(base_seconds=0.5, max_seconds=2)
NO_WAIT = RetryPolicy(base_seconds=0, max_seconds=0)
FINAL_STAGE = {"completed", "completed_with_errors", "failed", "canceled", "skipped"}
STATS: Counter = Counter()  # how often each hard state was met, over the whole run


def met(what: str) -> None:
    STATS[what] += 1
    event(what)  # also in pytest --hypothesis-show-statistics


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="csync-sm-"))
        self.conn = open_database(self.dir / "sm.db")
        self.now = T0
        self.runner_id = runners.register_runner(self.conn, pid=1, host="test", now=T0)
        self.claims: list = []  # every claim ever handed out, live or stale
        self.key_seq = 0

    def teardown(self) -> None:
        self.conn.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -------------------------------------------------------------- helpers

    def tick(self) -> None:
        self.now += timedelta(seconds=1)

    def one(self, sql: str, *args):
        return self.conn.execute(sql, args).fetchone()

    def events(self) -> int:
        return self.one("SELECT COUNT(*) FROM job_events")[0]

    def digest(self) -> str:
        h = hashlib.sha256()
        for table in ("job_runs", "job_stages", "job_items", "item_attempts", "runner_state"):
            for row in self.conn.execute(f"SELECT * FROM {table} ORDER BY rowid"):
                h.update(repr(tuple(row)).encode())
        return h.hexdigest()

    def ids(self, table: str) -> list[int]:
        return [r[0] for r in self.conn.execute(f"SELECT id FROM {table} ORDER BY id")]

    def running_in_job(self, job_id: int) -> int:
        return self.one("SELECT COUNT(*) FROM job_items WHERE job_id = ? AND status = 'running'", job_id)[0]

    def attempt(self, legal: bool, expected_events: int, action) -> object:
        """Run a transition; check it raised iff illegal, and what it left behind."""
        before_events, before_digest = self.events(), self.digest()
        try:
            result = action()
        except CatalogsyncError as exc:
            assert not legal, f"legal transition raised: {exc}"
            assert self.digest() == before_digest, "an illegal transition changed state"
            assert self.events() == before_events, "an illegal transition wrote an event"
            return None
        assert legal, "an illegal transition did not raise"
        got = self.events() - before_events
        assert got == expected_events, f"expected {expected_events} events, got {got}"
        return result

    # -------------------------------------------------------------- rules

    @rule(n_items=st.integers(0, 6), job_type=st.sampled_from(["download", "full_pipeline"]),
          max_attempts=st.integers(1, 3))
    def enqueue(self, n_items: int, job_type: str, max_attempts: int) -> None:
        self.tick()
        before = self.events()
        job_id = create_job(self.conn, job_type, now=self.now)
        stage_id = self.one("SELECT id FROM job_stages WHERE job_id = ? ORDER BY seq_no LIMIT 1", job_id)[0]
        specs = [ItemSpec(f"k{self.key_seq + i}") for i in range(n_items)]
        self.key_seq += n_items
        added = add_items(self.conn, stage_id, specs, max_attempts=max_attempts, now=self.now)
        assert added == n_items
        assert self.events() - before == 1 + (1 if added else 0)

    @rule(n_items=st.integers(1, 6), data=st.data())
    def busy_job(self, n_items: int, data) -> None:
        """A running job whose first stage has `n_in_flight` of its items claimed."""
        self.tick()
        job_id = create_job(self.conn, "download", now=self.now)
        stage_id = self.one("SELECT id FROM job_stages WHERE job_id = ?", job_id)[0]
        add_items(self.conn, stage_id, [ItemSpec(f"k{self.key_seq + i}") for i in range(n_items)], max_attempts=2,
                  now=self.now)
        self.key_seq += n_items
        start_job(self.conn, job_id, now=self.now)
        start_stage(self.conn, stage_id, now=self.now)
        for _ in range(data.draw(st.integers(1, n_items))):
            self.claims.append(claim_next_item(self.conn, stage_id, runner_instance_id=self.runner_id, now=self.now))
        assert self.running_in_job(job_id) == len([c for c in self.claims if c.job_id == job_id])

    @precondition(lambda self: self.ids("job_runs"))
    @rule(data=st.data())
    def start_job(self, data) -> None:
        job_id = data.draw(st.sampled_from(self.ids("job_runs")))
        legal = self.one("SELECT status FROM job_runs WHERE id = ?", job_id)[0] == "queued"
        self.attempt(legal, 1, lambda: start_job(self.conn, job_id, now=self.now))

    @precondition(lambda self: self.ids("job_stages"))
    @rule(data=st.data())
    def start_stage(self, data) -> None:
        stage_id = data.draw(st.sampled_from(self.ids("job_stages")))
        row = self.one("SELECT s.status, j.status FROM job_stages s JOIN job_runs j ON j.id = s.job_id"
                       " WHERE s.id = ?", stage_id)
        legal = row[1] == "running" and row[0] in ("pending", "paused")
        self.attempt(legal, 1, lambda: start_stage(self.conn, stage_id, now=self.now))

    @precondition(lambda self: self.ids("job_stages"))
    @rule(data=st.data())
    def claim(self, data) -> None:
        self.tick()
        stage_id = data.draw(st.sampled_from(self.ids("job_stages")))
        queued_before = {r[0] for r in self.conn.execute(
            "SELECT id FROM job_items WHERE stage_id = ? AND status = 'queued'", (stage_id,))}
        states = self.one("SELECT s.status, j.status FROM job_stages s JOIN job_runs j ON j.id = s.job_id"
                          " WHERE s.id = ?", stage_id)
        due = self.one("SELECT COUNT(*) FROM job_items WHERE stage_id = ? AND status = 'queued'"
                       " AND next_attempt_at <= ?", stage_id, self.now.isoformat(timespec="milliseconds"))[0]
        if queued_before and states[1] != "running":
            met(f"claim met a {states[1]} job with queued items")
        before = self.events()
        claim = claim_next_item(self.conn, stage_id, runner_instance_id=self.runner_id, now=self.now)
        if claim is None:
            assert self.events() == before
            assert not (due and tuple(states) == ("running", "running")), "a due item of a running job was not claimed"
            return
        assert tuple(states) == ("running", "running"), f"claimed from a {states[0]} stage of a {states[1]} job"
        assert claim.item_id in queued_before, "claimed an item that was not queued"
        assert self.events() == before + 1
        self.claims.append(claim)

    def _claim_rule(self, data, action, **kwargs) -> None:
        claim = data.draw(st.sampled_from(self.claims))
        item = self.one("SELECT status, attempts FROM job_items WHERE id = ?", claim.item_id)
        legal = item[0] == "running" and item[1] == claim.attempt_no
        self.tick()
        self.attempt(legal, 1, lambda: action(self.conn, claim.item_id, claim.attempt_no, now=self.now, **kwargs))

    @precondition(lambda self: self.one("SELECT COUNT(*) FROM job_runs WHERE status IN "
                                        "('pause_requested', 'cancel_requested')")[0])
    @rule(data=st.data())
    def in_flight_items_end(self, data) -> None:
        """What a runner sees after a pause or cancel: the items in flight end, one way or another."""
        job_id = data.draw(st.sampled_from([r[0] for r in self.conn.execute(
            "SELECT id FROM job_runs WHERE status IN ('pause_requested', 'cancel_requested')")]))
        for claim in [c for c in self.claims if c.job_id == job_id]:
            item = self.one("SELECT status, attempts FROM job_items WHERE id = ?", claim.item_id)
            if item[0] == "running" and item[1] == claim.attempt_no:
                end = data.draw(st.sampled_from([mark_item_succeeded, mark_item_canceled, mark_item_interrupted,
                                                 mark_item_failed]))
                extra = {mark_item_interrupted: {"reason": "the runner stopped"},
                         mark_item_failed: {"error_class": "connection", "error": "cut off", "policy": NO_WAIT}
                         }.get(end, {})
                self.tick()
                self.attempt(True, 1, lambda end=end, claim=claim, extra=extra:
                             end(self.conn, claim.item_id, claim.attempt_no, now=self.now, **extra))
        assert self.running_in_job(job_id) == 0
        # A failed one may be queued again (a retry): still nothing of this job may be claimed.
        self.tick()
        for (stage_id,) in self.conn.execute("SELECT id FROM job_stages WHERE job_id = ?", (job_id,)).fetchall():
            if self.one("SELECT COUNT(*) FROM job_items WHERE stage_id = ? AND status = 'queued'", stage_id)[0]:
                met("claim met a job on its way to paused or canceled, with queued items")
            assert claim_next_item(self.conn, stage_id, runner_instance_id=self.runner_id, now=self.now) is None

    @precondition(lambda self: self.claims)
    @rule(data=st.data())
    def succeed(self, data) -> None:
        self._claim_rule(data, mark_item_succeeded)

    @precondition(lambda self: self.claims)
    @rule(data=st.data(), retryable=st.booleans(), error_class=st.sampled_from(["timeout", "no_match", "http_5xx"]))
    def fail(self, data, retryable: bool, error_class: str) -> None:
        self._claim_rule(data, mark_item_failed, error_class=error_class, error="boom", source="demo",
                         retryable=retryable, policy=POLICY)

    @precondition(lambda self: self.claims)
    @rule(data=st.data())
    def interrupt(self, data) -> None:
        self._claim_rule(data, mark_item_interrupted, reason="hard stop")

    @precondition(lambda self: self.claims)
    @rule(data=st.data())
    def cancel_item(self, data) -> None:
        self._claim_rule(data, mark_item_canceled)

    @precondition(lambda self: self.ids("job_items"))
    @rule(data=st.data())
    def retry_item(self, data) -> None:
        item_id = data.draw(st.sampled_from(self.ids("job_items")))
        row = self.one("SELECT i.status, j.status FROM job_items i JOIN job_runs j ON j.id = i.job_id"
                       " WHERE i.id = ?", item_id)
        legal = row[0] in ("failed", "interrupted", "canceled") and row[1] not in ("canceled", "cancel_requested")
        self.attempt(legal, 1, lambda: retry_item(self.conn, item_id, now=self.now))

    @precondition(lambda self: self.ids("job_runs"))
    @rule(data=st.data())
    def retry_failed(self, data) -> None:
        job_id = data.draw(st.sampled_from(self.ids("job_runs")))
        status = self.one("SELECT status FROM job_runs WHERE id = ?", job_id)[0]
        failed = self.one("SELECT COUNT(*) FROM job_items WHERE job_id = ? AND status = 'failed'", job_id)[0]
        legal = failed > 0 and status not in ("canceled", "cancel_requested")
        self.attempt(legal, 1, lambda: retry_failed_items(self.conn, job_id, now=self.now))

    def _job_rule(self, data, legal_from, action, *, needs_idle: bool = False) -> None:
        # Half the time a job the transition is legal from (when there is one), a quarter one
        # with items in flight, else any job (most of them illegal: each must raise).
        marks = ",".join("?" for _ in legal_from)
        legal_ones = [r[0] for r in self.conn.execute(f"SELECT id FROM job_runs WHERE status IN ({marks})",
                                                      tuple(legal_from))]
        busy = [r[0] for r in self.conn.execute("SELECT DISTINCT job_id FROM job_items WHERE status = 'running'")]
        pick = data.draw(st.integers(0, 3))
        pool = legal_ones if pick < 2 and legal_ones else busy if pick == 2 and busy else self.ids("job_runs")
        job_id = data.draw(st.sampled_from(pool))
        status = self.one("SELECT status FROM job_runs WHERE id = ?", job_id)[0]
        in_flight = self.running_in_job(job_id)
        legal = status in legal_from and (not needs_idle or in_flight == 0)
        met(f"{action.__name__} on a {status} job" + (" with items in flight" if in_flight else ""))
        self.tick()
        self.attempt(legal, 1, lambda: action(self.conn, job_id, now=self.now))

    @precondition(lambda self: self.ids("job_runs"))
    @rule(data=st.data())
    def request_pause(self, data) -> None:
        self._job_rule(data, {"queued", "running"}, request_pause)

    @precondition(lambda self: self.ids("job_runs"))
    @rule(data=st.data())
    def finalize_pause(self, data) -> None:
        self._job_rule(data, {"pause_requested"}, finalize_pause, needs_idle=True)

    @precondition(lambda self: self.ids("job_runs"))
    @rule(data=st.data())
    def resume(self, data) -> None:
        self._job_rule(data, {"paused", "pause_requested"}, resume_job)

    @precondition(lambda self: self.ids("job_runs"))
    @rule(data=st.data())
    def request_cancel(self, data) -> None:
        self._job_rule(data, {"queued", "paused", "running", "pause_requested"}, request_cancel)

    @precondition(lambda self: self.ids("job_runs"))
    @rule(data=st.data())
    def finalize_cancel(self, data) -> None:
        self._job_rule(data, {"cancel_requested"}, finalize_cancel, needs_idle=True)

    @precondition(lambda self: self.ids("job_stages"))
    @rule(data=st.data())
    def finish_stage(self, data) -> None:
        stage_id = data.draw(st.sampled_from(self.ids("job_stages")))
        row = self.one("SELECT * FROM job_stages WHERE id = ?", stage_id)
        legal = row["status"] == "running" and row["n_queued"] + row["n_running"] + row["n_interrupted"] == 0
        self.attempt(legal, 1, lambda: finish_stage(self.conn, stage_id, now=self.now))

    @precondition(lambda self: self.ids("job_runs"))
    @rule(data=st.data())
    def finish_job(self, data) -> None:
        job_id = data.draw(st.sampled_from(self.ids("job_runs")))
        status = self.one("SELECT status FROM job_runs WHERE id = ?", job_id)[0]
        stages = [r[0] for r in self.conn.execute("SELECT status FROM job_stages WHERE job_id = ?", (job_id,))]
        legal = status == "running" and all(s in FINAL_STAGE for s in stages)
        self.attempt(legal, 1, lambda: finish_job(self.conn, job_id, now=self.now))

    @precondition(lambda self: self.one("SELECT COUNT(*) FROM job_runs WHERE status IN "
                                        "('running', 'pause_requested', 'cancel_requested')")[0])
    @rule(auto_resume=st.booleans(), now=st.integers(0, 2))
    def crash_and_recover(self, auto_resume: bool, now: int) -> None:
        if now:
            return  # a crash one time in three: a recovery ends every pause and cancel under way
        self.tick()
        affected = {r[0] for r in self.conn.execute(
            "SELECT job_id FROM job_items WHERE status = 'running' UNION "
            "SELECT id FROM job_runs WHERE status IN ('running', 'pause_requested', 'cancel_requested')")}
        in_flight = self.one("SELECT COUNT(*) FROM job_items WHERE status = 'running'")[0]
        met("recovery with items in flight" if in_flight else "recovery with nothing in flight")
        self.runner_id = runners.register_runner(self.conn, pid=2, host="test", now=self.now)
        self.attempt(True, len(affected), lambda: runners.recover_orphaned_items(
            self.conn, current_runner_id=self.runner_id, auto_resume=auto_resume, now=self.now))
        assert self.one("SELECT COUNT(*) FROM job_items WHERE status = 'running'")[0] == 0
        assert self.one("SELECT COUNT(*) FROM job_runs WHERE status IN "
                        "('running', 'pause_requested', 'cancel_requested')")[0] == 0

    # -------------------------------------------------------------- invariants

    @invariant()
    def counters_match_the_items(self) -> None:
        STATS["steps"] += 1
        if self.one("SELECT COUNT(*) FROM job_items WHERE status = 'running'")[0]:
            STATS["steps with items in flight"] += 1
        for stage in self.conn.execute("SELECT * FROM job_stages"):
            actual = {s.value: 0 for s in ItemStatus}
            for status, count in self.conn.execute(
                    "SELECT status, COUNT(*) FROM job_items WHERE stage_id = ? GROUP BY status", (stage["id"],)):
                actual[status] = count
            kept = {s.value: stage[f"n_{s.value}"] for s in ItemStatus}
            assert kept == actual, f"stage {stage['id']}: counters {kept} != items {actual}"

    @invariant()
    def no_item_is_held_by_two_attempts(self) -> None:
        for item in self.conn.execute("SELECT * FROM job_items"):
            open_attempts = [r[0] for r in self.conn.execute(
                "SELECT id FROM item_attempts WHERE item_id = ? AND outcome = 'running'", (item["id"],))]
            if item["status"] == "running":
                current = self.one("SELECT id FROM item_attempts WHERE item_id = ? AND attempt_no = ?",
                                   item["id"], item["attempts"])[0]
                assert open_attempts == [current]
            else:
                assert open_attempts == []
            total = self.one("SELECT COUNT(*) FROM item_attempts WHERE item_id = ?", item["id"])[0]
            assert total == item["attempts"]


SETTINGS = settings(
    max_examples=examples(200, least=100), stateful_step_count=100, deadline=None,
    # The same walk every run: the counts below are then figures, not luck (a walk that changes
    # with each run varied them two- to fivefold). Other walks: HYPOTHESIS_SEED=random.
    derandomize=os.environ.get("HYPOTHESIS_SEED") != "random",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
# How often, at the least, each hard state must be met in a full run (a run meets each several
# hundred times; these bounds catch a change that makes them rare again). A quick run (half the
# walks: the first walks are the simple ones, a quarter meets some states never) must meet
# each in proportion.
AT_LEAST = {
    "steps with items in flight": 2000,
    "request_pause on a running job with items in flight": 50,
    "finalize_pause on a pause_requested job": 3,
    "finalize_pause on a pause_requested job with items in flight": 6,
    "request_cancel on a running job with items in flight": 50,
    "finalize_cancel on a cancel_requested job": 20,
    "finalize_cancel on a cancel_requested job with items in flight": 30,
    "resume_job on a pause_requested job with items in flight": 5,
    "recovery with items in flight": 70,
    "claim met a paused job with queued items": 20,
    "claim met a job on its way to paused or canceled, with queued items": 20,
}


@pytest.mark.slow
def test_queue_state_machine_reaches_the_hard_states():
    STATS.clear()
    run_state_machine_as_test(QueueMachine, settings=SETTINGS)
    print("\n".join(f"{count:6d}  {what}" for what, count in sorted(STATS.items())))
    part = SETTINGS.max_examples / 200  # of a full run's walks
    rare = {what: STATS[what] for what, least in AT_LEAST.items() if STATS[what] < math.ceil(least * part)}
    assert not rare, f"hard states met too rarely: {rare}"
