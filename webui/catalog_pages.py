"""Playlists, songs and workers, and logs: read-only pages over the catalog and the runner."""
from __future__ import annotations

import json

from flask import Blueprint, Response, abort, render_template, request, url_for
from markupsafe import Markup, escape

from catalogsync_ops.engine.command_specs import REPAIRABLE_DRIFT
from catalogsync_ops.engine.queries import (
    LOG_LEVELS,
    WANTED_STATES,
    current_workers,
    latest_job,
    list_logs,
    missing_counts,
    missing_songs,
)
from catalogsync_ops.library.catalog_reads import (
    files_below,
    find_songs,
    get_playlist,
    playlist_page,
    pools_with_counts,
    unresolved_of_page,
)
from catalogsync_ops.library.coverage import (
    missing,
    missing_csv,
    missing_json,
    read_all_coverage,
    read_coverage,
    songs_of,
)
from catalogsync_ops.library.drift import DriftKind, drift_counts, list_drift
from catalogsync_ops.messages import from_stored
from catalogsync_ops.quality import RUNGS, rung_rank
from webui.context import arg_int, env_settings, get_db, library_dir
from webui.format import coverage_bar, quality_of, when
from webui.i18n import N_, cell_words, coded_text, gettext

bp = Blueprint("catalog", __name__)
PAGE_SIZE = 50
SONGS_SHOWN = 1000  # a playlist page lists this many songs; the missing list has them all
DRIFT_SHOWN = 200
LEVELS = LOG_LEVELS


@bp.route("/playlists")
def playlists():
    conn = get_db()
    pools = pools_with_counts(conn)
    after = arg_int("after", 0)
    # The counts are the runner's (kept after each job): a page view never walks the catalog.
    rows = playlist_page(conn, after_id=after, limit=PAGE_SIZE)
    counts = read_all_coverage(conn, [r["id"] for r in rows])
    unresolved = unresolved_of_page(conn, after_id=after, limit=PAGE_SIZE)
    partial = [{**dict(r), "partial_reason": said(r["partial_reason"])} for r in rows if r["partial_reason"]]
    total = counts.get(0)
    return render_template("playlists.html", title=N_("Playlists"), pools=pools, playlists=rows, page_size=PAGE_SIZE,
                           unresolved=unresolved, partial=partial, counts=counts, total=total,
                           playlist_rows=playlist_rows, below_top=below_top(total["quality"] if total else None))


def said(text: str | None) -> str | None:
    """A reason the runner stored (messages.stored): a coded one in the page's language."""
    value = from_stored(text)
    return coded_text(value["code"], value.get("params") or {}) if isinstance(value, dict) else value


def below_top(quality: dict | None) -> int:
    """How many songs' files are below the top rung of DOWNLOAD_QUALITY (an upgrade's songs)."""
    below = rungs_below_top()
    return sum(n for rung, n in (quality or {}).items() if rung in below or rung not in RUNGS)


def rungs_below_top() -> tuple[str, ...]:
    """The rungs below the top one DOWNLOAD_QUALITY asks for."""
    ladder = (env_settings() or {}).get("DOWNLOAD_QUALITY") or RUNGS
    return tuple(rung for rung in RUNGS if rung_rank(rung) > rung_rank(ladder[0]))


def playlist_rows(rows, counts: dict) -> Markup:
    """The playlists table's rows, built as text: 50 rows of 10 cells through the template
    engine were most of the page's time (an escape and a yield per value)."""
    base = url_for("catalog.playlists")
    out = []
    for p in rows:
        c = counts.get(p["id"])
        pid = p["id"]
        if c and c["wanted"]:
            share = round(100 * c["in_library"] / c["wanted"])
            coverage = f"{coverage_bar(c)} <small>{share}%</small>"
        else:
            coverage = "—"
        failed = c["failed"] if c else "—"
        failed_class = ' class="error"' if c and c["failed"] else ""
        unresolved = (f'<a href="#unresolved-{pid}" class="warn">{p["unresolved_count"]}</a>'
                      if p["unresolved_count"] else "0")
        if p["partial_reason"]:
            label = (gettext("partial: %(n)s not read") % {"n": p["missing_count"]} if p["missing_count"]
                     else gettext("partial"))
            unresolved += f' <a href="#partial-{pid}" class="warn partial">{escape(label)}</a>'
        out.append(
            f'<tr data-playlist="{pid}"><td><a href="{base}/{pid}">{escape(p["title"] or p["url"])}</a></td>'
            f'<td>{escape(p["platform"])}</td><td>{c["wanted"] if c else "—"}</td>\n'
            f'    <td class="coverage">{coverage}</td>\n'
            f'    <td>{c["backed_up"] if c else "—"}</td><td{failed_class}>{failed}</td>'
            f'<td>{c["untried"] if c else "—"}</td>\n'
            f'    <td>{unresolved}</td><td>{when(p["last_synced_at"])}</td>'
            f'<td class="error">{escape(p["last_error"] or "")}</td></tr>')
    return Markup("".join(out))


@bp.route("/playlists/<int:playlist_id>")
def playlist(playlist_id: int):
    conn = get_db()
    row = get_playlist(conn, playlist_id)
    if row is None:
        abort(404, description=gettext("playlist %(id)s does not exist") % {"id": playlist_id})
    root = library_dir()
    songs = songs_of(conn, str(root), playlist_id) if root else []
    return render_template("playlist.html", title=row["title"] or row["url"], playlist=row, songs=songs[:SONGS_SHOWN],
                           more=max(0, len(songs) - SONGS_SHOWN), counts=read_coverage(conn, playlist_id),
                           song_rows=song_rows)


