"""Real platforms vs the demo platform: the same songs (same sizes) downloaded by runnerd once
through musicdl's real Kuwo client against the emulated platform (tests/emulator), once through
the demo source, side by side in one run. Prints songs/s of each download stage and their
ratio, the whole pipeline's time for each, and the runner's peak RSS with musicdl loaded.

Usage: python bench/platforms.py [--songs 500] [--seconds 2] [--workers 3] [--rounds 3]

The emulated platform answers at loopback speed, so the ratio measures what the adapter and
musicdl cost per song (the look-up of each link at download time, musicdl's own requests), not
the network. Polite limits are raised for the measured run (the emulator does not mind); the
default limits are what a real platform would see, reported separately with --polite.

Two baselines: the demo source over plain HTTP on loopback, and the same demo source reached as
an HTTPS host through the emulator's intercepting proxy (`demo.test`: its API and its audio),
so that both sides of that ratio pay the same transport (TLS through the same Python proxy)
and the difference is what musicdl and the adapter cost.

Songs/s are reported for the whole stage (a new runner: its start and its source host's start,
musicdl's imports, included) and steady (from the stage's WARMUP-th song on: what the daemon,
which stays up, does); the bar compares the steady rates. The emulated Kuwo names one cover per
album, as Kuwo does, and every Kuwo song fetches its cover (the songs take 53 albums in turn,
more than a worker keeps); the demo source offers none, so its side does less work.

The emulated third-party link services answer (no link: the platform's own API gives it). The
Kuwo run uses the product's default PLATFORM_LINK_SERVICES=official_first (a service is asked
only for a song the platform gives no link for: none here); --link-services musicdl keeps
musicdl's own order (every service asked first, the slowest path). The three runs are repeated
--rounds times, side by side, and the median of each ratio is reported (the machine is noisy).
musicdl runs in the source host, a child of the runner: the runner's peak RSS and the host's are reported side by side.
"""
from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from emulator.catalog import Playlist, Song  # noqa: E402
from emulator.kuwo import Kuwo  # noqa: E402
from emulator.proxy import Platform, PlatformEmulator, Request, Response  # noqa: E402
from emulator.services import LinkServices  # noqa: E402

from catalogsync_ops.demo.catalog import DemoPlaylist, DemoSong  # noqa: E402
from catalogsync_ops.demo.server import DemoServer  # noqa: E402


def runnerd(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "runnerd", *args], env=env, capture_output=True, text=True,
                          timeout=3600)


class DemoOverTLS(Platform):
    """The demo server as an HTTPS host behind the emulator's proxy: requests are passed on to it,
    and its answers name this host instead of its loopback address."""

    name = "demo-over-tls"
    hosts = ("demo.test",)

    def __init__(self, demo_base: str) -> None:
        super().__init__()
        self.demo_base = demo_base

    def handle(self, request: Request) -> Response:
        import http.client
        from urllib.parse import urlsplit

        target = urlsplit(self.demo_base)
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        query = f"?{request.path_query}" if request.path_query else ""
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("range", "if-range", "user-agent")}
        conn.request(request.method, request.path + query, body=request.body or None, headers=headers)
        answer = conn.getresponse()
        body = answer.read().replace(self.demo_base.encode(), b"https://demo.test")
        conn.close()
        kept = {k: v for k, v in answer.getheaders() if k.lower() in ("content-type", "content-range", "etag",
                                                                      "accept-ranges", "last-modified")}
        return Response(answer.status, body, kept)


WARMUP = 20  # songs of the stage's start, left out of its steady rate


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _hosts_of(pid: int) -> list[int]:
    """The runner's source host processes (its children running host_main)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"host_main" in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _cpu_s(pid: int) -> float:
    """CPU seconds (user and system) a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def peak_rss_of(proc: subprocess.Popen, peak: list[int], host_cpu: dict[int, float]) -> None:
    """peak[0]: the runner's peak RSS; peak[1]: the peak of its source hosts together;
    host_cpu: the last CPU seconds seen of each source host."""
    while proc.poll() is None:
        peak[0] = max(peak[0], _rss(proc.pid))
        hosts = _hosts_of(proc.pid)
        peak[1] = max(peak[1], sum(_rss(h) for h in hosts))
        for h in hosts:
            host_cpu[h] = max(host_cpu.get(h, 0.0), _cpu_s(h))
        time.sleep(0.05)


