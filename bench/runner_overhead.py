"""Runner overhead: the real daemon beside huey's SqliteHuey consumer, in one run.

Prints:
  - no-op items/s through `runnerd run` (claim, attempt row, counters, events, completion,
    with 4 workers; fast items are claimed and recorded in batches, as skipped uploads and
    adopted files are in real runs), and no-op tasks/s through huey's consumer (SqliteHuey,
    4 thread workers), and their ratio;
  - command pick-up latency (p50/p95) of an idle runner;
  - the idle runner's CPU over --idle-seconds and its RSS.

Usage: python bench/runner_overhead.py [--items 20000] [--workers 4] [--idle-seconds 60]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

from catalogsync_ops.engine.commands import submit_command  # noqa: E402
from catalogsync_ops.engine.jobs import create_job
from catalogsync_ops.engine.records import ItemSpec  # noqa: E402
from catalogsync_ops.engine.stages import add_items
from catalogsync_ops.store.connection import connect, parse_iso
from catalogsync_ops.store.database import open_database  # noqa: E402


def make_home(tmp: Path, workers: int) -> Path:
    home = tmp / "home"
    subprocess.run([str(BIN / "runnerd"), "init", "--home", str(home)], check=True, stdout=subprocess.DEVNULL)
    env = home / "catalogsync.env"
    text = env.read_text().replace("DOWNLOAD_WORKERS=3", f"DOWNLOAD_WORKERS={workers}")
    env.write_text(text.replace("OBJECT_BACKEND_NAME=local", "OBJECT_BACKEND_NAME=none"))
    return home


def ours(home: Path, items: int) -> float:
    conn = open_database(home / "catalogsync.db")
    job_id = create_job(conn, "download")
    stage_id = conn.execute("SELECT id FROM job_stages WHERE job_id = ?", (job_id,)).fetchone()[0]
    add_items(conn, stage_id, (ItemSpec(f"noop:{i}") for i in range(items)), max_attempts=3)
    env = {**os.environ, "CATALOGSYNC_ENV_FILE": str(home / "catalogsync.env")}
    subprocess.run([str(BIN / "runnerd"), "run", "--burst", "--log-level", "WARNING"], env=env, check=True)
    stage = conn.execute("SELECT * FROM job_stages WHERE id = ?", (stage_id,)).fetchone()
    assert stage["n_succeeded"] == items, dict(stage)
    seconds = (parse_iso(stage["finished_at"]) - parse_iso(stage["started_at"])).total_seconds()
    conn.close()
    return items / seconds


HUEY_TASKS = """
from huey import SqliteHuey
huey = SqliteHuey(filename={db!r})

@huey.task()
def noop():
    return None
"""


def huey_rate(tmp: Path, items: int, workers: int) -> float:
    module_dir = tmp / "hueybench"
    module_dir.mkdir()
    db = str(tmp / "huey.db")
    (module_dir / "hueytasks.py").write_text(textwrap.dedent(HUEY_TASKS.format(db=db)))
    sys.path.insert(0, str(module_dir))
    import hueytasks  # noqa: E402

    for _ in range(items):
        hueytasks.noop()
    env = {**os.environ, "PYTHONPATH": str(module_dir)}
    start = time.perf_counter()
    consumer = subprocess.Popen([str(BIN / "huey_consumer"), "hueytasks.huey", "-w", str(workers), "-k", "thread",
                                 "-q"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while hueytasks.huey.pending_count() > 0:
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    consumer.terminate()
    consumer.wait(timeout=30)
    return items / elapsed


def idle_figures(home: Path, idle_seconds: float, samples: int = 40) -> dict:
    env = {**os.environ, "CATALOGSYNC_ENV_FILE": str(home / "catalogsync.env")}
    daemon = subprocess.Popen([str(BIN / "runnerd"), "run", "--log-level", "WARNING"], env=env)
    conn = connect(home / "catalogsync.db")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            row = conn.execute("SELECT status FROM runner_instances ORDER BY id DESC LIMIT 1").fetchone()
            if row and row[0] == "running" and conn.execute(
                    "SELECT COUNT(*) FROM runner_instances WHERE pid = ?", (daemon.pid,)).fetchone()[0]:
                break
            time.sleep(0.05)
        time.sleep(1.0)
        latencies = []
        for i in range(samples):
            kind = "pause_runner" if i % 2 == 0 else "resume_runner"
            t0 = time.perf_counter()
            command_id, _ = submit_command(conn, kind, {})
            while conn.execute("SELECT status FROM job_commands WHERE id = ?", (command_id,
                                                                                )).fetchone()[0] == "pending":
                time.sleep(0.005)
            latencies.append(time.perf_counter() - t0)
            time.sleep(0.05)
        time.sleep(2.0)
        ticks = os.sysconf("SC_CLK_TCK")

        def cpu_seconds() -> float:
            fields = Path(f"/proc/{daemon.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / ticks

        before, t0 = cpu_seconds(), time.perf_counter()
        time.sleep(idle_seconds)
        cpu = (cpu_seconds() - before) / (time.perf_counter() - t0)
        rss = next(int(line.split()[1]) for line in Path(f"/proc/{daemon.pid}/status").read_text().splitlines()
                   if line.startswith("VmRSS")) / 1024
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
        conn.close()
    latencies.sort()
    return {"p50_ms": 1000 * statistics.median(latencies), "p95_ms": 1000 * latencies[int(0.95 * len(latencies)) - 1],
            "cpu_share": cpu, "rss_mb": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--idle-seconds", type=float, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="csync-runner-") as tmp:
        tmp_path = Path(tmp)
        home = make_home(tmp_path, args.workers)
        ours_rate = ours(home, args.items)
        huey = huey_rate(tmp_path, args.items, args.workers)
        idle = idle_figures(home, args.idle_seconds)
    print(f"{args.items:,} no-op items, {args.workers} workers")
    print(f"  runnerd (attempts, counters, events; survives SIGKILL): {ours_rate:8,.0f} items/s")
    print(f"  huey SqliteHuey consumer (thread workers):             {huey:8,.0f} tasks/s")
    print(f"  ratio runnerd / huey:                                   {ours_rate / huey:8.1f}x   (bar: >= 3x)")
    print(f"  command pick-up latency: p50 {idle['p50_ms']:.0f} ms, p95 {idle['p95_ms']:.0f} ms   (bar: p95 <= 500 ms)")
    print(f"  idle CPU over {args.idle_seconds:.0f}s: {100 * idle['cpu_share']:.2f}% of a core   (bar: < 1%)")
    print(f"  idle RSS: {idle['rss_mb']:.1f} MB   (bar: <= 70 MB)")


if __name__ == "__main__":
    main()
