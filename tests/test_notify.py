"""Notifications: one per finished job through a webhook that fails at first, in every format."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import requests
from conftest import login, runnerd, set_env

from catalogsync_ops.engine import notify
from catalogsync_ops.store.connection import connect
from catalogsync_ops.store.database import open_database


class Receiver:
    """A webhook on 127.0.0.1 that answers 500 to its first `fail_first` deliveries."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.calls: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                failing = len(receiver.calls) < receiver.fail_first
                receiver.calls.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                       "answered": 500 if failing else 200})
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def delivered(self) -> list[dict]:
        return [c for c in self.calls if c["answered"] == 200]


def test_one_notification_per_finished_job_even_when_the_first_two_deliveries_fail(home: Path, demo_server, opened):
    with Receiver(fail_first=2) as hook:
        set_env(home, DEMO_BASE_URL=demo_server.base_url, DOWNLOAD_SOURCES="demo,demo2", NOTIFY_WEBHOOK_URL=hook.url,
                NOTIFY_RETRY_SECONDS=0.2)
        demo_server.write_pool_file(home / "input" / "demo.txt")
        env = {**os.environ, "CATALOGSYNC_ENV_FILE": str(home / "catalogsync.env")}
        subprocess.run([sys.executable, "-m", "runnerd", "enqueue", "full_pipeline"], env=env, check=True,
                       capture_output=True)
        daemon = subprocess.Popen([sys.executable, "-m", "runnerd", "run"], env=env, stderr=subprocess.DEVNULL)
        try:
            conn = opened(open_database(home / "catalogsync.db"))
            pending = "SELECT COUNT(*) FROM notifications WHERE status = 'pending'"
            deadline = time.monotonic() + 90
            # Delivered, and nothing left that the notifier could send again (it sends only pending rows).
            while time.monotonic() < deadline and not (hook.delivered and conn.execute(pending).fetchone()[0] == 0):
                time.sleep(0.1)
        finally:
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(timeout=60) == 0
    assert [c["answered"] for c in hook.calls] == [500, 500, 200]
    note = json.loads(hook.delivered[0]["body"])
    job = conn.execute("SELECT * FROM job_runs WHERE id = 1").fetchone()
    assert note["event"] == "job_finished" and note["data"]["job_id"] == 1 and note["data"]["status"] == job["status"]
    succeeded = conn.execute("SELECT COUNT(*) FROM job_items WHERE job_id = 1 AND status = 'succeeded'").fetchone()[0]
    assert note["data"]["succeeded"] == succeeded > 0
    row = conn.execute("SELECT status, attempts FROM notifications WHERE job_id = 1").fetchone()
    assert tuple(row) == ("sent", 3)


def settings_for(url: str, fmt: str) -> dict:
    return {"NOTIFY_WEBHOOK_URL": url, "NOTIFY_FORMAT": fmt, "NOTIFY_TELEGRAM_CHAT_ID": "4242",
            "NOTIFY_EVENTS": ("job_finished", "disk_low"), "NOTIFY_RETRY_SECONDS": 30}


@pytest.mark.parametrize("fmt", ["json", "ntfy", "bark", "telegram", "serverchan"])
def test_each_format_reaches_a_webhook_as_that_service_expects(conn, fmt):
    notify.enqueue(conn, "disk_low", "disk:1", data={"free_mb": 900, "threshold_mb": 2048, "path": "/volume1/音乐"})
    with Receiver() as hook, requests.Session() as session:
        assert notify.deliver_due(conn, settings_for(hook.url, fmt), session) == 1
    (call,) = hook.calls
    body, headers = call["body"], {k.lower(): v for k, v in call["headers"].items()}
    if fmt == "json":
        note = json.loads(body)
        assert note["event"] == "disk_low" and "900 MiB free on /volume1/音乐" in note["message"]
    elif fmt == "ntfy":
        assert "900 MiB free" in body.decode("utf-8") and headers["tags"] == "disk_low"
        assert "nearly full" in headers["title"]
    elif fmt == "bark":
        note = json.loads(body)
        assert note["group"] == "catalogsync" and "nearly full" in note["title"] and "900 MiB" in note["body"]
    elif fmt == "telegram":
        note = json.loads(body)
        assert note["chat_id"] == "4242" and note["text"].startswith("Catalogsync: library disk nearly full\n")
    else:
        form = parse_qs(body.decode("utf-8"))
        assert "nearly full" in form["title"][0] and "900 MiB" in form["desp"][0]
    assert conn.execute("SELECT status FROM notifications").fetchone()[0] == "sent"


