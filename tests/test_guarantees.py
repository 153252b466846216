"""The runner's promises, each checked where a break would show: soft pause, cancel, the claim,
and resume after SIGKILL, seen at the server.

Order is read from the database's own sequence (`job_events.id`: one writer at a time, so the
ids are the order of the commits), never from wall-clock times taken in different places.
"""
from __future__ import annotations

import hashlib
import signal
from pathlib import Path

import pytest
from conftest import later, make_running_job, runnerd, set_env, wait_for
from test_runnerd import db, job_status, library_files, start_daemon

from catalogsync_ops.demo.server import DemoServer
from catalogsync_ops.engine.items import claim_items, claim_next_item, mark_item_failed
from catalogsync_ops.engine.jobs import create_job, finalize_cancel, request_cancel
from catalogsync_ops.engine.records import ItemSpec, RetryPolicy
from catalogsync_ops.engine.stages import add_items
from catalogsync_ops.engine.states import JobStatus
from catalogsync_ops.store.database import open_database

WORKERS = 2


@pytest.fixture
def long_songs():
    """The demo platform with one-minute songs (about 1 MB each): transfers of many chunks."""
    with DemoServer(song_seconds=60) as server:
        yield server


def _noop_job(conn, fast: int, slow: int, hold_s: float) -> tuple[int, int]:
    """A job of `fast` instant items, then `slow` items that each take `hold_s` (and stop when told)."""
    job_id = create_job(conn, "download")
    stage_id = conn.execute("SELECT id FROM job_stages WHERE job_id = ?", (job_id,)).fetchone()[0]
    items = [ItemSpec(f"fast:{i}") for i in range(fast)]
    items += [ItemSpec(f"slow:{i}", payload={"hold_s": hold_s}) for i in range(slow)]
    add_items(conn, stage_id, items, max_attempts=3)
    return job_id, stage_id


def _event_id(conn, job_id: int, kind: str) -> int:
    row = conn.execute("SELECT MAX(id) FROM job_events WHERE job_id = ? AND kind = ?", (job_id, kind)).fetchone()
    assert row[0] is not None, f"no {kind} event"
    return row[0]


def _stop(daemon) -> None:
    daemon.send_signal(signal.SIGTERM)
    daemon.communicate(timeout=60)


def test_a_soft_pause_starts_nothing_after_it_is_recorded_and_waits_for_the_item_in_flight(home: Path, opened):
    """Workers hold batches of claimed items (the fast ones grew the batch) when the pause comes."""
    set_env(home, DOWNLOAD_WORKERS=WORKERS, OBJECT_BACKEND_NAME="none")
    conn = opened(open_database(home / "catalogsync.db"))
    fast = 400
    job_id, stage_id = _noop_job(conn, fast=fast, slow=120, hold_s=0.6)
    daemon = start_daemon(home)
    try:
        # Slow items have begun: each worker now holds the rest of a batch it claimed while items were fast.
        wait_for(lambda: conn.execute("SELECT n_succeeded FROM job_stages WHERE id = ?",
                                      (stage_id,)).fetchone()[0] > fast, interval=0.01)
        assert runnerd(home, "pause", str(job_id)).returncode == 0
        wait_for(lambda: job_status(home, job_id) == "paused", timeout=30)
    finally:
        _stop(daemon)
    pause = _event_id(conn, job_id, "pause_requested")
    paused = _event_id(conn, job_id, "job_paused")
    events = conn.execute("SELECT id, item_id, kind FROM job_events WHERE job_id = ? AND item_id IS NOT NULL"
                          " ORDER BY id", (job_id,)).fetchall()
    claimed_before = {e["item_id"] for e in events if e["kind"] == "item_claimed" and e["id"] < pause}
    # 1. No attempt starts once the pause is recorded.
    assert not [e for e in events if e["kind"] == "item_claimed" and e["id"] > pause]
    # 2. Held items went back unstarted: released after the pause, queued again, with no attempt.
    released = {e["item_id"] for e in events if e["kind"] == "item_released" and e["id"] > pause}
    assert len(released) > WORKERS, "the workers held no batch when the pause came: the test proves nothing"
    assert not conn.execute(f"SELECT COUNT(*) FROM item_attempts WHERE item_id IN ({','.join(map(str, released))})"
                            ).fetchone()[0]
    assert {r[0] for r in conn.execute(f"SELECT status FROM job_items WHERE id IN ({','.join(map(str, released))})")
            } == {"queued"}
    # 3. Only what was in flight finished after the pause: at most one item a worker.
    finished_after = {e["item_id"] for e in events if e["kind"] == "item_succeeded" and e["id"] > pause}
    assert finished_after <= claimed_before and 1 <= len(finished_after) <= WORKERS, finished_after
    # 4. The job stayed pause_requested until the last of them had finished.
    last_end = max(e["id"] for e in events if e["kind"] in ("item_succeeded", "item_released"))
    assert paused > last_end
    assert conn.execute("SELECT COUNT(*) FROM job_items WHERE status = 'running'").fetchone()[0] == 0

    assert runnerd(home, "resume", str(job_id)).returncode == 0
    set_env(home, DOWNLOAD_WORKERS=4)
    conn.execute("UPDATE job_items SET payload_json = NULL WHERE status = 'queued'")  # the rest, quickly
    assert runnerd(home, "run", "--burst").returncode == 0
    assert job_status(home, job_id) == "completed"
    outcomes = conn.execute("SELECT outcome, COUNT(*), COUNT(DISTINCT item_id) FROM item_attempts"
                            " GROUP BY outcome").fetchall()
    assert [tuple(r) for r in outcomes] == [("succeeded", fast + 120, fast + 120)]  # each item ran once


