"""Cut the power under the runner at random moments, many times, and check that nothing it had
done or acknowledged is lost, and nothing it left is torn.

The working home (database, env file, library, mirror, logs) lives on tools/forgetfs.py, a FUSE
passthrough that keeps only what was fsynced, as a disk does at a power cut. Each round starts
the runner, does one thing a user does (queue a full pipeline, a deep verify, a repair of a file
they broke, a setting changed with --wait, nothing), cuts the power at a random moment (often
right after an acknowledgement: a --wait that printed applied, a notification received), turns
the disk back into what survived, and checks:

- the database passes PRAGMA integrity_check and foreign_key_check;
- every verified file row has its file with its size and hash, in the library and the mirror;
- no file under a final name is torn (every audio file holds content some row recorded);
- every command a --wait saw applied is still applied, and the setting it made is in the file;
- every job a notification said had finished is still finished.

After the last round the runner finishes the work with the power on, a deep verify runs, and
the library and the mirror must be whole: every song of the demo pools, each once.

Usage: python tools/power_cut.py [--rounds 200] [--seed 1]   (root, /dev/fuse, fusermount3)
Exit code 0 when every check holds; the failed checks are printed otherwise.
"""
from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import forgetfs  # noqa: E402
from kill_loop import set_env  # noqa: E402

from catalogsync_ops.demo.server import DemoServer  # noqa: E402
from catalogsync_ops.library.layout import KEPT_DIR  # noqa: E402

AUDIO = {".mp3", ".flac", ".m4a", ".ogg", ".opus", ".wav"}
WEB = [sys.executable, "-c", "from webui.cli import main; main()"]  # catalogsync-web, from this Python
SONGS = 24  # the demo pools' songs (tools/kill_loop.py counts the same)


