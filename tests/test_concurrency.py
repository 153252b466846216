"""Many at once on one database: two processes claiming from one queue (each item exactly once),
a page read in one snapshot while the runner commits, and the log kept short under readers."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import make_running_job

from catalogsync_ops.engine.queries import job_stages

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_two_processes_claim_5000_items_exactly_once_without_lock_errors(conn, db_path, tmp_path):
    job_id, stage_id = make_running_job(conn, 5000)
    go = tmp_path / "go"
    outs = [tmp_path / f"out{i}.json" for i in range(2)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "tests.helpers.claimer", str(db_path), str(stage_id), "4",
                               str(out), str(go)], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
             for out in outs]
    go.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    results = [json.loads(out.read_text()) for out in outs]
    errors = [e for r in results for e in r["errors"]]
    assert errors == [], errors[:5]
    claimed = Counter(i for r in results for i in r["claimed"])
    assert len(claimed) == 5000 and max(claimed.values()) == 1
    assert all(r["claimed"] for r in results), "both processes should have claimed work"
    attempts = conn.execute("SELECT COUNT(*), COUNT(DISTINCT item_id) FROM item_attempts").fetchone()
    assert tuple(attempts) == (5000, 5000)
    [stage] = job_stages(conn, job_id)
    assert stage["counts"]["succeeded"] == 5000 and stage["total"] == 5000


def test_a_page_reads_one_moment_and_can_still_write_after_the_runner_committed(conn, db_path):
    """The console reads a page inside one snapshot (store.connection.read_snapshot): what the
    runner commits meanwhile shows on the next page, not halfway down this one; and a command the
    page then writes goes in although the snapshot is older than the runner's last commit."""
    from catalogsync_ops.engine.commands import submit_command
    from catalogsync_ops.store.connection import connect, read_snapshot

    make_running_job(conn, 3)
    page = connect(db_path)
    try:
        read_snapshot(page)
        before = page.execute("SELECT COUNT(*) FROM job_items").fetchone()[0]
        make_running_job(conn, 2)  # the runner commits while the page renders
        assert page.execute("SELECT COUNT(*) FROM job_items").fetchone()[0] == before == 3
        submit_command(page, "pause_runner")  # a write ends the snapshot first: no SQLITE_BUSY_SNAPSHOT
        assert not page.in_transaction and not page.reading
        assert page.execute("SELECT COUNT(*) FROM job_items").fetchone()[0] == 5
    finally:
        page.close()
    assert conn.execute("SELECT COUNT(*) FROM job_commands").fetchone()[0] == 1


def test_the_log_starts_over_although_pages_are_read_without_a_pause(conn, db_path):
    """Two readers taking turns (a console under load) always hold a snapshot older than the
    last commit, so a PASSIVE checkpoint never reaches the end of the log and SQLite never starts
    it over. The writer's checkpoint then waits a moment for the readers of the moment and starts
    it over itself: the log stays near WAL_RESTART_FRAMES instead of growing with every write
    (over 200 MB here; a NAS's disk over weeks)."""
    import threading

    from catalogsync_ops.store.connection import (
        WAL_RESTART_FRAMES,
        connect,
        end_read_snapshot,
        read_snapshot,
        transaction,
    )

    wal = Path(str(db_path) + "-wal")
    stop = threading.Event()
    started = [threading.Event(), threading.Event()]
    errors: list[BaseException] = []

    def read(turn: int) -> None:
        page = connect(db_path, readonly=True)
        try:
            time.sleep(0.01 * turn)  # the two overlap: one always holds a snapshot
            while not stop.is_set():
                read_snapshot(page)
                page.execute("SELECT length(value) FROM web_settings").fetchall()
                started[turn].set()
                time.sleep(0.02)  # a page renders while its snapshot is held
                end_read_snapshot(page)
        except BaseException as exc:  # noqa: BLE001 -- reported below
            errors.append(exc)
        finally:
            page.close()

    readers = [threading.Thread(target=read, args=(turn,)) for turn in range(2)]
    for reader in readers:
        reader.start()
    largest = 0
    blob = os.urandom(64 * 1024 + 1600).hex()
    try:
        for event in started:
            assert event.wait(10)
        for i in range(1600):
            with transaction(conn):
                conn.execute("INSERT INTO web_settings (key, value, updated_at) VALUES ('bulk', ?, 'x')"
                             " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                             (blob[i:i + 128 * 1024],))  # 128 KiB, each page changed: 33 pages a commit
            if i % 50 == 0:
                largest = max(largest, wal.stat().st_size)
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert not errors, errors
    written = 1600 * 33 * 4096
    assert largest < 1.5 * WAL_RESTART_FRAMES * 4096 < written / 2, (largest, written)