def test_a_resize_down_gives_back_what_the_retired_workers_held_and_they_stop_after_the_item_in_hand(
        home: Path, opened):
    """Workers hold batches of claimed items (the fast ones grew the batch) when the edit of
    DOWNLOAD_WORKERS comes: the workers beyond the new count finish the item in hand, give the
    rest back unstarted, and show as stopped, not after running through their batches."""
    set_env(home, DOWNLOAD_WORKERS=3, OBJECT_BACKEND_NAME="none")
    conn = opened(open_database(home / "catalogsync.db"))
    fast = 400
    job_id, stage_id = _noop_job(conn, fast=fast, slow=120, hold_s=0.5)
    daemon = start_daemon(home)
    stopped = ("SELECT COUNT(*) FROM job_workers w JOIN runner_instances r ON r.id = w.runner_instance_id"
               " WHERE r.status = 'running' AND w.state = 'stopped'")
    try:
        wait_for(lambda: conn.execute("SELECT n_succeeded FROM job_stages WHERE id = ?",
                                      (stage_id,)).fetchone()[0] > fast, interval=0.01)
        edited = conn.execute("SELECT COALESCE(MAX(id), 0) FROM job_events").fetchone()[0]
        set_env(home, DOWNLOAD_WORKERS=1)
        # Each held batch would take up to 64 × 0.5 s; the item in hand takes 0.5 s.
        wait_for(lambda: conn.execute(stopped).fetchone()[0] == 2, timeout=10)
        # Read before the runner stops (a stop gives back what every worker holds, too).
        released = conn.execute("SELECT COUNT(*) FROM job_events WHERE job_id = ? AND id > ?"
                                " AND kind = 'item_released'", (job_id, edited)).fetchone()[0]
        assert released > 2, "the retired workers held no batch when the edit came: the test proves nothing"
        assert job_status(home, job_id) == "running"  # the one worker left goes on
    finally:
        _stop(daemon)


@pytest.mark.slow
def test_cancel_through_the_runner_stops_transfers_at_the_next_chunk_and_leaves_no_temp_file(home: Path,
                                                                                                long_songs):
    set_env(home, DEMO_BASE_URL=long_songs.base_url, DOWNLOAD_SOURCES="demo", DOWNLOAD_WORKERS=WORKERS,
            SHUTDOWN_GRACE_SECONDS=5)
    long_songs.write_pool_file(home / "input" / "demo.txt")
    # 64 KiB a second: a song takes about 16 s, far longer than the slowest machine takes to start
    # `runnerd cancel` and the runner to see it, so every song begun is still in flight then.
    long_songs.set_faults(slow_ms=1000)
    runnerd(home, "enqueue", "full_pipeline")
    daemon = start_daemon(home)
    try:
        with db(home) as conn:
            wait_for(lambda: len([p for p in (home / "library").rglob(".*.part") if p.stat().st_size > 0])
                     >= WORKERS, timeout=30)
            result = runnerd(home, "cancel", "1", "--wait")
            assert result.returncode == 0, result.stderr
            wait_for(lambda: job_status(home) == "canceled", timeout=15)
            cancel = _event_id(conn, 1, "cancel_requested")
            assert not conn.execute("SELECT COUNT(*) FROM job_events WHERE job_id = 1 AND kind = 'item_claimed'"
                                    " AND id > ?", (cancel,)).fetchone()[0]
            stopped = conn.execute(
                "SELECT a.bytes_done, i.display_text FROM item_attempts a JOIN job_items i ON i.id = a.item_id"
                " WHERE a.outcome = 'canceled'").fetchall()
            assert len(stopped) == WORKERS  # the transfers in flight, stopped where they were
            assert not conn.execute("SELECT COUNT(*) FROM item_attempts a JOIN job_items i ON i.id = a.item_id"
                                    " WHERE i.stage_id = (SELECT id FROM job_stages WHERE job_id = 1"
                                    " AND stage_type = 'download') AND a.outcome = 'succeeded'").fetchone()[0]
            sizes = {f"{', '.join(s.artists)} - {s.title}": len(long_songs.audio("demo", s))
                     for s in long_songs.platforms["demo"].songs.values() if s.downloadable}
            for bytes_done, text in stopped:
                assert 0 < bytes_done < sizes[text], (text, bytes_done)
            assert conn.execute("SELECT COUNT(*) FROM job_items WHERE status IN ('running', 'queued')"
                                ).fetchone()[0] == 0
    finally:
        _stop(daemon)
    assert not [p for p in home.rglob("*.part*")]  # no temp file, no resume sidecar
    assert not library_files(home)