def test_without_a_webhook_or_for_unwanted_events_nothing_is_sent_and_nothing_piles_up(conn):
    notify.enqueue(conn, "runner_recovered", "r:1")
    with requests.Session() as session:
        assert notify.deliver_due(conn, settings_for("", "json"), session) == 1
        notify.enqueue(conn, "runner_recovered", "r:2")
        with Receiver() as hook:
            notify.deliver_due(conn, settings_for(hook.url, "json"), session)  # not in NOTIFY_EVENTS
        assert hook.calls == []
    assert [r[0] for r in conn.execute("SELECT status FROM notifications ORDER BY id")] == ["skipped", "skipped"]
    assert not notify.enqueue(conn, "runner_recovered", "r:2")  # the same event is never queued twice


def test_a_dead_webhook_is_retried_with_backoff_then_given_up(conn, refused_port):
    from datetime import timedelta

    from catalogsync_ops.store.connection import utcnow

    notify.enqueue(conn, "disk_low", "disk:2", data={"free_mb": 1})
    now = utcnow()
    with requests.Session() as session:
        for i in range(notify.MAX_TRIES):
            notify.deliver_due(conn, settings_for(f"http://127.0.0.1:{refused_port}/nothing-listens", "json"), session,
                               now=now)
            row = conn.execute("SELECT * FROM notifications").fetchone()
            assert row["attempts"] == i + 1 and "could not be reached" in row["last_error"]
            now += timedelta(hours=2)
    assert row["status"] == "failed"


def test_a_webhook_that_never_answers_does_not_hold_up_the_runner(home: Path, demo_server, opened):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections and never answers them
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/stalled"
        set_env(home, DEMO_BASE_URL=demo_server.base_url, NOTIFY_WEBHOOK_URL=url)
        demo_server.write_pool_file(home / "input" / "demo.txt")
        env = {**os.environ, "CATALOGSYNC_ENV_FILE": str(home / "catalogsync.env")}
        for _ in range(2):
            subprocess.run([sys.executable, "-m", "runnerd", "enqueue", "collect"], env=env, check=True,
                           capture_output=True)
        daemon = subprocess.Popen([sys.executable, "-m", "runnerd", "run"], env=env, stderr=subprocess.DEVNULL)
        conn = opened(open_database(home / "catalogsync.db"))
        try:
            deadline = time.monotonic() + 30
            finished = "SELECT COUNT(*) FROM job_runs WHERE status IN ('completed', 'completed_with_errors')"
            while time.monotonic() < deadline and conn.execute(finished).fetchone()[0] < 2:
                time.sleep(0.1)
            # Both jobs ran to the end while the first notification was stuck on the webhook.
            assert conn.execute(finished).fetchone()[0] == 2
            assert conn.execute("SELECT COUNT(*) FROM notifications WHERE status = 'sent'").fetchone()[0] == 0
        finally:
            started = time.monotonic()
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(timeout=60) == 0
        assert time.monotonic() - started < notify.TIMEOUT_S + 5  # a stuck delivery does not stall the stop long
    finally:
        listener.close()


def test_a_crash_is_notified_once_and_a_nearly_full_disk_once_per_start(home: Path, demo_server, opened):
    with Receiver() as hook:
        # A threshold no disk meets: the library disk counts as nearly full.
        set_env(home, DEMO_BASE_URL=demo_server.base_url, NOTIFY_WEBHOOK_URL=hook.url,
                NOTIFY_DISK_FREE_MB=10**9, NOTIFY_EVENTS="runner_recovered,disk_low")
        demo_server.write_pool_file(home / "input" / "demo.txt")
        demo_server.set_faults(slow_ms=200)
        env = {**os.environ, "CATALOGSYNC_ENV_FILE": str(home / "catalogsync.env")}
        subprocess.run([sys.executable, "-m", "runnerd", "enqueue", "full_pipeline"], env=env, check=True,
                       capture_output=True)
        conn = opened(open_database(home / "catalogsync.db"))
        first = subprocess.Popen([sys.executable, "-m", "runnerd", "run"], env=env, stderr=subprocess.DEVNULL)
        running = "SELECT COUNT(*) FROM job_items WHERE status = 'running' AND item_type = 'song'"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and conn.execute(running).fetchone()[0] == 0:
            time.sleep(0.05)
        first.kill()  # a power cut, as far as the database can tell
        first.wait()
        demo_server.set_faults(slow_ms=0)
        second = subprocess.Popen([sys.executable, "-m", "runnerd", "run"], env=env, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and len({json.loads(c["body"])["event"] for c in hook.delivered}) < 2:
                time.sleep(0.1)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=60) == 0
    events = [json.loads(c["body"]) for c in hook.delivered]
    kinds = [e["event"] for e in events]
    # Each runner start checks the disk once and says so once while it stays low (two starts here).
    assert kinds.count("runner_recovered") == 1 and 1 <= kinds.count("disk_low") <= 2, kinds
    recovered = next(e for e in events if e["event"] == "runner_recovered")
    assert recovered["data"]["interrupted"] >= 1 and "paused" in recovered["message"]


