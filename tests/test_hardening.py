"""Hostile and unlucky input at the runner: no command stops it, the files that hold secrets
are the owner's, a huge env file is refused unread, secrets stay hidden on error paths, a full
disk degrades instead of crashing. Each test here failed before its fix (the console's side:
test_hardening_console.py)."""
from __future__ import annotations

import json
import sqlite3
import string
from contextlib import closing
from pathlib import Path

import pytest
from conftest import runnerd
from helpers.depth import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalogsync_ops.config.envfile import load_config
from catalogsync_ops.config.revisions import list_revisions, record_revision
from catalogsync_ops.engine.commands import CommandContext, CommandKind, apply_pending_commands
from catalogsync_ops.store.connection import connect

HUGE = 99999999999999999999999


def raw_command(conn, kind: str, payload, *, runner_instance_id=None) -> int:
    """A command row as someone with the database file could write it, no validation."""
    body = payload if isinstance(payload, str) else json.dumps(payload)
    with conn:
        return conn.execute("INSERT INTO job_commands (kind, payload_json, status, origin, runner_instance_id,"
                            " created_at) VALUES (?, ?, 'pending', 'cli', ?, '2026-01-01T00:00:00Z')",
                            (kind, body, runner_instance_id)).lastrowid


def command_row(home: Path, command_id: int):
    with closing(connect(home / "catalogsync.db")) as conn:
        return conn.execute("SELECT status, reject_reason FROM job_commands WHERE id = ?", (command_id,)).fetchone()


# ---------------------------------------------------------------- 1. no command stops the runner


@pytest.mark.parametrize("kind,payload", [
    ("pause_job", {"job_id": HUGE}), ("retry_item", {"item_id": HUGE}), ("enqueue_job", {"priority": HUGE}),
    ("reprioritize_job", {"job_id": 1, "priority": -HUGE}), ("cancel_job", {"job_id": 2**63}),
    ("enqueue_job", {"scope": {"playlists": [HUGE]}}), ("retry_failed_items", {"job_id": 1, "source": ["x"]}),
    ("pause_runner", {"reason": "\ud800"}), ("enqueue_job", 42), ("apply_config", ["content"]),
])
def test_a_command_the_runner_cannot_store_is_rejected_and_the_runner_goes_on(home: Path, kind, payload, opened):
    db = opened(connect(home / "catalogsync.db"))
    try:
        bad = raw_command(db, kind, payload)
        good = raw_command(db, "pause_runner", {"reason": "film night"})
    finally:
        db.close()
    result = runnerd(home, "run", "--burst")
    assert result.returncode == 0, result.stderr[-2000:]
    status, reason = command_row(home, bad)
    assert status == "rejected" and reason, reason
    assert command_row(home, good)[0] == "applied"
    again = runnerd(home, "run", "--burst")  # and it starts again: the row no longer stops anything
    assert again.returncode == 0, again.stderr[-2000:]


def test_a_command_a_dead_runner_was_applying_is_rejected_at_the_next_start(home: Path, opened):
    db = opened(connect(home / "catalogsync.db"))
    try:
        taken = raw_command(db, "pause_runner", {"reason": "x"}, runner_instance_id=4242)
    finally:
        db.close()
    result = runnerd(home, "run", "--burst")
    assert result.returncode == 0, result.stderr[-2000:]
    status, reason = command_row(home, taken)
    assert status == "rejected" and "stopped while applying" in reason


@pytest.fixture
def apply_ctx(tmp_path: Path, conn):
    path = tmp_path / "catalogsync.env"
    text = f"LIBRARY_DIR={tmp_path / 'lib'}\n"
    path.write_text(text, encoding="utf-8")
    record_revision(conn, path, text, source="init")
    return CommandContext(env_path=path, runner_instance_id=1, config=load_config(path),
                          config_revision_id=list_revisions(conn)[0]["id"])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**80, max_value=2**80) | st.floats(allow_nan=False)
    | st.text(max_size=30) | st.sampled_from(["", "1", "-1", "abc", "\ud800", "\x00", "9" * 40, "demo", "failed"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(string.ascii_lowercase + "_", max_size=12),
                                                                  inner, max_size=4),
    max_leaves=12)
KEYS = ["job_id", "item_id", "priority", "job_type", "scope", "note", "reason", "error_class", "source", "content",
        "revision_id", "sources", "pools", "playlists", "songs"]
payloads = st.one_of(json_values, st.dictionaries(st.sampled_from(KEYS), json_values, max_size=5))


