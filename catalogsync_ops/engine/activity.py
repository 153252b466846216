"""What the runner did: the console's charts, the last hour's gauge and the lifetime totals.

Each attempt that ends adds to its minute's row of `activity_minutes` (one trigger, schema
v18); `fold_minutes`, in the runner's hourly housekeeping, moves the minutes older than the
previous hour into `activity_hours` (the charts' past) and `transfer_totals` (lifetime). Each
reader adds the minutes not yet moved, so what it reads does not depend on when the fold ran.
Never the attempts themselves: a day is 24 hours x a few stages and outcomes.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from catalogsync_ops.store.connection import Connection, iso, transaction, utcnow

STAGES = ("collect", "sync", "download", "upload")
KEEP_DAYS = 8
# A chart's outcome: `succeeded`, or a failure's error class.
_CHART_OUTCOME = "CASE WHEN outcome = 'succeeded' THEN 'succeeded' ELSE error_class END"
# The hours from a start: the folded ones and the minutes not yet folded, summed by hour.
_HOURS = ("SELECT hour, stage_type, outcome, SUM(items), SUM(bytes) FROM ("
          "SELECT hour, stage_type, outcome, items, bytes FROM activity_hours WHERE hour >= ?"
          " UNION ALL SELECT substr(minute, 1, 13), stage_type, " + _CHART_OUTCOME + ", items, bytes"
          " FROM activity_minutes WHERE minute >= ? AND outcome IN ('succeeded', 'failed'))"
          " GROUP BY 1, 2, 3")


def activity(conn: Connection, *, hours: int = 24, now: datetime | None = None) -> dict[str, Any]:
    """Per hour (oldest first): items finished and bytes moved per stage, failed attempts per
    error class, and the rates (items/min, bytes/s) over the minutes the hour has lasted so
    far, so the hour holding now is not understated."""
    moment = (now or utcnow()).replace(second=0, microsecond=0)
    start = moment.replace(minute=0) - timedelta(hours=hours - 1)
    buckets, index = [], {}
    for i in range(hours):
        begins = start + timedelta(hours=i)
        lasted = min(60, int((moment - begins).total_seconds() // 60) + 1)
        index[iso(begins)[:13]] = i
        buckets.append({"start": iso(begins)[:16], "minutes": lasted, "items": dict.fromkeys(STAGES, 0),
                        "bytes": dict.fromkeys(STAGES, 0), "failed": {}})
    classes: dict[str, int] = {}
    rows = conn.execute(_HOURS, (iso(start)[:13], iso(start)[:16]))
    for hour, stage, outcome, items, moved in rows:
        if hour not in index:
            continue
        bucket = buckets[index[hour]]
        if outcome == "succeeded":
            if stage in bucket["items"]:
                bucket["items"][stage] += items
                bucket["bytes"][stage] += moved
        else:
            bucket["failed"][outcome] = bucket["failed"].get(outcome, 0) + items
            classes[outcome] = classes.get(outcome, 0) + items
    for bucket in buckets:
        bucket["per_minute"] = {s: n / bucket["minutes"] for s, n in bucket["items"].items()}
        bucket["bytes_per_s"] = {s: n / (bucket["minutes"] * 60) for s, n in bucket["bytes"].items()}
    return {
        "buckets": buckets,
        "items": {s: sum(b["items"][s] for b in buckets) for s in STAGES},
        "bytes": {s: sum(b["bytes"][s] for b in buckets) for s in STAGES},
        "failed": dict(sorted(classes.items(), key=lambda kv: -kv[1])),
    }


def fold_minutes(conn: Connection, *, now: datetime | None = None) -> int:
    """Move the minutes before the previous hour into the hours and the lifetime totals (one
    transaction, a few hundred rows at most an hour); returns how many minutes' rows went."""
    before = iso((now or utcnow()).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1))[:16]
    with transaction(conn):
        conn.execute(
            "INSERT INTO activity_hours (hour, stage_type, outcome, items, bytes)"
            " SELECT substr(minute, 1, 13), stage_type, " + _CHART_OUTCOME + ", SUM(items), SUM(bytes)"
            " FROM activity_minutes WHERE minute < ? AND outcome IN ('succeeded', 'failed') GROUP BY 1, 2, 3"
            " ORDER BY 1, 2, 3"
            " ON CONFLICT (hour, stage_type, outcome) DO UPDATE SET items = items + excluded.items,"
            " bytes = bytes + excluded.bytes", (before,))
        conn.execute(
            "INSERT INTO transfer_totals (stage_type, outcome, attempts, bytes)"
            " SELECT stage_type, outcome, SUM(items), SUM(bytes) FROM activity_minutes WHERE minute < ?"
            " GROUP BY 1, 2 ORDER BY 1, 2"
            " ON CONFLICT (stage_type, outcome) DO UPDATE SET attempts = attempts + excluded.attempts,"
            " bytes = bytes + excluded.bytes", (before,))
        return conn.execute("DELETE FROM activity_minutes WHERE minute < ?", (before,)).rowcount


def prune_activity(conn: Connection, *, keep_days: int = KEEP_DAYS, now: datetime | None = None) -> int:
    """Fold the minutes past the previous hour into the hours and totals, then drop chart hours
    older than `keep_days` (the charts show one day); returns how many hours went."""
    fold_minutes(conn, now=now)
    cutoff = iso((now or utcnow()) - timedelta(days=keep_days))
    with transaction(conn):
        return conn.execute("DELETE FROM activity_hours WHERE hour < ?", (cutoff[:13],)).rowcount


def hour_mark(conn: Connection, now: datetime | None = None) -> tuple[int, int]:
    """This hour's activity rows and items: it changes when an attempt ends this hour (the charts
    are drawn again only then)."""
    hour = iso(now or utcnow())[:13]
    row = conn.execute("SELECT COUNT(*), COALESCE(SUM(items), 0) FROM activity_minutes WHERE minute >= ?"
                       " AND outcome IN ('succeeded', 'failed')", (hour,)).fetchone()
    old = conn.execute("SELECT COUNT(*), COALESCE(SUM(items), 0) FROM activity_hours WHERE hour = ?",
                       (hour,)).fetchone()
    return int(row[0]) + int(old[0]), int(row[1]) + int(old[1])


def transfer_totals(conn: Connection) -> list[tuple[str, str, int, int]]:
    """Lifetime (stage, attempt outcome, attempts, bytes): the folded totals and the minutes since."""
    return [tuple(r) for r in conn.execute(
        "SELECT stage_type, outcome, SUM(attempts), SUM(bytes) FROM (SELECT stage_type, outcome, attempts, bytes"
        " FROM transfer_totals UNION ALL SELECT stage_type, outcome, items, bytes FROM activity_minutes)"
        " GROUP BY 1, 2 ORDER BY 1, 2")]


def succeeded_since(conn: Connection, since: datetime) -> int:
    """Attempts that succeeded from `since` (to the minute) on: items finished, every success
    ending its attempt. For the last hour's gauge (the minutes of the last two hours are kept)."""
    return int(conn.execute("SELECT COALESCE(SUM(items), 0) FROM activity_minutes WHERE minute >= ?"
                            " AND outcome = 'succeeded'", (iso(since)[:16],)).fetchone()[0])
