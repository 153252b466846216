"""History that keeps a NAS small: what the runner forgets, and when.

A nightly pipeline over a 100,000-song library adds hundreds of thousands of item, attempt
and event rows a year; without this the database only grows. What goes, in small batches
(`BATCH` rows, one short transaction each, so no claim waits long for the write lock):

- HISTORY_DETAIL_DAYS (7) after a job finished, its item events, its items that went right (with
  their attempts) and its songs' repeated failures: a failed item whose song had already failed
  in an earlier item still kept (a known gap: the wanted list keeps the song, since when, for how
  many nights, the last reason); `trimmed_at` says when. A night of 100,000 songs then keeps
  its new failures, not two thousand copies of the same ones;
- a finished job's items, their attempts and its item events, HISTORY_RETENTION_DAYS after
  it finished: the job row, its stages with their counters, its job-level events and its
  outcome stay (`pruned_at` says when its details went), and every song's last outcome stays
  in the library (its file) or the wanted list (`missing_songs`);
- applied and rejected commands COMMAND_RETENTION_DAYS after they were settled; sent, skipped
  and failed notifications and sign-in attempts that long after they were made (pending ones never);
- log lines LOG_RETENTION_DAYS after they were written, and the oldest beyond LOG_RETENTION_ROWS
  (a batch at a time too: a night of 2,000 failures writes 2,000 lines).

`prune_step` does at most one batch of each and says how many rows went. The runner's main
loop runs it through a `Pruner`: five steps a second while there is history to forget, one
every ten minutes otherwise; a worker's claim waits at most one batch. With auto_vacuum set to
incremental (new databases), freed pages go back to the disk a few at a time (`give_back_space`).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from catalogsync_ops.store.connection import Connection, iso, transaction, utcnow

BATCH = 500  # rows a transaction deletes at most (a few milliseconds of the write lock)
FREE_PAGES_PER_STEP = 256  # pages (1 MiB at 4 KiB) an incremental vacuum gives back at a time
FINAL = ("completed", "completed_with_errors", "failed", "canceled")


def _cutoff(now: datetime, days: int) -> str:
    return iso(now - timedelta(days=days))


def _oldest_finished(conn: Connection, mark: str, cutoff: str) -> int | None:
    """The finished job that finished first before `cutoff` and is not yet marked `mark`
    (pruned_at or trimmed_at: a constant of this module, never input)."""
    row = conn.execute(f"SELECT id FROM job_runs WHERE {mark} IS NULL AND finished_at IS NOT NULL"
                       f" AND finished_at < ? AND status IN ({', '.join('?' for _ in FINAL)})"
                       " ORDER BY finished_at LIMIT 1", (cutoff, *FINAL)).fetchone()
    return row[0] if row else None


def _delete_item_events(conn: Connection, job_id: int) -> int:
    """One batch of a job's item events (its job-level events stay)."""
    return conn.execute("DELETE FROM job_events WHERE rowid IN (SELECT rowid FROM job_events WHERE job_id = ?"
                        " AND item_id IS NOT NULL LIMIT ?)", (job_id, BATCH)).rowcount


def prune_job_details(conn: Connection, cutoff: str) -> int:
    """One batch of the oldest prunable job's items (with their attempts), or, once they are
    gone, its item events; marks the job pruned when nothing of it is left to go."""
    job_id = _oldest_finished(conn, "pruned_at", cutoff)
    if job_id is None:
        return 0
    with transaction(conn):
        ids = [r[0] for r in conn.execute("SELECT id FROM job_items WHERE job_id = ? LIMIT ?", (job_id, BATCH))]
        if ids:
            marks = ", ".join("?" for _ in ids)
            gone = conn.execute(f"DELETE FROM item_attempts WHERE item_id IN ({marks})", ids).rowcount
            return gone + conn.execute(f"DELETE FROM job_items WHERE id IN ({marks})", ids).rowcount
        gone = _delete_item_events(conn, job_id)
        if gone:
            return gone
        conn.execute("UPDATE job_runs SET pruned_at = ? WHERE id = ?", (iso(), job_id))
        return 1