@settings(max_examples=examples(1200), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@pytest.mark.slow
@given(kind=st.sampled_from([k.value for k in CommandKind]), payload=payloads)
def test_random_payloads_of_every_kind_end_applied_or_rejected(conn, apply_ctx, kind, payload):
    try:
        body = json.dumps(payload, ensure_ascii=False)
    except (ValueError, TypeError):
        return  # not storable as JSON at all: nobody can write it to the table
    try:
        command_id = raw_command(conn, kind, body)
    except (sqlite3.Error, UnicodeEncodeError):
        return  # SQLite would not take the row (lone surrogate): it never reaches the runner
    results = apply_pending_commands(conn, apply_ctx)
    assert [r[0] for r in results] == [command_id]
    status = conn.execute("SELECT status FROM job_commands WHERE id = ?", (command_id,)).fetchone()[0]
    assert status in ("applied", "rejected")


# ---------------------------------------------------------------- 2. files only the owner can read


def mode_of(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_everything_that_holds_secrets_is_created_for_the_owner_only(tmp_path: Path):
    import os

    old = os.umask(0o022)  # a NAS's usual umask: files would be 0644
    try:
        home = tmp_path / "home"
        env = {"CATALOGSYNC_ENV_FILE": str(home / "catalogsync.env")}
        from click.testing import CliRunner

        from runnerd.cli import cli

        assert CliRunner().invoke(cli, ["init", "--home", str(home)]).exit_code == 0
        assert runnerd(home, "run", "--burst").returncode == 0
        (home / "backups").mkdir(exist_ok=True)
        backup = CliRunner().invoke(cli, ["backup", str(home / "backups")], env=env)
        assert backup.exit_code == 0, backup.output
    finally:
        os.umask(old)
    db = home / "catalogsync.db"
    files = [home / "catalogsync.env", db, Path(f"{db}.runnerd.lock"), *sorted((home / "backups").glob("*.db"))]
    assert len(files) >= 4
    with closing(connect(db)) as conn:  # a connection brings the -wal and -shm back
        conn.execute("SELECT 1").fetchone()
        files += [Path(f"{db}-wal"), Path(f"{db}-shm")]
        assert {f.name: oct(mode_of(f)) for f in files} == {f.name: "0o600" for f in files}


def test_what_an_older_release_left_readable_the_runner_tightens_and_says_so_once(home: Path):
    """Upgraded from a release that made the database, its -wal/-shm, the lock and the logs 0644:
    `config check` reports them; the runner makes them 0600 and says so at that start only."""
    db = home / "catalogsync.db"
    assert runnerd(home, "run", "--burst").returncode == 0  # the lock file and runnerd.log exist now
    logs = home / "logs"
    (logs / "runnerd.log.1").write_text("an old rotated log\n", encoding="utf-8")
    with closing(connect(db)) as conn:  # a reader that stays open keeps the -wal and -shm
        conn.execute("SELECT 1").fetchone()
        files = [db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}.runnerd.lock"), home / "catalogsync.env",
                 logs / "runnerd.log", logs / "runnerd.log.1"]
        for path in files:
            path.chmod(0o644)
        check = runnerd(home, "config", "check")
        assert check.returncode == 0 and f"{db} can be read by other users (mode 644)" in check.stdout
        first = runnerd(home, "run", "--burst")
        assert first.returncode == 0
        assert {f.name: oct(mode_of(f)) for f in files} == {f.name: "0o600" for f in files}
        assert f"{db} could be read by other users (mode 644) and holds secrets: now 600" in first.stderr
        assert "runnerd.log.1 could be read by other users" in first.stderr
        again = runnerd(home, "run", "--burst")
    assert "could be read by other users" not in again.stderr and "chmod 600" not in again.stderr


def test_log_files_are_the_owners_only_rotated_ones_too(tmp_path: Path):
    import logging
    import os

    from catalogsync_ops.fileio import add_log_file

    old = os.umask(0o022)
    root = logging.getLogger()
    try:
        path = add_log_file(tmp_path / "logs", "runnerd.log")
        handler = next(h for h in root.handlers if getattr(h, "baseFilename", None) == str(path))
        handler.maxBytes = 200
        for n in range(20):
            logging.getLogger("catalogsync_ops").warning("line %d of a log that rotates", n)
    finally:
        os.umask(old)
        root.removeHandler(handler)
        handler.close()
    made = sorted((tmp_path / "logs").iterdir())
    assert len(made) >= 3 and {f.name: oct(mode_of(f)) for f in made} == {f.name: "0o600" for f in made}


# ---------------------------------------------------------------- 5. a huge env file


def test_a_huge_env_file_is_refused_unread_and_the_runner_stays_responsive(home: Path, opened):
    import os
    import signal
    import subprocess
    import sys
    import time

    from test_runnerd import wait_for

    env_file = home / "catalogsync.env"
    daemon = subprocess.Popen([sys.executable, "-m", "runnerd", "run"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "CATALOGSYNC_ENV_FILE": str(env_file)})
    try:
        conn = opened(connect(home / "catalogsync.db"))
        try:
            running = "SELECT COUNT(*) FROM runner_instances WHERE status = 'running'"
            wait_for(lambda: conn.execute(running).fetchone()[0])
            beat = conn.execute("SELECT MAX(heartbeat_at) FROM runner_instances").fetchone()[0]
            # 200,000 keys, 7.6 MB, each expanding the one before: quadratic in python-dotenv.
            big = env_file.read_text() + "".join(f"K{i}=${{K{i - 1}}}x\n" for i in range(1, 200_000))
            started = time.monotonic()
            env_file.write_text(big, encoding="utf-8")
            wait_for(lambda: conn.execute("SELECT COUNT(*) FROM config_revisions WHERE status = 'invalid'")
                     .fetchone()[0], timeout=10)
            assert time.monotonic() - started < 5
            problems = conn.execute("SELECT problems_json FROM config_revisions WHERE status = 'invalid'").fetchone()[0]
            assert "larger than 256 KiB" in problems
            wait_for(lambda: conn.execute("SELECT MAX(heartbeat_at) FROM runner_instances").fetchone()[0] != beat,
                     timeout=15)  # the loop goes on
            many = env_file.read_text()[:100] + "".join(f"K{i}=v\n" for i in range(3000))  # small, too many keys
            env_file.write_text(many, encoding="utf-8")
            wait_for(lambda: conn.execute("SELECT COUNT(*) FROM config_revisions WHERE status = 'invalid'"
                                          " AND problems_json LIKE '%keys%'").fetchone()[0], timeout=10)
        finally:
            conn.close()
        stopping = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=30)
        assert daemon.returncode == 0 and time.monotonic() - stopping < 10
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()


