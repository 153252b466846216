"""Live updates by Server-Sent Events at /api/events.

Each stream watches `PRAGMA data_version` on its own connection (no query while nothing
changes) and whether the runner's process is alive (a killed runner writes nothing), sends
new `job_events` rows after the `Last-Event-ID`, a `status` summary when something changed,
and a heartbeat comment; it closes after a few minutes so the browser
reconnects. Streams are capped well below waitress's thread count: beyond the cap the answer
is 503 with Retry-After, and the page falls back to polling.
"""
from __future__ import annotations

import json
import threading
import time

from flask import Blueprint, Response, abort, current_app, jsonify, request

from catalogsync_ops.engine.queries import data_version, events_after, latest_event_id, runner_liveness, status_summary
from catalogsync_ops.store.connection import ID_MAX, connect

bp = Blueprint("events", __name__, url_prefix="/api")

_slots_lock = threading.Lock()
_open_streams = 0


def _take_slot(limit: int) -> bool:
    global _open_streams
    with _slots_lock:
        if _open_streams >= limit:
            return False
        _open_streams += 1
        return True


class _Slot:
    """A taken stream slot, given back exactly once, however the response ends: the body sent
    to its end, the client gone, an error in the stream, or a body never read at all (HEAD, or
    a client that left before the first byte): the WSGI server closes every response."""

    def __init__(self) -> None:
        self._held = True
        self._lock = threading.Lock()

    def release(self) -> None:
        global _open_streams
        with self._lock:
            if not self._held:
                return
            self._held = False
        with _slots_lock:
            _open_streams -= 1


def open_streams() -> int:
    return _open_streams


@bp.route("/events")
def events():
    config = current_app.config
    limit = int(config.get("SSE_MAX_STREAMS", 4))
    if not _take_slot(limit):
        response = jsonify(error=f"{limit} live streams are open already; poll /api/status instead")
        response.status_code = 503
        response.headers["Retry-After"] = "30"
        return response
    db_path = config["DB_PATH"]
    heartbeat = float(config.get("SSE_HEARTBEAT_S", 5))
    lifetime = float(config.get("SSE_LIFETIME_S", 300))
    tick = float(config.get("SSE_TICK_S", 0.5))
    slot = _Slot()
    after = request.args.get("after")
    try:
        last_id = int(request.headers.get("Last-Event-ID") or (after if after is not None else -1))
    except ValueError:
        slot.release()
        if after is not None:
            abort(400, description=f"'after' must be a whole number, got {after[:40]!r}")
        last_id = -1  # a browser's Last-Event-ID we cannot read: start from now
    last_id = max(-1, min(last_id, ID_MAX))

    def stream():
        conn = connect(db_path, readonly=True)
        nonlocal last_id
        try:
            if last_id < 0:
                last_id = latest_event_id(conn)
            yield f"retry: 3000\nevent: status\ndata: {json.dumps(status_summary(conn), default=str)}\n\n"
            started = last_beat = time.monotonic()
            version = alive = None  # the first pass sends what happened after Last-Event-ID
            while time.monotonic() - started < lifetime:
                now_version = data_version(conn)
                # A runner killed writes nothing more: its liveness is checked each tick too.
                now_alive = runner_liveness(conn)["state"]
                if now_version != version or now_alive != alive:
                    first = version is None
                    version, alive = now_version, now_alive
                    rows = events_after(conn, last_id)
                    for row in rows:
                        last_id = row["id"]
                        yield f"id: {row['id']}\nevent: job\ndata: {json.dumps(dict(row))}\n\n"
                    if not first:
                        yield f"event: status\ndata: {json.dumps(status_summary(conn), default=str)}\n\n"
                    last_beat = time.monotonic()
                elif time.monotonic() - last_beat >= heartbeat:
                    last_beat = time.monotonic()
                    yield ": ping\n\n"  # a closed client is noticed here, freeing the thread
                time.sleep(tick)
        finally:
            conn.close()
            slot.release()

    try:
        response = Response(stream(), mimetype="text/event-stream",
                            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        response.call_on_close(slot.release)
    except BaseException:
        slot.release()
        raise
    return response