def song_rows(songs) -> Markup:
    """A playlist's songs table, built as text (as `playlist_rows`): up to SONGS_SHOWN rows."""
    word = cell_words()
    base = url_for("pages.item", item_id=0)[:-1]
    attempts = escape(gettext("attempts"))
    out = []
    for s in songs:
        state = s["state"]
        error = f' <small class="error">{word(s["error_class"])}</small>' if s["error_class"] else ""
        link = f'<a href="{base}{s["item_id"]}">{attempts}</a>' if s["item_id"] else ""
        out.append(
            f'<tr data-song="{s["song_id"]}"><td>{s["position"]}</td><td>{escape(s["artists"])} - '
            f'{escape(s["title"])}</td><td>{escape(s["album"] or "")}</td>\n'
            f'      <td><span class="status" data-state="{escape(state)}">{word(state)}</span>{error}</td>\n'
            f'      <td class="quality" data-rung="{escape(s["quality"] or "")}">{escape(quality_of(s))}</td>\n'
            f'      <td>{link}</td></tr>\n')
    return Markup("".join(out))


@bp.route("/playlists/missing.<any(csv, json):form>")
@bp.route("/playlists/<int:playlist_id>/missing.<any(csv, json):form>")
def missing_list(form: str, playlist_id: int | None = None):
    """The songs not in the library, as CSV (UTF-8 with a byte-order mark, for Excel) or JSON."""
    conn = get_db()
    if playlist_id is not None and get_playlist(conn, playlist_id) is None:
        abort(404, description=gettext("playlist %(id)s does not exist") % {"id": playlist_id})
    root = library_dir()
    rows = missing(conn, str(root), playlist_id) if root else []
    name = f"missing-{playlist_id or 'all'}.{form}"
    if form == "csv":
        response = Response(missing_csv(rows), mimetype="text/csv; charset=utf-8")
    else:
        response = Response(json.dumps(missing_json(rows), ensure_ascii=False, indent=1),
                            mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.route("/drift")
def drift():
    """What the last verify found, the buttons that start a verify and queue repairs."""
    conn = get_db()
    include_resolved = request.args.get("all") == "1"
    kind = request.args.get("kind") if request.args.get("kind") in {k.value for k in DriftKind} else None
    rows = list_drift(conn, kind=kind, include_resolved=include_resolved, limit=DRIFT_SHOWN,
                      after_id=arg_int("after", 0) or None)
    last, repair = latest_job(conn, "verify"), latest_job(conn, "repair")
    return render_template("drift.html", title=gettext("Verify and drift"), rows=rows, kind=kind,
                           include_resolved=include_resolved, counts=drift_counts(conn),
                           open_counts=drift_counts(conn, status="open"), last=last, repair=repair,
                           last_deep=bool(last and json.loads(last["scope_json"] or "{}").get("deep")),
                           kinds=[k.value for k in DriftKind], repairable=REPAIRABLE_DRIFT, shown=DRIFT_SHOWN)


@bp.route("/songs")
def songs():
    conn = get_db()
    workers = current_workers(conn)
    query = request.args.get("q", "").strip()
    found = find_songs(conn, query, after_id=arg_int("after", 0), limit=PAGE_SIZE) if query else []
    return render_template("songs.html", title=N_("Songs and workers"), workers=workers, query=query,
                           songs=with_artists(found),
                           page_size=PAGE_SIZE)


@bp.route("/workers/cards")
def worker_cards():
    """The workers' cards alone: the songs page swaps them in once a second, so a new worker gets
    its card and every time moves on without a reload."""
    return render_template("_workers.html", workers=current_workers(get_db()))


@bp.route("/logs")
def logs():
    level = request.args.get("level", "")
    job = arg_int("job")
    text = request.args.get("q", "").strip()
    rows = list_logs(get_db(), level=level if level in LEVELS else None, job_id=job, text=text or None,
                     before_id=arg_int("before"), limit=PAGE_SIZE)
    return render_template("logs.html", title=N_("Logs"), rows=rows, levels=LEVELS, level=level, job=job, q=text,
                           page_size=PAGE_SIZE)


def with_artists(rows) -> list[dict]:
    """Song rows as pages and the API show them: the artists (a JSON list) as one text."""
    return [{**dict(r), "artists": ", ".join(json.loads(r["artists"] or "[]"))} for r in rows]


def wanted_rows(conn, state: str | None, after: int, limit: int) -> list[dict]:
    """The wanted list's songs as pages and the API show them (artists as one text)."""
    return with_artists(missing_songs(conn, state=state, after_id=after, limit=limit))


def below_rows(conn, after: int, limit: int) -> list[dict]:
    """Songs in the library below the quality asked for (an upgrade's songs), with what each file
    is, as pages and the API show them (artists as one text)."""
    root = library_dir()
    if root is None:
        return []
    return with_artists(files_below(conn, str(root), rungs_below_top(), after_song=after, limit=limit))


def wanted_state() -> str | None:
    state = request.args.get("state")
    if state is not None and state not in WANTED_STATES:
        abort(400, description=gettext("'state' must be one of %(states)s") % {"states": ", ".join(WANTED_STATES)})
    return state


@bp.route("/wanted")
def wanted():
    """Wanted songs the library could not get: missing or unavailable, with what to do about them."""
    conn = get_db()
    state = wanted_state()
    rows = wanted_rows(conn, state, arg_int("after", 0), PAGE_SIZE)
    below = below_rows(conn, arg_int("below_after", 0), PAGE_SIZE)
    return render_template("wanted.html", title=N_("Wanted"), rows=rows, counts=missing_counts(conn), state=state,
                           states=WANTED_STATES, page_size=PAGE_SIZE, below=below)
