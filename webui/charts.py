"""Charts drawn on the server as inline SVG: no script, no CDN, readable on a phone.

A chart is stacked bars, one per time bucket, one colour per series. Each bar carries a
`<title>` with every series' value, so a tap or a hover reads the numbers; the peak and the
time axis are HTML beside the SVG, so their text keeps its size when the bars stretch.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from catalogsync_ops.engine.activity import activity, hour_mark
from catalogsync_ops.store.connection import Connection, iso, parse_iso, utcnow
from webui.format import relative
from webui.i18n import current_language, gettext

WIDTH, HEIGHT = 10, 100  # per bar, in viewBox units


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    css: str


def number(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    if value < 1:
        return f"{value:.2g}"  # two significant digits: 0.013, 0.0042
    if value < 10:
        return f"{value:.1f}"
    return f"{value:,.0f}"


def bucket_labels(buckets: list[dict[str, Any]]) -> list[str]:
    """'07:00 UTC (5 h ago)' for each bucket, in the page's language."""
    language, now = current_language(), utcnow()
    labels = []
    for bucket in buckets:
        moment = parse_iso(bucket["start"] + ":00.000000Z")
        labels.append(f"{moment:%H:%M} UTC ({relative((now - moment).total_seconds(), language)})")
    return labels


def stacked_bars(buckets: list[dict[str, Any]], series: list[Series], value: Callable[[dict, str], float],
                 *, unit: str, label: str, labels: list[str] | None = None) -> dict[str, Any]:
    """The chart's parts for a template: `svg` (Markup), `peak` (the busiest bucket's value with its
    unit: for hourly buckets an hour's average rate, and said so on the page), `legend`
    (the series that have any value), `axis` (three relative times) and `empty`."""
    totals = [sum(value(b, s.key) for s in series) for b in buckets]
    peak = max(totals, default=0)
    language = current_language()
    now = utcnow()
    # Built as plain text (Markup.format costs a formatter per value): only the titles and the
    # label are text from outside, and they are escaped.
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH * len(buckets)} {HEIGHT}" preserveAspectRatio="none"'
             f' role="img" aria-label="{escape(label)}">']
    labels = labels or bucket_labels(buckets)
    for index, bucket in enumerate(buckets):
        values = [(s, value(bucket, s.key)) for s in series]
        detail = ", ".join(f"{s.label} {number(v)}" for s, v in values if v)
        x = index * WIDTH
        parts.append(f'<g><title>{escape(f"{labels[index]}: {detail or 0} {unit}")}</title>'
                     f'<rect class="hit" x="{x}" y="0" width="{WIDTH}" height="{HEIGHT}"/>')
        y = HEIGHT
        for s, v in values:
            if not v or not peak:
                continue
            h = max(0.8, (HEIGHT - 2) * v / peak)
            y -= h
            parts.append(f'<rect class="{s.css}" x="{x + 1}" y="{y:.2f}" width="{WIDTH - 2}" height="{h:.2f}"/>')
        parts.append("</g>")
    parts.append("</svg>")
    first = parse_iso(buckets[0]["start"] + ":00.000000Z") if buckets else now
    middle = parse_iso(buckets[len(buckets) // 2]["start"] + ":00.000000Z") if buckets else now
    return {
        "svg": Markup("".join(parts)),
        "peak": f"{number(peak)} {unit}",
        "legend": [s for s in series if any(value(b, s.key) for b in buckets)],
        "axis": [relative((now - first).total_seconds(), language),
                 relative((now - middle).total_seconds(), language), gettext("now")],
        "empty": peak == 0,
    }


def activity_charts(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The dashboard's three pictures of the last day: items per minute and MB/s per stage,
    failed attempts per error class."""
    buckets = data["buckets"]
    labels = bucket_labels(buckets)
    stages = [Series(s, gettext(s), f"s-{s}") for s in ("collect", "sync", "download", "upload")]
    classes = [Series(c, gettext(c), f"c{i % 6}") for i, c in enumerate(data["failed"])]
    return {
        "items": stacked_bars(buckets, stages, lambda b, k: b["per_minute"][k], unit=gettext("items/min"),
                              label=gettext("Items finished per minute, by stage"), labels=labels),
        "bytes": stacked_bars(buckets, stages[2:], lambda b, k: b["bytes_per_s"][k] / 1e6, unit="MB/s",
                              label=gettext("MB/s moved, by stage"), labels=labels),
        "failed": stacked_bars(buckets, classes, lambda b, k: b["failed"].get(k, 0),
                               unit=gettext("failed attempts per hour"),
                               label=gettext("Failed attempts, by error class"), labels=labels),
    }




_drawn_lock = threading.Lock()
_drawn: dict[tuple, tuple[dict[str, Any], dict[str, dict[str, Any]]]] = {}


def day_and_charts(conn: Connection, language: str, database: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The day's numbers and charts, drawn again only when they can have changed: a new minute
    (the current hour's rate, the relative times) or an attempt that ended this hour. The
    dashboard is fetched again at every change the runner makes; most do not touch the charts."""
    now = utcnow()
    hour = hour_mark(conn, now)
    key = (database, language, iso(now)[:16], hour[0], hour[1])
    with _drawn_lock:
        drawn = _drawn.get(key)
    if drawn is None:
        day = activity(conn, now=now)
        drawn = (day, activity_charts(day))
        with _drawn_lock:
            if len(_drawn) >= 8:
                _drawn.clear()
            _drawn[key] = drawn
    return drawn