@pytest.mark.slow
@pytest.mark.parametrize("server_file_changes", [False, True], ids=["same file", "file changed on the server"])
def test_after_a_sigkill_mid_download_the_next_attempt_resumes_with_range_and_if_range(home: Path, long_songs,
                                                                                        server_file_changes):
    set_env(home, DEMO_BASE_URL=long_songs.base_url, DOWNLOAD_SOURCES="demo,demo2", DOWNLOAD_WORKERS=1, SYNC_WORKERS=1,
            AUTO_RESUME_AFTER_RECOVERY="true", OBJECT_BACKEND_NAME="none")
    long_songs.write_pool_file(home / "input" / "demo.txt")
    long_songs.set_faults(slow_ms=150)
    runnerd(home, "enqueue", "full_pipeline")
    daemon = start_daemon(home)
    try:
        part = wait_for(lambda: next((p for p in (home / "library").rglob(".*.part")
                                      if p.stat().st_size >= 128 * 1024), None))
    finally:
        daemon.kill()
        daemon.communicate(timeout=30)
    kept = part.stat().st_size
    with db(home) as conn:
        song = conn.execute("SELECT s.id, s.title FROM job_items i JOIN songs s ON s.id = i.song_id"
                            " WHERE i.status = 'running'").fetchone()
    demo_song = next(s for s in long_songs.platforms["demo"].songs.values() if s.title == song["title"])
    old, old_etag = long_songs.audio_and_etag("demo", demo_song)
    if server_file_changes:
        long_songs.set_faults(slow_ms=0, changed=[demo_song.id])
    else:
        long_songs.set_faults(slow_ms=0)
    new = long_songs.audio("demo", demo_song)
    assert (new != old) == server_file_changes and len(new) == len(old)  # same size: only the validator tells
    long_songs.requests.clear()

    result = runnerd(home, "run", "--burst")
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_status(home) == "completed"
    path = f"/demo/audio/{demo_song.id}.{demo_song.ext}"
    asked = [r for r in long_songs.requests if r["path"] == path and r["method"] == "GET"]
    assert asked[0]["range"] == f"bytes={kept}-" and asked[0]["if_range"] == old_etag, asked
    files = [f for f in library_files(home) if f.stem == song["title"]]
    assert len(files) == 1
    body = files[0].read_bytes()
    # The library file is the served audio plus its tags: the whole of the file as served now,
    # never the old head stitched to the new tail.
    assert new in body, "the file is not the one the server serves now"
    if server_file_changes:
        assert len(asked) == 1 and old[:kept] not in body
    assert hashlib.sha256(body).hexdigest() == _recorded_sha(home, song["id"])


def _recorded_sha(home: Path, song_id: int) -> str:
    with db(home) as conn:
        return conn.execute("SELECT sha256 FROM file_locations WHERE song_id = ?", (song_id,)).fetchone()[0]


# ---------------------------------------------------------------- the claim, in the engine


@pytest.mark.parametrize("job_state", [s.value for s in JobStatus if s != JobStatus.RUNNING])
def test_the_claim_never_takes_an_item_of_a_job_that_is_not_running(conn, job_state):
    """Whatever its stage says: the job's own state is checked (a stage can lag its job)."""
    job_id, stage_id = make_running_job(conn, 3)
    conn.execute("UPDATE job_runs SET status = ? WHERE id = ?", (job_state, job_id))
    assert claim_items(conn, stage_id, runner_instance_id=None, limit=3, now=later(1)) == []
    conn.execute("UPDATE job_runs SET status = 'running' WHERE id = ?", (job_id,))
    assert len(claim_items(conn, stage_id, runner_instance_id=None, limit=3, now=later(1))) == 3


