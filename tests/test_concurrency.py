"""Two processes with four threads each claim from one queue: each item exactly once."""
from __future__ import annotations

import json
import os
import subprocess
import sys
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
