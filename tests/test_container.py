"""The image (deploy/container/), built and run for real with podman: no image registry is
reachable here, so the base is made from Debian's packages with mmdebstrap (python3 and its venv)
and given to the Containerfile through its BASE build argument, as a user gives another base.

One walk, as a NAS owner's first weeks go: the release before the newest schema runs the demo
pipeline; this release's image takes over the same volumes (the database backed up, then
migrated, every row kept); the console answers /healthz and logs its first-run link; the
library's files belong to PUID:PGID; a SIGTERM mid-download stops the runner within its grace
and the next start finishes the job. Prints the image's size and its cold start (container start
→ /healthz 200) beside the checkout's. Slow; CI runs it once (`-m container`).

The image's default base, the official Python image, cannot be pulled here either. A second base
is laid out as that one is: Debian with the runtime libraries its Dockerfile keeps, no Debian
python3, and a CPython built from source in /usr/local (pyenv's build of the same minor version,
copied in; `ldconfig` finds its libpython there). The Containerfile builds on it unchanged, and
the image from it runs from deploy/container/compose.yaml, unchanged, with podman-compose: the
demo profile on empty folders, as a user tries it; the console answers, the pipeline runs to
the end, the files are PUID:PGID's.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import set_env, wait_for

from catalogsync_ops.demo.server import DemoServer
from catalogsync_ops.store.migrations import MIGRATIONS

pytestmark = [pytest.mark.container, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("CATALOGSYNC_CONTAINER_CACHE", "/var/tmp/catalogsync-container"))
BASE = "localhost/catalogsync-test-base:bookworm"
# The official image's layout (python:3.12-slim-bookworm, the Containerfile's default).
OFFICIAL_LAYOUT = "localhost/catalogsync-test-base:official-layout"
OFFICIAL_PYTHON = "3.12"
# What that image's Dockerfile keeps: CA certificates, netbase, time zones and the libraries its
# CPython's modules link to (ssl, sqlite3, ctypes, lzma, bz2, zlib, readline, uuid, nis).
OFFICIAL_PACKAGES = ("ca-certificates,netbase,tzdata,libbz2-1.0,libexpat1,libffi8,liblzma5,libncursesw6,libnsl2,"
                     "libreadline8,libsqlite3-0,libssl3,libtirpc3,libuuid1,zlib1g")
PUID, PGID = 1234, 2345
# What these machines need to run podman (not the user's files): runc (crun refuses the
# sandbox's cgroups), cgroupfs, limits the sandbox lets a container have, the host's network.
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]
RUN_FLAGS = ["--network", "host", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"  # pip's CA bundle here (a TLS-intercepting registry proxy)


def podman(*args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    done = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args[:3])} exited {done.returncode}: {done.stderr[-3000:]}")
    return done


def build(tag: str, context: Path, base: str = BASE) -> None:
    flags = ["--build-arg", f"BASE={base}"]
    if Path(HOST_CA).exists():
        flags += ["-v", f"{HOST_CA}:/host-ca.crt:ro", "--build-arg", "PIP_CERT=/host-ca.crt"]
    podman("build", "--format", "docker", *RUN_FLAGS, *flags, "-f", "deploy/container/Containerfile", "-t", tag,
           str(context))


def previous_release() -> str:
    """The commit before the newest migration was added: the release a user upgrades from."""
    newest = MIGRATIONS[-1]
    module = next((ROOT / "catalogsync_ops" / "store" / "migrations").glob(f"v{newest.version:03d}_*.py"))
    added = subprocess.run(["git", "log", "--diff-filter=A", "--format=%H", "-n", "1", "--", str(module)],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    assert added, "the checkout's history is needed (a clone, not an archive)"
    return added + "^"


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, str]:
    CACHE.mkdir(parents=True, exist_ok=True)
    if podman("image", "exists", BASE, check=False).returncode != 0:
        tar = CACHE / "base-bookworm.tar"
        if not tar.exists():
            subprocess.run(["mmdebstrap", "--variant=minbase", "--format=tar",
                            "--include=python3,python3-venv,ca-certificates,tzdata", "bookworm", str(tar) + ".part",
                            "http://deb.debian.org/debian"], check=True, capture_output=True, timeout=900)
            os.replace(str(tar) + ".part", tar)
        podman("import", str(tar), BASE)
    build("localhost/catalogsync-ops:test", ROOT)
    # The previous release's code with this release's image recipe.
    old = tmp_path_factory.mktemp("previous")
    archive = subprocess.run(["git", "archive", previous_release(), "pyproject.toml", "README.md", "catalogsync_ops",
                              "runnerd", "webui"], cwd=ROOT, capture_output=True, check=True).stdout
    tar_path = old / "src.tar"
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(old, filter="data")
    tar_path.unlink()
    shutil.copytree(ROOT / "deploy" / "container", old / "deploy" / "container")
    shutil.copy(ROOT / ".dockerignore", old / ".dockerignore")
    build("localhost/catalogsync-ops:previous", old)
    return {"current": "localhost/catalogsync-ops:test", "previous": "localhost/catalogsync-ops:previous"}


def pyenv_python(minor: str) -> Path:
    """The newest pyenv build of Python `minor` on this machine (CI's Pythons come from pyenv)."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    builds = sorted((p for p in root.glob(f"{minor}.*") if (p / "bin" / f"python{minor}").exists()),
                    key=lambda p: [int(n) for n in p.name.split(".") if n.isdigit()])
    assert builds, f"no pyenv build of Python {minor} under {root}: the official-layout base copies one in"
    return builds[-1]


