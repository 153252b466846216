"""A year on the NAS: does the database stay small and the console quick after 365 nightly runs?

Builds a library of --songs wanted songs (default 100,000) in --playlists playlists (2,000), all
in the library and backed up to a mirror folder but --missing of them (2,000). Then runs
--nights nights (365), one simulated day apart, ending today:

- each night a `full_pipeline` job, enqueued by a command as the nightly timer does, its stages'
  items made by the pipeline's own `stage_items` and recorded through the engine's own
  functions as runnerd's workers record them (claims of up to 64, successes together, failures
  one by one; stage and job finished by `finish_stage` / `finish_job`, which keep the wanted
  list and decide whether the night says anything);
- what the world does: --churn of the library (0.5 %) goes missing each night (its file lost:
  the song is wanted again and cannot be had: `not_found`), and as many of the longest-missing
  songs are found again (their download succeeds; the upload follows);
- a verify job every seventh night (its parts succeed, no drift);
- the notifier's pass (no webhook: every notification is settled as skipped), and the history
  pruner as the runner runs it: batches until nothing is due, then the incremental vacuum,
  each batch's hold on the write lock measured;
- the last night runs through the real runner instead (`runnerd enqueue download`,
  `runnerd run --burst` against the demo server, which knows none of the missing songs), its
  own pruner and upkeep included (--no-runner-night leaves it out).

Measured after night 30 and after the last: the database's size (pages in use, after a
checkpoint), and the p95 of the dashboard, the wanted page, the last job's page and its failed
items through the console's WSGI app (--requests each, after a warm-up). Printed beside each
other as ratios (bars: size <= 1.5x, p95 <= 1.2x), and the longest a prune batch held the write
lock (bar <= 50 ms).

Usage: python bench/year.py [--songs 100000] [--playlists 2000] [--nights 365] [--requests 40]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from library_scale import runnerd, set_env  # noqa: E402  (bench/ is on the path: the script's folder)

from catalogsync_ops.config.envfile import load_config  # noqa: E402
from catalogsync_ops.engine import activity, notify, retention  # noqa: E402
from catalogsync_ops.engine.commands import CommandContext, apply_pending_commands, submit_command  # noqa: E402
from catalogsync_ops.engine.items import claim_items, mark_item_failed, mark_items_succeeded  # noqa: E402
from catalogsync_ops.engine.jobs import finish_job, start_job  # noqa: E402
from catalogsync_ops.engine.stages import add_items, finish_stage, skip_stage, start_stage  # noqa: E402
from catalogsync_ops.errors import ErrorClass, SourceError  # noqa: E402
from catalogsync_ops.pipeline import stage_items  # noqa: E402
from catalogsync_ops.store.connection import connect, iso, transaction  # noqa: E402
from catalogsync_ops.store.database import open_database  # noqa: E402
from catalogsync_ops.transfer.storage import build_uploader  # noqa: E402
from runnerd.logs import _code_and_params  # noqa: E402

WORKER_FAILED = "%s: attempt %s failed [%s]: %s"  # runnerd/workers.py's line for a failed attempt

CLAIM_BATCH = 64  # runnerd/workers.py BATCH_MAX: fast items are claimed this many at a time
PAGES = ("/", "/wanted", "/jobs/{job}", "/jobs/{job}?status=failed")


# ---------------------------------------------------------------- the library


def build(home: Path, songs: int, playlists: int, missing: int, start: datetime) -> dict:
    """Songs, playlists, files and uploads, as the pipeline leaves them after a first full run."""
    ts = iso(start)
    library, mirror = str(home / "library"), str(home / "mirror")
    conn = connect(home / "catalogsync.db")
    per = songs // playlists
    with transaction(conn):
        conn.execute("INSERT INTO playlist_pools (id, name, origin, created_at, updated_at)"
                     " VALUES (1, 'nightly', 'file', ?, ?)", (ts, ts))
        conn.executemany(
            "INSERT INTO playlists (id, platform, url, external_id, title, track_count, last_synced_at, created_at,"
            " updated_at) VALUES (?, 'demo', ?, ?, ?, ?, ?, ?, ?)",
            [(p, f"http://127.0.0.1:9/playlist/y{p}", f"y{p}", f"Playlist {p}", per, ts, ts, ts)
             for p in range(1, playlists + 1)])
        conn.executemany("INSERT INTO pool_playlists (pool_id, playlist_id, position, line_no) VALUES (1, ?, ?, ?)",
                         [(p, p, p) for p in range(1, playlists + 1)])
        conn.executemany("INSERT INTO songs (id, platform, external_id, title, artists, album, duration_s,"
                         " created_at, updated_at) VALUES (?, 'demo', ?, ?, ?, ?, 200, ?, ?)",
                         [(s, f"y{s}", f"Song {s}", json.dumps([f"Artist {s % 997}"]), f"Album {s % 4001}", ts, ts)
                          for s in range(1, songs + 1)])
        conn.executemany("INSERT INTO playlist_songs (playlist_id, song_id, position, added_at) VALUES (?, ?, ?, ?)",
                         [((s - 1) // per + 1, s, (s - 1) % per + 1, ts) for s in range(1, songs + 1)])
        conn.executemany(
            "INSERT INTO file_locations (id, song_id, library_root, rel_path, size_bytes, sha256, format, source,"
            " verified_at, created_at, updated_at, mtime_ns)"
            " VALUES (?, ?, ?, ?, 4000000, ?, 'mp3', 'demo', ?, ?, ?, 1)",
            [(s, s, library, f"Artist {s % 997}/Album {s % 4001}/Song {s}.mp3", f"{s:064x}",
              None if s <= missing else ts, ts, ts) for s in range(1, songs + 1)])
        conn.executemany(
            "INSERT INTO upload_tasks (file_location_id, backend, bucket, object_key, status, size_bytes, etag,"
            " checksum_sha256, uploaded_at, created_at, updated_at) VALUES (?, 'local', ?, ?, 'uploaded', 4000000,"
            " ?, ?, ?, ?, ?)",
            [(s, mirror, f"Artist {s % 997}/Album {s % 4001}/Song {s}.mp3", f"{s:064x}", f"{s:064x}", ts, ts, ts)
             for s in range(missing + 1, songs + 1)])
    conn.close()
    pools = home / "input"
    pools.mkdir(exist_ok=True)
    (pools / "nightly.txt").write_text("".join(f"http://127.0.0.1:9/playlist/y{p}\n"
                                               for p in range(1, playlists + 1)), encoding="utf-8")
    return {"library": library, "mirror": mirror}


# ---------------------------------------------------------------- a night, as the runner writes it


class World:
    """What happens to the library between nights: files lost, missing songs found again."""

    def __init__(self, songs: int, missing: int, churn: float, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.missing = list(range(1, missing + 1))  # oldest first
        self.held = set(range(missing + 1, songs + 1))
        self.per_night = max(1, int(songs * churn))
        self.found: set[int] = set()

    def night(self, conn, when: str) -> None:
        lost = self.rng.sample(sorted(self.held), self.per_night)
        self.held.difference_update(lost)
        self.found = set(self.missing[:self.per_night])  # the longest missing turn up tonight
        self.missing = self.missing[self.per_night:] + lost
        with transaction(conn):
            conn.executemany("UPDATE file_locations SET verified_at = NULL, updated_at = ? WHERE song_id = ?",
                             [(when, s) for s in lost])

    def download(self, conn, claim, when: str) -> bool:
        if claim.song_id not in self.found:
            return False
        with transaction(conn):
            conn.execute("UPDATE file_locations SET verified_at = ?, updated_at = ? WHERE song_id = ?",
                         (when, when, claim.song_id))
        self.held.add(claim.song_id)
        return True


def not_found(claim) -> SourceError:
    """The error a download of a song no source has raises (pipeline/download.py: each source
    tried, coded so that the console words it in the reader's language)."""
    inner = SourceError.coded("found_nothing", ErrorClass.NOT_FOUND, details={"candidates": []}, source="demo",
                              song=claim.display_text or claim.item_key)
    return SourceError.coded("tried_sources", ErrorClass.NOT_FOUND, source="demo",
                             details={"tried": [{"source": "demo", "error_class": "not_found", "error": str(inner),
                                                 "error_code": inner.code, "error_params": inner.params,
                                                 "candidates": []}]},
                             tried=[{"code": "source_said", "params": {"source": "demo", "error": inner.as_param()}}])


def log_row(claim, exc: SourceError, ts: str) -> tuple:
    """The line runnerd's worker logs for a failed attempt, as its log handler stores it."""
    record = logging.LogRecord("runnerd.workers", logging.WARNING, __file__, 0, WORKER_FAILED,
                               (claim.display_text or claim.item_id, claim.attempt_no, exc.error_class.value, exc),
                               None)
    code, params = _code_and_params(record)
    return (ts, "WARNING", "runnerd.workers", claim.job_id, claim.item_id, None, record.getMessage(), None, code,
            params)


def run_stage(conn, job, stage, settings, uploader, world: World, at: datetime) -> None:
    """One stage: its items from the pipeline, worked as runnerd's workers record results."""
    ts = iso(at)
    lines = []
    specs = stage_items(conn, stage["stage_type"], json.loads(job["scope_json"] or "{}"), settings, uploader)
    if not specs:
        skip_stage(conn, stage["id"], reason="nothing to do", now=at)
        return
    start_stage(conn, stage["id"], now=at)
    add_items(conn, stage["id"], specs, max_attempts=3, now=at)
    while claims := claim_items(conn, stage["id"], runner_instance_id=None, limit=CLAIM_BATCH, now=at):
        successes = []
        for claim in claims:
            if claim.item_type == "song" and not world.download(conn, claim, ts):
                exc = not_found(claim)
                mark_item_failed(conn, claim.item_id, claim.attempt_no, error_class=exc.error_class,
                                 error=str(exc)[:4000], source="demo", retryable=False, now=at,
                                 details={**exc.details, "error": str(exc)[:2000]}, error_code=exc.code,
                                 error_params=exc.params)
                lines.append(log_row(claim, exc, ts))
                continue
            if claim.item_type == "upload" and claim.file_location_id:
                with transaction(conn):  # the row an upload leaves (transfer/storage: uploaded, its etag)
                    conn.execute(
                        "INSERT INTO upload_tasks (file_location_id, backend, bucket, object_key, status, size_bytes,"
                        " etag, checksum_sha256, uploaded_at, created_at, updated_at)"
                        " SELECT id, ?, ?, rel_path, 'uploaded', size_bytes, sha256, sha256, ?, ?, ?"
                        " FROM file_locations WHERE id = ? ON CONFLICT (file_location_id, backend, bucket, object_key)"
                        " DO UPDATE SET status = 'uploaded', uploaded_at = excluded.uploaded_at,"
                        " updated_at = excluded.updated_at",
                        (uploader.backend, uploader.bucket, ts, ts, ts, claim.file_location_id))
            successes.append((claim, "demo", {"checked": 1} if claim.item_type == "verify" else None, 0))
        if successes:
            mark_items_succeeded(conn, successes, now=at)
        if lines:  # the log handler's flush, once a second in the runner
            with transaction(conn):
                conn.executemany("INSERT INTO job_logs (created_at, level, logger, job_id, item_id, runner_instance_id,"
                                 " message, traceback, code, params_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", lines)
            lines.clear()
    finish_stage(conn, stage["id"], now=at, give_up_nights=int(settings["WANTED_GIVE_UP_NIGHTS"]),
                 recheck_days=int(settings["WANTED_RECHECK_DAYS"]))


def night(conn, home: Path, config, world: World, at: datetime, job_type: str, uploader) -> int:
    """A nightly job from its command to its notification, and the day's pruning after it."""
    submit_command(conn, "enqueue_job", {"job_type": job_type}, origin="cli", now=at)
    (_, _, result), = apply_pending_commands(conn, CommandContext(env_path=home / "catalogsync.env", config=config,
                                                                  now=at))
    job_id = result["job_id"]
    start_job(conn, job_id, now=at)
    job = conn.execute("SELECT * FROM job_runs WHERE id = ?", (job_id,)).fetchone()
    for stage in conn.execute("SELECT * FROM job_stages WHERE job_id = ? ORDER BY seq_no", (job_id,)).fetchall():
        run_stage(conn, job, stage, config.values, uploader, world, at)
    finish_job(conn, job_id, now=at)
    notify.deliver_due(conn, {"NOTIFY_WEBHOOK_URL": ""}, None, now=at)  # no webhook: settled as skipped
    return job_id


def prune_day(conn, settings, at: datetime) -> tuple[float, float, int]:
    """The day's pruning as the runner paces it: its hourly upkeep of the activity (minutes
    folded into hours and totals), batches until nothing is due, then the space given back.
    Returns (longest batch ms, longest vacuum step ms, rows pruned)."""
    longest = vacuum = 0.0
    started = time.perf_counter()
    pruned = activity.prune_activity(conn, now=at)
    longest = (time.perf_counter() - started) * 1000
    while True:
        step = retention.prune_step(conn, settings, now=at)
        longest = max(longest, step["held_ms"])
        gone = sum(v for k, v in step.items() if k != "held_ms")
        pruned += gone
        if not gone:
            break
    while True:
        started = time.perf_counter()
        free = retention.give_back_space(conn)
        vacuum = max(vacuum, (time.perf_counter() - started) * 1000)
        if free <= retention.FREE_PAGES_PER_STEP:
            break
    return longest, vacuum, pruned


# ---------------------------------------------------------------- what the owner sees


def measure(home: Path, requests: int) -> dict:
    """Database size (pages in use) and each page's p95 through the console's WSGI app."""
    from catalogsync_ops.library.coverage import refresh_coverage
    from catalogsync_ops.store.sizes import table_sizes
    from webui import create_app
    from webui.auth import set_password

    conn = open_database(home / "catalogsync.db")
    refresh_coverage(conn, str(home / "library"))  # as the runner's upkeep does after each job
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = conn.execute("PRAGMA page_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0]
    tables = {t["table"]: t["bytes"] for t in table_sizes(conn) or []}
    job = conn.execute("SELECT MAX(id) FROM job_runs WHERE job_type = 'full_pipeline'").fetchone()[0]
    set_password(conn, "admin", "a year on the nas")
    conn.close()
    app = create_app({"DB_PATH": home / "catalogsync.db", "ENV_PATH": home / "catalogsync.env", "TESTING": True})
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    signed = client.post("/login", data={"username": "admin", "password": "a year on the nas", "csrf_token": token})
    assert signed.status_code == 302, signed.status_code
    p95 = {}
    for page in PAGES:
        path = page.format(job=job)
        for _ in range(3):
            assert client.get(path).status_code == 200, path
        times = []
        for _ in range(requests):
            started = time.perf_counter()
            client.get(path)
            times.append((time.perf_counter() - started) * 1000)
        p95[page] = statistics.quantiles(times, n=20)[-1]
    return {"size": size, "p95": p95, "tables": tables}


def runner_night(home: Path, env: dict) -> float:
    """The last night through the real runner: a download of the wanted songs against the demo
    server (which has none of them), its pruner and upkeep as they run."""
    from catalogsync_ops.demo.server import DemoServer

    with DemoServer() as server:
        set_env(home / "catalogsync.env", DEMO_BASE_URL=server.base_url)
        runnerd(env, "enqueue", "download")
        return runnerd(env, "run", "--burst")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=100_000)
    parser.add_argument("--playlists", type=int, default=2_000)
    parser.add_argument("--missing", type=int, default=2_000)
    parser.add_argument("--nights", type=int, default=365)
    parser.add_argument("--churn", type=float, default=0.005)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--no-runner-night", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the home folder (printed) for a look")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="csync-year-"))
    try:
        home = tmp / "home"
        subprocess.run([sys.executable, "-m", "runnerd", "init", "--home", str(home)], check=True,
                       stdout=subprocess.DEVNULL)
        set_env(home / "catalogsync.env", MIN_FREE_DISK_MB=0, OBJECT_BACKEND_NAME="local", PLAYLIST_EXPORT="false")
        env = {**os.environ, "CATALOGSYNC_ENV_FILE": str(home / "catalogsync.env")}
        open_database(home / "catalogsync.db").close()
        today = datetime.now(UTC).replace(hour=2, minute=0, second=0, microsecond=0)
        first = today - timedelta(days=args.nights - 1)
        started = time.perf_counter()
        build(home, args.songs, args.playlists, args.missing, first - timedelta(days=1))
        (home / "mirror").mkdir(exist_ok=True)
        print(f"built {args.songs:,} songs in {args.playlists:,} playlists ({args.missing:,} missing) in "
              f"{time.perf_counter() - started:.1f} s")
        config = load_config(home / "catalogsync.env")
        uploader = build_uploader(config.values)
        world = World(args.songs, args.missing, args.churn)
        conn = connect(home / "catalogsync.db")
        held = vacuum = 0.0
        at_30 = None
        last_night = args.nights - (0 if args.no_runner_night else 1)
        started = time.perf_counter()
        for n in range(1, last_night + 1):
            at = first + timedelta(days=n - 1)
            world.night(conn, iso(at))
            night(conn, home, config, world, at, "full_pipeline", uploader)
            if n % 7 == 0:
                night(conn, home, config, world, at + timedelta(hours=3), "verify", uploader)
            batch, step, _ = prune_day(conn, config.values, at + timedelta(hours=12))
            held, vacuum = max(held, batch), max(vacuum, step)
            if n == 30:
                conn.close()
                at_30 = measure(home, args.requests)
                conn = connect(home / "catalogsync.db")
            if n % 30 == 0:
                print(f"  night {n}: {time.perf_counter() - started:.0f} s so far, longest prune batch {held:.1f} ms")
        conn.close()
        if not args.no_runner_night:
            seconds = runner_night(home, env)
            print(f"night {args.nights} through runnerd (download against the demo server, its pruner): "
                  f"{seconds:.1f} s")
        at_end = measure(home, args.requests)
        uploader.close()
        print()
        print(f"{args.nights} nights on {args.songs:,} songs in {args.playlists:,} playlists, "
              f"{world.per_night:,} lost and {world.per_night:,} found again a night, a verify weekly")
        ratio = at_end["size"] / at_30["size"]
        print(f"  database: {at_end['size'] / 2**20:,.1f} MiB after night {args.nights}, "
              f"{at_30['size'] / 2**20:,.1f} MiB after night 30: {ratio:.2f}x (bar <= 1.5x)")
        for page in PAGES:
            late, early = at_end["p95"][page], at_30["p95"][page]
            print(f"  p95 {page:<28} {late:7.1f} ms after night {args.nights}, {early:7.1f} ms after night 30: "
                  f"{late / early:.2f}x (bar <= 1.2x)")
        grown = sorted(at_end["tables"], key=lambda t: at_end["tables"][t] - at_30["tables"].get(t, 0), reverse=True)
        print("  where it went (MiB, night 30 -> the last): " + ", ".join(
            f"{t} {at_30['tables'].get(t, 0) / 2**20:.1f} -> {at_end['tables'][t] / 2**20:.1f}" for t in grown[:8]))
        print(f"  longest prune batch on the write lock: {held:.1f} ms (bar <= 50 ms); "
              f"longest incremental vacuum step: {vacuum:.1f} ms")
        conn = connect(home / "catalogsync.db")
        jobs = dict(conn.execute("SELECT job_type || ' ' || status, COUNT(*) FROM job_runs GROUP BY 1").fetchall())
        notes = dict(conn.execute("SELECT kind || ' ' || status, COUNT(*) FROM notifications GROUP BY 1").fetchall())
        wanted = dict(conn.execute("SELECT state, COUNT(*) FROM missing_songs GROUP BY 1").fetchall())
        kept = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("job_items", "item_attempts", "job_events", "job_logs", "job_commands", "notifications")}
        pruned = conn.execute("SELECT COUNT(*) FROM job_runs WHERE pruned_at IS NOT NULL").fetchone()[0]
        conn.close()
        print(f"  jobs: {jobs}")
        print(f"  notifications (last {30} days kept): {notes}")
        print(f"  wanted list: {wanted}; rows kept: {kept}; jobs down to their summary: {pruned}")
    finally:
        if args.keep:
            print(f"kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
