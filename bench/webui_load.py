"""Web console under load: a big database, 16 connections from wrk, and a busy writer.

Builds a database with --items job items (default 1,000,000), --songs songs (100,000),
--logs log rows (1,000,000), 2,000 playlists with their coverage counts and a full day of
chart activity; serves it with `catalogsync-web serve` (waitress) in its own
process; a writer process commits --writes item updates per second meanwhile; wrk loads
each route with 16 connections from another process. Prints p50/p95 per route beside the
trivial /api/ping in the same run, req/s of /api/status against /api/ping, the writer's
achieved commits/s, and the web process's RSS.

Usage: python bench/webui_load.py [--items 1000000] [--seconds 10]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

from catalogsync_ops.engine.jobs import create_job, start_job
from catalogsync_ops.engine.stages import start_stage
from catalogsync_ops.store.connection import iso, transaction, utcnow
from catalogsync_ops.store.database import open_database  # noqa: E402

WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("RESULT p50_us=%d p95_us=%d requests=%d seconds=%.3f errors=%d\\n",
    latency:percentile(50), latency:percentile(95), summary.requests, summary.duration / 1e6,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout))
end
"""


def build(db: Path, items: int, songs: int, logs: int) -> tuple[int, int]:
    conn = open_database(db)
    job_id = create_job(conn, "download")
    stage_id = conn.execute("SELECT id FROM job_stages WHERE job_id = ?", (job_id,)).fetchone()[0]
    ts = iso()
    batch = 50_000
    with transaction(conn):
        for start in range(0, songs, batch):
            conn.executemany("INSERT INTO songs (platform, external_id, title, artists, album, created_at, updated_at)"
                             " VALUES ('demo', ?, ?, '[\"Artist\"]', 'Album', ?, ?)",
                             [(f"s{i}", f"Song {i}", ts, ts) for i in range(start, min(songs, start + batch))])
        for start in range(0, items, batch):
            conn.executemany(
                "INSERT INTO job_items (job_id, stage_id, item_type, item_key, status, attempts, max_attempts,"
                " next_attempt_at, song_id, display_text, created_at, updated_at)"
                " VALUES (?, ?, 'song', ?, ?, 1, 3, ?, ?, ?, ?, ?)",
                [(job_id, stage_id, f"song:{i}", "succeeded" if i % 10 else "queued", ts, i % songs + 1,
                  f"Artist - Song {i}", ts, ts) for i in range(start, min(items, start + batch))])
        for start in range(0, logs, batch):
            conn.executemany("INSERT INTO job_logs (created_at, level, logger, job_id, message) VALUES (?, ?, "
                             "'runnerd', ?, ?)",
                             [(ts, "INFO" if i % 50 else "ERROR", job_id, f"log line {i}")
                              for i in range(start, min(logs, start + batch))])
        # 2,000 playlists of 50 songs each and the runner's coverage counts (the playlists page).
        conn.executemany("INSERT INTO playlists (platform, url, title, created_at, updated_at) VALUES ('demo', ?, ?, "
                         "?, ?)",
                         [(f"http://demo/playlist/{p}", f"Playlist {p}", ts, ts) for p in range(2000)])
        conn.execute("INSERT INTO playlist_songs (playlist_id, song_id, position, added_at)"
                     " SELECT (s.id - 1) % 2000 + 1, s.id, (s.id - 1) / 2000 + 1, ? FROM songs s", (ts,))
        conn.executemany("INSERT INTO coverage (playlist_id, wanted, in_library, backed_up, failed, untried, "
                         "unresolved,"
                         " failed_json, updated_at) VALUES (?, 50, 45, 44, 3, 2, 0, '{\"not_found\": 3}', ?)",
                         [(p, ts) for p in range(0, 2001)])
        # A full day in the charts' per-hour table (what a busy runner leaves behind).
        day = utcnow()
        conn.executemany("INSERT INTO activity_hours (hour, stage_type, outcome, items, bytes) VALUES (?, ?, ?, ?, ?)",
                         [(iso(day - timedelta(hours=h))[:13], stage, outcome, 420, 420 * 5_000_000)
                          for h in range(24) for stage, outcome in (("download", "succeeded"),
                                                                       ("upload", "succeeded"), ("sync", "succeeded"),
                                                                       ("download", "timeout"),
                                                                       ("download", "not_found"))])
    start_job(conn, job_id)
    start_stage(conn, stage_id)
    deep = conn.execute("SELECT id FROM job_items WHERE job_id = ? AND status = 'succeeded' ORDER BY id"
                        " LIMIT 1 OFFSET ?", (job_id, int(items * 0.8))).fetchone()[0]
    conn.close()
    return job_id, deep