@pytest.fixture(scope="module")
def official_layout_image() -> str:
    """The image built, unchanged, on a base laid out as the official Python image is."""
    CACHE.mkdir(parents=True, exist_ok=True)
    python = pyenv_python(OFFICIAL_PYTHON)
    if podman("image", "exists", f"{OFFICIAL_LAYOUT}-{python.name}", check=False).returncode != 0:
        tar = CACHE / f"base-official-layout-{python.name}.tar"
        if not tar.exists():
            lib = f"./lib/python{OFFICIAL_PYTHON}"
            copy = (f"tar -C {python} --exclude={lib}/test --exclude='{lib}/config-*' --exclude='{lib}/site-packages/*'"
                    " --exclude='./bin/pip*' --exclude='./bin/idle*' --exclude='./bin/2to3*' --exclude='*/__pycache__'"
                    ' -c . | tar -C "$1/usr/local" -x')
            subprocess.run(["mmdebstrap", "--variant=minbase", "--format=tar", f"--include={OFFICIAL_PACKAGES}",
                            f"--customize-hook={copy}", '--customize-hook=chroot "$1" ldconfig',
                            '--customize-hook=chroot "$1" python3 -c "import ssl, sqlite3, ctypes, lzma, bz2, uuid"',
                            "bookworm", str(tar) + ".part", "http://deb.debian.org/debian"],
                           check=True, capture_output=True, timeout=900)
            os.replace(str(tar) + ".part", tar)
        podman("import", str(tar), f"{OFFICIAL_LAYOUT}-{python.name}")
    layout = podman("run", "--rm", *RUN_FLAGS, f"{OFFICIAL_LAYOUT}-{python.name}", "sh", "-c",
                    "command -v python3; [ ! -e /usr/bin/python3 ] && echo no-debian-python").stdout.split()
    assert layout == ["/usr/local/bin/python3", "no-debian-python"], layout
    build("localhost/catalogsync-ops:official-layout", ROOT, base=f"{OFFICIAL_LAYOUT}-{python.name}")
    return "localhost/catalogsync-ops:official-layout"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def healthz(port: int, timeout: float = 60) -> float:
    """Seconds until /healthz answers 200."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"/healthz on {port} did not answer in {timeout} s")


class Volumes:
    def __init__(self, root: Path) -> None:
        self.config, self.music, self.backup = root / "config", root / "music", root / "backup"
        for folder in (self.config, self.music, self.backup):
            folder.mkdir()

    def flags(self) -> list[str]:
        return ["-e", f"PUID={PUID}", "-e", f"PGID={PGID}", "-e", "TZ=Europe/Berlin",
                "-v", f"{self.config}:/config", "-v", f"{self.music}:/music", "-v", f"{self.backup}:/backup"]

    def db(self):
        conn = sqlite3.connect(self.config / "catalogsync.db")
        conn.row_factory = sqlite3.Row
        return conn


def start(name: str, image: str, volumes: Volumes, *command: str) -> None:
    podman("rm", "-f", name, check=False)
    podman("run", "-d", "--name", name, *RUN_FLAGS, *volumes.flags(), image, *command)


def job_status(volumes: Volumes, job_id: int) -> str:
    with volumes.db() as conn:
        return conn.execute("SELECT status FROM job_runs WHERE id = ?", (job_id,)).fetchone()[0]


def wait_job(volumes: Volumes, job_id: int, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = job_status(volumes, job_id)
        if status in ("completed", "completed_with_errors", "failed", "canceled"):
            return status
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} still {job_status(volumes, job_id)} after {timeout} s")


def enqueue(name: str) -> int:
    done = podman("exec", name, "catalogsync", "runnerd", "enqueue", "full_pipeline", "--wait", "--json")
    return int(json.loads(done.stdout)["result"]["job_id"])


def test_the_image_runs_the_pipeline_keeps_the_data_across_an_upgrade_and_stops_gently(images, tmp_path):
    volumes = Volumes(tmp_path)
    names = ["csync-test-runnerd", "csync-test-web"]
    with DemoServer() as demo:
        try:
            # The previous release: made the way its users made it, one playlist collected.
            podman("run", "--rm", *RUN_FLAGS, *volumes.flags(), images["previous"], "sh", "-c",
                   "runnerd init --home /config >/dev/null && sed -i -e 's|^LIBRARY_DIR=.*|LIBRARY_DIR=/music|'"
                   " -e 's|^MIRROR_DIR=.*|MIRROR_DIR=/backup|' /config/catalogsync.env")
            set_env(volumes.config, DEMO_BASE_URL=demo.base_url, DOWNLOAD_SOURCES="demo,demo2", MIN_FREE_DISK_MB=1,
                    RETRY_BACKOFF_SECONDS=0, AUTO_RESUME_AFTER_RECOVERY="true", SHUTDOWN_GRACE_SECONDS=5)
            urls = demo.playlist_urls()
            (volumes.config / "input" / "demo.txt").write_text(urls[0] + "\n", encoding="utf-8")
            start(names[0], images["previous"], volumes, "runnerd")
            first = enqueue(names[0])
            assert wait_job(volumes, first) == "completed"
            podman("stop", "-t", "30", names[0])
            with volumes.db() as conn:
                before = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                          for t in ("songs", "file_locations", "upload_tasks", "job_runs", "config_revisions")}
                version = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]
            assert version == MIGRATIONS[-2].version and before["file_locations"] > 0

            # This release takes over the same volumes: backed up, migrated, every row kept.
            port = free_port()
            set_env(volumes.config, WEB_PORT=port)
            started = time.monotonic()  # /healthz says 200 when the runner is up too: both are started
            start(names[0], images["current"], volumes, "runnerd")
            start(names[1], images["current"], volumes, "web")
            healthz(port, timeout=120)
            cold = time.monotonic() - started
            logs = ""
            deadline = time.monotonic() + 60
            while "one-time link" not in logs and time.monotonic() < deadline:
                said = podman("logs", names[1])
                logs = said.stdout + said.stderr
                time.sleep(0.2)
            assert "one-time link" in logs and f"http://127.0.0.1:{port}/setup?token=" in logs, logs[-2000:]
            with volumes.db() as conn:
                for table, n in before.items():
                    assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] >= n, table
                latest = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]
            assert latest == MIGRATIONS[-1].version
            assert list((volumes.config / "backups").glob("*.db")), "no backup before the migration"
            for name in names:  # the image's health check, in each service
                health = podman("exec", name, "catalogsync", "health", check=False)
                assert health.returncode == 0, (name, health.stdout + health.stderr)

            # Every playlist now, slowly: a SIGTERM mid-download stops within the grace, the next
            # start finishes the job, and nothing is fetched twice in full.
            (volumes.config / "input" / "demo.txt").write_text("\n".join(urls) + "\n", encoding="utf-8")
            demo.set_faults(slow_ms=400)
            second = enqueue(names[0])
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with volumes.db() as conn:
                    done = conn.execute("SELECT COUNT(*) FROM job_items WHERE job_id = ? AND item_type = 'song'"
                                        " AND status = 'succeeded'", (second,)).fetchone()[0]
                if done >= 2:
                    break
                time.sleep(0.2)
            stopping = time.monotonic()
            podman("stop", "-t", "60", names[0])
            stopped_in = time.monotonic() - stopping
            exit_code = podman("inspect", "--format", "{{.State.ExitCode}}", names[0]).stdout.strip()
            assert exit_code == "0" and stopped_in < 30, (exit_code, stopped_in)
            assert job_status(volumes, second) in ("queued", "paused", "running"), job_status(volumes, second)
            demo.set_faults(slow_ms=0)
            podman("start", names[0])
            assert wait_job(volumes, second) == "completed"

            # The library is the NAS user's, and whole.
            songs = [p for p in volumes.music.rglob("*") if p.is_file() and p.suffix in (".mp3", ".flac", ".wav")]
            with volumes.db() as conn:
                recorded = conn.execute("SELECT COUNT(*) FROM file_locations").fetchone()[0]
            assert len(songs) == recorded == 24, (len(songs), recorded)
            owners = {(p.stat().st_uid, p.stat().st_gid) for p in volumes.music.rglob("*")}
            assert owners == {(PUID, PGID)}, owners
            assert {(p.stat().st_uid, p.stat().st_gid) for p in volumes.config.rglob("*")} == {(PUID, PGID)}
            size = int(podman("image", "inspect", "--format", "{{.Size}}", images["current"]).stdout.strip())
            quick = checkout_cold_start(tmp_path)
            print(f"\nimage {size / 2**20:.0f} MiB; cold start to /healthz 200: container {cold:.2f} s, "
                  f"checkout {quick:.2f} s; SIGTERM mid-download stopped in {stopped_in:.1f} s")
        finally:
            for name in names:
                podman("rm", "-f", "-t", "5", name, check=False)


def checkout_cold_start(tmp_path: Path) -> float:
    """The checkout's runner and console on a new home, started as the quickstart starts them."""
    home = tmp_path / "checkout"
    subprocess.run([sys.executable, "-m", "runnerd", "init", "--home", str(home)], check=True, capture_output=True)
    port = free_port()
    env = {**os.environ, "CATALOGSYNC_ENV_FILE": str(home / "catalogsync.env")}
    started = time.monotonic()
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for command in ([sys.executable, "-m", "runnerd", "run"],
                                 [sys.executable, "-c", "from webui.cli import main; main()", "serve", "--port",
                                  str(port)])]
    try:
        healthz(port)
        return time.monotonic() - started
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=60)


