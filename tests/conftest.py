"""Fixtures that build real things: migrated SQLite files, working homes, CLI runs."""
from __future__ import annotations

import gc
import os
import re
import socket
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.depth import FULL, examples
from helpers.order import (  # noqa: F401  (hooks: the order files start in)
    pytest_collection_modifyitems,
    pytest_runtest_logreport,
    pytest_sessionfinish,
)
from hypothesis import settings as hypothesis_settings

from catalogsync_ops.config.envfile import load_config
from catalogsync_ops.engine.jobs import create_job, start_job
from catalogsync_ops.engine.records import ItemSpec
from catalogsync_ops.engine.stages import add_items, start_stage
from catalogsync_ops.pipeline import WorkContext
from catalogsync_ops.store.connection import Connection
from catalogsync_ops.store.database import open_database
from catalogsync_ops.transfer.storage import build_uploader
from runnerd.cli import cli
from webui import create_app
from webui.auth import set_password

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)

# Generated inputs: the full walk in CI, a quarter of it on a person's machine (helpers/depth.py).
hypothesis_settings.register_profile("full", max_examples=100)
hypothesis_settings.register_profile("quick", max_examples=examples(100))
hypothesis_settings.load_profile("full" if FULL else "quick")


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(item, nextitem):
    """A connection, file or socket a test leaves unclosed is that test's error. Left in a
    reference cycle, it would be collected during some later test (on Python 3.13 an unclosed
    connection warns); collecting here names the test that left it. Freezing what survives
    keeps each collection to what the next test makes."""
    outcome = yield
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    gc.freeze()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    if leaks:
        pytest.fail(f"{item.nodeid} left unclosed: " + "; ".join(leaks), pytrace=False)
    return outcome


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "catalogsync.db"
    open_database(path).close()
    return path


@pytest.fixture
def conn(db_path: Path):
    connection = open_database(db_path)
    yield connection
    connection.close()


@pytest.fixture
def opened():
    """Wrap a connection a test opens: it is closed when the test ends (a connection's own
    `with` only commits; an unclosed one is a ResourceWarning, an error on Python 3.13)."""
    conns = []

    def track(conn):
        conns.append(conn)
        return conn

    yield track
    for conn in conns:
        conn.close()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    result = CliRunner().invoke(cli, ["init", "--home", str(home)])
    assert result.exit_code == 0, result.output
    return home


@pytest.fixture
def run_cli(home: Path):
    """Invoke runnerd in-process against the home's env file."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(cli, ["--env-file", str(home / "catalogsync.env"), *args], input=input)

    return invoke


def make_running_job(conn: Connection, n_items: int, *, max_attempts: int = 3, now: datetime = T0,
                     job_type: str = "download") -> tuple[int, int]:
    """A job whose first stage is running with `n_items` queued noop items: (job_id, stage_id)."""
    job_id = create_job(conn, job_type, now=now)
    stage_id = conn.execute("SELECT id FROM job_stages WHERE job_id = ? ORDER BY seq_no LIMIT 1",
                            (job_id,)).fetchone()[0]
    add_items(conn, stage_id, (ItemSpec(f"k{i}") for i in range(n_items)), max_attempts=max_attempts, now=now)
    start_job(conn, job_id, now=now)
    start_stage(conn, stage_id, now=now)
    return job_id, stage_id


def set_env(home: Path, **values: object) -> None:
    """Change keys of the home's env file (as a person editing it would)."""
    env = home / "catalogsync.env"
    lines = env.read_text(encoding="utf-8").splitlines()
    for key, value in values.items():
        lines = [f"{key}={value}" if line.startswith(f"{key}=") else line for line in lines]
    env.write_text("\n".join(lines) + "\n", encoding="utf-8")


