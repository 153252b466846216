"""SIGKILL the downloading process at random points: the final path is never wrong."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from catalogsync_ops.demo.server import blob_bytes
from catalogsync_ops.transfer.downloader import part_path_for

ROOT = Path(__file__).resolve().parent.parent
KILLS = 50


def test_sigkill_at_random_points_never_leaves_a_wrong_file_at_the_final_path(demo_server, tmp_path):
    size = 2 * 1024 * 1024 + 777
    source = blob_bytes(size)
    url = f"{demo_server.base_url}/blob/{size}"
    dest = tmp_path / "library" / "song.bin"
    dest.parent.mkdir()
    demo_server.set_faults(slow_ms=5)  # about 0.2 s per download: kills land everywhere
    rng = random.Random(20261125)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    finished = resumed = 0
    for i in range(KILLS):
        if dest.exists():
            dest.unlink()  # start the next round from scratch, or from the partial file
        had_partial = part_path_for(dest).exists()
        proc = subprocess.Popen([sys.executable, "-m", "tests.helpers.download_one", url, str(dest)], cwd=ROOT,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.05, 0.6))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
        if dest.exists():
            assert dest.read_bytes() == source, f"kill {i}: a wrong file at the final path"
            finished += 1
            resumed += had_partial
        else:
            assert proc.returncode != 0, err.decode()
    # Kills did land mid-transfer, and some finished downloads resumed a partial file.
    assert 0 < finished < KILLS, finished
    # One last, uninterrupted run completes from whatever partial file is left.
    if dest.exists():
        dest.unlink()
    subprocess.run([sys.executable, "-m", "tests.helpers.download_one", url, str(dest)], cwd=ROOT, env=env,
                   check=True, timeout=60)
    assert dest.read_bytes() == source and not part_path_for(dest).exists()
