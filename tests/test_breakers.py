"""Per-source health and circuit breakers: a platform that is down is left alone for a while,
the songs only it can serve wait without spending attempts, and everything resumes when it is
back — across a SIGKILL too."""
from __future__ import annotations

import json
import signal
import time
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import T0, runnerd, set_env
from test_musicdl import KUWO_JAY, NETEASE_HOT
from test_runnerd import start_daemon, wait_for

from catalogsync_ops.engine import breakers
from catalogsync_ops.store.connection import connect, iso, utcnow
from catalogsync_ops.store.database import open_database


def state(conn, source="netease") -> str | None:
    row = conn.execute("SELECT state FROM source_health WHERE source = ?", (source,)).fetchone()
    return row[0] if row else None


def fail(conn, n: int, *, at=T0, error_class="connection", threshold=3, cooldown=60.0):
    return [breakers.record(conn, "netease", error_class=error_class, error="cannot reach music.163.com",
                            threshold=threshold, cooldown_s=cooldown, now=at) for _ in range(n)]


def test_a_source_opens_after_the_set_number_of_outage_failures_in_a_row(conn):
    assert fail(conn, 2) == [None, None] and state(conn) == "closed"
    breakers.record(conn, "netease", now=T0)  # one answer in between: the count starts again
    assert fail(conn, 2) == [None, None] and state(conn) == "closed"
    assert fail(conn, 1) == ["opened"] and state(conn) == "open"
    verdict = breakers.check(conn, "netease", now=T0 + timedelta(seconds=30))
    assert not verdict.allowed and verdict.until == T0 + timedelta(seconds=60)
    kinds = [r[0] for r in conn.execute("SELECT kind FROM notifications")]
    assert kinds == ["source_down"]


def test_a_source_closed_by_hand_is_said_recovered_when_it_answers_again(conn):
    fail(conn, 3)
    assert breakers.reset(conn, "netease", now=T0 + timedelta(seconds=5))[0] is True
    assert state(conn) == "closed" and breakers.check(conn, "netease").allowed  # its work runs at once
    kinds = lambda: [r[0] for r in conn.execute("SELECT kind FROM notifications ORDER BY id")]  # noqa: E731
    assert kinds() == ["source_down"]  # closing it by hand proves nothing yet
    assert breakers.record(conn, "netease", now=T0 + timedelta(seconds=6)) == "closed"
    assert kinds() == ["source_down", "source_recovered"]
    recovered = json.loads(conn.execute("SELECT data_json FROM notifications WHERE kind = 'source_recovered'")
                           .fetchone()[0])
    assert recovered["down_since"] == iso(T0)
    assert breakers.record(conn, "netease", now=T0 + timedelta(seconds=7)) is None
    assert kinds() == ["source_down", "source_recovered"]  # once


@pytest.mark.parametrize("error_class", ["not_found", "no_match", "http_4xx", "parse", "disk_full", "preview"])
def test_answers_and_our_own_failures_never_open_a_breaker(conn, error_class):
    assert fail(conn, 10, error_class=error_class) == [None] * 10
    assert state(conn) != "open" and breakers.check(conn, "netease").allowed


def test_after_the_cooldown_one_probe_goes_through_and_decides(conn):
    fail(conn, 3)
    later = T0 + timedelta(seconds=61)
    probe = breakers.check(conn, "netease", now=later)
    assert probe.allowed and probe.probe
    other = breakers.check(conn, "netease", now=later)
    assert not other.allowed and other.state == "half_open"  # one probe at a time
    # The probe fails: open again, for twice as long.
    assert breakers.record(conn, "netease", error_class="timeout", threshold=3, cooldown_s=60, now=later) == "opened"
    row = conn.execute("SELECT cooldown_s, open_until FROM source_health").fetchone()
    assert row[0] == 120
    assert not breakers.check(conn, "netease", now=later + timedelta(seconds=119)).allowed
    assert breakers.check(conn, "netease", now=later + timedelta(seconds=121)).probe
    # This probe succeeds: closed, cooldown forgotten, and a source_recovered notification.
    assert breakers.record(conn, "netease", threshold=3, cooldown_s=60, now=later + timedelta(seconds=122)) == "closed"
    assert state(conn) == "closed" and breakers.check(conn, "netease").allowed
    kinds = [r[0] for r in conn.execute("SELECT kind FROM notifications ORDER BY id")]
    assert kinds == ["source_down", "source_recovered"]


def test_the_cooldown_doubles_up_to_an_hour(conn):
    fail(conn, 3, cooldown=1000)
    moment = T0
    cooldowns = []
    for _ in range(4):
        moment += timedelta(seconds=3601)
        assert breakers.check(conn, "netease", now=moment).probe
        breakers.record(conn, "netease", error_class="http_5xx", threshold=3, cooldown_s=1000, now=moment)
        cooldowns.append(conn.execute("SELECT cooldown_s FROM source_health").fetchone()[0])
    assert cooldowns == [2000, 3600, 3600, 3600]