WRITER = """
import sys, time
sys.path.insert(0, {root!r})
from catalogsync_ops.store.connection import connect, transaction
conn = connect({db!r})
rate, seconds = {rate}, {seconds}
ids = [r[0] for r in conn.execute("SELECT id FROM job_items WHERE status IN ('queued', 'running') LIMIT 50000")]
start, done, i = time.perf_counter(), 0, 0
while time.perf_counter() - start < seconds:
    target = start + done / rate
    now = time.perf_counter()
    if now < target:
        time.sleep(target - now)
    item = ids[i % len(ids)]
    i += 1
    with transaction(conn):
        conn.execute("UPDATE job_items SET status = CASE status WHEN 'queued' THEN 'running' ELSE 'queued' END,"
                     " updated_at = 'x' WHERE id = ?", (item,))
    done += 1
print(done / (time.perf_counter() - start))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk(url: str, cookie: str, seconds: int, script: Path) -> dict:
    out = subprocess.run(["wrk", "-t", "2", "-c", "16", "-d", f"{seconds}s", "-s", str(script), "-H",
                          f"Cookie: {cookie}",
                          url], capture_output=True, text=True, check=True).stdout
    m = re.search(r"RESULT p50_us=(\d+) p95_us=(\d+) requests=(\d+) seconds=([\d.]+) errors=(\d+)", out)
    return {"p50_ms": int(m.group(1)) / 1000, "p95_ms": int(m.group(2)) / 1000, "requests": int(m.group(3)),
            "seconds": float(m.group(4)), "errors": int(m.group(5))}


def side_by_side(base: str, path: str, cookie: str, seconds: int, script: Path) -> tuple[dict, dict]:
    """`path` and the trivial route loaded in turns of SLICE_S each, `seconds` of each in all: the
    machine's speed drifts within seconds (other guests, the writer's checkpoints), and turns this
    short see the same machine. req/s over all turns; p50 the turns' median, p95 the worst turn's."""
    turns = max(1, seconds // SLICE_S)
    runs: dict[str, list[dict]] = {"route": [], "trivial": []}
    for _ in range(turns):
        runs["trivial"].append(wrk(base + "/api/ping", cookie, SLICE_S, script))
        runs["route"].append(wrk(base + path, cookie, SLICE_S, script))
    return tuple({"p50_ms": sorted(r["p50_ms"] for r in rs)[len(rs) // 2], "p95_ms": max(r["p95_ms"] for r in rs),
                  "rps": sum(r["requests"] for r in rs) / sum(r["seconds"] for r in rs),
                  "errors": sum(r["errors"] for r in rs)} for rs in (runs["route"], runs["trivial"]))


SLICE_S = 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--songs", type=int, default=100_000)
    parser.add_argument("--logs", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--writes", type=int, default=500)
    parser.add_argument("--only", default="", help="Route names to load, separated by '|' (default: all).")
    parser.add_argument("--keep", type=Path, help="Build the database in this folder once and reuse it in later "
                                                  "runs (the writer only flips statuses back and forth).")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="csync-webload-"))
    try:
        env_file = tmp / "home" / "catalogsync.env"
        db = tmp / "home" / "catalogsync.db"
        built = tmp / "built.json"
        if args.keep and built.exists():
            job_id, deep = json.loads(built.read_text())
        else:
            subprocess.run([str(BIN / "runnerd"), "init", "--home", str(tmp / "home")], check=True,
                           stdout=subprocess.DEVNULL)
            t0 = time.perf_counter()
            job_id, deep = build(db, args.items, args.songs, args.logs)
            print(f"built {args.items:,} items, {args.songs:,} songs, {args.logs:,} log rows in "
                  f"{time.perf_counter() - t0:.0f}s")
            built.write_text(json.dumps([job_id, deep]))
        env = {**os.environ, "CATALOGSYNC_ENV_FILE": str(env_file)}
        subprocess.run([str(BIN / "catalogsync-web"), "set-password", "admin"], input="bench password\n", text=True,
                       env=env, check=True, stdout=subprocess.DEVNULL)
        port = free_port()
        web = subprocess.Popen([str(BIN / "catalogsync-web"), "serve", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        import requests

        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/api/ping", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        browser = requests.Session()
        page = browser.get(f"{base}/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        browser.post(f"{base}/login", data={"username": "admin", "password": "bench password", "csrf_token": token})
        cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
        script = tmp / "report.lua"
        script.write_text(WRK_SCRIPT)
        routes = {"trivial /api/ping": "/api/ping", "dashboard /": "/", "/api/status": "/api/status",
                  "job detail, first page": f"/jobs/{job_id}",
                  "job detail, deep page": f"/jobs/{job_id}?status=succeeded&after={deep}",
                  "logs": "/logs", "playlists": "/playlists", "playlist": "/playlists/7",
                  "api items deep": f"/api/jobs/{job_id}/items?status=succeeded&after={deep}"}
        if args.only:
            routes = {name: path for name, path in routes.items()
                      if name in args.only.split("|") or name == "trivial /api/ping"}
        writer = subprocess.Popen([sys.executable, "-c", WRITER.format(root=str(ROOT), db=str(db), rate=args.writes,
                                                                     seconds=2.5 * args.seconds * len(routes) + 5)],
                                  stdout=subprocess.PIPE, text=True)
        # Each route is loaded in turns with the trivial route (side_by_side) and its share is
        # taken against those turns.
        results, beside = {}, {}
        for name, path in routes.items():
            if name == "trivial /api/ping":
                results[name] = side_by_side(base, path, cookie, args.seconds, script)[0]
            else:
                results[name], beside[name] = side_by_side(base, path, cookie, args.seconds, script)
        writes = float(writer.communicate(timeout=600)[0])
        rss = next(int(line.split()[1]) for line in Path(f"/proc/{web.pid}/status").read_text().splitlines()
                   if line.startswith("VmRSS")) / 1024
        web.terminate()
        web.wait(timeout=30)
        print(f"16 connections, {args.seconds}s per route in turns of {SLICE_S}s with the trivial route, writer at"
              f" {args.writes} commits/s meanwhile; each share is against the trivial route's turns beside it")
        for name, r in results.items():
            share = "" if name not in beside else f" = {r['rps'] / beside[name]['rps']:4.0%} of trivial"
            print(f"  {name:<24} p50 {r['p50_ms']:7.1f} ms   p95 {r['p95_ms']:7.1f} ms   {r['rps']:7.0f} req/s"
                  f"{share:<19}{'   errors ' + str(r['errors']) if r['errors'] else ''}")
        trivial = sorted(b["rps"] for b in beside.values())
        if trivial:
            print(f"  trivial route beside them: {trivial[0]:.0f}–{trivial[-1]:.0f} req/s")
        print("  bars: every route's p95 <= 100 ms; each HTML page >= 35% of the trivial route's req/s")
        ratio = results["/api/status"]["rps"] / beside["/api/status"]["rps"] if "/api/status" in results else 0
        print(f"  /api/status = {ratio:.0%} of the trivial route's req/s   (bar: >= 20%)")
        print(f"  writer: {writes:.0f} commits/s   (bar: >= 490)")
        print(f"  web process RSS: {rss:.1f} MB   (bar: <= 60 MB)")
        print(json.dumps({"results": results, "trivial_beside": beside, "writes": writes, "rss_mb": rss}))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
