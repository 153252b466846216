"""History that keeps a NAS small: old jobs lose their details (not their summary), old
commands, notifications and sign-ins go, a batch at a time, and the file gives the space back."""
from __future__ import annotations

import re
import signal
from datetime import timedelta
from pathlib import Path

from conftest import login, make_running_job, set_env, wait_for

from catalogsync_ops.engine import retention
from catalogsync_ops.engine.items import claim_items, mark_items_succeeded
from catalogsync_ops.engine.jobs import finish_job
from catalogsync_ops.engine.stages import finish_stage
from catalogsync_ops.store.connection import iso, transaction, utcnow
from catalogsync_ops.store.database import open_database

# Detail kept as long as the rest, unless a test says otherwise (its own test below).
SETTINGS = {"HISTORY_RETENTION_DAYS": 90, "HISTORY_DETAIL_DAYS": 90, "COMMAND_RETENTION_DAYS": 30,
            "LOG_RETENTION_DAYS": 30, "LOG_RETENTION_ROWS": 1_000_000}


def finished_job(conn, n_items: int, *, finished_days_ago: float) -> int:
    """An upload job whose items all ran and succeeded, as the runner records them, finished
    `finished_days_ago` days ago."""
    job_id, stage_id = make_running_job(conn, n_items, job_type="upload")
    while claims := claim_items(conn, stage_id, runner_instance_id=None, limit=200):
        mark_items_succeeded(conn, [(claim, "demo", None, 10) for claim in claims])
    finish_stage(conn, stage_id)
    for other in conn.execute("SELECT id FROM job_stages WHERE job_id = ? AND id <> ?", (job_id, stage_id)):
        finish_stage(conn, other[0])
    finish_job(conn, job_id)
    with transaction(conn):
        conn.execute("UPDATE job_runs SET finished_at = ? WHERE id = ?",
                     (iso(utcnow() - timedelta(days=finished_days_ago)), job_id))
    return job_id


def rows(conn, sql: str, *params) -> int:
    return conn.execute(sql, params).fetchone()[0]


def test_old_jobs_lose_their_details_a_batch_at_a_time_and_keep_their_summary(conn):
    old = finished_job(conn, 1200, finished_days_ago=100)
    recent = finished_job(conn, 30, finished_days_ago=10)
    running, _ = make_running_job(conn, 5)
    counts_before = conn.execute("SELECT n_succeeded, n_failed FROM job_stages WHERE job_id = ?", (old,)).fetchall()
    ts_old, ts_new = iso(utcnow() - timedelta(days=40)), iso()
    with transaction(conn):
        for status, ts in (("applied", ts_old), ("rejected", ts_old), ("pending", ts_old), ("applied", ts_new)):
            conn.execute("INSERT INTO job_commands (kind, status, created_at, applied_at)"
                         " VALUES ('pause_runner', ?, ?, ?)", (status, ts, None if status == "pending" else ts))
        for status, ts in (("sent", ts_old), ("pending", ts_old), ("sent", ts_new)):
            conn.execute("INSERT INTO notifications (kind, dedupe_key, status, next_attempt_at, created_at)"
                         " VALUES ('test', ?, ?, ?, ?)", (f"{status}{ts}", status, ts, ts))
        for ts in (ts_old, ts_new):
            conn.execute("INSERT INTO login_attempts (remote_addr, succeeded, created_at) VALUES ('10.0.0.2', 0, ?)",
                         (ts,))

    steps = []
    while True:
        step = retention.prune_step(conn, SETTINGS)
        steps.append(step)
        if not any(n for key, n in step.items() if key != "held_ms"):
            break
    # Items go a batch at a time (attempts with them), then the item events, then the job is marked.
    assert all(step["job_details"] <= 2 * retention.BATCH for step in steps)
    assert len(steps) >= 1200 // retention.BATCH + 2
    assert rows(conn, "SELECT COUNT(*) FROM job_items WHERE job_id = ?", old) == 0
    assert rows(conn, "SELECT COUNT(*) FROM item_attempts a JOIN job_items i ON i.id = a.item_id WHERE i.job_id = ?",
                old) == 0
    assert rows(conn, "SELECT COUNT(*) FROM job_events WHERE job_id = ? AND item_id IS NOT NULL", old) == 0
    # What stays of it: the job, its status and finish, its stages' counts and its job-level events.
    job = conn.execute("SELECT status, pruned_at FROM job_runs WHERE id = ?", (old,)).fetchone()
    assert job["status"] == "completed" and job["pruned_at"] is not None
    assert conn.execute("SELECT n_succeeded, n_failed FROM job_stages WHERE job_id = ?", (old,)).fetchall() \
        == counts_before
    assert rows(conn, "SELECT COUNT(*) FROM job_events WHERE job_id = ? AND kind = 'job_finished'", old) == 1
    # Younger jobs and running ones are not touched; nor are pending commands or notifications.
    assert rows(conn, "SELECT COUNT(*) FROM job_items WHERE job_id = ?", recent) == 30
    assert rows(conn, "SELECT COUNT(*) FROM job_items WHERE job_id = ?", running) == 5
    assert [r[0] for r in conn.execute("SELECT status FROM job_commands ORDER BY id")] == ["pending", "applied"]
    assert sorted(r[0] for r in conn.execute("SELECT status FROM notifications WHERE kind = 'test'")) \
        == ["pending", "sent"]
    assert rows(conn, "SELECT COUNT(*) FROM login_attempts") == 1