def compose(env: dict[str, str], *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    """`podman-compose` on deploy/container/compose.yaml, unchanged; this machine's podman flags
    go on its command line (the user's file has none of them). Its services are on the project's
    own network, as a user's are: the console's port is published to the host."""
    done = subprocess.run([sys.executable, "-m", "podman_compose", "--in-pod", "false", "-p", "csync-compose",
                           "--podman-args", " ".join(PODMAN[1:]), "--podman-run-args", " ".join(RUN_FLAGS[2:]),
                           "-f", str(ROOT / "deploy" / "container" / "compose.yaml"), *args],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"podman-compose {' '.join(args[:2])} exited {done.returncode}: "
                             f"{(done.stdout + done.stderr)[-3000:]}")
    return done


def test_the_compose_file_on_the_official_python_layout_starts_empty_serves_and_runs_the_demo(
        official_layout_image, tmp_path):
    """The compose file as a user has it, with only the variables it documents (the image, the
    three folders, PUID/PGID/TZ, the console's port): `--profile demo up` on empty folders, as
    the README's way to try it; the console answers, the demo pipeline runs to the end."""
    volumes = Volumes(tmp_path)
    port = free_port()
    env = {"CATALOGSYNC_IMAGE": official_layout_image, "CONFIG_DIR": str(volumes.config),
           "MUSIC_DIR": str(volumes.music), "BACKUP_DIR": str(volumes.backup), "PUID": str(PUID), "PGID": str(PGID),
           "TZ": "Europe/Berlin", "WEB_PORT": str(port)}
    try:
        compose(env, "--profile", "demo", "up", "-d")
        healthz(port, timeout=120)
        # The demo platform writes its pool when it is up.
        wait_for((volumes.config / "input" / "demo.txt").exists, timeout=60, what="the demo platform's pool")
        queued = compose(env, "exec", "-T", "runnerd", "catalogsync", "runnerd", "enqueue", "full_pipeline", "--wait",
                         "--json")
        job = int(json.loads(queued.stdout[queued.stdout.index("{"):])["result"]["job_id"])
        # On the default settings (one source, `demo`) the songs only the second demo platform has
        # are not found: the job ends with those errors, and nothing else goes wrong.
        assert wait_job(volumes, job) == "completed_with_errors"
        songs = [p for p in volumes.music.rglob("*") if p.is_file() and p.suffix in (".mp3", ".flac", ".wav")]
        with volumes.db() as conn:
            recorded = conn.execute("SELECT COUNT(*) FROM file_locations").fetchone()[0]
            failed = dict(conn.execute("SELECT last_error_class, COUNT(*) FROM job_items WHERE job_id = ?"
                                       " AND status = 'failed' GROUP BY 1", (job,)).fetchall())
        assert recorded == len(songs) and recorded + failed.pop("not_found", 0) == 24 and not failed, (recorded, failed)
        assert {(p.stat().st_uid, p.stat().st_gid) for p in volumes.music.rglob("*")} == {(PUID, PGID)}
        for service in ("runnerd", "web"):
            health = compose(env, "exec", "-T", service, "catalogsync", "health", check=False)
            assert health.returncode == 0, (service, health.stdout + health.stderr)
        size = int(podman("image", "inspect", "--format", "{{.Size}}", official_layout_image).stdout.strip())
        print(f"\nimage on the official layout {size / 2**20:.0f} MiB; {recorded} songs through the compose file")
    finally:
        compose(env, "--profile", "demo", "down", "-t", "5", check=False)
