"""The console's live stream (Server-Sent Events) through waitress: events after Last-Event-ID,
a cap on open streams, and a slot freed when a client goes away."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from conftest import PASSWORD, Served, csrf_from

from catalogsync_ops.engine.jobs import create_job
from catalogsync_ops.store.database import open_database
from webui import create_app
from webui.auth import set_password
from webui.cli import WorkSlots


@pytest.fixture
def sse_served(home: Path):
    db = home / "catalogsync.db"
    conn = open_database(db)
    set_password(conn, "admin", PASSWORD)
    app = create_app({"DB_PATH": db, "SSE_MAX_STREAMS": 2, "SSE_HEARTBEAT_S": 0.5, "SSE_TICK_S": 0.1})
    # Served as `catalogsync-web serve` serves it, with one slot: an open stream that held it
    # would keep every page waiting.
    served = Served(WorkSlots(app, 1), threads=6, channel_request_lookahead=1)
    yield served.base, conn
    served.stop()
    conn.close()


def signed_in(base: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(f"{base}/login")
    browser.post(f"{base}/login", data={"username": "admin", "password": PASSWORD, "csrf_token": csrf_from(page.text)})
    return browser


def read_events(response, count: int) -> list[tuple[str, str, str]]:
    events, current = [], {}
    for line in response.iter_lines(decode_unicode=True):
        if line == "":
            if "event" in current:
                events.append((current.get("id", ""), current["event"], current.get("data", "")))
                if len(events) >= count:
                    return events
            current = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            current[key] = value
    return events


def test_sse_sends_job_events_after_last_event_id(sse_served):
    base, conn = sse_served
    browser = signed_in(base)
    first = create_job(conn, "sync")
    mark = conn.execute("SELECT MAX(id) FROM job_events").fetchone()[0]
    create_job(conn, "collect")
    with browser.get(f"{base}/api/events", headers={"Last-Event-ID": str(mark)}, stream=True, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        events = read_events(response, 2)
    assert events[0][1] == "status"
    assert events[1][1] == "job" and int(events[1][0]) == mark + 1
    assert json_loads(events[1][2])["job_id"] == first + 1


def json_loads(text: str):
    import json

    return json.loads(text)


def test_sse_streams_are_capped_pages_stay_fast_and_a_closed_client_frees_its_slot(sse_served):
    base, _ = sse_served
    browser = signed_in(base)
    streams = [browser.get(f"{base}/api/events", stream=True, timeout=10) for _ in range(2)]
    try:
        refused = browser.get(f"{base}/api/events", timeout=10)
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "30"
        for path in ("/", "/jobs", "/api/status"):
            started = time.monotonic()
            assert browser.get(f"{base}{path}", timeout=10).status_code == 200
            assert time.monotonic() - started < 1.0, path
        from webui.events import open_streams

        closed = time.monotonic()
        streams[0].close()
        while open_streams() > 1 and time.monotonic() - closed < 5:
            time.sleep(0.02)
        assert time.monotonic() - closed <= 0.5 + 0.3  # within one heartbeat (and a tick)
        again = browser.get(f"{base}/api/events", stream=True, timeout=10)
        assert again.status_code == 200
        again.close()
    finally:
        for stream in streams:
            stream.close()


def test_head_requests_and_a_failing_stream_give_their_slots_back(sse_served):
    from webui.events import open_streams

    base, conn = sse_served
    browser = signed_in(base)
    for _ in range(4):  # twice the cap: each HEAD took a slot it never gave back
        head = browser.head(f"{base}/api/events", timeout=10)
        assert head.status_code == 200
    deadline = time.monotonic() + 5
    while open_streams() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert open_streams() == 0
    stream = browser.get(f"{base}/api/events", stream=True, timeout=10)
    assert stream.status_code == 200
    next(stream.iter_lines())  # the stream runs; now its query starts failing
    conn.execute("ALTER TABLE job_events RENAME TO job_events_gone")
    conn.execute("INSERT INTO web_settings (key, value, updated_at) VALUES ('poke', '1', '2026-01-01')")
    deadline = time.monotonic() + 5
    while open_streams() and time.monotonic() < deadline:
        time.sleep(0.02)
    stream.close()
    assert open_streams() == 0
    conn.execute("ALTER TABLE job_events_gone RENAME TO job_events")
    assert all(browser.get(f"{base}/api/events", stream=True, timeout=10).status_code == 200 for _ in range(2))