def _steady_rate(finished: list[str]) -> float:
    """Songs a second once the stage runs (from its WARMUP-th song to its last): what a runner
    that stays up (the daemon) does, without the start of a process and its source host."""
    from datetime import datetime

    if len(finished) <= WARMUP + 1:
        return 0.0
    first, last = (datetime.fromisoformat(finished[i].replace("Z", "+00:00")) for i in (WARMUP, -1))
    seconds = (last - first).total_seconds()
    return (len(finished) - 1 - WARMUP) / seconds if seconds > 0 else 0.0


def make_home(folder: Path, env_extra: dict, **settings) -> dict:
    home = folder / "home"
    env = {**os.environ, **env_extra, "CATALOGSYNC_ENV_FILE": str(home / "catalogsync.env")}
    assert runnerd(env, "init", "--home", str(home)).returncode == 0
    path = home / "catalogsync.env"
    lines = path.read_text().splitlines()
    for key, value in settings.items():
        lines = [f"{key}={value}" if line.startswith(f"{key}=") else line for line in lines]
    path.write_text("\n".join(lines) + "\n")
    env["_HOME"] = str(home)
    return env


def run(env: dict, pool_url: str) -> dict:
    """collect + sync, then the download stage alone (timed, RSS sampled)."""
    home = Path(env["_HOME"])
    (home / "input" / "bench.txt").write_text(pool_url + "\n")
    started = time.perf_counter()
    for job in ("collect", "sync"):
        assert runnerd(env, "enqueue", job).returncode == 0
    synced = runnerd(env, "run", "--burst")
    assert synced.returncode == 0, synced.stderr[-2000:]
    sync_s = time.perf_counter() - started
    assert runnerd(env, "enqueue", "download").returncode == 0
    peak = [0, 0]
    host_cpu: dict[int, float] = {}
    before = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "runnerd", "run", "--burst"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sampler = threading.Thread(target=peak_rss_of, args=(proc, peak, host_cpu), daemon=True)
    sampler.start()
    _, err = proc.communicate(timeout=3600)
    download_s = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds of the servers (this process: the demo server, the emulator and its proxy) and
    # of the runner with its source hosts (reaped children), during the download stage.
    cpu = [(a.ru_utime + a.ru_stime) - (b.ru_utime + b.ru_stime) for a, b in zip(after, before, strict=True)]
    sampler.join(timeout=5)
    assert proc.returncode == 0, err[-2000:]
    conn = sqlite3.connect(home / "catalogsync.db")
    finished = [row[0] for row in conn.execute(
        "SELECT i.finished_at FROM job_items i JOIN job_runs j ON j.id = i.job_id"
        " WHERE j.job_type = 'download' AND i.status = 'succeeded' ORDER BY i.finished_at")]
    conn.close()
    done = len(finished)
    steady = _steady_rate(finished)
    return {"songs": done, "download_s": download_s, "songs_per_s": done / download_s, "steady": steady,
            "sync_s": sync_s,
            "peak_rss_mb": peak[0] / 2**20, "host_rss_mb": peak[1] / 2**20,
            "server_cpu_ms": cpu[0] * 1000 / max(done, 1), "runner_cpu_ms": cpu[1] * 1000 / max(done, 1),
            "host_cpu_ms": sum(host_cpu.values()) * 1000 / max(done, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each song's audio")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--polite", action="store_true", help="also run Kuwo with the default polite limits")
    parser.add_argument("--link-services", default="official_first", choices=("official", "official_first", "musicdl"),
                        help="PLATFORM_LINK_SERVICES of the kuwo run (default: the product's default)")
    parser.add_argument("--rounds", type=int, default=3, help="the three runs side by side, this many times")
    parser.add_argument("--hosts", type=int, default=1, help="SOURCE_HOST_PROCESSES of the kuwo run")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-platforms-"))
    songs = [Song(str(100000 + i), f"Bench song {i:04d}", (f"Artist {i % 37}",), f"Album {i % 53}", args.seconds)
             for i in range(args.songs)]
    kuwo = Kuwo([Playlist("900", "bench", songs)])
    services = LinkServices()
    services.behaviour = {host: "none" for host in services.hosts}  # they answer, with no link
    demo = DemoServer().start()
    emulator = PlatformEmulator(folder / "ca", [kuwo, services, DemoOverTLS(demo.base_url)]).start()
    platform = demo.platforms["demo"]
    for i, song in enumerate(songs):
        # Same lengths and format as the emulated songs: the same bytes to move.
        platform.songs[f"b{i:04d}"] = DemoSong(f"b{i:04d}", song.name, song.artists, song.album, args.seconds,
                                               seed=int(song.id) % 100_000)
    platform.playlists["bench"] = DemoPlaylist("bench", "bench", tuple(f"b{i:04d}" for i in range(args.songs)))
    common = {"DOWNLOAD_WORKERS": args.workers, "OBJECT_BACKEND_NAME": "none", "RETRY_BACKOFF_SECONDS": 0}
    try:
        ratios: list[tuple[float, float, float, float]] = []
        for n in range(1, args.rounds + 1):
            # The three side by side, again each round: the machine's noise falls on all three.
            demo_env = make_home(folder / f"r{n}-demo", {}, DOWNLOAD_SOURCES="demo", DEMO_BASE_URL=demo.base_url,
                                 **common)
            base = run(demo_env, f"{demo.base_url}/demo/playlist/bench")
            tls_env = make_home(folder / f"r{n}-demo-tls", emulator.env(), DOWNLOAD_SOURCES="demo",
                                DEMO_BASE_URL="https://demo.test", **common)
            tls = run(tls_env, "https://demo.test/demo/playlist/bench")
            kuwo_env = make_home(folder / f"r{n}-kuwo", emulator.env(), DOWNLOAD_SOURCES="kuwo",
                                 PLATFORM_REQUESTS_PER_SECOND=1000,
                                 PLATFORM_MAX_CONCURRENT_REQUESTS=args.workers,
                                 PLATFORM_LINK_SERVICES=args.link_services, SOURCE_HOST_PROCESSES=args.hosts,
                                 **common)
            asked = len(services.seen)
            real = run(kuwo_env, "https://www.kuwo.cn/playlist_detail/900")
            print(f"round {n}: {args.songs} songs of {args.seconds:g} s ({len(songs[0].audio) / 1024:.0f} KiB "
                  f"each), {args.workers} download workers")
            for name, r in (("demo source (baseline)", base), ("demo source over TLS", tls),
                            ("kuwo via musicdl", real)):
                print(f"  {name:<24} download {r['songs']} songs in {r['download_s']:.1f} s = "
                      f"{r['songs_per_s']:.1f} songs/s; steady {r['steady']:.1f} songs/s; collect+sync "
                      f"{r['sync_s']:.1f} s; runner peak RSS {r['peak_rss_mb']:.0f} MB")
                print(f"  {'':<24} CPU a song: runner and source hosts {r['runner_cpu_ms']:.1f} ms (the hosts "
                      f"{r['host_cpu_ms']:.1f}), servers {r['server_cpu_ms']:.1f} ms")
            print(f"  link services asked by the kuwo run ({args.link_services}): {len(services.seen) - asked} "
                  "requests")
            print(f"  runner peak RSS with musicdl sources in use and {args.workers} download workers: "
                  f"{real['peak_rss_mb']:.0f} MB (bar: 60); its {args.hosts} source host(s)' peak: "
                  f"{real['host_rss_mb']:.0f} MB")
            ratios.append((real["steady"] / base["steady"], real["songs_per_s"] / base["songs_per_s"],
                           real["steady"] / tls["steady"], real["songs_per_s"] / tls["songs_per_s"]))
            print(f"  musicdl / demo: steady {ratios[-1][0]:.0%}, whole stage {ratios[-1][1]:.0%}; musicdl / demo "
                  f"over the same TLS proxy: steady {ratios[-1][2]:.0%}, whole stage {ratios[-1][3]:.0%}")
        middle = [statistics.median(column) for column in zip(*ratios, strict=True)]
        print(f"median of {args.rounds} rounds, download songs/s, musicdl / demo: steady {middle[0]:.0%} (bar: 80%), "
              f"whole stage {middle[1]:.0%}; musicdl / demo over the same TLS proxy: steady {middle[2]:.0%}, "
              f"whole stage {middle[3]:.0%}")
        if args.polite:
            polite_env = make_home(folder / "polite", emulator.env(), DOWNLOAD_SOURCES="kuwo", **common)
            polite = run(polite_env, "https://www.kuwo.cn/playlist_detail/900")
            print(f"  with the default polite limits: {polite['songs_per_s']:.1f} songs/s "
                  f"(collect+sync {polite['sync_s']:.1f} s)")
    finally:
        emulator.stop()
        demo.shutdown()
        demo.server_close()


if __name__ == "__main__":
    main()
