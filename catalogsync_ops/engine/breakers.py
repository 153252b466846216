"""Per-source health and a circuit breaker, kept in the database so they survive a restart.

Every call the pipeline makes to a source (read a playlist, search, look up a link, fetch the
bytes) is recorded: an hourly count of calls, failures by class and latency, and the last
error. A source that fails `SOURCE_BREAKER_FAILURES` times in a row for a reason that says it
is down (cannot connect, silent, 5xx, 429) is *opened*: for a cooldown it is not called at all,
and work only it can do waits. When the cooldown is over, one call goes through as a probe
(*half-open*): success closes the breaker, failure opens it again for twice as long, up to an
hour. Any answer the platform gives (even "not found") counts as the source being up.

Breaker transitions queue `source_down` / `source_recovered` notifications in the same
transaction. A person can close a breaker at once (`runnerd source reset NAME`).

A source whose installed library does not fit (musicdl renamed what the adapter uses) is
*incompatible*: it is closed to calls like an open breaker, for an hour at a time and until the
next runner start, when it is checked again; its work waits, it does not fail.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from catalogsync_ops.engine.states import STAGE_FINAL
from catalogsync_ops.errors import ErrorClass
from catalogsync_ops.store.connection import Connection, iso, parse_iso, transaction, utcnow

# Failures that mean the source is unreachable or overloaded, not that one song is missing.
OUTAGE_CLASSES = frozenset({ErrorClass.CONNECTION, ErrorClass.TIMEOUT, ErrorClass.HTTP_5XX, ErrorClass.RATE_LIMITED})
# Failures that say nothing about the source (our disk, a file we could not tag, a cancel).
NEUTRAL_CLASSES = frozenset({ErrorClass.DISK_FULL, ErrorClass.INTERRUPTED, ErrorClass.CONFIG, ErrorClass.INTERNAL})
MAX_COOLDOWN_S = 3600.0
PROBE_GRACE_S = 120.0  # a probe that never reported back (the runner died) frees the half-open slot
RECHECK_S = 5.0  # while a probe is out, other work looks again this soon (the probe decides in seconds)


@dataclass(frozen=True)
class Verdict:
    """Whether a source may be called now; when not, until when it is closed to calls."""

    allowed: bool
    until: datetime | None = None
    probe: bool = False
    state: str = "closed"


def _hour(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:00Z")


def check(conn: Connection, source: str, *, now: datetime | None = None) -> Verdict:
    """May `source` be called now? An open breaker whose cooldown is over lets one probe through."""
    now = now or utcnow()
    row = conn.execute("SELECT * FROM source_health WHERE source = ?", (source,)).fetchone()
    if row is None or row["state"] == "closed":
        return Verdict(True)
    if row["state"] == "half_open":
        started = parse_iso(row["probe_started_at"]) if row["probe_started_at"] else now
        if now - started < timedelta(seconds=PROBE_GRACE_S):
            return Verdict(False, now + timedelta(seconds=RECHECK_S), state="half_open")
    elif parse_iso(row["open_until"]) > now:
        return Verdict(False, parse_iso(row["open_until"]), state=row["state"])
    # The cooldown is over (or the last probe was lost): this caller is the probe, if it wins the race.
    with transaction(conn):
        won = conn.execute("UPDATE source_health SET state = 'half_open', probe_started_at = ?, updated_at = ?"
                           " WHERE source = ? AND state = ? AND COALESCE(probe_started_at, '') = ?",
                           (iso(now), iso(now), source, row["state"], row["probe_started_at"] or "")).rowcount == 1
    if won:
        return Verdict(True, probe=True, state="half_open")
    return Verdict(False, now + timedelta(seconds=RECHECK_S), state="half_open")


def record(conn: Connection, source: str, *, error_class: ErrorClass | str | None = None, error: str | None = None,
           latency_s: float = 0.0, threshold: int = 5, cooldown_s: float = 60.0,
           now: datetime | None = None, error_code: str | None = None,
           error_params: dict | None = None) -> str | None:
    """Record one call's outcome (`error_class` None: it answered); returns 'opened', 'closed' or None.
    A coded error keeps its code and values beside the text (the console words it)."""
    now = now or utcnow()
    ts = iso(now)
    error_class = ErrorClass(error_class) if error_class else None
    outage = error_class in OUTAGE_CLASSES
    if error_class in NEUTRAL_CLASSES:
        return None
    with transaction(conn):
        conn.execute("INSERT OR IGNORE INTO source_health (source, updated_at) VALUES (?, ?)", (source, ts))
        stats = conn.execute("SELECT failures_by_class FROM source_stats WHERE source = ? AND hour = ?",
                             (source, _hour(now))).fetchone()
        by_class = json.loads(stats[0]) if stats else {}
        if error_class is not None:
            by_class[error_class.value] = by_class.get(error_class.value, 0) + 1
        conn.execute(
            "INSERT INTO source_stats (source, hour, calls, failures, failures_by_class, latency_ms_total)"
            " VALUES (?, ?, 1, ?, ?, ?) ON CONFLICT (source, hour) DO UPDATE SET calls = calls + 1,"
            " failures = failures + excluded.failures, failures_by_class = excluded.failures_by_class,"
            " latency_ms_total = latency_ms_total + excluded.latency_ms_total",
            (source, _hour(now), 1 if error_class else 0, json.dumps(by_class), int(latency_s * 1000)))
        row = conn.execute("SELECT * FROM source_health WHERE source = ?", (source,)).fetchone()
        if error_class is not None:
            conn.execute("UPDATE source_health SET last_error = ?, last_error_class = ?, last_error_code = ?,"
                         " last_error_params_json = ?, last_failure_at = ?, updated_at = ? WHERE source = ?",
                         ((error or "")[:1000], error_class.value, error_code,
                          json.dumps(error_params or {}, ensure_ascii=False, default=str) if error_code else None,
                          ts, ts, source))
        if not outage:
            # It answered: the source is up, whatever the answer was.
            conn.execute("UPDATE source_health SET consecutive_failures = 0, last_success_at = ?, updated_at = ?"
                         " WHERE source = ?", (ts, ts, source))
            if row["state"] == "closed" and row["opened_at"] is None:
                return None
            # Back: from open or half-open, or the first answer after a person closed the breaker
            # by hand (which keeps `opened_at`: the recovery is said when it is seen, not assumed).
            conn.execute("UPDATE source_health SET state = 'closed', cooldown_s = 0, opened_at = NULL,"
                         " open_until = NULL, probe_started_at = NULL WHERE source = ?", (source,))
            _notify(conn, "source_recovered", source, ts, {"source": source, "down_since": row["opened_at"]})
            return "closed"
        failures = row["consecutive_failures"] + 1
        conn.execute("UPDATE source_health SET consecutive_failures = ? WHERE source = ?", (failures, source))
        if row["state"] == "half_open":
            cooldown = min(MAX_COOLDOWN_S, max(cooldown_s, row["cooldown_s"] * 2))
        elif row["state"] == "closed" and failures >= threshold:
            cooldown = cooldown_s
        else:
            return None
        until = now + timedelta(seconds=cooldown)
        conn.execute("UPDATE source_health SET state = 'open', cooldown_s = ?, opened_at = COALESCE(opened_at, ?),"
                     " open_until = ?, probe_started_at = NULL WHERE source = ?", (cooldown, ts, iso(until), source))
        if row["state"] == "closed":
            _notify(conn, "source_down", source, ts, {"source": source, "failures": failures,
                                                      "error": (error or "")[:300],
                                                      "error_class": error_class.value, "retry_at": iso(until)})
        return "opened"


def record_services(conn: Connection, source: str, services: dict[str, dict[str, int]], *,
                    now: datetime | None = None) -> None:
    """Count what a call's third-party link services did ({host: {"ok", "failed", "timeout"}})."""
    if not services:
        return
    hour = _hour(now or utcnow())
    with transaction(conn):
        conn.executemany(
            "INSERT INTO link_service_stats (source, service, hour, asked, answered, failed, silent)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source, service, hour) DO UPDATE SET"
            " asked = asked + excluded.asked, answered = answered + excluded.answered,"
            " failed = failed + excluded.failed, silent = silent + excluded.silent",
            [(source, host, hour, sum(c.values()), c.get("ok", 0), c.get("failed", 0), c.get("timeout", 0))
             for host, c in services.items()])


