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
from typing import TYPE_CHECKING, Any

from catalogsync_ops.catalogue import ENGLISH, Language, language_for
from catalogsync_ops.store.connection import Connection, connect, iso, parse_iso, transaction, utcnow
from catalogsync_ops.words import DRIFT_WORDS, LIST_SEPARATOR, code_word, is_code

if TYPE_CHECKING:  # imported where a notification is sent: every CLI command imports this module
    import requests

log = logging.getLogger("catalogsync.notify")

MAX_TRIES = 8
MAX_DELAY_S = 3600.0
TIMEOUT_S = 10.0
BATCH = 20
POLL_S = 1.0  # a finished job's notification leaves within about a second


def N_(text: str) -> str:
    """Marks English words a catalogue translates (the catalogue tool collects NOTE_WORDS)."""
    return text


# Every notification's words, in English; NOTIFY_LANGUAGE picks the catalogue that gives another
# language its own. Values fill the %(name)s places; codes among them (a status, a job type, an
# error class) are first made their words (words.code_word), then translated too.
NOTE_WORDS = {
    "job_title": N_("Catalogsync: job %(job_id)s %(status)s"),
    "job": N_("%(job_type)s %(status)s: %(succeeded)s done, %(failed)s failed, %(skipped)s skipped"),
    "job_took": N_("in %(duration)s"),
    "songs": N_("songs: %(list)s"),
    "no_drift": N_("no drift: the library and its backup are as recorded"),
    "drift": N_("drift found: %(list)s"),
    "drift_kind": N_("%(count)s %(kind)s"),
    "drift_kind_new": N_("%(count)s %(kind)s (%(new)s new)"),
    "recovered_title": N_("Catalogsync: runner recovered after a crash"),
    "recovered": N_("runnerd restarted after an unclean stop; %(interrupted)s items were interrupted and will run "
                    "again."),
    "recovered_paused": N_("runnerd restarted after an unclean stop; %(interrupted)s items were interrupted and will "
                           "run again; the job waits paused for you to resume it."),
    "disk_low_title": N_("Catalogsync: library disk nearly full"),
    "disk_low": N_("%(free_mb)s MiB free on %(path)s (warning below %(threshold_mb)s MiB). Downloads stop at "
                   "MIN_FREE_DISK_MB."),
    "source_down_title": N_("Catalogsync: %(source)s is down"),
    "source_down": N_("%(failures)s calls in a row failed (%(error_class)s: %(error)s). Its songs wait; it is tried "
                      "again at %(retry_at)s."),
    "source_recovered_title": N_("Catalogsync: %(source)s is back"),
    "source_recovered": N_("%(source)s answers again; the songs that waited for it run now."),
    "test_title": N_("Catalogsync: test notification"),
    "test": N_("If you can read this, notifications reach you."),
}

# What a job changed about the wanted list (engine/wanted.py), as a notification says it.
WANTED_WORDS = (("added", N_("%(n)s added to the library")), ("newly_missing", N_("%(n)s newly missing")),
                ("found_again", N_("%(n)s found again")), ("still_missing", N_("%(n)s still missing")),
                ("given_up", N_("%(n)s now unavailable (given up)")))

# The console's page that explains each notification (CONSOLE_URL + this).
PAGES = {"runner_recovered": "/", "disk_low": "/", "source_down": "/", "source_recovered": "/", "test": "/config"}


class _Say:
    """Words in one language: a template translated, its code values made words and translated."""

    def __init__(self, language: Language) -> None:
        self.get = language.gettext

    def __call__(self, key: str, **values: Any) -> str:
        return self.template(NOTE_WORDS[key], **values)

    def template(self, template: str, **values: Any) -> str:
        said = {name: self.get(code_word(v)) if is_code(v) else v for name, v in values.items()}
        return self.get(template) % said

    def join(self, parts: list[str], separator: str = LIST_SEPARATOR) -> str:
        return self.get(separator).join(parts)


def _drift_found(conn: Connection, job: Any, data: dict[str, Any], say: _Say) -> str:
    """What a verify found, by kind (and how much of it is new since the job started)."""
    rows = conn.execute("SELECT kind, COUNT(*), SUM(first_seen_at >= ?) FROM drift WHERE found_job_id = ?"
                        " AND status <> 'resolved' GROUP BY kind ORDER BY kind",
                        (job["started_at"] or "", job["id"])).fetchall()
    if not rows:
        return say("no_drift")
    data["drift"] = {kind: {"found": n, "new": int(new or 0)} for kind, n, new in rows}
    return say("drift", list=say.join([
        say("drift_kind_new" if new else "drift_kind", count=n, kind=say.get(DRIFT_WORDS.get(kind, kind)), new=new)
        for kind, n, new in rows]))


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


