"""Notifications: an outbox in the database, delivered to one webhook by a thread of runnerd.

Rows are queued in the same transaction as what they report (a trigger queues one per
finished job; recovery and the disk check queue theirs), so a crash loses none and none is
queued twice. The notifier posts them with retries and backoff from its own thread and
connection, so a slow or dead webhook never holds up the runner. Formats: a generic JSON body,
ntfy, Bark, a Telegram bot and ServerChan.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import requests

from catalogsync_ops.store.connection import Connection, connect, iso, parse_iso, transaction, utcnow

log = logging.getLogger("catalogsync.notify")

MAX_TRIES = 8
MAX_DELAY_S = 3600.0
TIMEOUT_S = 10.0
BATCH = 20
POLL_S = 1.0  # a finished job's notification leaves within about a second


# What a job changed about the wanted list (engine/wanted.py), as a notification says it.
WANTED_WORDS = (("added", "added to the library"), ("newly_missing", "newly missing"),
                ("found_again", "found again"), ("still_missing", "still missing"),
                ("given_up", "now unavailable (given up)"))


# A drift kind as a notification says it (the console has its own words: webui/i18n.DRIFT_WORDS).
DRIFT_SAID = {"file_missing": "missing from the library", "file_changed": "changed in the library",
              "object_missing": "missing from the backup", "object_changed": "changed in the backup",
              "orphan": "not in the catalog (orphans)"}


def _drift_found(conn: Connection, job: Any, data: dict[str, Any]) -> str:
    """What a verify found, by kind (and how much of it is new since the job started)."""
    rows = conn.execute("SELECT kind, COUNT(*), SUM(first_seen_at >= ?) FROM drift WHERE found_job_id = ?"
                        " AND status <> 'resolved' GROUP BY kind ORDER BY kind",
                        (job["started_at"] or "", job["id"])).fetchall()
    if not rows:
        return "; no drift: the library and its backup are as recorded"
    data["drift"] = {kind: {"found": n, "new": int(new or 0)} for kind, n, new in rows}
    return "; drift found: " + ", ".join(f"{n} {DRIFT_SAID.get(kind, kind)}" + (f" ({new} new)" if new else "")
                                         for kind, n, new in rows)


def enqueue(conn: Connection, kind: str, dedupe_key: str, *, job_id: int | None = None,
            data: dict[str, Any] | None = None, now: datetime | None = None) -> bool:
    """Queue a notification once per `dedupe_key`; returns whether it was new."""
    ts = iso(now)
    with transaction(conn):
        return conn.execute(
            "INSERT OR IGNORE INTO notifications (kind, dedupe_key, job_id, data_json, next_attempt_at, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (kind, dedupe_key, job_id, json.dumps(data or {}, ensure_ascii=False), ts, ts)).rowcount == 1


def _duration(start: str | None, end: str | None) -> str:
    if not start or not end:
        return ""
    seconds = int((parse_iso(end) - parse_iso(start)).total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds:02d}s"


def compose(conn: Connection, row) -> dict[str, Any]:
    """Title, message and data of a queued notification, written when it is sent."""
    data = json.loads(row["data_json"] or "{}")
    kind = row["kind"]
    if kind in ("job_finished", "job_failed") and row["job_id"] is not None:
        job = conn.execute("SELECT * FROM job_runs WHERE id = ?", (row["job_id"],)).fetchone()
        counts = conn.execute(
            "SELECT COALESCE(SUM(n_succeeded), 0), COALESCE(SUM(n_failed), 0), COALESCE(SUM(n_skipped), 0)"
            " FROM job_stages WHERE job_id = ?", (row["job_id"],)).fetchone()
        status = data.get("status") or (job["status"] if job else "?")
        data.update(job_id=row["job_id"], status=status, succeeded=counts[0], failed=counts[1], skipped=counts[2])
        if job is not None:
            data.update(job_type=job["job_type"], duration=_duration(job["started_at"], job["finished_at"]))
        title = f"Catalogsync: job {row['job_id']} {status.replace('_', ' ')}"
        message = (f"{data.get('job_type', 'job')} {status.replace('_', ' ')}: {counts[0]} done, {counts[1]} failed, "
                   f"{counts[2]} skipped" + (f" in {data['duration']}" if data.get("duration") else ""))
        outcome = json.loads(job["outcome_json"] or "{}") if job is not None else {}
        said = [f"{outcome[key]} {words}" for key, words in WANTED_WORDS if outcome.get(key)]
        if said:
            data["wanted"] = {key: int(outcome.get(key, 0)) for key, _ in WANTED_WORDS}
            message += "; songs: " + ", ".join(said)
        if job is not None and job["job_type"] == "verify":
            message += _drift_found(conn, job, data)
        if job is not None and job["error"]:
            message += f". {job['error']}"
    elif kind == "runner_recovered":
        title = "Catalogsync: runner recovered after a crash"
        message = (f"runnerd restarted after an unclean stop; {data.get('interrupted', 0)} items were interrupted and "
                   "will run again"
                   + ("" if data.get("auto_resume") else "; the job waits paused for you to resume it")
                   + ".")
    elif kind == "disk_low":
        title = "Catalogsync: library disk nearly full"
        message = (f"{data.get('free_mb', '?')} MiB free on {data.get('path', 'the library disk')} "
                   f"(warning below {data.get('threshold_mb', '?')} MiB). Downloads stop at MIN_FREE_DISK_MB.")
    elif kind == "source_down":
        title = f"Catalogsync: {data.get('source', 'a source')} is down"
        message = (f"{data.get('failures', '?')} calls in a row failed ([{data.get('error_class', '?')}] "
                   f"{data.get('error', '')}). Its songs wait; it is tried again at {data.get('retry_at', '?')}.")
    elif kind == "source_recovered":
        title = f"Catalogsync: {data.get('source', 'a source')} is back"
        message = f"{data.get('source', 'The source')} answers again; the songs that waited for it run now."
    else:
        title = "Catalogsync: test notification"
        message = "If you can read this, notifications reach you."
    return {"event": kind, "title": title, "message": message, "data": data, "at": row["created_at"]}


def build_request(fmt: str, url: str, note: dict[str, Any], *, telegram_chat_id: str = "") -> dict[str, Any]:
    """The keyword arguments of requests.post for one notification in one format."""
    if fmt == "ntfy":
        # ntfy takes the message as the body and the title as a header (ASCII-safe via RFC 2047 is
        # not needed: ntfy accepts UTF-8 header values).
        return {"url": url, "data": note["message"].encode("utf-8"),
                "headers": {"Title": note["title"].encode("utf-8"), "Tags": note["event"]}}
    if fmt == "bark":
        return {"url": url, "json": {"title": note["title"], "body": note["message"], "group": "catalogsync"}}
    if fmt == "telegram":
        return {"url": url, "json": {"chat_id": telegram_chat_id, "text": f"{note['title']}\n{note['message']}"}}
    if fmt == "serverchan":
        return {"url": url, "data": {"title": note["title"], "desp": note["message"]}}
    return {"url": url, "json": note}


def _delay(tries: int, base: float) -> float:
    return min(MAX_DELAY_S, base * 2 ** max(0, tries - 1))


def deliver_due(conn: Connection, settings: dict[str, Any], session: requests.Session,
                now: datetime | None = None, deadline: float | None = None) -> int:
    """Send the notifications that are due; returns how many were handled (sent, skipped or retried).

    With `deadline` (a time.monotonic() value), stops starting new deliveries once it has passed.
    """
    now = now or utcnow()
    ts = iso(now)
    rows = conn.execute("SELECT * FROM notifications WHERE status = 'pending' AND next_attempt_at <= ?"
                        " ORDER BY next_attempt_at, id LIMIT ?", (ts, BATCH)).fetchall()
    url = settings.get("NOTIFY_WEBHOOK_URL") or ""
    wanted = set(settings.get("NOTIFY_EVENTS") or ())
    handled = 0
    for row in rows:
        if deadline is not None and time.monotonic() > deadline:
            break
        handled += 1
        if not url or row["kind"] not in wanted | {"test"}:
            with transaction(conn):
                conn.execute("UPDATE notifications SET status = 'skipped', last_error = ? WHERE id = ?",
                             ("no webhook set" if not url else f"{row['kind']} is not in NOTIFY_EVENTS", row["id"]))
            continue
        note = compose(conn, row)
        request = build_request(settings.get("NOTIFY_FORMAT", "json"), url, note,
                                telegram_chat_id=str(settings.get("NOTIFY_TELEGRAM_CHAT_ID") or ""))
        error = None
        try:
            answer = session.post(timeout=TIMEOUT_S, **request)
            if answer.status_code >= 300:
                error = f"the webhook answered {answer.status_code} {answer.reason}: {answer.text[:200]}"
        except requests.RequestException as exc:
            error = f"the webhook could not be reached: {type(exc).__name__}"
        tries = row["attempts"] + 1
        with transaction(conn):
            if error is None:
                conn.execute("UPDATE notifications SET status = 'sent', attempts = ?, sent_at = ?, last_error = NULL"
                             " WHERE id = ?", (tries, iso(), row["id"]))
            elif tries >= MAX_TRIES:
                conn.execute("UPDATE notifications SET status = 'failed', attempts = ?, last_error = ? WHERE id = ?",
                             (tries, error, row["id"]))
                log.error("Notification %s (%s) given up after %d tries: %s", row["id"], row["kind"], tries, error)
            else:
                due = now + timedelta(seconds=_delay(tries, float(settings.get("NOTIFY_RETRY_SECONDS", 30))))
                conn.execute("UPDATE notifications SET attempts = ?, last_error = ?, next_attempt_at = ? WHERE id = ?",
                             (tries, error, iso(due), row["id"]))
                log.warning("Notification %s (%s): %s; retrying at %s", row["id"], row["kind"], error, iso(due)[:19])
    return handled


def seconds_until_due(conn: Connection, now: datetime | None = None) -> float | None:
    row = conn.execute("SELECT MIN(next_attempt_at) FROM notifications WHERE status = 'pending'").fetchone()
    if row[0] is None:
        return None
    return max(0.0, (parse_iso(row[0]) - (now or utcnow())).total_seconds())


class Notifier(threading.Thread):
    """runnerd's delivery thread: its own connection and HTTP session; woken when work may be due."""

    def __init__(self, db_path: str, settings: Callable[[], dict[str, Any]]) -> None:
        super().__init__(name="notifier", daemon=True)
        self.db_path = db_path
        self.settings = settings
        self.wake = threading.Event()
        self.stopping = threading.Event()

    def run(self) -> None:
        conn = connect(self.db_path)
        session = requests.Session()
        try:
            while not self.stopping.is_set():
                try:
                    handled = deliver_due(conn, self.settings(), session)
                    due = seconds_until_due(conn)
                except Exception:  # never let one bad row end notifications for good
                    log.exception("Notifier: unexpected error; trying again shortly")
                    handled, due = 0, 5.0
                if handled:
                    continue
                self.wake.wait(min(due if due is not None else POLL_S, POLL_S))
                self.wake.clear()
        finally:
            session.close()
            conn.close()

    def stop(self, timeout: float = 2.0) -> None:
        self.stopping.set()
        self.wake.set()
        self.join(timeout)
