"""Charts drawn on the server as inline SVG: no script, no CDN, readable on a phone.

A chart is stacked bars, one per time bucket, one colour per series. Each bar carries a
`<title>` with every series' value, so a tap or a hover reads the numbers; the peak and the
time axis are HTML beside the SVG, so their text keeps its size when the bars stretch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from markupsafe import Markup

from catalogsync_ops.store.connection import parse_iso, utcnow
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


def stacked_bars(buckets: list[dict[str, Any]], series: list[Series], value: Callable[[dict, str], float],
                 *, unit: str, label: str) -> dict[str, Any]:
    """The chart's parts for a template: `svg` (Markup), `peak` (text with its unit), `legend`
    (the series that have any value), `axis` (three relative times) and `empty`."""
    totals = [sum(value(b, s.key) for s in series) for b in buckets]
    peak = max(totals, default=0)
    language = current_language()
    now = utcnow()
    parts = [Markup('<svg class="chart" viewBox="0 0 {} {}" preserveAspectRatio="none" role="img" aria-label="{}">')
             .format(WIDTH * len(buckets), HEIGHT, label)]
    for index, bucket in enumerate(buckets):
        moment = parse_iso(bucket["start"] + ":00.000000Z")
        ago = relative((now - moment).total_seconds(), language)
        values = [(s, value(bucket, s.key)) for s in series]
        detail = ", ".join(f"{s.label} {number(v)}" for s, v in values if v)
        title = f"{moment:%H:%M} UTC ({ago}): {detail or '0'} {unit}"
        x = index * WIDTH
        parts.append(Markup('<g><title>{}</title><rect class="hit" x="{}" y="0" width="{}" height="{}"/>')
                     .format(title, x, WIDTH, HEIGHT))
        y = HEIGHT
        for s, v in values:
            if not v or not peak:
                continue
            h = max(0.8, (HEIGHT - 2) * v / peak)
            y -= h
            parts.append(Markup('<rect class="{}" x="{}" y="{:.2f}" width="{}" height="{:.2f}"/>')
                         .format(s.css, x + 1, y, WIDTH - 2, h))
        parts.append(Markup("</g>"))
    parts.append(Markup("</svg>"))
    first = parse_iso(buckets[0]["start"] + ":00.000000Z") if buckets else now
    middle = parse_iso(buckets[len(buckets) // 2]["start"] + ":00.000000Z") if buckets else now
    return {
        "svg": Markup("").join(parts),
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
    stages = [Series(s, gettext(s), f"s-{s}") for s in ("collect", "sync", "download", "upload")]
    classes = [Series(c, gettext(c), f"c{i % 6}") for i, c in enumerate(data["failed"])]
    return {
        "items": stacked_bars(buckets, stages, lambda b, k: b["per_minute"][k], unit=gettext("items/min"),
                              label=gettext("Items finished per minute, by stage")),
        "bytes": stacked_bars(buckets, stages[2:], lambda b, k: b["bytes_per_s"][k] / 1e6, unit="MB/s",
                              label=gettext("MB/s moved, by stage")),
        "failed": stacked_bars(buckets, classes, lambda b, k: b["failed"].get(k, 0),
                               unit=gettext("failed attempts per hour") if data["bucket_minutes"] == 60
                               else f"{gettext('failed attempts')} / {data['bucket_minutes']} min",
                               label=gettext("Failed attempts, by error class")),
    }