@pytest.mark.parametrize("stage_state", ["pending", "pause_requested", "paused", "completed", "canceled"])
def test_the_claim_never_takes_an_item_of_a_stage_that_is_not_running(conn, stage_state):
    job_id, stage_id = make_running_job(conn, 2)
    conn.execute("UPDATE job_stages SET status = ? WHERE id = ?", (stage_state, stage_id))
    assert claim_items(conn, stage_id, runner_instance_id=None, limit=2, now=later(1)) == []


def test_an_item_that_fails_while_its_job_is_canceling_is_not_claimed_again(conn):
    """The way it happened: a transfer failed (to be retried) after the cancel was requested."""
    job_id, stage_id = make_running_job(conn, 2)
    running = claim_next_item(conn, stage_id, runner_instance_id=None, now=later(1))
    assert request_cancel(conn, job_id, now=later(2)) == "cancel_requested"
    assert mark_item_failed(conn, running.item_id, running.attempt_no, error_class="connection", error="cut off",
                            policy=RetryPolicy(base_seconds=0, max_seconds=0), now=later(3)) == "queued"
    assert claim_next_item(conn, stage_id, runner_instance_id=None, now=later(60)) is None
    finalize_cancel(conn, job_id, now=later(61))
    statuses = [r[0] for r in conn.execute("SELECT status FROM job_items WHERE job_id = ? ORDER BY id", (job_id,))]
    assert statuses == ["canceled", "canceled"]
    assert [r[0] for r in conn.execute("SELECT outcome FROM item_attempts ORDER BY id")] == ["failed"]


@pytest.fixture
def two_busy_workers(home: Path, opened):
    """A runner whose two workers are busy with long items (a busy machine must not see them end
    before a page is read; the runner stops at once, no grace), and a signed-in console client:
    (conn, job_id, daemon, client). The test ends the daemon itself."""
    from conftest import login

    from webui import create_app
    from webui.auth import set_password

    set_env(home, DOWNLOAD_WORKERS=2, OBJECT_BACKEND_NAME="none", SHUTDOWN_GRACE_SECONDS=0)
    conn = opened(open_database(home / "catalogsync.db"))
    set_password(conn, "admin", "correct horse battery")
    job_id, _ = _noop_job(conn, fast=0, slow=6, hold_s=60)
    daemon = start_daemon(home)
    try:
        wait_for(lambda: conn.execute("SELECT COUNT(*) FROM job_workers WHERE state = 'busy'").fetchone()[0] == 2,
                 timeout=30)
    except BaseException:
        _stop(daemon)
        raise
    app = create_app({"DB_PATH": home / "catalogsync.db", "ENV_PATH": home / "catalogsync.env", "TESTING": True})
    client = app.test_client()
    assert login(client, "correct horse battery").status_code == 302
    yield conn, job_id, daemon, client
    if daemon.poll() is None:
        _stop(daemon)


def test_a_pause_under_way_says_how_many_items_it_waits_for(home: Path, two_busy_workers):
    """The job page and the dashboard say "pausing (2 items in flight)", not the state's id."""
    conn, job_id, daemon, client = two_busy_workers
    try:
        assert runnerd(home, "pause", str(job_id)).returncode == 0
        wait_for(lambda: job_status(home, job_id) == "pause_requested", timeout=30)
        page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
        dashboard = client.get("/").get_data(as_text=True)
        client.set_cookie("lang", "zh-Hans")
        chinese = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    finally:
        _stop(daemon)
    assert "pausing (2 items in flight)" in page and "pausing (2 items in flight)" in dashboard
    assert "正在暂停（2 个项目进行中）" in chinese


def test_with_the_runner_killed_the_dashboard_shows_its_job_waiting_and_offers_no_pause(two_busy_workers):
    import os

    conn, job_id, daemon, client = two_busy_workers
    os.kill(daemon.pid, signal.SIGKILL)
    daemon.communicate(timeout=30)
    page = wait_for(lambda: (lambda text: text if "waiting: the runner is down" in text else None)(
        client.get("/").get_data(as_text=True)), timeout=30, what="the dashboard to see the runner down")
    active = page[page.index('id="active"'):page.index('id="queue"')]
    assert f"Job {job_id}" in active and "running 0" in active and "queued 6" in active
    assert 'data-action="pause_runner"' not in page
