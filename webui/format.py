"""How pages show times and sizes: relative times in the reader's language, the exact UTC time
on hover (and in `datetime` for scripts)."""
from __future__ import annotations

import functools

from markupsafe import Markup, escape

from catalogsync_ops.quality import RUNG_LABELS, label, shares
from catalogsync_ops.store.connection import parse_iso, utcnow
from webui import i18n
from webui.i18n import Np_

# A time before now and one to come, for each unit (the catalogue gives each language its words
# and plural forms).
_UNITS = (
    (86400, Np_("%(n)s day ago", "%(n)s days ago"), Np_("in %(n)s day", "in %(n)s days")),
    (3600, Np_("%(n)s h ago", "%(n)s h ago"), Np_("in %(n)s h", "in %(n)s h")),
    (60, Np_("%(n)s min ago", "%(n)s min ago"), Np_("in %(n)s min", "in %(n)s min")),
    (1, Np_("%(n)s s ago", "%(n)s s ago"), Np_("in %(n)s s", "in %(n)s s")),
)


def relative(seconds: float, language: str | i18n.Language | None = None) -> str:
    """'3 min ago' / '3 分钟前'; 'in 3 min' / '3 分钟后' for a time to come."""
    lang = language if isinstance(language, i18n.Language) else i18n.language(language)
    ahead, seconds = seconds < 0, abs(seconds)
    if seconds < 5:
        return lang.gettext("just now")
    for size, past, future in _UNITS:
        if seconds >= size:
            n = int(seconds // size)
            singular, plural = future if ahead else past
            return lang.ngettext(singular, plural, n) % {"n": n}
    return ""


def when(value: str | None, lang: i18n.Language | None = None, now=None) -> Markup:
    """A stored UTC time as `<time>`: relative under a week, the date beyond; exact on hover.
    A list of rows passes the page's language and the moment once (`lang`, `now`)."""
    if not value:
        return _NO_TIME
    try:
        moment = parse_iso(value)
    except ValueError:
        return Markup(escape(value))
    seconds = ((now or utcnow()) - moment).total_seconds()
    shown = relative(seconds, lang or i18n.language()) if abs(seconds) < 7 * 86400 else value[:10]
    # Plain text, escaped once (pages show hundreds of times; a stored time has no markup in it,
    # and one that is not ours was answered above).
    return Markup(f'<time datetime="{value}" title="{value[:10]} {value[11:19]} UTC">{escape(shown)}</time>')


_NO_TIME = Markup("—")


def quality_shares(counts) -> list[tuple[str, int, int]]:
    """(rung's words, songs, whole percent) best rung first: for the words under a coverage bar."""
    return [(RUNG_LABELS.get(rung, rung), n, round(pct)) for rung, n, pct in shares(counts or {})]


def quality_of(row) -> str:
    """A file's quality from its row ("FLAC 16/44.1", "MP3 320k"), or "" if never read."""
    return label(row["codec"], row["quality"], row["bitrate_kbps"], row["sample_rate"], row["bit_depth"],
                 row["spectrum"], row["cutoff_hz"])


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