def songs_in(folder: Path) -> list[Path]:
    """The audio files under their final names: not the product's own (part files, temporaries)
    nor the files a repair set aside because their owner had changed them (layout.KEPT_DIR:
    kept as the disk had them, which after a cut may be before or after the owner's change)."""
    kept = folder / KEPT_DIR
    return [p for p in folder.rglob("*") if p.suffix in AUDIO and not p.name.startswith(".")
            and kept not in p.parents]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Inbox(http.server.ThreadingHTTPServer):
    """A webhook on 127.0.0.1 that keeps every notification it receives."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        inbox = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    inbox.received.append(json.loads(body))
                except ValueError:
                    inbox.received.append({"raw": body.decode("utf-8", "replace")})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class Disk:
    """The backing folder, mounted through forgetfs; `cut` turns it into what survived."""

    def __init__(self, tmp: Path) -> None:
        self.backing, self.mount, self.state = tmp / "disk", tmp / "mnt", tmp / "state"
        self.backing.mkdir()
        self.mount.mkdir()
        self.process: subprocess.Popen | None = None
        self.counts = {"transfer": 0, "commit": 0, "rename": 0, "other": 0, "quiet": 0}

    def up(self) -> None:
        shutil.rmtree(self.state, ignore_errors=True)
        self.state.mkdir()
        self.process = subprocess.Popen([sys.executable, str(ROOT / "tools" / "forgetfs.py"), self.backing,
                                         self.mount, self.state], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not os.path.ismount(self.mount):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("forgetfs did not mount (root, /dev/fuse and fusermount3 are needed)")
            time.sleep(0.02)

    def cut(self, victims: list[subprocess.Popen]) -> None:
        """The power goes: the disk's picture freezes, every process dies, the disk comes back."""
        try:
            os.close(os.open(self.mount / forgetfs.CUT_NAME, os.O_CREAT | os.O_WRONLY))
        except OSError as exc:
            if exc.errno != forgetfs.CUT_ERRNO:
                raise
        for process in victims:
            if process.poll() is None:
                process.kill()
        self.process.kill()
        self.process.wait()
        subprocess.run(["fusermount3", "-u", "-z", str(self.mount)], check=False, stderr=subprocess.DEVNULL)
        for process in victims:
            process.wait()
        ledger = forgetfs.restore(self.backing, self.state)
        moment = ledger.get("at_cut", {})
        if os.environ.get("POWER_CUT_DEBUG"):
            print(moment, flush=True)
        for key in ("transfer", "commit", "rename", "other"):
            self.counts[key] += bool(moment.get(key))
        self.counts["quiet"] += not any(moment.values())

    def down(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait()
        subprocess.run(["fusermount3", "-u", "-z", str(self.mount)], check=False, stderr=subprocess.DEVNULL)


class Harness:
    def __init__(self, tmp: Path, rng: random.Random, server: DemoServer, inbox: Inbox) -> None:
        self.rng, self.server, self.inbox = rng, server, inbox
        self.disk = Disk(tmp)
        self.home = self.disk.backing / "home"
        self.live = self.disk.mount / "home"
        self.good: set[str] = set()  # every hash a file row ever recorded
        self.acked: dict[int, str] = {}  # command id → its kind, seen applied (a --wait, the console's API)
        self.queued: set[int] = set()  # command ids the console's API answered 202 for
        self.workers_acked: int | None = None  # DOWNLOAD_WORKERS as the last acknowledged `config set` made it
        self.workers_sent: list[int] = []  # values asked for since, not acknowledged (one may have been applied)
        self.finished_jobs: set[int] = set()  # jobs a notification said finished
        self.broken: set[str] = set()  # library files the user broke (a repair puts them back)
        self.problems: list[str] = []

    def env(self) -> dict[str, str]:
        return {**os.environ, "CATALOGSYNC_ENV_FILE": str(self.live / "catalogsync.env"),
                "CATALOGSYNC_ALLOW_FUSEBLK": "1"}

    def runnerd(self, *args: str, **kw) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "runnerd", *args], env=self.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, **kw)

    def console(self) -> tuple[subprocess.Popen, str]:
        """The console on the same home, on a free loopback port."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        process = subprocess.Popen([*WEB, "serve", "--port", str(port)], env=self.env(),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        return process, f"http://127.0.0.1:{port}"

    def api(self, base: str, path: str, body: dict | None = None, timeout: float = 5) -> dict | None:
        request = urllib.request.Request(base + path, data=json.dumps(body).encode() if body else None,
                                         headers={"Authorization": f"Bearer {self.token}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return json.loads(answer.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def through_console(self, base: str, stop_at: float) -> None:
        """Queue a verify through the console's API; its 202 and its applied are acknowledgements."""
        answer = None
        while answer is None and time.monotonic() < stop_at:
            answer = self.api(base, "/api/commands", {"kind": "enqueue_job", "payload": {"job_type": "verify"}})
            if answer is None:
                time.sleep(0.1)  # the console is starting
        if answer is None:
            return
        self.queued.add(int(answer["id"]))
        while time.monotonic() < stop_at:
            command = self.api(base, f"/api/commands/{answer['id']}")
            if command and command.get("status") == "applied":
                self.acked[int(answer["id"])] = "enqueue_job"
                return
            time.sleep(0.05)

    def setup(self) -> None:
        subprocess.run([sys.executable, "-m", "runnerd", "init", "--home", str(self.home)], check=True,
                       stdout=subprocess.DEVNULL)
        env_file = self.home / "catalogsync.env"
        text = env_file.read_text(encoding="utf-8").replace(str(self.home), str(self.live))
        env_file.write_text(text, encoding="utf-8")
        set_env(env_file, DEMO_BASE_URL=self.server.base_url, DOWNLOAD_SOURCES="demo,demo2", RETRY_BACKOFF_SECONDS=0,
                RETRY_BACKOFF_MAX_SECONDS=0, AUTO_RESUME_AFTER_RECOVERY="true", MAX_ATTEMPTS=50,
                DOWNLOAD_WORKERS=2, SYNC_WORKERS=1, MIN_FREE_DISK_MB=1, NOTIFY_WEBHOOK_URL=self.inbox.url,
                NOTIFY_EVENTS="job_finished,job_failed")
        self.server.write_pool_file(self.home / "input" / "demo.txt")
        self.workers_acked = 2
        made = subprocess.run([*WEB, "--db", str(self.home / "catalogsync.db"), "create-token", "power-cut",
                               "--scope", "control"], env={**self.env(), "CATALOGSYNC_ENV_FILE": str(env_file)},
                              check=True, capture_output=True, text=True)
        self.token = made.stdout.strip().splitlines()[-1]

    # -- a round -------------------------------------------------------------------------------------

    def act(self, round_no: int) -> subprocess.Popen | None:
        """One thing a user does while the runner works; its --wait is an acknowledgement."""
        choice = self.rng.choice(["pipeline", "pipeline", "verify", "repair", "config", "config", "console",
                                  "nothing"])
        if round_no == 0:
            choice = "pipeline"
        if choice == "pipeline":
            return self.runnerd("enqueue", "full_pipeline", "--wait", "--json", "--timeout", "30")
        if choice == "verify":
            return self.runnerd("enqueue", "verify", "--deep", "--wait", "--json", "--timeout", "30")
        if choice == "repair":
            songs = sorted(p for p in songs_in(self.live / "library") if p.is_file())
            for victim in self.rng.sample(songs, min(len(songs), self.rng.randint(2, 8))):
                if self.rng.random() < 0.5:
                    with open(victim, "r+b") as handle:  # the owner's tag editor, gone wrong
                        handle.truncate(max(1, victim.stat().st_size // 2))
                else:
                    victim.unlink()  # deleted by hand
                self.broken.add(str(victim.relative_to(self.live)))
            return self.runnerd("repair", "--wait", "--json", "--timeout", "30")
        if choice == "console":
            return "console"
        if choice == "config":
            value = 1 if self.rng.random() < 0.5 else 2
            self.workers_sent.append(value)
            return self.runnerd("config", "set", "DOWNLOAD_WORKERS", str(value), "--wait", "--json", "--timeout", "30")
        return None

    def round(self, round_no: int) -> None:
        self.disk.up()
        runner = self.runnerd("run")
        console, base = self.console()
        time.sleep(self.rng.uniform(0.3, 1.5))
        user = self.act(round_no)
        seen, acked = len(self.inbox.received), len(self.acked)
        deadline = time.monotonic() + self.rng.uniform(0.1, 4.0)
        right_after = self.rng.random() < 0.4  # cut the moment an acknowledgement arrives
        if user == "console":
            user = None
            self.through_console(base, deadline)
            if right_after and len(self.acked) > acked:
                deadline = 0
        while time.monotonic() < deadline:
            if right_after and ((user and user.poll() is not None) or len(self.inbox.received) > seen):
                break
            time.sleep(0.01)
        done = user is not None and user.poll() is not None
        notes = list(self.inbox.received)  # what reached the user before the power went
        for name, process in (("runner", runner), ("console", console)):
            if process.poll() is not None:
                self.problems.append(f"round {round_no + 1}: the {name} stopped by itself ({process.returncode}): "
                                     f"{process.stderr.read()[-2000:]}")
        self.disk.cut([p for p in (runner, console, user) if p])
        if done:
            self.note_ack(user)
        for note in notes:
            job = (note.get("data") or {}).get("job_id") if isinstance(note.get("data"), dict) else None
            if note.get("event") == "job_finished" and job:
                self.finished_jobs.add(int(job))
        self.check(f"round {round_no + 1}")

    def note_ack(self, user: subprocess.Popen) -> None:
        out = user.stdout.read() if user.stdout else ""
        try:
            command = json.loads(out)
        except ValueError:
            return
        if command.get("status") != "applied":
            return
        self.acked[int(command["id"])] = command["kind"]
        if command["kind"] == "apply_config" and self.workers_sent:
            self.workers_acked = self.workers_sent[-1]
            self.workers_sent = []

    # -- what must hold after every cut --------------------------------------------------------------

    def check(self, when: str) -> None:
        def problem(text: str) -> None:
            self.problems.append(f"{when}: {text}")

        db = self.home / "catalogsync.db"
        conn = sqlite3.connect(db)
        try:
            result = conn.execute("PRAGMA integrity_check").fetchone()[0]
            if result != "ok":
                problem(f"integrity_check: {result}")
            if conn.execute("PRAGMA foreign_key_check").fetchall():
                problem("foreign_key_check found rows")
            rows = conn.execute("SELECT library_root, rel_path, size_bytes, sha256, verified_at FROM file_locations")
            for root, rel, size, digest, verified in rows.fetchall():
                self.good.add(digest)
                path = self.home / Path(root).relative_to(self.live) / rel
                if verified and str(path.relative_to(self.home)) not in self.broken:
                    if not path.is_file():
                        problem(f"file row without its file: {rel}")
                    elif path.stat().st_size != size or sha256(path) != digest:
                        problem(f"file row whose file differs: {rel}")
            uploads = conn.execute("SELECT bucket, object_key, checksum_sha256 FROM upload_tasks "
                                   "WHERE status = 'uploaded'").fetchall()
            for bucket, key, digest in uploads:
                path = self.home / Path(bucket).relative_to(self.live) / key
                if not path.is_file() or sha256(path) != digest:
                    problem(f"upload recorded but the mirror's copy is {'missing' if not path.is_file() else 'wrong'}: "
                            f"{key}")
            for command_id in self.queued - set(self.acked):
                if conn.execute("SELECT 1 FROM job_commands WHERE id = ?", (command_id,)).fetchone() is None:
                    problem(f"command {command_id} was answered 202 by the console, now gone")
            for command_id, kind in self.acked.items():
                row = conn.execute("SELECT status FROM job_commands WHERE id = ?", (command_id,)).fetchone()
                if row is None or row[0] != "applied":
                    problem(f"command {command_id} ({kind}) was acknowledged applied, now {row and row[0]}")
            for job_id in self.finished_jobs:
                row = conn.execute("SELECT status FROM job_runs WHERE id = ?", (job_id,)).fetchone()
                if row is None or row[0] not in ("completed", "completed_with_errors", "failed", "canceled"):
                    problem(f"job {job_id} was notified finished, now {row and row[0]}")
        finally:
            conn.close()
        for folder in ("library", "mirror"):
            for path in songs_in(self.home / folder):
                rel = str(path.relative_to(self.home))
                if rel not in self.broken:
                    if sha256(path) not in self.good:
                        problem(f"a file under its final name holds content no row recorded (torn?): {rel}")
        text = (self.home / "catalogsync.env").read_text(encoding="utf-8")
        values = {int(line.split("=", 1)[1]) for line in text.splitlines() if line.startswith("DOWNLOAD_WORKERS=")}
        allowed = {self.workers_acked, *self.workers_sent}
        if len(values) != 1 or not values <= allowed:
            problem(f"DOWNLOAD_WORKERS is {values} in the env file; acknowledged {self.workers_acked}, "
                    f"asked since {self.workers_sent}")

    def finish(self) -> None:
        """Power stays on: the runner finishes, a deep verify and a repair run, all must be whole."""
        self.disk.up()
        try:
            for args in (("enqueue", "full_pipeline"), ("run", "--burst"), ("enqueue", "repair"), ("run", "--burst"),
                         ("enqueue", "verify", "--deep"), ("run", "--burst")):
                done = self.runnerd(*args)
                out, err = done.communicate(timeout=900)
                if done.returncode != 0:
                    self.problems.append(f"final `runnerd {' '.join(args)}` exited {done.returncode}: {err[-2000:]}")
        finally:
            self.disk.down()
        self.broken.clear()
        self.check("after the last round")
        library, mirror = songs_in(self.home / "library"), songs_in(self.home / "mirror")
        self.kept = len(list((self.home / "library" / KEPT_DIR).rglob("*.*")))
        if len(library) != SONGS or len(mirror) != SONGS:
            self.problems.append(f"the library holds {len(library)} songs and the mirror {len(mirror)}, not {SONGS}: "
                                 f"{sorted(p.name for p in library)}")
        conn = sqlite3.connect(self.home / "catalogsync.db")
        try:
            statuses = dict(conn.execute("SELECT status, COUNT(*) FROM job_runs GROUP BY status").fetchall())
            drift = conn.execute("SELECT COUNT(*) FROM file_locations WHERE verified_at IS NULL").fetchone()[0]
        finally:
            conn.close()
        if set(statuses) - {"completed"}:
            self.problems.append(f"jobs not all completed: {statuses}")
        if drift:
            self.problems.append(f"{drift} file rows never verified")
        leftovers = [str(p.relative_to(self.home)) for p in self.home.rglob("*") if p.name.endswith(".part")]
        if leftovers:
            self.problems.append(f"part files left: {leftovers}")
        self.jobs = statuses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--slow-ms", type=int, default=150, help="the demo platform's pause per 64 KiB of audio")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="csync-power-"))
    harness = None
    started = time.monotonic()
    try:
        with DemoServer(song_seconds=20) as server:
            server.set_faults(slow_ms=args.slow_ms)
            inbox = Inbox()
            try:
                harness = Harness(tmp, random.Random(args.seed), server, inbox)
                harness.setup()
                for round_no in range(args.rounds):
                    harness.round(round_no)
                    if (round_no + 1) % 20 == 0:
                        print(f"round {round_no + 1}/{args.rounds}, {len(harness.problems)} problems", flush=True)
                server.set_faults(slow_ms=0)
                harness.finish()
            finally:
                inbox.shutdown()
                inbox.server_close()
    finally:
        if harness:
            harness.disk.down()
        shutil.rmtree(tmp, ignore_errors=True)
    counts = harness.disk.counts
    print(f"{args.rounds} power cuts in {time.monotonic() - started:.0f} s: {counts['transfer']} mid-transfer, "
          f"{counts['commit']} mid-commit, {counts['rename']} mid-rename, {counts['other']} mid other writes, "
          f"{counts['quiet']} with nothing unsynced; {len(harness.acked)} acknowledged commands, "
          f"{len(harness.finished_jobs)} jobs notified finished; jobs at the end {getattr(harness, 'jobs', {})}; "
          f"{getattr(harness, 'kept', 0)} files a repair set aside as their owner had changed them")
    for problem in harness.problems:
        print("PROBLEM:", problem)
    return 1 if harness.problems else 0


if __name__ == "__main__":
    sys.exit(main())
