"""What the runner did over the last hours, for the console's charts.

Reads `activity_minutes` (kept by a trigger as each attempt ends: schema v7), never the
attempts themselves, so a day is at most 1,440 minutes x a few stages and outcomes.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from catalogsync_ops.store.connection import Connection, iso, transaction, utcnow

STAGES = ("collect", "sync", "download", "upload")
KEEP_DAYS = 8


def activity(conn: Connection, *, hours: int = 24, bucket_minutes: int = 60,
             now: datetime | None = None) -> dict[str, Any]:
    """Per bucket (oldest first): items finished and bytes moved per stage, failed attempts per
    error class, and the rates (items/min, bytes/s) over the minutes the bucket has lasted so
    far, so the bucket holding now is not understated."""
    if 60 % bucket_minutes and bucket_minutes % 60:
        raise ValueError("bucket_minutes must divide an hour or be whole hours")
    moment = (now or utcnow()).replace(second=0, microsecond=0)
    since_midnight = moment.hour * 60 + moment.minute
    last = moment - timedelta(minutes=since_midnight % bucket_minutes)  # the bucket holding now
    start = last - timedelta(minutes=hours * 60 - bucket_minutes)
    buckets = []
    for i in range(hours * 60 // bucket_minutes):
        begins = start + timedelta(minutes=i * bucket_minutes)
        lasted = min(bucket_minutes, int((moment - begins).total_seconds() // 60) + 1)
        buckets.append({"start": iso(begins)[:16], "minutes": lasted, "items": dict.fromkeys(STAGES, 0),
                        "bytes": dict.fromkeys(STAGES, 0), "failed": {}})
    classes: dict[str, int] = {}
    rows = conn.execute("SELECT minute, stage_type, outcome, items, bytes FROM activity_minutes WHERE minute >= ?",
                        (iso(start)[:16],))
    for minute, stage, outcome, items, moved in rows:
        at = datetime.strptime(minute, "%Y-%m-%dT%H:%M").replace(tzinfo=start.tzinfo)
        index = int((at - start).total_seconds() // 60) // bucket_minutes
        if not 0 <= index < len(buckets):
            continue
        bucket = buckets[index]
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
        "hours": hours, "bucket_minutes": bucket_minutes, "buckets": buckets,
        "items": {s: sum(b["items"][s] for b in buckets) for s in STAGES},
        "bytes": {s: sum(b["bytes"][s] for b in buckets) for s in STAGES},
        "failed": dict(sorted(classes.items(), key=lambda kv: -kv[1])),
    }


def prune_activity(conn: Connection, *, keep_days: int = KEEP_DAYS, now: datetime | None = None) -> int:
    """Drop chart rows older than `keep_days` (the charts show one day); returns how many went."""
    cutoff = iso((now or utcnow()) - timedelta(days=keep_days))[:16]
    with transaction(conn):
        gone = conn.execute("DELETE FROM activity_minutes WHERE minute < ?", (cutoff,)).rowcount
        gone += conn.execute("DELETE FROM throughput_minutes WHERE minute < ?", (cutoff,)).rowcount
    return gone
