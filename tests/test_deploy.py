"""Deployment files: systemd units that verify, the notify protocol they rely on, and the
Synology task-scheduler scripts (safe to start twice)."""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import free_port

from catalogsync_ops.config.settings import SETTINGS_BY_KEY

ROOT = Path(__file__).resolve().parent.parent
SYSTEMD = ROOT / "deploy" / "systemd"
UNITS = [SYSTEMD / "catalogsync-runnerd.service", SYSTEMD / "catalogsync-web.service"]  # the two daemons
NIGHTLY = [SYSTEMD / "catalogsync-nightly.service", SYSTEMD / "catalogsync-nightly.timer"]
VENV = Path(sys.executable).parent.parent


def unit_settings(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_units_run_as_their_own_user_with_hardening_that_keeps_the_data_home_writable():
    assert [u.name for u in UNITS] == ["catalogsync-runnerd.service", "catalogsync-web.service"]
    grace = float(SETTINGS_BY_KEY["SHUTDOWN_GRACE_SECONDS"].default)
    for unit in UNITS:
        s = unit_settings(unit)
        assert s["User"] == ["catalogsync"] and s["Restart"] == ["on-failure"] and s["Type"] == ["notify"]
        assert s["EnvironmentFile"] == ["/etc/catalogsync/catalogsync.service.env"]
        assert s["ProtectSystem"] == ["strict"] and "/var/lib/catalogsync" in s["ReadWritePaths"]
        assert s["NoNewPrivileges"] == ["true"]
        if unit.name == "catalogsync-runnerd.service":
            # systemd must wait longer than the runner's grace period before it kills it.
            assert float(s["TimeoutStopSec"][0]) > grace and s["KillSignal"] == ["SIGTERM"]
    service_env = (ROOT / "deploy" / "systemd" / "catalogsync.service.env").read_text()
    assert re.search(r"^CATALOGSYNC_ENV_FILE=/var/lib/catalogsync/catalogsync.env$", service_env, re.M)


def test_systemd_analyze_verify_passes_on_both_units(tmp_path):
    tool = shutil.which("systemd-analyze")
    # The units point at /opt/catalogsync/venv; verify checks that ExecStart exists, so the
    # copies verified here point at this checkout's venv instead.
    for unit in UNITS:
        text = unit.read_text().replace("/opt/catalogsync/venv", str(VENV))
        text = text.replace("/etc/catalogsync/catalogsync.service.env",
                            str(ROOT / "deploy" / "systemd" / "catalogsync.service.env"))
        (tmp_path / unit.name).write_text(text)
        assert (VENV / "bin" / text.split("ExecStart=")[1].split()[0].rsplit("/", 1)[1]).exists()
    for unit in NIGHTLY:
        (tmp_path / unit.name).write_text(unit.read_text().replace("/opt/catalogsync/venv", str(VENV)).replace(
            "/etc/catalogsync/catalogsync.service.env", str(SYSTEMD / "catalogsync.service.env")))
    # deploy/run-tests.sh installs Debian's systemd package for this tool where it is missing.
    assert tool, "systemd-analyze is missing: apt-get install systemd (the units are checked with it)"
    result = subprocess.run([tool, "verify", *[str(tmp_path / u.name) for u in UNITS + NIGHTLY]],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "catalogsync" not in result.stderr, result.stderr  # no warning about our units either


class NotifySocket:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []

    def wait_for(self, word: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.messages:
                if word in message:
                    return message
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                pass
        raise AssertionError(f"no {word} in {self.messages}")

    def close(self) -> None:
        self.sock.close()


def test_runnerd_and_the_console_tell_systemd_when_they_are_ready_and_stopping(home: Path, tmp_path):
    sock = NotifySocket(tmp_path / "notify.sock")
    env = {**os.environ, "CATALOGSYNC_ENV_FILE": str(home / "catalogsync.env"), "NOTIFY_SOCKET": str(sock.path),
           "WATCHDOG_USEC": "60000000"}
    runner = subprocess.Popen([sys.executable, "-m", "runnerd", "run"], env=env, stderr=subprocess.DEVNULL)
    try:
        assert "READY=1" in sock.wait_for("READY=1") and f"MAINPID={runner.pid}" in sock.wait_for("MAINPID")
        sock.wait_for("WATCHDOG=1")
        runner.send_signal(signal.SIGTERM)
        sock.wait_for("STOPPING=1")
        assert runner.wait(timeout=60) == 0
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    sock.messages.clear()
    web = subprocess.Popen([sys.executable, "-m", "webui", "serve", "--port", "0"], env=env,
                           stderr=subprocess.PIPE, text=True)
    try:
        sock.wait_for("READY=1")
        line = next(line for line in web.stderr if "catalogsync-web on" in line)  # said before READY
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)", line).group(1))
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # READY came after the port was open
    finally:
        web.terminate()
        web.wait(timeout=30)
        web.stderr.close()
        sock.close()


SYNOLOGY = ROOT / "deploy" / "synology"


def synology(script: str, root: Path, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATALOGSYNC")}
    env.update(CATALOGSYNC_ROOT=str(root), START_WAIT_SECONDS="60", **extra)
    return subprocess.run(["bash", str(SYNOLOGY / script)], env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_install_runtime_is_idempotent_and_an_upgrade_never_touches_the_settings(tmp_path):
    root = tmp_path / "volume1" / "apps" / "catalogsync"
    first = synology("install_runtime.sh", root)
    assert first.returncode == 0, first.stderr
    env_file = root / "home" / "catalogsync.env"
    assert (root / "venv" / "bin" / "runnerd").exists() and env_file.exists()
    edited = env_file.read_text().replace("DOWNLOAD_WORKERS=3", "DOWNLOAD_WORKERS=5")
    # A user who set up an older release: one newer setting is missing from their file.
    edited = "\n".join(line for line in edited.splitlines() if not line.startswith("NOTIFY_FORMAT=")) + "\n"
    env_file.write_text(edited)
    # The upgrade comes from a checkout whose build/ still holds a module an older release had.
    app = tmp_path / "app"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for rel in tracked.splitlines():
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, app / rel)
    stale = app / "build" / "lib" / "catalogsync_ops" / "queue.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("raise ImportError('a module of an older release')\n")
    again = synology("install_runtime.sh", root, APP_DIR=str(app))
    assert again.returncode == 0, again.stderr
    where = "import catalogsync_ops, pathlib; print(pathlib.Path(catalogsync_ops.__file__).parent)"
    installed = subprocess.run([str(root / "venv" / "bin" / "python"), "-c", where],
                               cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(installed).is_relative_to(root / "venv") and (Path(installed) / "engine" / "jobs.py").exists()
    assert not (Path(installed) / "queue.py").exists(), "a module left in an old build/ was installed"
    assert env_file.read_text() == edited  # the upgrade left the user's file alone
    assert "use their defaults" in again.stdout and "NOTIFY_FORMAT=json" in again.stdout
    example = (ROOT / "deploy" / "catalogsync.env.example").read_text()
    assert (root / "home" / "catalogsync.env.example").read_text() == example


@pytest.mark.slow
def test_boot_up_scripts_are_safe_to_start_twice_and_stop_cleanly(tmp_path):
    root = tmp_path / "catalogsync"
    home = root / "home"
    init = subprocess.run([sys.executable, "-m", "runnerd", "init", "--home", str(home)], capture_output=True,
                          text=True)
    assert init.returncode == 0, init.stderr
    port = free_port()
    env_file = home / "catalogsync.env"
    env_file.write_text(env_file.read_text().replace("WEB_PORT=8421", f"WEB_PORT={port}"))
    paths = {"VENV_DIR": str(VENV)}
    status = [sys.executable, "-m", "runnerd", "--env-file", str(env_file), "status", "--json"]
    try:
        first = synology("start_runnerd.sh", root, **paths)
        assert first.returncode == 0 and "runnerd started" in first.stdout, first.stderr
        second = synology("start_runnerd.sh", root, **paths)
        assert second.returncode == 0 and "already running" in second.stdout, (second.stdout, second.stderr)
        assert subprocess.run(status, capture_output=True).returncode == 0
        web = synology("serve_console.sh", root, **paths)
        assert web.returncode == 0 and "catalogsync-web started" in web.stdout, web.stderr
        web_again = synology("serve_console.sh", root, **paths)
        assert web_again.returncode == 0 and "already serves" in web_again.stdout, (web_again.stdout, web_again.stderr)
    finally:
        stopped = synology("stop_catalogsync.sh", root, **paths)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stderr
    assert subprocess.run(status, capture_output=True).returncode == 3  # runner down
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # the console is gone too
    log = (home / "logs" / "runnerd.log").read_text()
    assert "already running" in log


def test_a_boot_up_script_waits_for_ready_however_slow_the_start_and_reports_a_failed_one(tmp_path):
    """The script reports "started" only once the program said it is ready (not after a fixed
    pause), waits for a slow start, and reports a program that ends at once with its log."""
    root = tmp_path / "catalogsync"
    venv = root / "venv" / "bin"
    venv.mkdir(parents=True)
    (root / "home").mkdir()
    (root / "home" / "catalogsync.env").write_text("")
    slow = venv / "runnerd"  # ready after 2.5 s, as a slow NAS is
    slow.write_text("#!/usr/bin/env bash\nsleep 2.5\necho $$ > \"$CATALOGSYNC_READY_FILE\"\nexec sleep 30\n")
    slow.chmod(0o755)
    started = time.monotonic()
    done = synology("start_runnerd.sh", root, VENV_DIR=str(root / "venv"))
    waited = time.monotonic() - started
    pid = int((root / "home" / "logs" / "runnerd.pid").read_text())
    try:
        assert done.returncode == 0 and f"runnerd started (pid {pid})" in done.stdout, (done.stdout, done.stderr)
        assert waited >= 2.5
    finally:
        os.kill(pid, signal.SIGKILL)
    slow.write_text("#!/usr/bin/env bash\necho 'runnerd: the settings file has a bad line 3' >&2\nexit 2\n")
    done = synology("start_runnerd.sh", root, VENV_DIR=str(root / "venv"))
    assert done.returncode == 2 and "did not start (exit 2)" in done.stderr and "bad line 3" in done.stderr


def test_the_nightly_timer_queues_one_full_pipeline_and_never_stacks_a_second(home: Path, tmp_path, opened):
    timer, service = unit_settings(NIGHTLY[1]), unit_settings(NIGHTLY[0])
    assert timer["OnCalendar"] == ["*-*-* 03:30:00"] and timer["Persistent"] == ["true"]
    assert service["Type"] == ["oneshot"] and service["User"] == ["catalogsync"]
    command = service["ExecStart"][0].split()
    assert command[1:] == ["enqueue", "full_pipeline", "--unless-pending", "--note", "nightly"]
    # What that command does: the first night queues; while that job is queued (or running, or
    # paused) the next nights queue nothing; once it has finished, the next night queues again.
    env = {**os.environ, "CATALOGSYNC_ENV_FILE": str(home / "catalogsync.env")}
    nightly = [sys.executable, "-m", "runnerd", *command[1:]]
    first = subprocess.run(nightly, env=env, capture_output=True, text=True)
    assert first.returncode == 0 and "is pending" in first.stdout, first.stderr
    second = subprocess.run(nightly, env=env, capture_output=True, text=True)
    assert second.returncode == 0 and "queues a full_pipeline job already; not queuing another" in second.stdout
    applied = subprocess.run([sys.executable, "-m", "runnerd", "run", "--burst"], env=env, capture_output=True,
                             text=True)
    assert applied.returncode == 0, applied.stderr[-2000:]
    conn = opened(sqlite3.connect(home / "catalogsync.db"))
    try:
        assert conn.execute("SELECT COUNT(*), MAX(note) FROM job_runs WHERE job_type = 'full_pipeline'").fetchone() == (
            1, "nightly")
        conn.execute("UPDATE job_runs SET status = 'paused'")  # as after a power cut
        conn.commit()
        held = subprocess.run(nightly, env=env, capture_output=True, text=True)
        assert "job 1 (full_pipeline) is paused; not queuing another" in held.stdout
        conn.execute("UPDATE job_runs SET status = 'completed'")
        conn.commit()
        assert "is pending" in subprocess.run(nightly, env=env, capture_output=True, text=True).stdout
    finally:
        conn.close()


def test_the_synology_nightly_task_queues_the_pipeline_once(tmp_path):
    root = tmp_path / "catalogsync"
    init = subprocess.run([sys.executable, "-m", "runnerd", "init", "--home", str(root / "home")], capture_output=True,
                          text=True)
    assert init.returncode == 0, init.stderr
    first = synology("nightly.sh", root, VENV_DIR=str(VENV))
    assert first.returncode == 0 and "(enqueue_job) is pending" in first.stdout, first.stderr
    again = synology("nightly.sh", root, VENV_DIR=str(VENV))
    assert again.returncode == 0 and "not queuing another" in again.stdout, again.stderr


def test_the_compose_file_runs_both_services_of_one_image_on_one_config_volume():
    """What tests/test_container.py runs (the image, its commands, its health check) is what
    compose.yaml asks for: a user with the default base image gets the same commands and volumes."""
    import yaml

    folder = Path(__file__).resolve().parent.parent / "deploy" / "container"
    compose = yaml.safe_load((folder / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert services["runnerd"]["command"] == ["runnerd"] and services["web"]["command"] == ["web"]
    assert services["demo"]["command"] == ["demo"] and services["demo"]["profiles"] == ["demo"]
    for name in ("runnerd", "web"):
        service = services[name]
        assert any(v.endswith(":/config") for v in service["volumes"]), name
        assert service["healthcheck"]["test"] == ["CMD", "catalogsync", "health"]
        assert set(service["environment"]) == {"PUID", "PGID", "TZ", "UMASK"}
    assert services["web"]["ports"] == ["${WEB_PORT:-8421}:8421"]
    entry = (folder / "entrypoint.sh").read_text(encoding="utf-8")
    for command in ("runnerd)", "web)", "demo)", "init)", "health)"):
        assert f"    {command}" in entry, command
    containerfile = (folder / "Containerfile").read_text(encoding="utf-8")
    assert "ARG BASE=docker.io/library/python:3.12-slim-bookworm" in containerfile
    assert 'ENTRYPOINT ["catalogsync"]' in containerfile and "HEALTHCHECK" in containerfile