def test_a_lost_probe_frees_the_half_open_slot(conn):
    fail(conn, 3)
    assert breakers.check(conn, "netease", now=T0 + timedelta(seconds=61)).probe
    # The runner died during the probe: after the grace period another call may probe.
    assert breakers.check(conn, "netease", now=T0 + timedelta(seconds=61 + breakers.PROBE_GRACE_S + 1)).probe


def test_health_counts_calls_failures_by_class_and_time(conn):
    breakers.record(conn, "kuwo", latency_s=0.2, now=T0)
    breakers.record(conn, "kuwo", error_class="timeout", error="silent", latency_s=0.4, now=T0)
    breakers.record(conn, "kuwo", error_class="not_found", error="gone", latency_s=0.3, now=T0)
    [row] = breakers.health(conn, now=T0)
    assert (row["source"], row["state"], row["calls"], row["failures"]) == ("kuwo", "closed", 3, 2)
    assert row["failures_by_class"] == {"timeout": 1, "not_found": 1}
    assert row["avg_latency_ms"] == 300 and row["last_error"] == "gone"


def test_reset_by_command_closes_a_breaker(home: Path, run_cli, opened):
    conn = opened(open_database(home / "catalogsync.db"))
    try:
        fail(conn, 5)
        assert state(conn) == "open"
        submitted = run_cli("source", "reset", "netease")
        assert submitted.exit_code == 0, submitted.output
        from catalogsync_ops.engine.commands import CommandContext, apply_pending_commands

        [(_, status, result)] = apply_pending_commands(conn, CommandContext(env_path=home / "catalogsync.env"))
        assert status == "applied" and result == {"source": "netease", "was_open": True, "released": 0}
        assert state(conn) == "closed"
    finally:
        conn.close()


def test_status_and_source_list_show_a_source_that_is_down(home: Path, run_cli, opened):
    conn = opened(open_database(home / "catalogsync.db"))
    try:
        fail(conn, 3, at=utcnow())
    finally:
        conn.close()
    status = run_cli("status")
    assert "source netease is DOWN" in status.output and "runnerd source reset netease" in status.output
    listed = run_cli("source", "list", "--json")
    [row] = json.loads(listed.output)
    assert row["state"] == "open" and row["failures_by_class"] == {"connection": 3}


@pytest.fixture
def breaker_home(home: Path, platforms):
    set_env(home, DOWNLOAD_SOURCES="netease,kuwo", HTTP_TIMEOUT_SECONDS=2, SOURCE_BREAKER_FAILURES=2,
            SOURCE_BREAKER_COOLDOWN_SECONDS=1, RETRY_BACKOFF_SECONDS=0.5, RETRY_BACKOFF_MAX_SECONDS=1,
            MAX_ATTEMPTS=3, SHUTDOWN_GRACE_SECONDS=1, PLATFORM_REQUESTS_PER_SECOND=50)
    (home / "input" / "platforms.txt").write_text(f"{NETEASE_HOT}\n{KUWO_JAY}\n", encoding="utf-8")
    return home


