"""The suite's own guard: a test that leaves a connection unclosed fails, by name, on every
Python we support, even when the connection sits in a reference cycle (which the collector
would otherwise reach during some later test)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

LEAKY = '''
from catalogsync_ops.store.connection import connect


def test_leaves_a_connection_in_a_cycle(tmp_path):
    conn = connect(tmp_path / "a.db")
    cycle = [conn]
    cycle.append(cycle)


def test_leaves_one_with_nothing_else_holding_it(tmp_path):
    connect(tmp_path / "b.db")


def test_closes_its_connection(tmp_path):
    conn = connect(tmp_path / "c.db")
    cycle = [conn]
    cycle.append(cycle)
    conn.close()
'''


def test_a_test_that_leaves_a_connection_unclosed_fails_and_is_named(tmp_path: Path):
    (tmp_path / "test_leaky.py").write_text(LEAKY, encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest",
                          "-W", "error", "-rA", "test_leaky.py"],
                         cwd=tmp_path, env={"PYTHONPATH": str(HERE), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=120)
    report = run.stdout + run.stderr
    assert run.returncode == 1, report
    for name in ("test_leaves_a_connection_in_a_cycle", "test_leaves_one_with_nothing_else_holding_it"):
        assert f"ERROR test_leaky.py::{name} - " in report, report
        assert f"{name} left unclosed: unclosed database in <catalogsync_ops.store" in report, report
    assert "test_closes_its_connection - " not in report, report
    assert "3 passed, 2 errors" in report, report