def runnerd(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `runnerd ARGS` as its own process against the home's env file (output captured)."""
    env = {**os.environ, "CATALOGSYNC_ENV_FILE": str(home / "catalogsync.env")}
    return subprocess.run([sys.executable, "-m", "runnerd", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def wait_for(predicate, timeout: float = 30, interval: float = 0.05, what: str = "condition"):
    """Poll `predicate` until it returns something true (returned), or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} not met in {timeout} s")


def run_demo_pipeline(home: Path, demo_server, **env: object) -> None:
    """A full pipeline on the demo platform (sources demo, demo2 unless `env` says otherwise),
    run to its end by `runnerd run --burst` as its own process."""
    set_env(home, **{"DEMO_BASE_URL": demo_server.base_url, "DOWNLOAD_SOURCES": "demo,demo2", **env})
    demo_server.write_pool_file(home / "input" / "demo.txt")
    assert runnerd(home, "enqueue", "full_pipeline").returncode == 0
    done = runnerd(home, "run", "--burst")
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.fixture
def small_disk(tmp_path: Path):
    """A real file system of a few MiB (tmpfs), so writes meet a real ENOSPC / SQLITE_FULL."""
    import subprocess

    made = []

    def make(name: str, size: str) -> Path:
        point = tmp_path / name
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                              capture_output=True, text=True)
        assert done.returncode == 0, f"these tests mount a small tmpfs and need root: {done.stderr}"
        made.append(point)
        return point

    yield make
    for point in made:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


@pytest.fixture
def refused_port():
    """A port on 127.0.0.1 where a connection is refused, for as long as the test runs: bound
    by this socket and never listened on, so no other program can take it meanwhile."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    Racy (another program may take it before the server binds it): only for a port that is
    itself under test, written into a config (a boot script started twice on the same port).
    Servers bind port 0 and report their port; a refused connection uses `refused_port`."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def later(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def demo_server():
    """The demo platform on a free loopback port, shut down after the test."""
    from catalogsync_ops.demo.server import DemoServer

    with DemoServer() as server:
        yield server


@pytest.fixture(scope="session")
def moto_endpoint():
    """moto's S3 server on 127.0.0.1 (a real HTTP server), for the whole session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def platform_world(tmp_path_factory):
    """Emulated NetEase and Kuwo behind an intercepting proxy on 127.0.0.1 (tests/emulator)."""
    from emulator.world import build_world

    world = build_world(tmp_path_factory.mktemp("platforms"))
    yield world
    world.stop()


@pytest.fixture
def platforms(platform_world, monkeypatch):
    """This process's requests go to the emulated platforms (loopback stays direct)."""
    platform_world.reset()
    for key, value in platform_world.env().items():
        monkeypatch.setenv(key, value)
    yield platform_world
    platform_world.reset()


# ---------------------------------------------------------------- the web console

@pytest.fixture
def musicdl_home(home: Path, platforms):
    """A working home whose pool lists emulated NetEase and Kuwo playlists."""
    set_env(home, DOWNLOAD_SOURCES="netease,kuwo", HTTP_TIMEOUT_SECONDS="3", OBJECT_BACKEND_NAME="local",
            PLATFORM_REQUESTS_PER_SECOND=50)  # the emulator does not mind; tests/test_limits.py checks the pacing
    return home


@pytest.fixture
def ctx(musicdl_home: Path):
    """The pipeline's work context on that home (a migrated database, its settings, its uploader)."""
    settings = load_config(musicdl_home / "catalogsync.env").values
    conn = open_database(settings["DB_PATH"])
    work = WorkContext(conn=conn, settings=settings, uploader=build_uploader(settings))
    yield work
    work.close()
    conn.close()


PASSWORD = "correct horse battery"


@pytest.fixture
def web(home: Path):
    """The console's app for the home's database, with an admin whose password is PASSWORD."""
    db = home / "catalogsync.db"
    conn = open_database(db)
    set_password(conn, "admin", PASSWORD)
    app = create_app({"DB_PATH": db, "ENV_PATH": home / "catalogsync.env", "TESTING": True, "LOGIN_LIMIT": 3})
    yield app, conn
    conn.close()


def csrf_from(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client, password: str = PASSWORD, headers: dict | None = None):
    token = csrf_from(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"username": "admin", "password": password, "csrf_token": token},
                       headers=headers or {})


@pytest.fixture
def client(web):
    """A test client signed in as the admin."""
    app, _ = web
    client = app.test_client()
    assert login(client).status_code == 302
    return client


def page_csrf(client) -> str:
    return csrf_from(client.get("/jobs").get_data(as_text=True))


class Served:
    """A Flask app served by waitress on 127.0.0.1 in a thread, stopped from its own loop.

    `server.close()` from another thread closes sockets under a running `select` (EBADF in the
    server's thread); closing everything through the loop's trigger lets the loop end by itself.
    """

    def __init__(self, app, make=None, **options) -> None:
        import threading

        from waitress import create_server

        self.app = app
        self.server = make(app) if make else create_server(app, host="127.0.0.1", port=0, **options)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.effective_port}"

    def stop(self) -> None:
        from waitress import wasyncore

        trigger = self.server.trigger
        try:
            trigger.pull_trigger(lambda: wasyncore.close_all(self.server._map))
        except OSError as exc:  # seen once in CI (EBADF): say who closed the wake-up pipe next time
            raise AssertionError(
                f"the server's wake-up pipe {trigger._fds} is gone ({exc}); waitress closed it itself: "
                f"{trigger._closed}; server thread alive: {self.thread.is_alive()}; open fds: "
                f"{sorted(map(int, os.listdir('/proc/self/fd')))}") from exc
        self.thread.join(timeout=10)
        self.server.task_dispatcher.shutdown()
        assert not self.thread.is_alive(), "the server did not stop"
        pool = getattr(self.app, "extensions", {}).get("catalogsync_connections")
        if pool is not None:  # as `catalogsync-web serve` does when it stops
            pool.close_all()
