"""SIGKILL the downloading process at random points: the final path is never wrong."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from catalogsync_ops.demo.server import blob_bytes
from catalogsync_ops.transfer.downloader import part_path_for

ROOT = Path(__file__).resolve().parent.parent
KILLS = 50


@pytest.mark.slow
def test_sigkill_at_random_points_never_leaves_a_wrong_file_at_the_final_path(demo_server, tmp_path):
    size = 2 * 1024 * 1024 + 777
    source = blob_bytes(size)
    url = f"{demo_server.base_url}/blob/{size}"
    dest = tmp_path / "library" / "song.bin"
    dest.parent.mkdir()
    demo_server.set_faults(slow_ms=5)  # about 0.2 s per download: kills land everywhere
    rng = random.Random(20261125)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    finished = finished_resumed = resumes = 0
    for i in range(KILLS):
        if dest.exists():
            dest.unlink()  # start the next round from scratch, or from the partial file
        part = part_path_for(dest)
        kept = part.stat().st_size if part.exists() else 0
        resumable = kept > 0 and part.with_name(part.name + ".json").exists()  # the sidecar holds the validator
        demo_server.requests.clear()
        proc = subprocess.Popen([sys.executable, "-m", "tests.helpers.download_one", url, str(dest)], cwd=ROOT,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # Kill at a random point of the transfer, timed from its request (a busy machine takes
        # its time to start Python; a fixed delay would then mostly kill before the download).
        asked_at = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < asked_at:
            if any(r["path"].startswith("/blob/") for r in list(demo_server.requests)):
                break
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.3))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
        asked = [r for r in demo_server.requests if r["path"].startswith("/blob/")]
        if resumable and asked:
            # The attempt after a kill asks only for the rest, and only if the file is the same one.
            assert asked[0]["range"] == f"bytes={kept}-" and asked[0]["if_range"], (i, kept, asked[0])
            resumes += 1
        if dest.exists():
            assert dest.read_bytes() == source, f"kill {i}: a wrong file at the final path"
            finished += 1
            finished_resumed += resumable
        else:
            assert proc.returncode != 0, err.decode()
    # Kills did land mid-transfer; attempts resumed partial files, and some of those finished.
    assert 0 < finished < KILLS, finished
    print(f"{resumes} resumes, {finished_resumed} of them finished, {finished} finished of {KILLS}")
    assert resumes >= 5 and finished_resumed >= 1, (resumes, finished_resumed)
    # One last, uninterrupted run completes from whatever partial file is left.
    if dest.exists():
        dest.unlink()
    subprocess.run([sys.executable, "-m", "tests.helpers.download_one", url, str(dest)], cwd=ROOT, env=env,
                   check=True, timeout=60)
    assert dest.read_bytes() == source and not part_path_for(dest).exists()