def compose(conn: Connection, row, language: Language = ENGLISH, console_url: str = "") -> dict[str, Any]:
    """Title, message, link and data of a queued notification, written when it is sent, in
    `language`; the link is the console's page that explains it (none without `console_url`)."""
    data = json.loads(row["data_json"] or "{}")
    kind = row["kind"]
    say = _Say(language)
    page = PAGES.get(kind, "/")
    if kind in ("job_finished", "job_failed") and row["job_id"] is not None:
        job = conn.execute("SELECT * FROM job_runs WHERE id = ?", (row["job_id"],)).fetchone()
        counts = conn.execute(
            "SELECT COALESCE(SUM(n_succeeded), 0), COALESCE(SUM(n_failed), 0), COALESCE(SUM(n_skipped), 0)"
            " FROM job_stages WHERE job_id = ?", (row["job_id"],)).fetchone()
        status = data.get("status") or (job["status"] if job else "?")
        data.update(job_id=row["job_id"], status=status, succeeded=counts[0], failed=counts[1], skipped=counts[2])
        if job is not None:
            data.update(job_type=job["job_type"], duration=_duration(job["started_at"], job["finished_at"]))
        title = say("job_title", job_id=row["job_id"], status=status)
        parts = [say("job", job_type=data.get("job_type", "job"), status=status, succeeded=counts[0],
                     failed=counts[1], skipped=counts[2])
                 + (" " + say("job_took", duration=data["duration"]) if data.get("duration") else "")]
        outcome = json.loads(job["outcome_json"] or "{}") if job is not None else {}
        said = [say.template(words, n=outcome[key]) for key, words in WANTED_WORDS if outcome.get(key)]
        if said:
            data["wanted"] = {key: int(outcome.get(key, 0)) for key, _ in WANTED_WORDS}
            parts.append(say("songs", list=say.join(said)))
        page = f"/jobs/{row['job_id']}" + ("?status=failed" if counts[1] else "")
        if job is not None and job["job_type"] == "verify":
            parts.append(_drift_found(conn, job, data, say))
            page = "/drift" if data.get("drift") else page
        message = say.join(parts, "; ")
        if job is not None and job["error"]:
            message += f". {job['error']}"
    elif kind == "runner_recovered":
        title = say("recovered_title")
        message = say("recovered" if data.get("auto_resume") else "recovered_paused",
                      interrupted=data.get("interrupted", 0))
        if data.get("job_id"):
            page = f"/jobs/{data['job_id']}"
    elif kind == "disk_low":
        title = say("disk_low_title")
        message = say("disk_low", free_mb=data.get("free_mb", "?"), path=data.get("path", "?"),
                      threshold_mb=data.get("threshold_mb", "?"))
    elif kind == "source_down":
        title = say("source_down_title", source=data.get("source", "?"))
        message = say("source_down", failures=data.get("failures", "?"), error_class=data.get("error_class", "?"),
                      error=data.get("error", ""), retry_at=data.get("retry_at", "?"))
    elif kind == "source_recovered":
        title = say("source_recovered_title", source=data.get("source", "?"))
        message = say("source_recovered", source=data.get("source", "?"))
    else:
        title, message = say("test_title"), say("test")
    link = console_url.rstrip("/") + page if console_url else None
    return {"event": kind, "title": title, "message": message, "link": link, "data": data, "at": row["created_at"]}


def build_request(fmt: str, url: str, note: dict[str, Any], *, telegram_chat_id: str = "") -> dict[str, Any]:
    """The keyword arguments of requests.post for one notification in one format; the link
    where each service opens one (ntfy's Click, Bark's url), else after the message."""
    link = note.get("link")
    if fmt == "ntfy":
        # ntfy takes the message as the body and the title as a header (ASCII-safe via RFC 2047 is
        # not needed: ntfy accepts UTF-8 header values).
        headers = {"Title": note["title"].encode("utf-8"), "Tags": note["event"]}
        if link:
            headers["Click"] = link
        return {"url": url, "data": note["message"].encode("utf-8"), "headers": headers}
    if fmt == "bark":
        return {"url": url, "json": {"title": note["title"], "body": note["message"], "group": "catalogsync",
                                     **({"url": link} if link else {})}}
    text = note["message"] + (f"\n{link}" if link else "")
    if fmt == "telegram":
        return {"url": url, "json": {"chat_id": telegram_chat_id, "text": f"{note['title']}\n{text}"}}
    if fmt == "serverchan":
        return {"url": url, "data": {"title": note["title"], "desp": text}}
    return {"url": url, "json": note}


def _delay(tries: int, base: float) -> float:
    return min(MAX_DELAY_S, base * 2 ** max(0, tries - 1))


def deliver_due(conn: Connection, settings: dict[str, Any], session: requests.Session,
                now: datetime | None = None, deadline: float | None = None) -> int:
    """Send the notifications that are due; returns how many were handled (sent, skipped or retried).

    With `deadline` (a time.monotonic() value), stops starting new deliveries once it has passed.
    """
    import requests

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
        note = compose(conn, row, language_for(settings.get("NOTIFY_LANGUAGE")),
                       str(settings.get("CONSOLE_URL") or ""))
        request = build_request(settings.get("NOTIFY_FORMAT", "json"), url, note,
                                telegram_chat_id=str(settings.get("NOTIFY_TELEGRAM_CHAT_ID") or ""))
        error = None
        tries = row["attempts"] + 1
        # Counted durably before it is sent: what it tells (a job finished, a song failed) is
        # then on disk too, so no power cut can take back what a notification has said.
        with transaction(conn, durable=True):
            conn.execute("UPDATE notifications SET attempts = ? WHERE id = ?", (tries, row["id"]))
        try:
            answer = session.post(timeout=TIMEOUT_S, **request)
            if answer.status_code >= 300:
                error = f"the webhook answered {answer.status_code} {answer.reason}: {answer.text[:200]}"
        except requests.RequestException as exc:
            error = f"the webhook could not be reached: {type(exc).__name__}"
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
        import requests

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