def test_log_lines_go_by_age_and_beyond_the_row_cap_a_batch_at_a_time(tmp_path: Path):
    conn = open_database(tmp_path / "catalogsync.db")
    try:
        old, new = iso(utcnow() - timedelta(days=40)), iso(utcnow() - timedelta(days=1))
        with transaction(conn):
            conn.executemany("INSERT INTO job_logs (created_at, level, logger, message) VALUES (?, 'WARNING', 'x', ?)",
                             [(old if n < 1200 else new, f"line {n}") for n in range(3000)])
        settings = {**SETTINGS, "LOG_RETENTION_ROWS": 1000}
        steps = []
        while (step := retention.prune_step(conn, settings))["job_logs"]:
            steps.append(step["job_logs"])
        # A batch of each kind a step: never more than two batches of lines at once.
        assert max(steps) <= 2 * retention.BATCH and len(steps) >= 3
        left = [r[0] for r in conn.execute("SELECT message FROM job_logs ORDER BY id")]
        assert left == [f"line {n}" for n in range(2000, 3000)]  # the newest 1,000, all younger than 30 days
    finally:
        conn.close()


def test_a_new_database_gives_the_space_of_what_went_back_to_the_disk(tmp_path: Path):
    conn = open_database(tmp_path / "catalogsync.db")
    try:
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
        finished_job(conn, 3000, finished_days_ago=100)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        full = conn.execute("PRAGMA page_count").fetchone()[0]
        while retention.prune_step(conn, SETTINGS)["job_details"]:
            retention.give_back_space(conn, pages=100_000)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert conn.execute("PRAGMA page_count").fetchone()[0] < full * 0.6
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] < 100
    finally:
        conn.close()


def test_the_runner_forgets_old_history_by_itself_and_the_job_page_says_so(home: Path, web, opened):
    from test_runnerd import start_daemon

    set_env(home, HISTORY_RETENTION_DAYS=1)
    conn = opened(open_database(home / "catalogsync.db"))
    old = finished_job(conn, 700, finished_days_ago=2)
    daemon = start_daemon(home)
    try:
        wait_for(lambda: conn.execute("SELECT pruned_at FROM job_runs WHERE id = ?", (old,)).fetchone()[0],
                 timeout=60, what="the runner to prune the old job")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=60)
    assert rows(conn, "SELECT COUNT(*) FROM job_items WHERE job_id = ?", old) == 0
    app, _ = web
    client = app.test_client()
    assert login(client).status_code == 302
    page = client.get(f"/jobs/{old}").get_data(as_text=True)
    assert "Its items were removed" in page and "HISTORY_RETENTION_DAYS" in page


def test_many_small_writes_keep_the_write_ahead_log_small_and_readers_see_them(tmp_path: Path):
    """Checkpoints run outside the write lock, by the committing thread, every few hundred commits
    or a second: the -wal file stops growing and a second connection reads every write."""
    db = tmp_path / "wal.db"
    conn = open_database(db)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    for n in range(3000):
        with transaction(conn):
            conn.execute("INSERT INTO notes (body) VALUES (?)", ("x" * 3000 + str(n),))
    wal = Path(str(db) + "-wal").stat().st_size
    # Each commit adds a few 4 KiB pages: without checkpoints the log passes 40 MB.
    assert wal < 16 * 1024 * 1024, wal
    other = open_database(db)
    assert rows(other, "SELECT COUNT(*) FROM notes") == 3000
    other.close()
    conn.close()


def test_system_page_shows_the_database_its_tables_the_history_kept_and_the_last_backup(client, web, home: Path,
                                                                                        run_cli):
    _, conn = web
    finished_job(conn, 300, finished_days_ago=1)
    html = client.get("/system").get_data(as_text=True)
    assert 'id="db-size"' in html and "MiB" in html
    tables = html[html.index('id="tables"'):html.index('id="history"')]
    assert "<code>job_items</code>" in tables and "<code>item_attempts</code>" in tables
    assert "job_items_claim_idx" not in tables  # an index is counted with its table
    assert "for 90 days, then only their summary" in html and "0 of 1 jobs are kept as their summary only" in html
    assert 'id="no-backup"' in html
    assert "given back to the disk a little at a time" in html  # a database made by this release
    made = run_cli("backup", str(home / "backups"))
    assert made.exit_code == 0, made.output
    html = client.get("/system").get_data(as_text=True)
    assert 'id="no-backup"' not in html and re.search(r"<code>catalogsync-\d{8}T\d{6}Z\.db</code>", html)
    client.get("/lang/zh")
    assert "系统" in client.get("/system").get_data(as_text=True)


