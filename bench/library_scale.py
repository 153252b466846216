"""The nightly run at scale: a library that is already complete must be cheap.

Builds, on local disk: the demo platform serving --songs generated songs (default 100,000)
in --playlists playlists (2,000); a first collect + sync through the real runner over HTTP
(the listing every night repeats: the baseline); then the library as complete, with a small
real file per song, its verified file row and a finished upload row. Then measures, beside
that baseline:

- with a history of ten earlier runs (two job items per song each: 2,000,000 items);
- a `full_pipeline` job end to end (`runnerd enqueue`, `runnerd run --burst`) with nothing
  new: the nightly run (bar: <= 60 s);
- counting coverage at that size (`refresh_coverage`), and writing the playlists' M3U8 files
  the first time and again unchanged;
- the console's playlists page and one playlist's page (the Flask app in this process).

Usage: python bench/library_scale.py [--songs 100000] [--playlists 2000]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from catalogsync_ops.demo.server import DemoServer  # noqa: E402
from catalogsync_ops.library.coverage import refresh_coverage  # noqa: E402
from catalogsync_ops.library.export import export_playlists  # noqa: E402
from catalogsync_ops.store.connection import connect, iso, transaction  # noqa: E402


def runnerd(env: dict, *args: str) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "runnerd", *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"runnerd {' '.join(args)} failed: {done.stderr[-2000:]}")
    return time.perf_counter() - start


def set_env(env_file: Path, **values) -> None:
    lines = env_file.read_text(encoding="utf-8").splitlines()
    for key, value in values.items():
        lines = [f"{key}={value}" if line.startswith(f"{key}=") else line for line in lines]
    env_file.write_text("\n".join(lines) + "\n", encoding="utf-8")


def complete_the_library(db: Path, library: Path, mirror: Path) -> int:
    """Every synced song in the library (a 1 KiB file, verified) and uploaded to the mirror
    (the rows the runner writes: backend `local`, the mirror folder as the bucket)."""
    conn = connect(db)
    ts = iso()
    songs = conn.execute("SELECT id FROM songs").fetchall()
    rows = []
    for (song_id,) in songs:
        rel = f"Generated/{song_id // 1000:03d}/{song_id}.mp3"
        path = library / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\xff\xfb" + bytes(1022))
        rows.append((song_id, str(library), rel, 1024, "0" * 64, "mp3", "demo", ts, ts, ts))
    with transaction(conn):
        conn.executemany("INSERT INTO file_locations (song_id, library_root, rel_path, size_bytes, sha256, format,"
                         " source, verified_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.execute("INSERT INTO upload_tasks (file_location_id, backend, bucket, object_key, status, size_bytes,"
                     " uploaded_at, created_at, updated_at) SELECT id, 'local', '', rel_path, 'uploaded', size_bytes,"
                     " ?, ?, ? FROM file_locations", (ts, ts, ts))
        conn.execute("UPDATE upload_tasks SET bucket = ?", (str(mirror),))
        # Months of history: the jobs that fetched them (a download and an upload item per song,
        # ten times over), which the coverage count looks through for each song's latest download.
        for _ in range(HISTORY_RUNS):
            job_id = conn.execute("INSERT INTO job_runs (job_type, status, created_at, updated_at) VALUES"
                                  " ('full_pipeline', 'completed', ?, ?)", (ts, ts)).lastrowid
            for seq, (stage, item_type) in enumerate((("download", "song"), ("upload", "upload")), 1):
                stage_id = conn.execute("INSERT INTO job_stages (job_id, seq_no, stage_type, status, updated_at)"
                                        " VALUES (?, ?, ?, 'completed', ?)", (job_id, seq, stage, ts)).lastrowid
                conn.execute("INSERT INTO job_items (job_id, stage_id, item_type, item_key, status, attempts,"
                             " max_attempts, next_attempt_at, song_id, created_at, updated_at) SELECT ?, ?, ?,"
                             " ? || ':' || id, 'succeeded', 1, 3, ?, id, ?, ? FROM songs",
                             (job_id, stage_id, item_type, item_type, ts, ts, ts))
    conn.close()
    return len(rows)


HISTORY_RUNS = 10  # 2 million job items for 100,000 songs


def page_times(app, path: str, n: int = 30) -> tuple[float, float]:
    import re

    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"username": "admin", "password": "bench password", "csrf_token": token})
    client.get(path)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        assert client.get(path).status_code == 200
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=100_000)
    parser.add_argument("--playlists", type=int, default=2_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="csync-scale-"))
    server = DemoServer(songs=args.songs, playlists=args.playlists, song_seconds=1).start()
    try:
        home = tmp / "home"
        subprocess.run([sys.executable, "-m", "runnerd", "init", "--home", str(home)], check=True,
                       stdout=subprocess.DEVNULL)
        env_file, db, library = home / "catalogsync.env", home / "catalogsync.db", home / "library"
        set_env(env_file, DEMO_BASE_URL=server.base_url, DOWNLOAD_SOURCES="demo", SYNC_WORKERS=4)
        pool = home / "input" / "demo.txt"
        pool.write_text("\n".join(u for u in server.playlist_urls() if "/g" in u) + "\n", encoding="utf-8")
        env = {**os.environ, "CATALOGSYNC_ENV_FILE": str(env_file)}
        runnerd(env, "enqueue", "collect")
        runnerd(env, "enqueue", "sync")
        listing = runnerd(env, "run", "--burst")
        made = time.perf_counter()
        files = complete_the_library(db, library, home / "mirror")
        made = time.perf_counter() - made
        conn = connect(db)
        start = time.perf_counter()
        total = refresh_coverage(conn, str(library))
        counting = time.perf_counter() - start
        start = time.perf_counter()
        first = export_playlists(conn, library, library / "Playlists")
        export_first = time.perf_counter() - start
        start = time.perf_counter()
        again = export_playlists(conn, library, library / "Playlists")
        export_again = time.perf_counter() - start
        conn.close()
        runnerd(env, "enqueue", "full_pipeline")
        nightly = runnerd(env, "run", "--burst")
        conn = connect(db)
        nightly_id = conn.execute("SELECT MAX(id) FROM job_runs WHERE job_type = 'full_pipeline'").fetchone()[0]
        job = conn.execute("SELECT status FROM job_runs WHERE id = ?", (nightly_id,)).fetchone()[0]
        stages = conn.execute("SELECT s.stage_type, (julianday(s.finished_at) - julianday(s.materialized_at)) * 86400,"
                              " s.n_succeeded + s.n_failed + s.n_skipped FROM job_stages s JOIN job_runs j ON j.id = "
                              "s.job_id"
                              " WHERE j.id = ? ORDER BY s.seq_no", (nightly_id,)).fetchall()
        downloads = conn.execute("SELECT COUNT(*) FROM item_attempts a JOIN job_items i ON i.id = a.item_id"
                                 " WHERE i.item_type = 'song' AND i.job_id = ?", (nightly_id,)).fetchone()[0]
        conn.close()
        from catalogsync_ops.store.database import open_database
        from webui import create_app
        from webui.auth import set_password

        setup = open_database(db)
        set_password(setup, "admin", "bench password")
        setup.close()
        app = create_app({"DB_PATH": db, "ENV_PATH": env_file})
        playlists_page = page_times(app, "/playlists")
        one_page = page_times(app, "/playlists/1")
        print(f"library: {files:,} songs (1 KiB files) in {args.playlists:,} playlists; made in {made:.0f} s")
        print(f"  baseline, collect + sync of every playlist over HTTP: {listing:6.1f} s")
        print(f"  nightly full_pipeline, nothing new, end to end:      {nightly:6.1f} s  = {nightly / listing:.2f} x "
              f"the baseline   (bar: <= 60 s); job {job}, {downloads} download attempts")
        print("    by stage: " + ", ".join(f"{r[0]} {r[1] or 0:.1f} s ({r[2]} items)" for r in stages))
        print(f"  coverage counted:                                   {counting:6.2f} s  "
              f"({total['in_library']:,}/{total['wanted']:,} in the library)")
        print(f"  playlists written, first time:                      {export_first:6.2f} s  "
              f"({len(first.written):,} files, {first.songs:,} entries)")
        print(f"  playlists written again, nothing changed:           {export_again:6.2f} s  "
              f"({len(again.written)} rewritten, {again.unchanged:,} unchanged)")
        print(f"  console /playlists:     p50 {playlists_page[0]:6.1f} ms  p95 {playlists_page[1]:6.1f} ms (one "
              "request at a time)")
        print(f"  console /playlists/1:   p50 {one_page[0]:6.1f} ms  p95 {one_page[1]:6.1f} ms")
    finally:
        server.shutdown()
        server.server_close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