def test_the_largest_env_file_allowed_parses_in_a_second_or_two_of_cpu_not_minutes():
    import time

    from catalogsync_ops.config.envfile import MAX_ENV_KEYS, parse_env_text

    text = "".join(f"KEY_{i}=${{KEY_{i - 1}}}{'v' * 100}\n" for i in range(1, MAX_ENV_KEYS))
    # This thread's CPU time, not the wall clock: a busy machine (CI runs the suite beside three
    # other test processes) stretches the wall clock, never the work. ~0.35 s here.
    started = time.thread_time()
    parsed = parse_env_text(text)
    assert time.thread_time() - started < 2.0
    assert not parsed.problems and len(parsed.values) == MAX_ENV_KEYS - 1
    assert len(parsed.values[f"KEY_{MAX_ENV_KEYS - 1}"]) == 100 * (MAX_ENV_KEYS - 1)  # each reference expanded once


# ---------------------------------------------------------------- 6. secrets on error paths


def test_a_secret_in_a_bad_line_or_an_invalid_value_is_never_shown(home: Path, client, web):
    import os
    import signal
    import subprocess
    import sys

    from test_runnerd import wait_for

    _, conn = web
    env = home / "catalogsync.env"
    daemon = subprocess.Popen([sys.executable, "-m", "runnerd", "run"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, env={**os.environ, "CATALOGSYNC_ENV_FILE": str(env)})
    try:
        wait_for(lambda: conn.execute("SELECT COUNT(*) FROM runner_instances WHERE status = 'running'").fetchone()[0])
        env.write_text(env.read_text() + "OBJECT_SECRET_ACCESS_KEY: colon-s3cr3t\n"
                       "NOTIFY_WEBHOOK_URL=ftp://bot:hook-s3cr3t@example.invalid/x\n", encoding="utf-8")
        wait_for(lambda: conn.execute("SELECT COUNT(*) FROM config_revisions WHERE status = 'invalid'").fetchone()[0])
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, runner_log = daemon.communicate(timeout=30)
    start = runnerd(home, "run", "--burst")  # refuses to start on the invalid file, saying why
    assert start.returncode != 0 and "NOTIFY_WEBHOOK_URL" in start.stderr
    seen = {"runner log": runner_log + start.stderr, "config show": runnerd(home, "config", "show").stdout,
            "config check": runnerd(home, "config", "check").stdout + runnerd(home, "config", "check").stderr}
    for path in ("/config", "/api/config", "/api/config/revisions", "/logs", "/api/logs"):
        seen[path] = client.get(path).get_data(as_text=True)
    seen["revisions table"] = json.dumps([dict(r) for r in conn.execute(
        "SELECT problems_json, status FROM config_revisions")])
    for where, text in seen.items():
        assert "colon-s3cr3t" not in text and "hook-s3cr3t" not in text, where
    assert "NOTIFY_WEBHOOK_URL: the value (hidden) is not an http(s) URL" in seen["revisions table"]
    assert "OBJECT_SECRET_ACCESS_KEY: ********" in seen["/api/config"]


# ---------------------------------------------------------------- 11. a full disk


def fill(folder: Path, leave: int) -> Path:
    import os

    stats = os.statvfs(folder)
    filler = folder / "filler"
    with open(filler, "wb") as handle:
        handle.write(b"\0" * max(0, stats.f_bavail * stats.f_frsize - leave))
    return filler


@pytest.mark.slow
def test_a_full_database_disk_degrades_the_runner_which_carries_on_by_itself(home: Path, demo_server, small_disk,
                                                                             opened):
    import os
    import signal
    import subprocess
    import sys

    from conftest import set_env
    from test_runnerd import wait_for

    disk = small_disk("dbdisk", "24m")
    set_env(home, DB_PATH=disk / "catalogsync.db", DEMO_BASE_URL=demo_server.base_url, DOWNLOAD_SOURCES="demo,demo2",
            RETRY_BACKOFF_SECONDS=0, RETRY_BACKOFF_MAX_SECONDS=0)
    demo_server.write_pool_file(home / "input" / "demo.txt")
    runnerd(home, "status")  # the database is made on the small disk
    assert (disk / "catalogsync.db").exists()
    filler = fill(disk, 200 * 1024)
    log_file = home / "runnerd.log"
    with open(log_file, "w") as log:
        daemon = subprocess.Popen([sys.executable, "-m", "runnerd", "run"], stdout=subprocess.DEVNULL, stderr=log,
                                  env={**os.environ, "CATALOGSYNC_ENV_FILE": str(home / "catalogsync.env")})
    try:
        wait_for(lambda: "working the queue" in log_file.read_text() or "starting" in log_file.read_text())
        assert runnerd(home, "enqueue", "full_pipeline").returncode == 0
        wait_for(lambda: "Degraded: the disk under the database" in log_file.read_text(), timeout=30)
        assert daemon.poll() is None
        status = runnerd(home, "status")
        assert status.returncode == 0 and "completed" not in status.stdout.split("active job")[-1].splitlines()[0]
        filler.unlink()
        conn = opened(connect(disk / "catalogsync.db"))
        try:
            wait_for(lambda: conn.execute("SELECT status FROM job_runs WHERE id = 1").fetchone()[0]
                     in ("completed", "completed_with_errors"), timeout=90)
            assert conn.execute("SELECT COUNT(*) FROM job_items WHERE last_error_class = 'internal'").fetchone()[0] == 0
        finally:
            conn.close()
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    text = log_file.read_text()
    assert daemon.returncode == 0, text[-3000:]
    assert "space again" in text and "Traceback" not in text and "died" not in text, text


def test_a_full_library_disk_fails_songs_as_disk_full_not_internal(home: Path, demo_server, small_disk, opened):
    from conftest import set_env

    library = small_disk("library", "400k")
    set_env(home, LIBRARY_DIR=library, DEMO_BASE_URL=demo_server.base_url, MIN_FREE_DISK_MB=0,
            OBJECT_BACKEND_NAME="none",
            MAX_ATTEMPTS=1, RETRY_BACKOFF_SECONDS=0, RETRY_BACKOFF_MAX_SECONDS=0)
    demo_server.write_pool_file(home / "input" / "demo.txt")
    runnerd(home, "enqueue", "full_pipeline")
    result = runnerd(home, "run", "--burst")
    assert result.returncode == 0, result.stderr[-2000:]
    conn = opened(connect(home / "catalogsync.db"))
    try:
        classes = dict(conn.execute("SELECT last_error_class, COUNT(*) FROM job_items WHERE status = 'failed'"
                                    " GROUP BY 1").fetchall())
    finally:
        conn.close()
    assert classes.get("disk_full", 0) >= 1 and "internal" not in classes, classes


def test_a_degraded_runner_shows_in_status_health_and_the_dashboard(home: Path, client, web):
    _, conn = web
    with conn:
        conn.execute("UPDATE runner_state SET degraded_reason = 'the disk under the database is full',"
                     " degraded_since = '2026-11-26T06:00:00.000000Z' WHERE id = 1")
    health = client.get("/healthz")
    assert health.status_code == 503 and "free space" in health.get_json()["hint"]
    assert "Degraded since" in client.get("/").get_data(as_text=True)
    assert "DEGRADED since 2026-11-26T06:00:00.000000Z: the disk under the database is full" in \
        runnerd(home, "status").stdout