def trim_job_details(conn: Connection, cutoff: str) -> int:
    """One batch of what the oldest untrimmed finished job (finished before `cutoff`) keeps only for
    a while: item events, items that went right, repeated failures (see the module's words);
    marks it trimmed when none is left."""
    job_id = _oldest_finished(conn, "trimmed_at", cutoff)
    if job_id is None:
        return 0
    with transaction(conn):
        gone = _delete_item_events(conn, job_id)
        if gone:
            return gone
        ids = [r[0] for r in conn.execute(
            "SELECT i.id FROM job_items i WHERE i.job_id = ? AND (i.status IN ('succeeded', 'skipped', 'canceled')"
            " OR (i.status = 'failed' AND i.song_id IS NOT NULL AND EXISTS (SELECT 1 FROM job_items e"
            " WHERE e.song_id = i.song_id AND e.id < i.id AND e.status = 'failed'))) LIMIT ?", (job_id, BATCH))]
        if ids:
            marks = ", ".join("?" for _ in ids)
            gone = conn.execute(f"DELETE FROM item_attempts WHERE item_id IN ({marks})", ids).rowcount
            return gone + conn.execute(f"DELETE FROM job_items WHERE id IN ({marks})", ids).rowcount
        conn.execute("UPDATE job_runs SET trimmed_at = ? WHERE id = ?", (iso(), job_id))
        return 1


def prune_rows(conn: Connection, table: str, cutoff: str, where: str = "1", column: str = "created_at") -> int:
    """One batch of `table`'s rows whose `column` (when they were made, or settled) is before `cutoff`."""
    with transaction(conn):
        return conn.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE {column} < ?"
                            f" AND {where} LIMIT ?)", (cutoff, BATCH)).rowcount


def prune_log_overflow(conn: Connection, max_rows: int) -> int:
    """One batch of the oldest log lines beyond the newest `max_rows`."""
    top = conn.execute("SELECT MAX(id) FROM job_logs").fetchone()[0] or 0
    if top - max_rows <= (conn.execute("SELECT MIN(id) FROM job_logs").fetchone()[0] or top):
        return 0
    with transaction(conn):
        return conn.execute("DELETE FROM job_logs WHERE id IN (SELECT id FROM job_logs WHERE id <= ? ORDER BY id"
                            " LIMIT ?)", (top - max_rows, BATCH)).rowcount


def prune_step(conn: Connection, settings: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """At most one batch of each kind of history past its time; how many rows went, and the
    longest a batch held the write lock (ms)."""
    now = now or utcnow()
    history = _cutoff(now, int(settings["HISTORY_RETENTION_DAYS"]))
    records = _cutoff(now, int(settings["COMMAND_RETENTION_DAYS"]))
    counts: dict[str, Any] = {}
    longest = 0.0
    detail = _cutoff(now, min(int(settings["HISTORY_DETAIL_DAYS"]), int(settings["HISTORY_RETENTION_DAYS"])))
    for name, step in (
            ("job_details", lambda: prune_job_details(conn, history)),
            ("job_routine", lambda: trim_job_details(conn, detail)),
            # A command by when it was applied or rejected: one sent long ago and settled today stays.
            ("job_commands", lambda: prune_rows(conn, "job_commands", records, "status <> 'pending'", "applied_at")),
            ("notifications", lambda: prune_rows(conn, "notifications", records, "status <> 'pending'")),
            ("login_attempts", lambda: prune_rows(conn, "login_attempts", records)),
            ("job_logs", lambda: prune_rows(conn, "job_logs", _cutoff(now, int(settings["LOG_RETENTION_DAYS"])))
             + prune_log_overflow(conn, int(settings["LOG_RETENTION_ROWS"])))):
        conn.writes.held_s = 0.0
        counts[name] = step()
        longest = max(longest, conn.writes.held_s)  # BEGIN to COMMIT: what a worker's claim waits for
    counts["held_ms"] = round(longest * 1000, 1)
    return counts


def give_back_space(conn: Connection, pages: int = FREE_PAGES_PER_STEP) -> int:
    """Return up to `pages` free pages to the disk when the database vacuums incrementally
    (auto_vacuum = incremental: new databases); returns how many were free before."""
    if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
        return 0
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    if free:
        # executescript steps the pragma to its end (execute would free one page: it stops at its first step).
        conn.executescript(f"PRAGMA incremental_vacuum({int(pages)});")
    return free


class Pruner:
    """Paces `prune_step` on the runner's loop (monotonic seconds)."""

    BUSY_S = 0.2  # between steps while they find rows
    IDLE_S = 600.0  # between looks once nothing is due

    def __init__(self) -> None:
        self.next_at = 0.0
        self.last: dict[str, Any] | None = None

    def run_if_due(self, conn: Connection, settings: Any, now: float) -> bool:
        """A step if its time has come; returns whether it deleted anything."""
        if now < self.next_at:
            return False
        self.last = prune_step(conn, settings)
        found = any(n for key, n in self.last.items() if key != "held_ms")
        if found:
            give_back_space(conn)
        self.next_at = now + (self.BUSY_S if found else self.IDLE_S)
        return found