def recover_lost_probes(conn: Connection, *, now: datetime | None = None) -> list[str]:
    """At runner start: a probe left half-open by the runner that died is over, and a source found
    incompatible is checked again (the library may have been reinstalled): the next call probes."""
    ts = iso(now)
    with transaction(conn):
        return [r[0] for r in conn.execute(
            "UPDATE source_health SET state = 'open', open_until = ?, probe_started_at = NULL, updated_at = ?"
            " WHERE state IN ('half_open', 'incompatible') RETURNING source", (ts, ts))]


INCOMPATIBLE_RECHECK_S = 3600.0


def mark_incompatible(conn: Connection, source: str, error: str, *, now: datetime | None = None) -> datetime:
    """The source's library does not fit: closed to calls until it is checked again. Returns until when."""
    now = now or utcnow()
    ts, until = iso(now), now + timedelta(seconds=INCOMPATIBLE_RECHECK_S)
    with transaction(conn):
        conn.execute("INSERT OR IGNORE INTO source_health (source, updated_at) VALUES (?, ?)", (source, ts))
        row = conn.execute("SELECT state FROM source_health WHERE source = ?", (source,)).fetchone()
        conn.execute("UPDATE source_health SET state = 'incompatible', opened_at = COALESCE(opened_at, ?),"
                     " open_until = ?, probe_started_at = NULL, last_error = ?, last_error_class = 'incompatible',"
                     " last_failure_at = ?, updated_at = ? WHERE source = ?",
                     (ts, iso(until), error[:1000], ts, ts, source))
        if row["state"] != "incompatible":
            _notify(conn, "source_down", source, ts, {"source": source, "failures": 0, "error": error[:300],
                                                      "error_class": "incompatible", "retry_at": iso(until)})
    return until