@pytest.mark.slow
def test_with_a_platform_down_its_songs_wait_and_the_job_finishes_when_it_is_back(breaker_home: Path, platforms,
                                                                                  opened):
    home = breaker_home
    assert runnerd(home, "enqueue", "collect").returncode == 0
    assert runnerd(home, "enqueue", "sync").returncode == 0
    synced = runnerd(home, "run", "--burst", timeout=300)
    assert synced.returncode == 0, synced.stderr[-2000:]
    platforms.netease.mode = "down"
    assert runnerd(home, "enqueue", "download").returncode == 0
    daemon = start_daemon(home)
    try:
        with closing(connect(home / "catalogsync.db")) as conn:
            wait_for(lambda: state(conn) == "open", timeout=60)
            # Kuwo keeps working while NetEase is down.
            succeeded = "SELECT COUNT(*) FROM job_items WHERE status = 'succeeded'"
            wait_for(lambda: conn.execute(succeeded).fetchone()[0] >= 3, timeout=60)
            wait_for(lambda: conn.execute("SELECT COUNT(*) FROM job_events WHERE kind = 'item_deferred'").fetchone()[0],
                     timeout=60)
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=30)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(timeout=30)
        daemon.stderr.close()
    conn = opened(connect(home / "catalogsync.db"))
    try:
        assert state(conn) in ("open", "half_open")  # the breaker survived the crash
        # AC/DC and 孤勇者: only NetEase has them. Waiting (or held by the runner at the kill), not failed.
        waiting = conn.execute("SELECT COUNT(*) FROM job_items WHERE job_id = 3 AND status IN"
                               " ('queued', 'running', 'interrupted')").fetchone()[0]
        assert waiting >= 2
        assert not conn.execute("SELECT COUNT(*) FROM job_items WHERE status = 'failed'").fetchone()[0]
    finally:
        conn.close()
    platforms.netease.mode = "up"
    assert runnerd(home, "resume", "3").returncode == 0  # the crash paused the download job
    done = runnerd(home, "run", "--burst", timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    conn = opened(connect(home / "catalogsync.db"))
    try:
        job = conn.execute("SELECT status FROM job_runs WHERE job_type = 'download'").fetchone()[0]
        health = conn.execute("SELECT state FROM source_health WHERE source = 'netease'").fetchone()[0]
        kinds = [r[0] for r in conn.execute("SELECT kind FROM notifications ORDER BY id")]
    finally:
        conn.close()
    # Waiting spent no attempts: with MAX_ATTEMPTS=3 and a breaker that reopened every second,
    # songs that spent an attempt per wait would have failed and the job would not be complete.
    # A song may still use all three on its own (a failed probe, the attempt the SIGKILL
    # interrupted, then success), so the count itself proves nothing.
    assert job == "completed", job
    assert health == "closed" and "source_down" in kinds and "source_recovered" in kinds
    assert len(list((home / "library").rglob("*.mp3"))) == 6


def _sync_outcome(home: Path, opened) -> tuple[dict, list[str], str]:
    """Item statuses, the times the NetEase playlist was claimed, and when it was deferred."""
    conn = opened(connect(home / "catalogsync.db"))
    try:
        rows = dict(conn.execute("SELECT display_text, status FROM job_items").fetchall())
        claims = [r[0] for r in conn.execute(
            "SELECT e.created_at FROM job_events e JOIN job_items i ON i.id = e.item_id"
            " WHERE e.kind = 'item_claimed' AND i.display_text LIKE '%music.163.com%' ORDER BY e.id")]
        deferrals = [r[0] for r in conn.execute("SELECT created_at FROM job_events WHERE kind = 'item_deferred'")]
    finally:
        conn.close()
    return rows, claims, deferrals


def test_the_sync_of_a_playlist_on_a_platform_that_is_down_waits_out_the_cooldown(breaker_home: Path, platforms,
                                                                                    opened):
    conn = opened(open_database(breaker_home / "catalogsync.db"))
    try:
        opened_at = utcnow()
        fail(conn, 5, at=opened_at, cooldown=2)
    finally:
        conn.close()
    until = iso(opened_at + timedelta(seconds=2))
    assert runnerd(breaker_home, "enqueue", "collect").returncode == 0
    assert runnerd(breaker_home, "enqueue", "sync").returncode == 0
    done = runnerd(breaker_home, "run", "--burst", timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows, claims, deferrals = _sync_outcome(breaker_home, opened)
    # NetEase's playlist waited out the breaker, was probed, and synced; nothing failed.
    assert set(rows.values()) == {"succeeded"}, rows
    # Met while the breaker is open, it is deferred once (not once a poll), without spending an
    # attempt, and claimed again only once the cooldown is over. (A runner slow to start meets
    # the cooldown already over and syncs at once; the next test makes the wait certain.)
    if deferrals:
        assert len(deferrals) == 1 and len(claims) == 2, (claims, deferrals)
        # A worker records an item's end with its next claim: the deferral's event may come late.
        assert claims[0] < until <= claims[1], (deferrals, claims, until)
    else:
        assert len(claims) == 1, claims


def test_try_it_now_ends_the_wait_of_what_a_source_that_was_down_holds(breaker_home: Path, platforms, opened):
    """A ten-minute cooldown, then "Try it now" (`runnerd source reset`): the playlist deferred
    until the cooldown's end goes now, and the run ends in seconds, not minutes."""
    conn = opened(open_database(breaker_home / "catalogsync.db"))
    try:
        fail(conn, 5, at=utcnow(), cooldown=600)
    finally:
        conn.close()
    assert runnerd(breaker_home, "enqueue", "collect").returncode == 0
    assert runnerd(breaker_home, "enqueue", "sync").returncode == 0
    started = time.monotonic()
    daemon = start_daemon(breaker_home, "--burst")
    try:
        with closing(connect(breaker_home / "catalogsync.db")) as conn:
            wait_for(lambda: conn.execute("SELECT COUNT(*) FROM job_events WHERE kind = 'item_deferred'").fetchone()[0],
                     timeout=120, what="the playlist deferred")
            assert runnerd(breaker_home, "source", "reset", "netease").returncode == 0
            _, stderr = daemon.communicate(timeout=120)
            assert daemon.returncode == 0, stderr[-2000:]
            result = conn.execute("SELECT result_json FROM job_commands WHERE kind = 'reset_source'").fetchone()[0]
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()
    assert json.loads(result) == {"source": "netease", "was_open": True, "released": 1}
    rows, claims, deferrals = _sync_outcome(breaker_home, opened)
    assert set(rows.values()) == {"succeeded"} and len(deferrals) == 1 and len(claims) == 2, (rows, claims)
    assert time.monotonic() - started < 120  # the cooldown was 600 s


def test_a_probe_lost_in_a_crash_does_not_hold_the_source_back(conn):
    fail(conn, 3)
    assert breakers.check(conn, "netease", now=T0 + timedelta(seconds=61)).probe  # then the runner dies
    assert breakers.recover_lost_probes(conn, now=T0 + timedelta(seconds=62)) == ["netease"]
    assert breakers.check(conn, "netease", now=T0 + timedelta(seconds=62)).probe