def test_an_older_database_is_told_to_compact_and_runnerd_compact_shrinks_it_once_the_runner_is_stopped(
        client, web, home: Path, run_cli):
    _, conn = web
    db = home / "catalogsync.db"
    conn.execute("PRAGMA auto_vacuum = NONE")
    conn.execute("VACUUM")  # as a database made before incremental vacuum was the default
    finished_job(conn, 2000, finished_days_ago=200)
    while retention.prune_step(conn, SETTINGS)["job_details"]:
        pass
    assert rows(conn, "PRAGMA freelist_count") > 100  # pruned: free pages the file keeps
    html = client.get("/system").get_data(as_text=True)
    assert "the file never shrinks" in html and "runnerd compact" in html
    from runnerd.lock import RunnerLock

    lock = RunnerLock(db)
    lock.acquire()  # a runner is up
    refused = run_cli("compact")
    assert refused.exit_code != 0 and "stop runnerd before compacting" in refused.output
    lock.release()
    before = rows(conn, "PRAGMA page_count")
    done = run_cli("compact")
    assert done.exit_code == 0, done.output
    assert rows(conn, "PRAGMA page_count") < before / 2 and rows(conn, "PRAGMA auto_vacuum") == 2
    assert rows(conn, "PRAGMA freelist_count") == 0
    assert "given back to the disk a little at a time" in client.get("/system").get_data(as_text=True)


def download_night(conn, outcome: dict[int, bool], *, finished_days_ago: float) -> int:
    """A download job over songs: True succeeds, False fails not_found, as the runner records it."""
    from catalogsync_ops.engine.items import mark_item_failed
    from catalogsync_ops.engine.jobs import create_job, start_job
    from catalogsync_ops.engine.records import ItemSpec
    from catalogsync_ops.engine.stages import add_items, start_stage
    from catalogsync_ops.engine.states import ItemType

    ts = iso()
    with transaction(conn):
        conn.executemany("INSERT OR IGNORE INTO songs (id, platform, external_id, title, created_at, updated_at)"
                         " VALUES (?, 'demo', ?, ?, ?, ?)", [(s, f"s{s}", f"Song {s}", ts, ts) for s in outcome])
    job_id = create_job(conn, "download")
    stage_id = conn.execute("SELECT id FROM job_stages WHERE job_id = ?", (job_id,)).fetchone()[0]
    start_job(conn, job_id)
    start_stage(conn, stage_id)
    add_items(conn, stage_id, [ItemSpec(f"song:{s}", ItemType.SONG, song_id=s) for s in outcome], max_attempts=1)
    for claim in claim_items(conn, stage_id, runner_instance_id=None, limit=100):
        if outcome[claim.song_id]:
            mark_items_succeeded(conn, [(claim, "demo", None, 10)])
        else:
            mark_item_failed(conn, claim.item_id, claim.attempt_no, error_class="not_found", error="demo found nothing",
                             retryable=False)
    finish_stage(conn, stage_id)
    finish_job(conn, job_id)
    with transaction(conn):
        conn.execute("UPDATE job_runs SET finished_at = ? WHERE id = ?",
                     (iso(utcnow() - timedelta(days=finished_days_ago)), job_id))
    return job_id


def test_after_a_week_a_job_keeps_only_its_new_failures_and_its_summary(conn):
    """What went right, the item events and a song's repeated failures go after HISTORY_DETAIL_DAYS;
    the first failure of each song stays until HISTORY_RETENTION_DAYS, the counts for good."""
    first = download_night(conn, {1: False, 2: False, 3: True}, finished_days_ago=12)
    second = download_night(conn, {1: False, 2: True, 4: False, 5: True}, finished_days_ago=11)
    last = download_night(conn, {1: False, 4: False, 6: True}, finished_days_ago=1)
    counts = conn.execute("SELECT job_id, n_succeeded, n_failed FROM job_stages ORDER BY job_id").fetchall()
    settings = {**SETTINGS, "HISTORY_DETAIL_DAYS": 7}
    while any(n for key, n in retention.prune_step(conn, settings).items() if key != "held_ms"):
        pass
    kept = {(r[0], r[1], r[2]) for r in conn.execute("SELECT job_id, song_id, status FROM job_items")}
    assert kept == {
        (first, 1, "failed"), (first, 2, "failed"),  # the first failures of songs 1 and 2
        (second, 4, "failed"),  # song 4's first failure; song 1's second is a repeat, and went
        (last, 1, "failed"), (last, 4, "failed"), (last, 6, "succeeded"),  # a day old: all of it
    }
    assert rows(conn, "SELECT COUNT(*) FROM item_attempts") == 6  # each kept item's attempt, no more
    assert rows(conn, "SELECT COUNT(*) FROM job_events WHERE item_id IS NOT NULL AND job_id <> ?", last) == 0
    assert rows(conn, "SELECT COUNT(*) FROM job_events WHERE item_id IS NOT NULL AND job_id = ?", last) > 0
    trimmed = {r[0]: r[1] for r in conn.execute("SELECT id, trimmed_at IS NOT NULL FROM job_runs")}
    assert trimmed == {first: 1, second: 1, last: 0}
    assert conn.execute("SELECT job_id, n_succeeded, n_failed FROM job_stages ORDER BY job_id").fetchall() == counts
