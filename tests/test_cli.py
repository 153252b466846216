"""The runnerd command line: init, status without a daemon, commands with --wait, config."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

from catalogsync_ops.config.envfile import load_config
from catalogsync_ops.config.revisions import list_revisions
from catalogsync_ops.engine.commands import CommandContext, apply_pending_commands
from catalogsync_ops.store.database import open_database


def test_init_creates_a_working_home(home: Path, opened):
    env = (home / "catalogsync.env").read_text()
    assert f"DB_PATH={home / 'catalogsync.db'}" in env
    for folder in ("library", "input", "logs", "mirror"):
        assert (home / folder).is_dir()
    config = load_config(home / "catalogsync.env")
    assert config["LIBRARY_DIR"] == home / "library" and config["DOWNLOAD_SOURCES"] == ("demo",)
    assert oct((home / "catalogsync.env").stat().st_mode & 0o777) == "0o600"
    conn = opened(open_database(home / "catalogsync.db"))
    assert [r["source"] for r in list_revisions(conn)] == ["init"]


def test_init_refuses_to_overwrite_an_existing_home(home: Path, run_cli):
    before = (home / "catalogsync.env").read_bytes()
    result = run_cli("init", "--home", str(home))
    assert result.exit_code == 1 and "already exists; not overwriting" in result.output
    assert (home / "catalogsync.env").read_bytes() == before


def test_status_without_a_daemon_says_so_and_counts_pending_commands(run_cli):
    run_cli("enqueue", "sync")
    run_cli("pause-runner")
    result = run_cli("status")
    assert result.exit_code == 3, result.output
    assert "runner: not running (no runner heartbeat yet)" in result.output
    assert "commands pending: 2" in result.output
    data = json.loads(run_cli("status", "--json").output)
    assert data["runner"]["state"] == "never" and data["pending_commands"] == 2


def test_commands_print_their_id_and_stay_pending(run_cli):
    result = run_cli("pause", "7")
    assert result.exit_code == 0 and result.output.strip() == "command 1 (pause_job) is pending"
    result = run_cli("retry-failed", "7", "--error-class", "timeout", "--json")
    assert json.loads(result.output) == {"command_id": 2, "status": "pending"}


def test_enqueue_with_an_unknown_source_is_refused(run_cli):
    result = run_cli("enqueue", "--source", "spotify")
    assert result.exit_code == 1 and "unknown source 'spotify'" in result.output


def _cli_process(home: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "CATALOGSYNC_ENV_FILE": str(home / "catalogsync.env")}
    return subprocess.Popen([sys.executable, "-m", "runnerd", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _apply_when_pending(home: Path, stop: threading.Event) -> None:
    config = load_config(home / "catalogsync.env")
    ctx = CommandContext(env_path=home / "catalogsync.env", config=config)
    with closing(open_database(home / "catalogsync.db")) as conn:
        while not stop.is_set():
            if apply_pending_commands(conn, ctx):
                return
            time.sleep(0.05)


def test_wait_prints_the_outcome_once_the_runner_applies_the_command(home: Path):
    stop = threading.Event()
    applier = threading.Thread(target=_apply_when_pending, args=(home, stop))
    proc = _cli_process(home, "enqueue", "full_pipeline", "--wait", "--timeout", "30")
    applier.start()
    out, err = proc.communicate(timeout=60)
    stop.set()
    applier.join()
    assert proc.returncode == 0, err
    assert out.strip() == "command 1 (enqueue_job) applied: Job 1 queued"


def test_wait_exits_1_with_the_reason_when_rejected(home: Path):
    stop = threading.Event()
    applier = threading.Thread(target=_apply_when_pending, args=(home, stop))
    proc = _cli_process(home, "resume", "5", "--wait")
    applier.start()
    out, err = proc.communicate(timeout=60)
    stop.set()
    applier.join()
    assert proc.returncode == 1 and "rejected: job 5 does not exist" in err


def test_wait_gives_up_after_the_timeout_and_says_no_runner_is_up(run_cli):
    result = run_cli("pause-runner", "--wait", "--timeout", "0.3")
    assert result.exit_code == 4
    assert "still pending after 0.3s — no runner is running" in result.output


def test_config_check_reports_errors_with_lines_and_exit_1(home: Path, run_cli, tmp_path: Path):
    bad = tmp_path / "bad.env"
    bad.write_text("WEB_PORT=80\nDOWNLOAD_WORKERS=zero\nFOO=1\n", encoding="utf-8")
    result = run_cli("config", "check", str(bad))
    assert result.exit_code == 1
    assert "error: line 2: DOWNLOAD_WORKERS: 'zero' is not a whole number" in result.output
    assert "warning: line 3: FOO is not a known setting" in result.output
    assert run_cli("config", "check").exit_code == 0


def test_config_set_changes_a_setting_through_the_runner_and_refuses_what_would_not_apply(home: Path, run_cli,
                                                                                          opened):
    from conftest import runnerd

    env = home / "catalogsync.env"
    env.write_text("# my box\n" + env.read_text(), encoding="utf-8")
    typo = run_cli("config", "set", "DOWNLOD_WORKERS", "5")
    assert typo.exit_code == 1 and "unknown setting: DOWNLOD_WORKERS (did you mean DOWNLOAD_WORKERS?)" in typo.output
    bad = run_cli("config", "set", "DOWNLOAD_WORKERS", "zero")
    assert bad.exit_code == 1 and "'zero' is not a whole number" in bad.output and "nothing was changed" in bad.output
    assert run_cli("config", "set", "DOWNLOAD_WORKERS").exit_code == 2  # a key without its value
    conn = opened(open_database(home / "catalogsync.db"))
    assert conn.execute("SELECT COUNT(*) FROM job_commands").fetchone()[0] == 0
    done = run_cli("config", "set", "DOWNLOAD_WORKERS", "5", "MAX_ATTEMPTS", "4", "--note", "faster nights")
    assert done.exit_code == 0, done.output
    assert runnerd(home, "run", "--burst").returncode == 0
    text = env.read_text(encoding="utf-8")
    assert text.startswith("# my box\n") and "DOWNLOAD_WORKERS=5\n" in text and "MAX_ATTEMPTS=4\n" in text
    assert conn.execute("SELECT note FROM config_revisions ORDER BY id DESC LIMIT 1").fetchone()[0] == "faster nights"


def test_status_still_works_when_the_env_file_is_broken(home: Path, run_cli):
    env = home / "catalogsync.env"
    env.write_text(env.read_text() + "WEB_PORT=nope\n", encoding="utf-8")
    result = run_cli("status")
    assert result.exit_code == 3 and "runner: not running" in result.output


def test_config_show_masks_secrets(home: Path, run_cli):
    env = home / "catalogsync.env"
    env.write_text(env.read_text() + "OBJECT_SECRET_ACCESS_KEY=hunter2\n", encoding="utf-8")
    result = run_cli("config", "show")
    assert "hunter2" not in result.output and "OBJECT_SECRET_ACCESS_KEY=********" in result.output


def test_jobs_and_items_list_what_the_runner_created(home: Path, run_cli, opened):
    from catalogsync_ops.engine.jobs import create_job
    from catalogsync_ops.engine.records import ItemSpec
    from catalogsync_ops.engine.stages import add_items

    conn = opened(open_database(home / "catalogsync.db"))
    job_id = create_job(conn, "download")
    stage_id = conn.execute("SELECT id FROM job_stages WHERE job_id = ?", (job_id,)).fetchone()[0]
    add_items(conn, stage_id, [ItemSpec(f"song:{i}", "song", display_text=f"周杰伦 - 晴天 {i}")
                               for i in range(3)], max_attempts=3)
    assert "download       queued" in run_cli("jobs").output
    result = run_cli("items", str(job_id), "--limit", "2")
    assert "周杰伦 - 晴天 0" in result.output and "… more: --after 2" in result.output
    assert run_cli("items", "99").exit_code == 1


def test_runnerd_is_installed_as_a_console_script():
    bin_dir = Path(sys.executable).parent
    result = subprocess.run([str(bin_dir / "runnerd"), "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and "runnerd, version" in result.stdout


def test_probe_lists_tracks_and_best_matches(run_cli, demo_server):
    url = demo_server.playlist_urls()[0]
    result = run_cli("probe", url)
    assert result.exit_code == 0, result.output
    assert "demo: 华语经典 (8 tracks, read in " in result.output and "周杰伦 - 晴天" in result.output


def test_probe_matches_on_other_sources_as_json(home, run_cli, demo_server):
    env = home / "catalogsync.env"
    env.write_text(env.read_text().replace("DEMO_BASE_URL=http://127.0.0.1:8765",
                                           f"DEMO_BASE_URL={demo_server.base_url}"), encoding="utf-8")
    result = run_cli("probe", demo_server.playlist_urls()[0], "--download-sources", "demo2", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    by_title = {t["title"]: t["matches"]["demo2"] for t in report["tracks"]}
    assert by_title["小幸运"]["title"] == "田馥甄 - 小幸運" and by_title["小幸运"]["accepted"]
    assert by_title["晴天"]["accepted"] is False  # only a live version exists there
    assert by_title["晴天"]["refused"] == "version: Live not asked for"
    text = run_cli("probe", demo_server.playlist_urls()[0], "--download-sources", "demo2").output
    assert "NO MATCH: version: Live not asked for" in text


def test_probe_of_a_gbk_playlist_file_names_its_code_page_and_skipped_lines(run_cli, tmp_path):
    playlist = tmp_path / "华语.m3u"
    playlist.write_bytes("#EXTM3U\r\n#EXTIMG:cover\r\nfolder.jpg\r\n#EXTINF:269,周杰伦 - 晴天\r\n"
                         "晴天.mp3\r\n".encode("gbk"))
    result = run_cli("probe", str(playlist))
    assert result.exit_code == 0, result.output
    assert "(1 tracks, read in" in result.output and "read as gb18030" in result.output
    assert "skipped line 3: folder.jpg" in result.output and "周杰伦 - 晴天" in result.output


def test_probe_of_a_url_nobody_supports_fails_clearly(run_cli):
    result = run_cli("probe", "https://example.org/x")
    assert result.exit_code == 1 and "no source supports 'https://example.org/x'" in result.output
    assert "[unsupported]" in result.output


def test_probe_of_a_playlist_that_404s_says_so(run_cli, demo_server):
    result = run_cli("probe", f"{demo_server.base_url}/demo/playlist/zzz")
    assert result.exit_code == 1 and "404" in result.output and "[not_found]" in result.output


def test_demo_server_command_serves_writes_a_pool_file_and_stops_on_sigterm(tmp_path: Path):
    import signal

    import requests

    pool = tmp_path / "demo.txt"
    proc = subprocess.Popen([sys.executable, "-m", "runnerd", "demo-server", "--port", "0", "--pool-file",
                             str(pool), "--songs", "7", "--song-seconds", "60", "--not-found", "s05,g00002"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Port 0: the server binds a free port and says which (it serves once it says so).
        said = next(line for line in proc.stdout if "demo platform at" in line)
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)", said).group(1))
        answer = requests.get(f"http://127.0.0.1:{port}/demo/api/playlist/p1", timeout=5)
        assert answer.json()["title"] == "华语经典"
        assert pool.read_text().count(f"http://127.0.0.1:{port}/demo/playlist/") == 5  # and the big one
        big = requests.get(f"http://127.0.0.1:{port}/demo/api/playlist/p9", timeout=5).json()
        assert big["title"] == "Big demo" and len(big["tracks"]) == 7
        audio = requests.get(f"http://127.0.0.1:{port}/demo/audio/g00001.mp3", timeout=5)
        assert audio.status_code == 200 and len(audio.content) > 900_000  # a minute of audio, not a few KiB
        assert requests.get(f"http://127.0.0.1:{port}/demo/audio/s05.mp3", timeout=5).status_code == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
