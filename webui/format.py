"""How pages show times and sizes: relative times in the reader's language, the exact UTC time
on hover (and in `datetime` for scripts)."""
from __future__ import annotations

import functools

from flask import g
from markupsafe import Markup, escape

from catalogsync_ops.store.connection import parse_iso, utcnow
from webui.i18n import current_language

_UNITS = ((86400, "day", "天"), (3600, "h", "小时"), (60, "min", "分钟"), (1, "s", "秒"))


def relative(seconds: float, language: str) -> str:
    """'3 min ago' / '3 分钟前'; 'in 3 min' / '3 分钟后' for a time to come."""
    ahead, seconds = seconds < 0, abs(seconds)
    if seconds < 5:
        return "刚刚" if language == "zh" else "just now"
    for size, en, zh in _UNITS:
        if seconds >= size:
            n = int(seconds // size)
            if language == "zh":
                return f"{n} {zh}{'后' if ahead else '前'}"
            unit = f"{en}s" if en == "day" and n != 1 else en
            return f"in {n} {unit}" if ahead else f"{n} {unit} ago"
    return ""


def when(value: str | None) -> Markup:
    """A stored UTC time as `<time>`: relative under a week, the date beyond; exact on hover."""
    if not value:
        return Markup("—")
    try:
        moment = parse_iso(value)
    except ValueError:
        return Markup(escape(value))
    seconds = (utcnow() - moment).total_seconds()
    exact = f"{value[:10]} {value[11:19]} UTC"
    language = g.get("lang") or current_language()
    shown = relative(seconds, language) if abs(seconds) < 7 * 86400 else value[:10]
    # Plain text, escaped (Markup.format runs a formatter per value: pages show hundreds of times).
    return Markup(f'<time datetime="{escape(value)}" title="{escape(exact)}">{escape(shown)}</time>')


def coverage_bar(c) -> Markup:
    """A coverage bar: in the library (full height) and backed up (a stripe at the foot), as
    shares of wanted. Drawn once per set of counts (a page of playlists repeats them)."""
    if not c or not c["wanted"]:
        return Markup("")
    return _bar(int(c["wanted"]), int(c["in_library"]), int(c["backed_up"]))


@functools.lru_cache(maxsize=4096)
def _bar(wanted: int, in_library: int, backed_up: int) -> Markup:
    down, up = round(100 * in_library / wanted, 1), round(100 * backed_up / wanted, 1)
    return Markup(f'<svg class="coverage-bar" viewBox="0 0 100 10" preserveAspectRatio="none" role="img"'
                  f' aria-label="{round(100 * in_library / wanted)}%"><rect class="whole" width="100" height="10"/>'
                  f'<rect class="down" width="{down}" height="10"/><rect class="up" y="7" width="{up}" '
                  'height="3"/></svg>')