def reset(conn: Connection, source: str, *, now: datetime | None = None) -> tuple[bool, int]:
    """Close a source's breaker by hand ("Try it now"). Returns whether it was open, and how
    many items that were waiting for it (deferred until its cooldown's end) are due now."""
    ts = iso(now)
    with transaction(conn):
        row = conn.execute("SELECT state, open_until FROM source_health WHERE source = ?", (source,)).fetchone()
        if row is None or row["state"] == "closed":
            return False, 0
        # `opened_at` stays: the first answer after this says the source recovered (`record`).
        conn.execute("UPDATE source_health SET state = 'closed', consecutive_failures = 0, cooldown_s = 0,"
                     " open_until = NULL, probe_started_at = NULL, updated_at = ? WHERE source = ?", (ts, source))
        released = 0
        if row["open_until"] is not None and row["open_until"] > ts:
            # An item deferred for this source waits until exactly its open_until. Queued items
            # live only in stages not yet ended: job_items_claim_idx, not a scan of all history.
            released = conn.execute(
                "UPDATE job_items SET next_attempt_at = ?, updated_at = ? WHERE stage_id IN (SELECT id FROM job_stages"
                f" WHERE status NOT IN ({', '.join('?' for _ in STAGE_FINAL)})) AND status = 'queued'"
                " AND next_attempt_at = ?", (ts, ts, *sorted(STAGE_FINAL), row["open_until"])).rowcount
        return True, released


def health(conn: Connection, *, now: datetime | None = None, hours: int = 24) -> list[dict[str, Any]]:
    """Every source seen: breaker state, last error, and calls, failures and latency over `hours`."""
    now = now or utcnow()
    since = _hour(now - timedelta(hours=hours - 1))
    out = []
    for row in conn.execute("SELECT * FROM source_health ORDER BY source"):
        stats = conn.execute("SELECT COALESCE(SUM(calls), 0), COALESCE(SUM(failures), 0),"
                             " COALESCE(SUM(latency_ms_total), 0) FROM source_stats WHERE source = ? AND hour >= ?",
                             (row["source"], since)).fetchone()
        by_class: dict[str, int] = {}
        for (blob,) in conn.execute("SELECT failures_by_class FROM source_stats WHERE source = ? AND hour >= ?",
                                    (row["source"], since)):
            for key, n in json.loads(blob).items():
                by_class[key] = by_class.get(key, 0) + n
        calls = int(stats[0])
        services = {r[0]: {"asked": r[1], "answered": r[2], "failed": r[3], "silent": r[4]} for r in conn.execute(
            "SELECT service, SUM(asked), SUM(answered), SUM(failed), SUM(silent) FROM link_service_stats"
            " WHERE source = ? AND hour >= ? GROUP BY service ORDER BY service", (row["source"], since))}
        out.append({**dict(row), "calls": calls, "failures": int(stats[1]), "failures_by_class": by_class,
                    "avg_latency_ms": round(stats[2] / calls) if calls else None, "link_services": services})
    return out


def _notify(conn: Connection, kind: str, source: str, ts: str, data: dict[str, Any]) -> None:
    conn.execute("INSERT OR IGNORE INTO notifications (kind, dedupe_key, job_id, data_json, next_attempt_at, "
                 "created_at)"
                 " VALUES (?, ?, NULL, ?, ?, ?)", (kind, f"{kind}:{source}:{ts}", json.dumps(data), ts, ts))
