"""What the runner did over the last hours, for the console's charts.

Reads `activity_hours` (kept by a trigger as each attempt ends: schema v7), never the
attempts themselves, so a day is 24 hours x a few stages and outcomes.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from catalogsync_ops.store.connection import Connection, iso, transaction, utcnow

STAGES = ("collect", "sync", "download", "upload")
KEEP_DAYS = 8


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
    rows = conn.execute("SELECT hour, stage_type, outcome, items, bytes FROM activity_hours WHERE hour >= ?",
                        (iso(start)[:13],))
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


def prune_activity(conn: Connection, *, keep_days: int = KEEP_DAYS, now: datetime | None = None) -> int:
    """Drop chart rows older than `keep_days` (the charts show one day); returns how many went."""
    cutoff = iso((now or utcnow()) - timedelta(days=keep_days))
    with transaction(conn):
        gone = conn.execute("DELETE FROM activity_hours WHERE hour < ?", (cutoff[:13],)).rowcount
        gone += conn.execute("DELETE FROM throughput_minutes WHERE minute < ?", (cutoff[:16],)).rowcount
    return gone


def hour_mark(conn: Connection, now: datetime | None = None) -> tuple[int, int]:
    """This hour's activity rows and items: it changes when an attempt ends this hour (the charts
    are drawn again only then)."""
    row = conn.execute("SELECT COUNT(*), COALESCE(SUM(items), 0) FROM activity_hours WHERE hour = ?",
                       (iso(now or utcnow())[:13],)).fetchone()
    return int(row[0]), int(row[1])
