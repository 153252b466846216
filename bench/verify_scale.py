"""Verify at scale: is checking a 100,000-file library and its mirror cheap enough to run nightly?

Builds, on local disk, a library of --files small files (1 KiB, default 100,000), each with its
verified file row, and the same files in a mirror folder with finished upload rows (what the
runner writes), then measures through the real runner (`runnerd enqueue verify`,
`runnerd run --burst`, as processes):

- **fast verify** end to end (bar: <= 30 s), beside the least any check must do: in this
  process, `os.stat` of every library file and a walk of the mirror folder (the baseline);
- **fast verify** stage time beside the baseline (bar: <= 3x; three rounds, the median), and
  beside all a fast verify must touch (the stat walk, a walk of the library for orphans, a stat
  of each mirror file);
- **deep verify** of --deep-files larger files (default 2,000 of 1 MiB), its hashing rate
  beside a bare read-and-hash loop with `hashlib` over the same files in this process (bar: >= 90 %
  of it; coreutils' `sha256sum` hashes several times slower per byte than OpenSSL here, so it
  is no limit); the verify stage's own time, from the runner's stage timestamps, with
  VERIFY_WORKERS=1 (one thread, as the loop has) and with 2.

Each figure is printed beside its baseline, both run here, one after the other.

Usage: python bench/verify_scale.py [--files 100000] [--deep-files 2000] [--deep-mib 1]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from library_scale import runnerd, set_env  # noqa: E402  (bench/ is on the path: the script's folder)

from catalogsync_ops.store.connection import connect, iso, transaction  # noqa: E402
from catalogsync_ops.store.database import open_database  # noqa: E402


def make_home(tmp: Path, name: str) -> tuple[Path, dict]:
    home = tmp / name
    subprocess.run([sys.executable, "-m", "runnerd", "init", "--home", str(home)], check=True,
                   stdout=subprocess.DEVNULL)
    set_env(home / "catalogsync.env", MIN_FREE_DISK_MB=0, PLAYLIST_EXPORT="false")
    open_database(home / "catalogsync.db").close()
    return home, {**os.environ, "CATALOGSYNC_ENV_FILE": str(home / "catalogsync.env")}


def build_library(home: Path, n: int, size: int, *, mirror: bool) -> list[Path]:
    """n songs, each with a file of `size` bytes in the library (and the mirror), recorded as
    the runner records them."""
    library, mirror_dir = home / "library", home / "mirror"
    body = os.urandom(size)
    digest = hashlib.sha256(body).hexdigest()
    ts = iso()
    paths, rows = [], []
    for i in range(1, n + 1):
        rel = f"Generated/{i // 1000:03d}/{i}.mp3"
        for root in (library, mirror_dir) if mirror else (library,):
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
        path = library / rel
        paths.append(path)
        rows.append((i, str(library), rel, size, digest, "mp3", "demo", ts, path.stat().st_mtime_ns, ts, ts, "mp3",
                     "128", ts))
    conn = connect(home / "catalogsync.db")
    with transaction(conn):
        conn.executemany("INSERT INTO songs (id, platform, external_id, title, created_at, updated_at)"
                         " VALUES (?, 'demo', ?, ?, ?, ?)", [(i, str(i), f"Song {i}", ts, ts) for i in range(1, n + 1)])
        # As the runner records a download now: its quality read (a check reads older rows once).
        conn.executemany("INSERT INTO file_locations (song_id, library_root, rel_path, size_bytes, sha256, format,"
                         " source, verified_at, mtime_ns, created_at, updated_at, codec, quality, probed_at)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         rows)
        if mirror:
            conn.execute("INSERT INTO upload_tasks (file_location_id, backend, bucket, object_key, status, size_bytes,"
                         " checksum_sha256, etag, uploaded_at, created_at, updated_at) SELECT id, 'local', ?, rel_path,"
                         " 'uploaded', size_bytes, sha256, sha256, ?, ?, ? FROM file_locations",
                         (str(mirror_dir), ts, ts, ts))
    conn.close()
    return paths


def verify_stage_seconds(home: Path) -> tuple[float, str, int]:
    conn = connect(home / "catalogsync.db")
    row = conn.execute("SELECT (julianday(s.finished_at) - julianday(s.started_at)) * 86400, j.status,"
                       " (SELECT COUNT(*) FROM drift) FROM job_stages s JOIN job_runs j ON j.id = s.job_id"
                       " WHERE j.job_type = 'verify' ORDER BY j.id DESC LIMIT 1").fetchone()
    conn.close()
    return float(row[0]), row[1], int(row[2])


def hash_loop(paths: list[Path]) -> float:
    """Seconds to read and SHA-256 every file in this process: open, read 1 MiB at a time, hash."""
    start = time.perf_counter()
    for path in paths:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        digest.hexdigest()
    return time.perf_counter() - start


def run_verify(env: dict, *flags: str) -> float:
    runnerd(env, "enqueue", "verify", *flags)
    return runnerd(env, "run", "--burst")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--deep-files", type=int, default=2_000)
    parser.add_argument("--deep-mib", type=float, default=1.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="csync-verify-"))
    try:
        home, env = make_home(tmp, "fast")
        start = time.perf_counter()
        paths = build_library(home, args.files, 1024, mirror=True)
        print(f"built {args.files:,} files and their mirror in {time.perf_counter() - start:.1f} s")
        # Baselines, in this process: the stat walk (stat each library file, walk the mirror), and
        # all a fast verify must touch (also: walk the library for orphans, stat each mirror file
        # for its size). Three rounds, each baseline measured just before its verify (this machine's
        # pace wanders): each round's ratio is printed, and the median.
        ratios = []
        for _ in range(3):
            start = time.perf_counter()
            for path in paths:
                os.stat(path)
            walked = sum(len(files) for _, _, files in os.walk(home / "mirror"))
            baseline = time.perf_counter() - start
            assert walked == args.files
            start = time.perf_counter()
            for path in paths:
                os.stat(path)
            sum(len(files) for _, _, files in os.walk(home / "library"))
            for folder, _, files in os.walk(home / "mirror"):
                for name in files:
                    os.stat(os.path.join(folder, name))
            everything = time.perf_counter() - start
            total = run_verify(env)
            stage, status, drift = verify_stage_seconds(home)
            ratios.append((stage / baseline, stage, baseline, everything))
            print(f"fast verify of {args.files:,} files + mirror: {total:.1f} s end to end (stage {stage:.2f} s; "
                  f"{status}, {drift} drift; bar <= 30 s); baseline (stat every file + walk the mirror, "
                  f"in-process) {baseline:.2f} s: stage / baseline = {stage / baseline:.2f}x; all it must touch "
                  f"(stat every file, walk the library, walk and stat the mirror) {everything:.2f} s: "
                  f"stage / that = {stage / everything:.2f}x")
        ratio, stage, baseline, everything = sorted(ratios)[1]
        print(f"  median of 3: stage {stage:.2f} s / baseline {baseline:.2f} s = {ratio:.2f}x (bar <= 3x); "
              f"stage / all it must touch = {stage / everything:.2f}x")
        shutil.rmtree(home)

        home, env = make_home(tmp, "deep")
        set_env(home / "catalogsync.env", OBJECT_BACKEND_NAME="none")
        size = int(args.deep_mib * 2**20)
        paths = build_library(home, args.deep_files, size, mirror=False)
        mib = args.deep_files * size / 2**20
        results = []
        for workers in (1, 2):
            bare = hash_loop(paths)
            set_env(home / "catalogsync.env", VERIFY_WORKERS=workers)
            run_verify(env, "--deep")
            stage, status, drift = verify_stage_seconds(home)
            results.append((workers, stage, bare, status, drift))
        for workers, stage, bare, status, drift in results:
            print(f"deep verify, {args.deep_files:,} files ({mib:,.0f} MiB), VERIFY_WORKERS={workers}: "
                  f"{mib / stage:,.0f} MiB/s (stage {stage:.2f} s; {status}, {drift} drift); "
                  f"bare hashlib loop {mib / bare:,.0f} MiB/s ({bare:.2f} s); "
                  f"verify / loop = {bare / stage:.0%} (bar >= 90 %)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
