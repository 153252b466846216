"""runnerd as a real process: end to end on the demo platform, pause, crash, signals, config."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
from conftest import runnerd, set_env, wait_for
from helpers.depth import examples

from catalogsync_ops.library.tagging import read_tags
from catalogsync_ops.store.connection import connect

ROOT = Path(__file__).resolve().parent.parent




@pytest.fixture
def demo_home(home: Path, demo_server):
    set_env(home, DEMO_BASE_URL=demo_server.base_url, DOWNLOAD_SOURCES="demo,demo2", RETRY_BACKOFF_SECONDS=0,
            RETRY_BACKOFF_MAX_SECONDS=0, SHUTDOWN_GRACE_SECONDS=5)
    demo_server.write_pool_file(home / "input" / "demo.txt")
    return home


def start_daemon(home: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "CATALOGSYNC_ENV_FILE": str(home / "catalogsync.env")}
    return subprocess.Popen([sys.executable, "-m", "runnerd", "run", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def db(home: Path):
    """The home's database for a `with` block, closed at its end (a connection's own `with`
    only commits)."""
    return closing(connect(home / "catalogsync.db"))


def job_status(home: Path, job_id: int = 1) -> str:
    with db(home) as conn:
        return conn.execute("SELECT status FROM job_runs WHERE id = ?", (job_id,)).fetchone()[0]


def library_files(home: Path, folder: str = "library") -> list[Path]:
    """The songs' files (not the playlists' M3U8 files nor the lyrics the runner writes beside them)."""
    return sorted(p for p in (home / folder).rglob("*") if p.is_file() and p.suffix not in (".m3u8", ".lrc"))


def test_full_pipeline_end_to_end_in_burst_mode(demo_home: Path):
    assert runnerd(demo_home, "enqueue", "full_pipeline").returncode == 0
    result = runnerd(demo_home, "run", "--burst")
    assert result.returncode == 0, result.stderr
    status = json.loads(runnerd(demo_home, "status", "--json").stdout)
    assert status["runner"]["state"] == "stopped" and status["pending_commands"] == 0
    with db(demo_home) as conn:
        job = conn.execute("SELECT * FROM job_runs WHERE id = 1").fetchone()
        assert job["status"] == "completed", result.stderr[-3000:]
    files = library_files(demo_home)
    assert len(files) == 24
    assert read_tags(demo_home / "library" / "周杰伦" / "叶惠美" / "晴天.mp3")["artist"] == "周杰伦"
    for path in files:
        assert (demo_home / "mirror" / path.relative_to(demo_home / "library")).read_bytes() == path.read_bytes()
    assert not [p for p in demo_home.rglob("*.part*")]


def test_faults_end_with_errors_then_retry_failed_completes(demo_home: Path, demo_server):
    demo_server.set_faults(not_found=["s05", "s12"])
    runnerd(demo_home, "enqueue", "full_pipeline")
    assert runnerd(demo_home, "run", "--burst").returncode == 0
    assert job_status(demo_home) == "completed_with_errors"
    with db(demo_home) as conn:
        failed = conn.execute("SELECT display_text, last_error_class, last_source FROM job_items"
                              " WHERE status = 'failed' ORDER BY id").fetchall()
    assert [(r[1], r[2]) for r in failed] == [("not_found", "demo"), ("not_found", "demo")]
    assert {r[0] for r in failed} == {"G.E.M.邓紫棋 - 光年之外", "Queen - Bohemian Rhapsody"}
    demo_server.set_faults(not_found=[])
    result = runnerd(demo_home, "retry-failed", "1")
    assert result.returncode == 0 and "pending" in result.stdout
    assert runnerd(demo_home, "run", "--burst").returncode == 0
    assert job_status(demo_home) == "completed"
    assert len(library_files(demo_home)) == 24 and len(library_files(demo_home, "mirror")) == 24


def test_a_song_only_decoys_offer_fails_as_no_match_and_its_page_says_why(demo_home: Path, demo_server, client):
    """晴天 gone from demo; demo2 has only its live version: refused, the item page lists it."""
    demo_server.set_faults(not_found=["s01"])
    runnerd(demo_home, "enqueue", "full_pipeline")
    assert runnerd(demo_home, "run", "--burst").returncode == 0
    with db(demo_home) as conn:
        item = conn.execute("SELECT id, last_error_class, last_source FROM job_items"
                            " WHERE status = 'failed'").fetchone()
    assert (item[1], item[2]) == ("no_match", "demo2")
    assert not (demo_home / "library" / "周杰伦" / "叶惠美" / "晴天.mp3").exists()
    html = client.get(f"/items/{item[0]}").get_data(as_text=True)
    assert "what each source offered" in html
    assert "周杰伦 - 晴天 (Live)" in html and "version: Live not asked for" in html
    assert "duration" in html  # the evidence beside the refusal
    client.get("/lang/zh")
    assert "各来源提供的候选" in client.get(f"/items/{item[0]}").get_data(as_text=True)


def test_soft_pause_lets_in_flight_items_finish_and_starts_no_new_one(demo_home: Path, demo_server):
    # A chunk a second: the download stage lasts about 8 s, longer than the slowest machine takes to
    # start `runnerd pause` and the runner to see it, so the pause lands mid-job.
    demo_server.set_faults(slow_ms=1000)
    runnerd(demo_home, "enqueue", "full_pipeline")
    daemon = start_daemon(demo_home)
    try:
        with db(demo_home) as conn:
            running = ("SELECT COUNT(*) FROM job_items i JOIN job_stages s ON s.id = i.stage_id"
                       " WHERE s.stage_type = 'download' AND i.status = 'running'")
            wait_for(lambda: conn.execute(running).fetchone()[0] >= 2)
            result = runnerd(demo_home, "pause", "1", "--wait")
            assert result.returncode == 0, result.stderr
            wait_for(lambda: job_status(demo_home) == "paused")
            # In the order of the commits (event ids), not by clocks read in different places:
            pause, paused = conn.execute("SELECT MAX(id) FILTER (WHERE kind = 'pause_requested'), MAX(id) FILTER"
                                         " (WHERE kind = 'job_paused') FROM job_events").fetchone()
            late = conn.execute("SELECT COUNT(*) FROM job_events WHERE kind = 'item_claimed' AND id > ?",
                                (pause,)).fetchone()[0]
            assert late == 0, "an item started after the pause was recorded"
            ends = conn.execute("SELECT COUNT(*), MAX(id) FROM job_events WHERE id > ? AND kind IN ('item_succeeded',"
                                " 'item_failed', 'item_retry_scheduled')", (pause,)).fetchone()
            # At most the three in flight (DOWNLOAD_WORKERS) finished, then the job paused.
            assert ends[0] <= 3 and (ends[1] or 0) < paused
            assert conn.execute("SELECT COUNT(*) FROM job_items WHERE status = 'running'").fetchone()[0] == 0
            demo_server.set_faults(slow_ms=0)
            assert runnerd(demo_home, "resume", "1", "--wait").returncode == 0
            wait_for(lambda: job_status(demo_home) == "completed", timeout=60)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=60)
    assert len(library_files(demo_home)) == 24


def test_a_second_runner_on_the_same_database_exits_naming_the_holder(demo_home: Path):
    daemon = start_daemon(demo_home)
    try:
        wait_for(lambda: (demo_home / "catalogsync.db.runnerd.lock").exists() and
                 json.loads(runnerd(demo_home, "status", "--json").stdout)["runner"]["state"] == "up")
        second = runnerd(demo_home, "run", timeout=30)
        assert second.returncode != 0
        assert f"pid {daemon.pid}" in second.stderr and "Only one runner" in second.stderr
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=60)
    assert daemon.returncode == 0


def test_an_outside_edit_of_the_env_file_is_recorded_within_2_seconds(demo_home: Path):
    daemon = start_daemon(demo_home)
    try:
        wait_for(lambda: json.loads(runnerd(demo_home, "status", "--json").stdout)["runner"]["state"] == "up")
        env = demo_home / "catalogsync.env"
        # Replace by rename, as editors do.
        tmp = demo_home / ".catalogsync.env.swp"
        tmp.write_text(env.read_text().replace("DOWNLOAD_WORKERS=3", "DOWNLOAD_WORKERS=5"), encoding="utf-8")
        edited = time.monotonic()
        os.replace(tmp, env)
        with db(demo_home) as conn:
            wait_for(lambda: conn.execute("SELECT COUNT(*) FROM config_revisions WHERE source = 'external'"
                                          " AND content LIKE '%DOWNLOAD_WORKERS=5%'").fetchone()[0], timeout=2)
            assert time.monotonic() - edited <= 2.0
            env.write_text(env.read_text() + "WEB_PORT=nope\n", encoding="utf-8")
            wait_for(lambda: conn.execute("SELECT COUNT(*) FROM config_revisions WHERE status = 'invalid'"
                                          ).fetchone()[0], timeout=2)
        assert daemon.poll() is None  # an invalid edit does not stop the runner
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=60)
    assert "keeping the last valid config" in err


def test_sigterm_during_downloads_exits_0_within_the_grace_period_with_nothing_running(demo_home: Path, demo_server):
    demo_server.set_faults(slow_ms=400)
    set_env(demo_home, SHUTDOWN_GRACE_SECONDS=2)
    runnerd(demo_home, "enqueue", "full_pipeline")
    daemon = start_daemon(demo_home)
    with db(demo_home) as conn:
        wait_for(lambda: conn.execute("SELECT COUNT(*) FROM job_items i JOIN job_stages s ON s.id = i.stage_id"
                                      " WHERE s.stage_type = 'download' AND i.status = 'running'").fetchone()[0] >= 1)
        sent = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=60)
        took = time.monotonic() - sent
        assert daemon.returncode == 0
        assert took < 2 + 3, took
        assert conn.execute("SELECT COUNT(*) FROM job_items WHERE status = 'running'").fetchone()[0] == 0
        # The job goes back to the queue and its interrupted songs resume on the next start.
        assert job_status(demo_home) == "queued"
    demo_server.set_faults(slow_ms=0)
    assert runnerd(demo_home, "run", "--burst").returncode == 0
    assert job_status(demo_home) == "completed" and len(library_files(demo_home)) == 24


KILL_ROUNDS = examples(30, least=12)  # all 30 in CI (helpers/depth.py)


@pytest.mark.slow
def test_sigkill_loop_loses_nothing_and_does_nothing_twice(demo_home: Path, demo_server):
    set_env(demo_home, AUTO_RESUME_AFTER_RECOVERY="true", MAX_ATTEMPTS=50, DOWNLOAD_WORKERS=1, SYNC_WORKERS=1)
    demo_server.set_faults(slow_ms=300)  # the pipeline spans many rounds: kills land mid-transfer
    runnerd(demo_home, "enqueue", "full_pipeline")
    rng = random.Random(7)
    for _round in range(KILL_ROUNDS):
        daemon = start_daemon(demo_home)
        # Killed at a random point of its work, timed from when it is up (a busy machine takes
        # its time to start Python; a fixed delay would then mostly kill it before it works).
        with db(demo_home) as conn:
            up = "SELECT COUNT(*) FROM runner_instances WHERE pid = ? AND status = 'running'"
            deadline = time.monotonic() + 30
            while daemon.poll() is None and time.monotonic() < deadline \
                    and not conn.execute(up, (daemon.pid,)).fetchone()[0]:
                time.sleep(0.02)
        time.sleep(rng.uniform(0.3, 1.5))
        if daemon.poll() is None:
            daemon.kill()
        daemon.communicate(timeout=30)
    demo_server.set_faults(slow_ms=0)
    result = runnerd(demo_home, "run", "--burst", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert job_status(demo_home) == "completed"
    files = library_files(demo_home)
    # No song twice ("x (2).mp3"), none missing.
    assert len(files) == 24, "; ".join(str(f.relative_to(demo_home / "library")) for f in files)
    assert len(library_files(demo_home, "mirror")) == 24
    assert not [p for p in demo_home.rglob("*.part*")]  # no temp file, no resume sidecar
    with db(demo_home) as conn:
        assert conn.execute("SELECT COUNT(*) FROM job_items WHERE status = 'running'").fetchone()[0] == 0
        interrupted = conn.execute("SELECT COUNT(*) FROM item_attempts WHERE outcome = 'interrupted'").fetchone()[0]
        recoveries = conn.execute("SELECT COUNT(*) FROM job_events WHERE kind = 'recovery'").fetchone()[0]
        print(f"{interrupted} interrupted attempts, {recoveries} recoveries in {KILL_ROUNDS} kills")
        assert interrupted >= 5 and recoveries >= 5
        assert conn.execute("SELECT COUNT(*) FROM file_locations").fetchone()[0] == 24
        # Each song and its lyrics' .lrc uploaded once, nothing left half done.
        assert conn.execute("SELECT COUNT(*) FROM upload_tasks WHERE status = 'uploaded'"
                            " AND object_key NOT LIKE '%.lrc'").fetchone()[0] == 24
        assert conn.execute("SELECT COUNT(*) FROM upload_tasks WHERE status = 'uploaded'"
                            " AND object_key LIKE '%.lrc'").fetchone()[0] == 24
        assert conn.execute("SELECT COUNT(*) FROM upload_tasks WHERE status != 'uploaded'").fetchone()[0] == 0


def test_runner_wide_pause_claims_nothing_until_resumed(demo_home: Path):
    runnerd(demo_home, "pause-runner", "--reason", "movie night")
    runnerd(demo_home, "enqueue", "full_pipeline")
    assert runnerd(demo_home, "run", "--burst").returncode == 0
    assert job_status(demo_home) == "queued"
    status = json.loads(runnerd(demo_home, "status", "--json").stdout)
    assert status["runner"]["paused"] and status["runner"]["pause_reason"] == "movie night"
    with db(demo_home) as conn:
        assert conn.execute("SELECT COUNT(*) FROM item_attempts").fetchone()[0] == 0
    runnerd(demo_home, "resume-runner")
    assert runnerd(demo_home, "run", "--burst").returncode == 0
    assert job_status(demo_home) == "completed" and len(library_files(demo_home)) == 24


def test_an_invalid_env_file_stops_runnerd_from_starting_with_the_line(demo_home: Path):
    env = demo_home / "catalogsync.env"
    env.write_text(env.read_text() + "DOWNLOAD_WORKERS=many\n", encoding="utf-8")
    result = runnerd(demo_home, "run", "--burst")
    assert result.returncode == 2
    assert "DOWNLOAD_WORKERS: 'many' is not a whole number" in result.stderr and "runnerd config check" in result.stderr


@pytest.mark.slow
def test_fast_items_are_claimed_in_batches_and_a_pause_gives_back_the_unstarted_ones(home: Path, opened):
    from catalogsync_ops.engine.jobs import create_job
    from catalogsync_ops.engine.records import ItemSpec
    from catalogsync_ops.engine.stages import add_items
    from catalogsync_ops.store.database import open_database

    n = 20_000
    set_env(home, DOWNLOAD_WORKERS=4, OBJECT_BACKEND_NAME="none")
    conn = opened(open_database(home / "catalogsync.db"))
    job_id = create_job(conn, "download")
    stage_id = conn.execute("SELECT id FROM job_stages WHERE job_id = ?", (job_id,)).fetchone()[0]
    add_items(conn, stage_id, (ItemSpec(f"noop:{i}") for i in range(n)), max_attempts=3)
    daemon = start_daemon(home)
    try:
        done = "SELECT n_succeeded FROM job_stages WHERE id = ?"
        wait_for(lambda: conn.execute(done, (stage_id,)).fetchone()[0] >= 500, interval=0.01)
        assert runnerd(home, "pause", str(job_id), "--wait").returncode == 0
        wait_for(lambda: job_status(home, job_id) == "paused")
        counts = dict(conn.execute("SELECT status, COUNT(*) FROM job_items GROUP BY status").fetchall())
        assert set(counts) == {"succeeded", "queued"} and sum(counts.values()) == n, counts
        # Items given back were never started: no attempt row, nothing counted as interrupted.
        assert conn.execute("SELECT COUNT(*) FROM item_attempts a JOIN job_items i ON i.id = a.item_id"
                            " WHERE i.status = 'queued'").fetchone()[0] == 0
        assert runnerd(home, "resume", str(job_id), "--wait").returncode == 0
        wait_for(lambda: job_status(home, job_id) == "completed", timeout=60)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=60)
    attempts = dict(conn.execute("SELECT outcome, COUNT(*) FROM item_attempts GROUP BY outcome").fetchall())
    assert attempts == {"succeeded": n}  # every item ran exactly once
    # Claimed several at a time: far fewer claim transactions (distinct timestamps) than items.
    claims = conn.execute("SELECT COUNT(DISTINCT created_at) FROM job_events WHERE kind = 'item_claimed'").fetchone()[0]
    assert claims < n / 4, claims
