"""SIGKILL runnerd at random moments during full pipelines, many times, and check nothing is
lost or done twice. The test suite runs 30 rounds; this harness runs as many as you like.

Usage: python tools/kill_loop.py [--rounds 200] [--seed 1] [--slow-ms 300]
Exit code 0 when every check holds; the failed check is printed otherwise.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from catalogsync_ops.demo.server import DemoServer  # noqa: E402
from catalogsync_ops.store.connection import connect  # noqa: E402


def set_env(env: Path, **values: object) -> None:
    lines = env.read_text(encoding="utf-8").splitlines()
    for key, value in values.items():
        lines = [f"{key}={value}" if line.startswith(f"{key}=") else line for line in lines]
    env.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--slow-ms", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=3, help="full pipelines enqueued over the run")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="csync-kill-"))
    home = tmp / "home"
    try:
        with DemoServer() as server:
            subprocess.run([sys.executable, "-m", "runnerd", "init", "--home", str(home)], check=True,
                           stdout=subprocess.DEVNULL)
            env_file = home / "catalogsync.env"
            set_env(env_file, DEMO_BASE_URL=server.base_url, DOWNLOAD_SOURCES="demo,demo2", RETRY_BACKOFF_SECONDS=0,
                    RETRY_BACKOFF_MAX_SECONDS=0, AUTO_RESUME_AFTER_RECOVERY="true", MAX_ATTEMPTS=50,
                    DOWNLOAD_WORKERS=1, SYNC_WORKERS=1)
            server.write_pool_file(home / "input" / "demo.txt")
            server.set_faults(slow_ms=args.slow_ms)
            env = {**os.environ, "CATALOGSYNC_ENV_FILE": str(env_file)}
            runnerd = [sys.executable, "-m", "runnerd"]
            killed_busy = 0
            for round_no in range(args.rounds):
                if round_no % max(1, args.rounds // args.jobs) == 0:
                    subprocess.run([*runnerd, "enqueue", "full_pipeline"], env=env, check=True,
                                   stdout=subprocess.DEVNULL)
                daemon = subprocess.Popen([*runnerd, "run"], env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
                time.sleep(rng.uniform(0.5, 2.0))
                if daemon.poll() is None:
                    daemon.kill()
                    killed_busy += 1
                daemon.wait()
                if (round_no + 1) % 20 == 0:
                    print(f"round {round_no + 1}/{args.rounds}", flush=True)
            server.set_faults(slow_ms=0)
            final = subprocess.run([*runnerd, "run", "--burst"], env=env, capture_output=True, text=True, timeout=600)
            if final.returncode != 0:
                print(final.stderr[-3000:])
                return 1
            problems = []
            library = [p for p in (home / "library").rglob("*") if p.is_file()]
            mirror = [p for p in (home / "mirror").rglob("*") if p.is_file()]
            if len(library) != 24:
                problems.append(f"library holds {len(library)} files, not 24: {sorted(p.name for p in library)}")
            if len(mirror) != 24:
                problems.append(f"mirror holds {len(mirror)} files, not 24")
            leftovers = [str(p) for p in home.rglob("*.part*")]
            if leftovers:
                problems.append(f"temp files left: {leftovers}")
            for path in library:
                twin = home / "mirror" / path.relative_to(home / "library")
                if twin.exists() and twin.read_bytes() != path.read_bytes():
                    problems.append(f"mirror copy differs: {path}")
            with connect(home / "catalogsync.db") as conn:
                statuses = dict(conn.execute("SELECT status, COUNT(*) FROM job_runs GROUP BY status").fetchall())
                running = conn.execute("SELECT COUNT(*) FROM job_items WHERE status = 'running'").fetchone()[0]
                interrupted = conn.execute("SELECT COUNT(*) FROM item_attempts"
                                           " WHERE outcome = 'interrupted'").fetchone()[0]
                files = conn.execute("SELECT COUNT(*) FROM file_locations").fetchone()[0]
                uploads = conn.execute("SELECT COUNT(*) FROM upload_tasks WHERE status = 'uploaded'").fetchone()[0]
            if set(statuses) != {"completed"}:
                problems.append(f"jobs not all completed: {statuses}")
            if running:
                problems.append(f"{running} items still running")
            if files != 24 or uploads != 24:
                problems.append(f"{files} file rows and {uploads} uploads recorded, not 24 each")
            print(f"{args.rounds} kills ({killed_busy} while running), {interrupted} interrupted attempts, "
                  f"jobs {statuses}")
            for problem in problems:
                print("PROBLEM:", problem)
            return 1 if problems else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