@pytest.mark.slow
def test_a_job_reopened_by_a_retry_notifies_again_only_when_its_outcome_changes(home: Path, demo_server, opened):
    set_env(home, DEMO_BASE_URL=demo_server.base_url, DOWNLOAD_SOURCES="demo,demo2", RETRY_BACKOFF_SECONDS=0,
            RETRY_BACKOFF_MAX_SECONDS=0)
    demo_server.write_pool_file(home / "input" / "demo.txt")
    demo_server.set_faults(not_found=["s05"])
    runnerd(home, "enqueue", "full_pipeline")
    assert runnerd(home, "run", "--burst").returncode == 0

    def outcomes() -> list[str]:
        conn = connect(home / "catalogsync.db")
        try:
            return [json.loads(r[0])["status"] for r in conn.execute(
                "SELECT data_json FROM notifications WHERE job_id = 1 ORDER BY id")]
        finally:
            conn.close()

    assert outcomes() == ["completed_with_errors"]
    runnerd(home, "retry-failed", "1")  # the song is still missing: the same outcome again
    assert runnerd(home, "run", "--burst").returncode == 0
    assert outcomes() == ["completed_with_errors"]
    demo_server.set_faults(not_found=[])
    runnerd(home, "retry-failed", "1")
    assert runnerd(home, "run", "--burst").returncode == 0
    conn = opened(connect(home / "catalogsync.db"))
    try:
        status = conn.execute("SELECT status FROM job_runs WHERE id = 1").fetchone()[0]
        failed = conn.execute("SELECT display_text, last_error FROM job_items WHERE status = 'failed'").fetchall()
    finally:
        conn.close()
    assert status == "completed", [tuple(r) for r in failed]
    assert outcomes() == ["completed_with_errors", "completed"]


