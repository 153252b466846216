"""The console in headless Chromium: waitress serving the app, a real `runnerd` beside it.

Used by the browser tests; screenshots go to test-output/screens (kept by the test run).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from conftest import Served, set_env

from catalogsync_ops.store.connection import connect
from catalogsync_ops.store.database import open_database
from webui import create_app
from webui.auth import set_password

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent.parent
SHOTS = ROOT / "test-output" / "screens"
PASSWORD = "browser test pw"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)


class Console:
    """The web console and a runner for one home; the runner can be killed and started again."""

    def __init__(self, home: Path, demo_server, app_config: dict | None = None, **env) -> None:
        set_env(home, DEMO_BASE_URL=demo_server.base_url, DOWNLOAD_SOURCES="demo,demo2", DOWNLOAD_WORKERS=2,
                RETRY_BACKOFF_SECONDS=0, RETRY_BACKOFF_MAX_SECONDS=0, **env)
        demo_server.write_pool_file(home / "input" / "demo.txt")
        self.home, self.server = home, demo_server
        self.db = home / "catalogsync.db"
        self.conn = open_database(self.db)
        set_password(self.conn, "admin", PASSWORD)
        self.web = Served(create_app({"DB_PATH": self.db, "ENV_PATH": home / "catalogsync.env", **(app_config or {})}),
                          threads=8,
                          channel_request_lookahead=1)
        self.base = self.web.base
        self.runner: subprocess.Popen | None = None

    def start_runner(self) -> None:
        env = {**os.environ, "CATALOGSYNC_ENV_FILE": str(self.home / "catalogsync.env")}
        self.runner = subprocess.Popen([sys.executable, "-m", "runnerd", "run"], env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kill_runner(self) -> None:
        """SIGKILL, as a power cut would; the zombie stays until `reap_runner`."""
        self.runner.send_signal(signal.SIGKILL)

    def reap_runner(self) -> None:
        self.runner.wait(timeout=30)
        self.runner = None

    def enqueue(self, job_type: str = "full_pipeline") -> None:
        env = {**os.environ, "CATALOGSYNC_ENV_FILE": str(self.home / "catalogsync.env")}
        subprocess.run([sys.executable, "-m", "runnerd", "enqueue", job_type], env=env, check=True,
                       capture_output=True)

    def query(self, sql: str, *args):
        conn = connect(self.db, readonly=True)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def job_status(self, job_id: int) -> str | None:
        """The job's status; None until the runner has applied the command that creates it."""
        rows = self.query("SELECT status FROM job_runs WHERE id = ?", job_id)
        return rows[0][0] if rows else None

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.send_signal(signal.SIGTERM)
            self.runner.wait(timeout=60)
        self.web.stop()
        self.conn.close()


def sign_in(page, base: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
