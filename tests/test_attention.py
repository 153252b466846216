"""What needs the owner, at the top of the dashboard and of `runnerd status`: paused jobs and
why, failed songs, an invalid env file on disk, a runner that is down (known at once)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import make_running_job, runnerd
from test_runnerd import wait_for

from catalogsync_ops.engine.items import claim_next_item, mark_item_failed
from catalogsync_ops.engine.runners import recover_orphaned_items, register_runner


def test_a_job_paused_by_recovery_and_failed_songs_need_attention_with_their_action(home: Path, client, web):
    _, conn = web
    dead = register_runner(conn, pid=999999, host="elsewhere")
    job_id, stage_id = make_running_job(conn, 2)
    claim_next_item(conn, stage_id, runner_instance_id=dead)
    recover_orphaned_items(conn, current_runner_id=None)  # as after a power cut: the job is paused
    other, other_stage = make_running_job(conn, 1, max_attempts=1)
    claim = claim_next_item(conn, other_stage, runner_instance_id=None)
    mark_item_failed(conn, claim.item_id, claim.attempt_no, error_class="not_found", error="404", source="demo")
    with conn:
        conn.execute("UPDATE job_runs SET status = 'completed_with_errors' WHERE id = ?", (other,))
    html = client.get("/").get_data(as_text=True)
    section = html[html.index('id="attention"'):html.index("</section>", html.index('id="attention"'))]
    assert "is paused after the runner stopped (recovery)." in section
    assert 'data-action="resume_job"' in section and f'name="job_id" value="{job_id}"' in section
    assert "1 failed song." in section and 'data-action="retry_failed_items"' in section
    text = runnerd(home, "status").stdout
    assert "NEEDS ATTENTION (2):" in text
    assert f"job {job_id} (download) is paused after the runner stopped (recovery): runnerd resume {job_id}" in text
    assert f"job {other} (download) has 1 failed items: runnerd retry-failed {other}" in text
    client.get("/lang/zh")
    chinese = client.get("/").get_data(as_text=True)
    assert "需要处理" in chinese and "在运行器停止后被暂停（恢复）。" in chinese and "1 首歌曲失败。" in chinese


def test_an_invalid_env_file_on_disk_needs_attention(home: Path, client, web):
    from catalogsync_ops.config.revisions import record_if_changed

    _, conn = web
    env = home / "catalogsync.env"
    env.write_text(env.read_text() + "WEB_PORT=nope\n", encoding="utf-8")
    record_if_changed(conn, env)
    html = client.get("/").get_data(as_text=True)
    assert "The env file on disk is invalid" in html and "WEB_PORT" in html and 'href="/config"' in html
    assert "the env file on disk is invalid" in runnerd(home, "status").stdout


def test_a_killed_runner_is_down_at_once_not_after_its_heartbeat(home: Path, client):
    env = {**os.environ, "CATALOGSYNC_ENV_FILE": str(home / "catalogsync.env")}
    daemon = subprocess.Popen([sys.executable, "-m", "runnerd", "run"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: json.loads(runnerd(home, "status", "--json").stdout)["runner"]["state"] == "up")
        assert client.get("/healthz").status_code == 200
        daemon.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        wait_for(lambda: client.get("/healthz").status_code == 503, timeout=2)
        status = runnerd(home, "status")
        assert status.returncode == 3 and "runner: DOWN since" in status.stdout
        assert time.monotonic() - killed < 2.5
        assert "Down since" in client.get("/").get_data(as_text=True)
    finally:
        if daemon.poll() is None:
            daemon.kill()
        daemon.wait()


def test_the_chinese_pages_show_no_english_status_word(home: Path, client, web):
    import re

    _, conn = web
    job_id, stage_id = make_running_job(conn, 3, job_type="full_pipeline")
    claim = claim_next_item(conn, stage_id, runner_instance_id=None)
    mark_item_failed(conn, claim.item_id, claim.attempt_no, error_class="not_found", error="404", source="demo",
                     retryable=False)
    client.get("/lang/zh")
    codes = ("queued", "running", "paused", "completed", "failed", "pending", "succeeded", "skipped", "interrupted",
             "full_pipeline", "collect", "download", "upload", "job_created", "job_started", "item_failed")
    for path in (f"/jobs/{job_id}", "/jobs", "/", f"/items/{claim.item_id}", "/songs"):
        html = client.get(path).get_data(as_text=True)
        body = html[html.index("<main"):]
        visible = re.sub(r"<script.*?</script>|<[^>]+>", " ", body, flags=re.S)
        visible = re.sub(r"\[[a-z_]+\]", " ", visible)  # an error class quoted with its message stays a code
        words = set(re.findall(r"[a-z_]+", visible))
        assert not words & set(codes), (path, sorted(words & set(codes)))


def test_a_config_applied_from_the_cli_is_recorded_as_cli(home: Path, tmp_path: Path, opened):
    env = home / "catalogsync.env"
    new = tmp_path / "new.env"
    new.write_text(env.read_text().replace("DOWNLOAD_WORKERS=3", "DOWNLOAD_WORKERS=4"), encoding="utf-8")
    assert runnerd(home, "config", "apply", str(new)).returncode == 0
    assert runnerd(home, "run", "--burst").returncode == 0
    from catalogsync_ops.store.connection import connect

    conn = opened(connect(home / "catalogsync.db"))
    try:
        sources = [r[0] for r in conn.execute("SELECT source FROM config_revisions ORDER BY id")]
    finally:
        conn.close()
    assert sources[-1] == "cli" and "DOWNLOAD_WORKERS=4" in env.read_text()


def test_times_read_relative_with_the_exact_time_on_hover_and_the_icon_is_served(client, web):
    import re

    _, conn = web
    make_running_job(conn, 1)
    page = client.get("/jobs").get_data(as_text=True)
    stamp = re.search(r'<time datetime="([^"]+)" title="([^"]+) UTC">([^<]+)</time>', page)
    assert stamp and stamp.group(1).startswith("2026-01-01T12:00:00") and stamp.group(3) == "2026-01-01"
    with conn:
        conn.execute("UPDATE job_runs SET created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-3 minutes')")
    assert ">3 min ago</time>" in client.get("/jobs").get_data(as_text=True)
    client.get("/lang/zh")
    assert ">3 分钟前</time>" in client.get("/jobs").get_data(as_text=True)
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    assert web[0].test_client().get("/favicon.ico").status_code == 200  # no login needed


def test_a_failed_song_logs_under_its_job_and_item(home: Path, demo_server, client, opened):
    from conftest import set_env

    set_env(home, DEMO_BASE_URL=demo_server.base_url, DOWNLOAD_SOURCES="demo,demo2", RETRY_BACKOFF_SECONDS=0,
            RETRY_BACKOFF_MAX_SECONDS=0, MAX_ATTEMPTS=1)
    demo_server.write_pool_file(home / "input" / "demo.txt")
    demo_server.set_faults(not_found=["s05"])
    runnerd(home, "enqueue", "full_pipeline")
    assert runnerd(home, "run", "--burst").returncode == 0
    from catalogsync_ops.store.connection import connect

    conn = opened(connect(home / "catalogsync.db"))
    try:
        item_id = conn.execute("SELECT id FROM job_items WHERE status = 'failed'").fetchone()[0]
    finally:
        conn.close()
    item = client.get(f"/items/{item_id}").get_data(as_text=True)
    section = item[item.index('id="item-logs"'):]
    assert "attempt 1 failed [not found]" in section and "worker-" in item  # the worker that ran it
    assert "attempt 1 failed [not found]" in client.get("/logs?job=1").get_data(as_text=True)
    assert 'id="job-logs"' in client.get("/jobs/1").get_data(as_text=True)


def test_stages_after_a_failed_one_are_skipped_not_completed_at_zero(home: Path, demo_server, client, opened):
    from conftest import set_env

    from catalogsync_ops.store.connection import connect

    set_env(home, DEMO_BASE_URL=demo_server.base_url, MAX_ATTEMPTS=1, RETRY_BACKOFF_SECONDS=0,
            RETRY_BACKOFF_MAX_SECONDS=0)
    demo_server.write_pool_file(home / "input" / "demo.txt")
    demo_server.set_faults(api_fail_rate=1.0)  # every playlist read fails: sync fails
    runnerd(home, "enqueue", "full_pipeline")
    assert runnerd(home, "run", "--burst").returncode == 0
    conn = opened(connect(home / "catalogsync.db"))
    try:
        stages = dict(conn.execute("SELECT stage_type, status FROM job_stages WHERE job_id = 1").fetchall())
        job = conn.execute("SELECT status FROM job_runs WHERE id = 1").fetchone()[0]
    finally:
        conn.close()
    assert stages == {"collect": "completed", "sync": "failed", "download": "skipped", "upload": "skipped"}
    assert job == "failed"
    page = client.get("/jobs/1").get_data(as_text=True)
    assert "stage sync failed: nothing to work on" in page
    demo_server.set_faults(api_fail_rate=0.0)  # mended: a retry runs the skipped stages again
    runnerd(home, "retry-failed", "1")
    assert runnerd(home, "run", "--burst").returncode == 0
    conn = opened(connect(home / "catalogsync.db"))
    try:
        stages = dict(conn.execute("SELECT stage_type, status FROM job_stages WHERE job_id = 1").fetchall())
    finally:
        conn.close()
    assert stages["download"] in ("completed", "completed_with_errors") and stages["upload"] == "completed"


def test_workers_beyond_a_smaller_count_show_as_stopped_not_idle(home: Path, opened):
    from conftest import set_env

    from catalogsync_ops.demo.server import DemoServer
    from catalogsync_ops.store.connection import connect

    # One-minute songs (16 chunks), a chunk every 250 ms: the download stage lasts half a minute,
    # so the edit lands while its workers are busy however slowly the machine notices it.
    with DemoServer(song_seconds=60) as demo_server:
        set_env(home, DEMO_BASE_URL=demo_server.base_url, DOWNLOAD_SOURCES="demo,demo2", DOWNLOAD_WORKERS=3)
        demo_server.write_pool_file(home / "input" / "demo.txt")
        demo_server.set_faults(slow_ms=250)
        env = {**os.environ, "CATALOGSYNC_ENV_FILE": str(home / "catalogsync.env")}
        runnerd(home, "enqueue", "full_pipeline")
        daemon = subprocess.Popen([sys.executable, "-m", "runnerd", "run"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        conn = opened(connect(home / "catalogsync.db"))
        try:
            downloads = ("SELECT COUNT(*) FROM job_workers w JOIN runner_instances r ON r.id = w.runner_instance_id"
                         " WHERE r.status = 'running' AND w.stage_type = 'download' AND w.state = ?")
            wait_for(lambda: conn.execute(downloads, ("busy",)).fetchone()[0] >= 2, timeout=30)
            set_env(home, DOWNLOAD_WORKERS=1)  # an edit the runner picks up: the download stage shrinks
            wait_for(lambda: conn.execute(downloads, ("stopped",)).fetchone()[0] >= 2, timeout=30)
        finally:
            conn.close()
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)


def test_the_job_page_has_a_stage_column_a_stage_filter_and_events_that_name_the_item(client, web):
    import re

    _, conn = web
    job_id, stage_id = make_running_job(conn, 3, job_type="full_pipeline")
    claim = claim_next_item(conn, stage_id, runner_instance_id=None)
    mark_item_failed(conn, claim.item_id, claim.attempt_no, error_class="not_found", error="404", source="demo")
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    rows = re.findall(r'<tr data-item="\d+">\s*<td>.*?</td>\s*<td>(\w+)</td>', page, re.S)
    assert rows == ["collect"] * 3
    assert f'item retry scheduled <a href="/items/{claim.item_id}">#{claim.item_id}</a> → queued' in page
    only = client.get(f"/jobs/{job_id}?stage=download").get_data(as_text=True)
    assert 'data-item="' not in only
    assert client.get(f"/jobs/{job_id}?stage=nonsense").status_code == 400


def test_running_counts_items_a_worker_has_started_not_ones_it_only_claimed(client, web):
    from catalogsync_ops.engine.queries import job_detail

    _, conn = web
    job_id, stage_id = make_running_job(conn, 4)
    for _ in range(2):
        claim_next_item(conn, stage_id, runner_instance_id=None)  # claimed: no worker is on them
    stage = job_detail(conn, job_id)["stages"][0]
    assert (stage["counts"]["running"], stage["started"], stage["waiting"]) == (2, 0, 4)
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "0/4 · running 0 · failed 0 · queued 4" in page
