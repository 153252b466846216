"""The README's first command, as a new user runs it: the quickstart script brings up the
demo platform, runnerd and the console, a first job completes, and Ctrl-C leaves nothing."""
from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def session_members(sid: int) -> list[int]:
    """Live processes of a session (the script and everything it started)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                out.append(int(entry.name))
    return out


@pytest.mark.slow
def test_quickstart_serves_the_console_completes_a_job_and_ctrl_c_stops_everything(tmp_path, opened):
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATALOGSYNC")}
    # Port 0: each server binds a free port itself and reports it (nothing can take it between).
    env.update(CATALOGSYNC_HOME=str(home), WEB_PORT="0", DEMO_PORT="0",
               VENV=str(Path(sys.executable).parent.parent), PYTHON=sys.executable)
    script = subprocess.Popen(["bash", str(ROOT / "deploy" / "quickstart.sh")], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output: list[str] = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = script.stdout.readline()
            if not line:
                break
            output.append(line)
            if "/setup?token=" in line:
                break
        text = "".join(output)
        console = re.search(r"Console: +(http://127\.0\.0\.1:(\d+))\n", text)
        assert console and int(console.group(2)) > 0 and "/setup?token=" in text, text[-3000:]
        assert f"{console.group(1)}/setup?token=" in text  # the link names the port the console bound
        # The link comes last, framed, once; the servers' lines went to the log folder.
        assert text.index("Console:") < text.index("/setup?token=") and text.count("/setup?token=") == 1
        assert "First run: create your user here" in text and "NOTIFY_EVENTS" not in text, text[-3000:]
        link = re.search(r"(http://127\.0\.0\.1:\d+/setup\?token=\S+)", text).group(1)
        with urllib.request.urlopen(link, timeout=10) as page:  # the one-time link opens the setup form
            assert page.status == 200 and "Create the console" in page.read().decode()
        db = home / "catalogsync.db"
        status = None
        while time.monotonic() < deadline:
            conn = opened(sqlite3.connect(db))
            row = conn.execute("SELECT status FROM job_runs WHERE id = 1").fetchone()
            songs = conn.execute("SELECT COUNT(*) FROM file_locations WHERE verified_at IS NOT NULL").fetchone()[0]
            conn.close()
            status = row[0] if row else None
            if status in ("completed", "completed_with_errors", "failed"):
                break
            time.sleep(0.5)
        assert status == "completed", (status, "".join(output)[-3000:])
        assert songs >= 20 and list((home / "mirror").rglob("*.mp3"))
        assert "runnerd 0" in (home / "logs" / "runnerd.log").read_text()
        assert (home / "logs" / "catalogsync-web.log").exists()
    finally:
        os.killpg(script.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        try:
            script.wait(timeout=90)
        finally:
            script.stdout.close()
    deadline = time.monotonic() + 30
    while session_members(script.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert session_members(script.pid) == [], "processes left behind after Ctrl-C"