def test_runnerd_notify_test_reaches_the_webhook_and_without_one_says_how_to_set_it(home: Path, web):
    """`runnerd notify test` (a command kind added as one spec and its handler): queued by the
    runner, delivered within seconds; refused with a coded reason, in words, when no webhook is set."""
    env = {**os.environ, "CATALOGSYNC_ENV_FILE": str(home / "catalogsync.env")}
    daemon = subprocess.Popen([sys.executable, "-m", "runnerd", "run"], env=env, stderr=subprocess.DEVNULL)
    try:
        refused = runnerd(home, "notify", "test", "--wait", "--timeout", "30")
        assert refused.returncode == 1 and "set NOTIFY_WEBHOOK_URL in catalogsync.env" in refused.stderr
        with Receiver() as hook:
            set_env(home, NOTIFY_WEBHOOK_URL=hook.url)
            deadline = time.monotonic() + 30  # the runner notices the edited env file
            while True:
                sent = runnerd(home, "notify", "test", "--wait", "--timeout", "30")
                if sent.returncode == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert sent.returncode == 0 and "Test notification queued for 127.0.0.1" in sent.stdout, sent.stderr
            while not hook.delivered and time.monotonic() < deadline + 30:
                time.sleep(0.1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0
    assert [json.loads(c["body"])["event"] for c in hook.delivered] == ["test"]
    client = web[0].test_client()
    login(client)
    client.get("/lang/zh")
    page = client.get("/commands/1").get_data(as_text=True)
    assert "尚未设置通知 Webhook" in page and "NOTIFY_WEBHOOK_URL" in page and "no notification webhook" not in page


def test_a_verify_notification_names_the_drift_it_found(conn):
    from catalogsync_ops.engine.jobs import create_job, start_job
    from catalogsync_ops.store.connection import iso, transaction

    job_id = create_job(conn, "verify")
    start_job(conn, job_id)
    ts = iso()
    with transaction(conn):
        for kind, path, first in (("file_missing", "a.mp3", ts), ("file_missing", "b.mp3", ts),
                                  ("orphan", "stray.mp3", "2020-01-01T00:00:00.000000Z")):
            conn.execute("INSERT INTO drift (kind, place, path, status, found_job_id, first_seen_at, last_seen_at)"
                         " VALUES (?, 'library', ?, 'open', ?, ?, ?)", (kind, path, job_id, first, ts))
        conn.execute("UPDATE job_runs SET status = 'completed', finished_at = ? WHERE id = ?", (ts, job_id))
    row = conn.execute("SELECT * FROM notifications WHERE job_id = ?", (job_id,)).fetchone()
    note = notify.compose(conn, row)
    assert "drift found: 2 missing from the library (2 new), 1 not in the catalog (orphan)" in note["message"]
    assert note["data"]["drift"] == {"file_missing": {"found": 2, "new": 2}, "orphan": {"found": 1, "new": 0}}
    clean = create_job(conn, "verify")
    start_job(conn, clean)
    with transaction(conn):
        conn.execute("UPDATE job_runs SET status = 'completed', finished_at = ? WHERE id = ?", (iso(), clean))
    row = conn.execute("SELECT * FROM notifications WHERE job_id = ?", (clean,)).fetchone()
    assert "no drift: the library and its backup are as recorded" in notify.compose(conn, row)["message"]


@pytest.mark.parametrize("fmt", ["json", "ntfy", "bark", "telegram", "serverchan"])
def test_notifications_speak_the_chosen_language_and_link_to_the_page_that_explains_them(conn, fmt):
    from catalogsync_ops.engine.jobs import create_job, start_job
    from catalogsync_ops.store.connection import iso, transaction

    job_id = create_job(conn, "verify")
    start_job(conn, job_id)
    ts = iso()
    with transaction(conn):
        conn.execute("INSERT INTO drift (kind, place, path, status, found_job_id, first_seen_at, last_seen_at)"
                     " VALUES ('file_missing', 'library', 'a.mp3', 'open', ?, ?, ?)", (job_id, ts, ts))
        conn.execute("UPDATE job_runs SET status = 'completed_with_errors', finished_at = ? WHERE id = ?",
                     (ts, job_id))
    settings = {**settings_for("", fmt), "NOTIFY_EVENTS": ("job_finished", "job_failed"),
                "NOTIFY_LANGUAGE": "zh-Hans", "CONSOLE_URL": "http://nas.local:8421/"}
    with Receiver() as hook, requests.Session() as session:
        settings["NOTIFY_WEBHOOK_URL"] = hook.url
        assert notify.deliver_due(conn, settings, session) == 1
    (call,) = hook.calls
    body, headers = call["body"], {k.lower(): v for k, v in call["headers"].items()}
    link = "http://nas.local:8421/drift"  # a verify that found drift: the drift page explains it
    if fmt == "json":
        note = json.loads(body)
        text, title = note["message"], note["title"]
        assert note["link"] == link and note["event"] == "job_finished" and note["data"]["status"] == \
            "completed_with_errors"  # the data stays codes: a program reads it
    elif fmt == "ntfy":
        text, title = body.decode("utf-8"), headers["title"].encode("latin-1").decode("utf-8")
        assert headers["click"] == link
    elif fmt == "bark":
        note = json.loads(body)
        text, title = note["body"], note["title"]
        assert note["url"] == link
    elif fmt == "telegram":
        title, text = json.loads(body)["text"].split("\n", 1)
        assert text.endswith("\n" + link)
    else:
        form = parse_qs(body.decode("utf-8"))
        text, title = form["desp"][0], form["title"][0]
        assert text.endswith(link)
    assert title == f"Catalogsync：任务 {job_id} 已完成（有错误）"
    assert "校验已完成（有错误）" in text and "发现偏差：资料库中缺失 1 个（新增 1 个）" in text
    assert "completed" not in text and "drift found" not in text  # no English left
