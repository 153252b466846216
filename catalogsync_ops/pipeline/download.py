"""Download: find a song on the sources in order, fetch it into the library, check and tag it."""
from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catalogsync_ops.engine import breakers
from catalogsync_ops.errors import Deferred, ErrorClass, SourceError
from catalogsync_ops.fileio import atomic_tmp, make_folders, write_atomic
from catalogsync_ops.library import catalog
from catalogsync_ops.library.covers import fetch_cover
from catalogsync_ops.library.layout import check_inside, lyrics_beside, render_layout, resolve_collision, set_aside
from catalogsync_ops.library.matching import THRESHOLD, best_match
from catalogsync_ops.library.tagging import lrc_lines, read_tags, write_tags
from catalogsync_ops.messages import as_param
from catalogsync_ops.pipeline.context import STALE_LINK, Outcome, WorkContext, is_retryable
from catalogsync_ops.quality import RUNGS, ext_for, judged, probe, rung_rank
from catalogsync_ops.sources.base import Resolved, Track
from catalogsync_ops.transfer.audio import looks_like_preview
from catalogsync_ops.transfer.downloader import (
    commit_file,
    fetch,
    part_files,
    part_path_for,
    remove_partial,
    sha256_file,
)


def _layout_fields(ctx: WorkContext, song_id: int, track: Track, ext: str) -> dict[str, Any]:
    return {"artist": track.artist_text or "Unknown Artist", "album": track.album or "Unknown Album",
            "title": track.title, "ext": ext, "track": f"{track.track_no:02d}" if track.track_no else "00",
            "platform": track.platform, "playlist": catalog.first_playlist_title(ctx.conn, song_id) or "No Playlist",
            "song_id": song_id}


def _adopt(ctx: WorkContext, song_id: int) -> Outcome | None:
    """A file of this song already in place with its recorded size and hash: nothing to fetch."""
    rows = ctx.conn.execute("SELECT * FROM file_locations WHERE song_id = ? AND library_root = ? ORDER BY id DESC",
                            (song_id, ctx.library_root)).fetchall()
    for row in rows:
        path = Path(row["library_root"]) / row["rel_path"]
        if path.is_file() and path.stat().st_size == row["size_bytes"] and sha256_file(path) == row["sha256"]:
            remove_partial(path)  # leftovers of an attempt that died after the rename
            if row["verified_at"] is None:
                catalog.mark_file_verified(ctx.conn, row["id"], mtime_ns=path.stat().st_mtime_ns)
            details = {"adopted": True, "path": row["rel_path"], "file_id": row["id"]}
            if row["lyrics_sha256"]:
                details["lyrics"] = _restore_lyrics(ctx, song_id, row, path)
            return Outcome(source=row["source"], bytes_done=0, details=details)
    return None


def _restore_lyrics(ctx: WorkContext, song_id: int, row, path: Path) -> str:
    """Put a song's .lrc back as it was recorded, if it went missing or was changed: from the
    lyrics embedded in the song, else from its own platform. Returns what was done."""
    sidecar = sidecar_of(path)
    if sidecar.is_file() and sha256_file(sidecar) == row["lyrics_sha256"]:
        return "in place"
    text = read_tags(path).get("lyrics") or None
    if text is None:
        song = catalog.track_of(ctx.conn.execute("SELECT * FROM songs WHERE id = ?", (song_id,)).fetchone())
        try:
            text = ctx.source(song.platform).lyrics(song)
        except SourceError as exc:
            return f"not restored: {exc}"
    if not text:
        return "not restored: no lyrics to be had"
    catalog.record_lyrics(ctx.conn, row["id"], row["lyrics"] or "synced", write_atomic(sidecar, text.encode("utf-8")))
    return "restored"


# Paths being downloaded right now, by the song that holds them: two songs that want the same
# path at once (the same title and album on two platforms) must not write one file.
_reserved: dict[tuple[str, str], int] = {}
_reserved_lock = threading.Lock()


@contextmanager
def _reserve_path(ctx: WorkContext, song_id: int, rel: str) -> Iterator[str]:
    """Choose a free path for the song and hold it until the download is over."""
    root = Path(ctx.library_root)

    def is_free(candidate: str) -> bool:
        holder = _reserved.get((ctx.library_root, candidate))
        if holder is not None:
            return holder == song_id
        owner = catalog.file_at(ctx.conn, ctx.library_root, candidate)
        if owner is not None:
            return owner["song_id"] == song_id
        return not (root / candidate).exists()  # a file we did not write is never overwritten

    with _reserved_lock:
        chosen = resolve_collision(rel, is_free)
        _reserved[(ctx.library_root, chosen)] = song_id
    try:
        yield chosen
    finally:
        with _reserved_lock:
            if _reserved.get((ctx.library_root, chosen)) == song_id:
                del _reserved[(ctx.library_root, chosen)]


def _candidates(ctx: WorkContext, song: Track) -> list[str]:
    order = []
    origin = song.platform
    try:
        if ctx.source(origin).can_download:
            order.append(origin)
    except SourceError:
        pass  # the origin platform is not available here (e.g. musicdl missing): use the others
    for name in ctx.settings.get("DOWNLOAD_SOURCES", ()):
        if name not in order:
            order.append(name)
    return order


def look_ahead(ctx: WorkContext, song_id: int) -> None:
    """Start looking up the link of the song this worker downloads next, on its own platform
    (the first source `download_song` tries), if that source can and may be called now. Only a
    hint: `download_song` decides, and looks up again whatever this did not give it."""
    row = ctx.conn.execute("SELECT * FROM songs WHERE id = ?", (song_id,)).fetchone()
    if row is None or catalog.has_file(ctx.conn, song_id, ctx.library_root):
        return  # gone, or perhaps adopted from the library: no request for it
    song = catalog.track_of(row)
    try:
        source = ctx.source(song.platform)
    except SourceError:
        return
    ahead = getattr(source, "resolve_ahead", None)
    if ahead is not None and source.can_download and ctx.breaker(song.platform).allowed:
        ahead(song)


def download_song(ctx: WorkContext, song_id: int) -> Outcome:
    """Put one song in the library: adopt it, or fetch it from its platform or a fallback."""
    row = ctx.conn.execute("SELECT * FROM songs WHERE id = ?", (song_id,)).fetchone()
    if row is None:
        raise SourceError.coded("song_gone", ErrorClass.NOT_FOUND, song_id=song_id)
    adopted = _adopt(ctx, song_id)
    if adopted is not None:
        return adopted
    if ctx.conn.execute("SELECT 1 FROM missing_songs WHERE song_id = ? AND state = 'unavailable'"
                        " AND marked_by = 'owner'", (song_id,)).fetchone():
        return Outcome(skipped="marked unavailable by the owner")  # after the stage began: not tried
    song = catalog.track_of(row)
    failures: list[tuple[str, SourceError]] = []
    closed: list[tuple[str, breakers.Verdict]] = []
    found: dict[str, Found] = {}
    order = _candidates(ctx, song)
    if ctx.settings.get("DOWNLOAD_QUALITY_ASK_ALL"):
        order = _by_quality_offered(ctx, song, order, found, failures, closed)
    for name in order:
        ctx.cancel.check()
        if any(n == name for n, _ in failures) or any(n == name for n, _ in closed):
            continue  # asked already: its answer is kept
        verdict = ctx.breaker(name)
        if not verdict.allowed:
            closed.append((name, verdict))  # down for now: skipped, not failed
            continue
        try:
            outcome = ctx.call_source(name, lambda name=name: _download_from(ctx, song_id, song, name, found))
        except Deferred as exc:
            closed.append((name, breakers.Verdict(False, exc.until, state="incompatible")))
        except SourceError as exc:
            failures.append((name, exc))
        else:
            if failures:
                outcome.details["tried"] = [_tried(n, e) for n, e in failures]
            return outcome
    if closed and all(not is_retryable(exc.error_class) for _, exc in failures):
        # Only a source that is down now could still serve it: wait for it, attempts unspent.
        names = ", ".join(n for n, _ in closed)
        raise Deferred(f"waiting for {names} (down for now)", min(v.until for _, v in closed if v.until))
    if not failures:
        raise SourceError.coded("no_source_can", ErrorClass.CONFIG)
    # Each source's failure, in order: "demo: …; demo2: …" (coded, so worded in the reader's language).
    summary = {"tried": [{"code": "source_said", "params": {"source": n, "error": e.as_param()}} for n, e in failures]}
    details = {"tried": [_tried(n, e) for n, e in failures]}
    # A transient failure wins: the automatic retry may succeed.
    transient = [(n, e) for n, e in failures if is_retryable(e.error_class)]
    if transient:
        raise SourceError.coded("tried_sources", transient[0][1].error_class, source=transient[0][0], details=details,
                                **summary)
    # Nothing found anywhere is not_found; candidates that were all refused somewhere is no_match.
    classes = {e.error_class for _, e in failures}
    if classes <= {ErrorClass.NO_MATCH, ErrorClass.NOT_FOUND}:
        error_class = ErrorClass.NO_MATCH if ErrorClass.NO_MATCH in classes else ErrorClass.NOT_FOUND
        name = next(n for n, e in failures if e.error_class is error_class)
        raise SourceError.coded("tried_sources", error_class, source=name, details=details, **summary)
    name, exc = failures[0]
    raise SourceError.coded("tried_sources", exc.error_class, source=name, details=details, **summary)


def _tried(name: str, exc: SourceError) -> dict[str, Any]:
    """One source's failure as the attempt page lists it: its class and its best candidates."""
    entry: dict[str, Any] = {"source": name, "error_class": exc.error_class.value, "error": str(exc)[:500]}
    if exc.code:
        entry.update(error_code=exc.code, error_params=exc.params)  # worded in the reader's language
    entry.update(exc.details or {})
    return entry


def _candidate(match) -> dict[str, Any]:
    track = match.track
    # The English text, and the codes the console words in the reader's language.
    return {"title": track.display, "album": track.album, "duration_s": track.duration_s, "score": match.score,
            "refused": match.refused, "reasons": list(match.reasons),
            "refused_code": as_param(match.refused), "reason_codes": [as_param(r) for r in match.reasons]}


@dataclass
class Found:
    """A song found on a source: the track to fetch, the rungs on offer (best first, as claimed),
    and what the attempt page shows of the search."""

    target: Track
    rungs: tuple[str, ...]
    details: dict[str, Any]


def _ladder(ctx: WorkContext) -> tuple[str, ...]:
    return tuple(ctx.settings.get("DOWNLOAD_QUALITY") or RUNGS)


def _find(ctx: WorkContext, song: Track, name: str, fresh: bool = False) -> Found:
    """The song on a source (itself on its own platform, else the best match of a search), and
    the rungs the source offers it at. `fresh` (an upgrade): on its own platform too, what the
    platform says now (a search), not what it said when the playlist was read."""
    source = ctx.source(name)
    details: dict[str, Any] = {"source": name}
    if name == song.platform:
        target = song
        if fresh and source.can_search:
            target = next((t for t in source.search(song) if t.external_id == song.external_id), song)
    else:
        if not source.can_search:
            raise SourceError.coded("cannot_search_for", ErrorClass.UNSUPPORTED, source=name, platform=song.platform)
        candidates = source.search(song)
        match, scored = best_match(song, candidates)
        details["candidates"] = [_candidate(m) for m in scored[:5]]
        if not scored:
            raise SourceError.coded("found_nothing", ErrorClass.NOT_FOUND, details={"candidates": []}, source=name,
                                    song=song.display)
        if match is None:
            best = scored[0]
            why = as_param(best.refused) if best.refused else {"code": "scored_below",
                                                               "params": {"score": best.score, "threshold": THRESHOLD}}
            raise SourceError.coded("no_candidate", ErrorClass.NO_MATCH, details={"candidates": details["candidates"]},
                                    source=name, song=song.display, closest=best.track.display, why=why)
        target = match.track
        details.update(match={"title": match.track.display, "score": match.score, "reasons": list(match.reasons)})
    offered = tuple(r for r in source.qualities(target) if r in RUNGS)
    if offered:
        details["offered"] = list(offered)
    return Found(target, offered, details)


def _acceptable(ctx: WorkContext, found: Found, name: str) -> list[str | None]:
    """The rungs to ask the source for, best first: those on offer at or above the ladder's
    last rung (or the one link the source has, when it does not say)."""
    if not found.rungs:
        return [None]
    least = rung_rank(_ladder(ctx)[-1])
    rungs = [r for r in found.rungs if rung_rank(r) <= least]
    if not rungs:
        raise SourceError.coded("quality_not_offered", ErrorClass.NOT_FOUND, details=found.details,
                                source=name, offered=", ".join(found.rungs), least=_ladder(ctx)[-1])
    return sorted(rungs, key=rung_rank)


def _by_quality_offered(ctx: WorkContext, song: Track, order: list[str], found: dict[str, Found],
                        failures: list[tuple[str, SourceError]],
                        closed: list[tuple[str, breakers.Verdict]], fresh: bool = False) -> list[str]:
    """DOWNLOAD_QUALITY_ASK_ALL: ask the sources, in order, what they offer until one offers the
    ladder's top rung; then try them best offer first (ties in DOWNLOAD_SOURCES order). A source
    that failed or is down is kept as that answer."""
    top = rung_rank(_ladder(ctx)[0])
    ranked: list[tuple[int, int, str]] = []
    for index, name in enumerate(order):
        ctx.cancel.check()
        verdict = ctx.breaker(name)
        if not verdict.allowed:
            closed.append((name, verdict))
            continue
        try:
            found[name] = ctx.call_source(name, lambda name=name: _find(ctx, song, name, fresh))
            best = _acceptable(ctx, found[name], name)[0]
        except Deferred as exc:
            closed.append((name, breakers.Verdict(False, exc.until, state="incompatible")))
            continue
        except SourceError as exc:
            failures.append((name, exc))
            continue
        rank = rung_rank(best) if best else len(RUNGS)  # a source that does not say ranks last
        ranked.append((rank, index, name))
        if rank <= top:
            break
    return [name for _, _, name in sorted(ranked)]


def _download_from(ctx: WorkContext, song_id: int, song: Track, name: str, found: dict[str, Found],
                   replacing=None) -> Outcome:
    """The song from one source; with `replacing` (an upgrade), only at a rung above that file's."""
    source = ctx.source(name)
    here = found.get(name) or _find(ctx, song, name)
    details = here.details
    try:
        rungs = _acceptable(ctx, here, name)
        if replacing is not None:
            rungs = [r for r in rungs if r is not None and rung_rank(r) < rung_rank(replacing["quality"])]
            if not rungs:
                raise SourceError.coded("nothing_better", ErrorClass.NOT_FOUND, source=name,
                                        offered=", ".join(here.rungs) or "?", have=replacing["quality"] or "?")
        resolved = source.resolve(here.target, rungs[0]) if rungs[0] else source.resolve(here.target)
        rel = render_layout(ctx.settings["DOWNLOAD_LAYOUT"], _layout_fields(ctx, song_id, song, resolved.ext))
        with _reserve_path(ctx, song_id, rel) as rel:
            return _fetch_into(ctx, song_id, song, here.target, name, resolved, rel, details, replacing)
    except SourceError as exc:
        # The song was found and picked, then its link or download failed: the attempt page
        # still shows what was offered and which one was picked.
        if "candidates" in details and not (exc.details or {}).get("candidates"):
            exc.details = {**(exc.details or {}), "candidates": details["candidates"], "match": details.get("match")}
        raise


def _retire(ctx: WorkContext, old, new_file_id: int, new_rel: str) -> dict[str, Any]:
    """The better file is in place and verified: the one it replaces goes (its row, its file
    and its .lrc when they lay elsewhere; a file changed since it was recorded is set aside, and
    a link planted at its name is left alone, never followed), and its copies in the backup are
    removed after the new one's upload."""
    root = Path(ctx.library_root)
    catalog.retire_file(ctx.conn, old, new_file_id)
    said = {"path": old["rel_path"], "quality": old["quality"]}
    if old["rel_path"] == new_rel:
        return said
    path = root / old["rel_path"]
    try:
        check_inside(root, path, sidecar_of(path))
    except SourceError as exc:
        said["left_alone"] = exc.as_param()
        return said
    if path.is_file():
        if path.stat().st_size == old["size_bytes"] and sha256_file(path) == old["sha256"]:
            path.unlink()
        else:
            said["kept_changed_file"] = str(set_aside(root, old["rel_path"]))
    lrc = sidecar_of(path)
    if lrc != sidecar_of(root / new_rel) and lrc.is_file() and old["lyrics_sha256"] \
            and sha256_file(lrc) == old["lyrics_sha256"]:
        lrc.unlink()  # ours, by its hash: its song has moved (a player's own .lrc is never touched)
    return said


def own_files_beside(dest: Path) -> tuple[Path, ...]:
    """The files the product writes beside a song's: its part file and the part's resume
    sidecar, its lyrics and their temporary file."""
    lyrics = sidecar_of(dest)
    return (*part_files(dest), lyrics, atomic_tmp(lyrics))


def sidecar_of(path: Path) -> Path:
    """The .lrc beside a song's file (`layout.lyrics_beside`)."""
    return path.parent / lyrics_beside(path.name)


def _lyrics_of(source, target: Track, details: dict[str, Any]) -> str | None:
    """The source's lyrics of the song, or None; a failure is noted on the attempt, never fatal
    to the song (the next download or repair asks again)."""
    try:
        return source.lyrics(target)
    except SourceError as exc:
        details["lyrics_failed"] = exc.as_param()
        return None


def _fetch_into(ctx: WorkContext, song_id: int, song: Track, target: Track, name: str, resolved: Resolved, rel: str,
                details: dict[str, Any], replacing=None) -> Outcome:
    """Fetch, check and tag the song at its reserved path; record it, then move it into place.
    With `replacing` (a file row of the song), the file must be better than that one, read from
    the file, and takes its place (`_retire`)."""
    source = ctx.source(name)
    dest = Path(ctx.library_root) / rel
    part = part_path_for(dest)
    check_inside(Path(ctx.library_root), dest, *own_files_beside(dest))
    make_folders(dest.parent)
    check_inside(Path(ctx.library_root), dest, *own_files_beside(dest))

    def fetch_from(link: Resolved):
        return fetch(link.url, part, session=ctx.session, headers=link.headers, expected_size=link.size,
                     cancel=ctx.cancel, progress=ctx.progress,
                     timeout=float(ctx.settings.get("HTTP_TIMEOUT_SECONDS", 30)),
                     min_free_bytes=int(ctx.settings.get("MIN_FREE_DISK_MB", 0)) * 2**20)

    try:
        result = fetch_from(resolved)
    except SourceError as exc:
        if exc.error_class not in STALE_LINK:
            raise
        details["relooked_up"] = str(exc)[:300]
        resolved = source.resolve(target, resolved.quality) if resolved.quality else source.resolve(target)
        result = fetch_from(resolved)
    try:
        quality = judged(part, probe(part))  # what the file is, read from it: never what the platform claimed
        least = tuple(ctx.settings.get("DOWNLOAD_QUALITY") or RUNGS)[-1]
        if rung_rank(quality.rung) > rung_rank(least):
            raise SourceError.coded("quality_below", ErrorClass.NOT_FOUND, source=name, found=quality.label,
                                    least=least)
        if replacing is not None and quality.spectrum == "transcoded":
            raise SourceError.coded("upgrade_transcoded", ErrorClass.NOT_FOUND, source=name, found=quality.label)
        if replacing is not None and rung_rank(quality.rung) >= rung_rank(replacing["quality"]):
            raise SourceError.coded("upgrade_not_better", ErrorClass.NOT_FOUND, source=name, found=quality.label,
                                    have=replacing["quality"] or "?")
        length = quality.duration_s
        wanted = song.duration_s or target.duration_s
        if looks_like_preview(length, wanted):
            raise SourceError.coded("audio_preview", ErrorClass.PREVIEW, source=name, length=f"{length:.0f}",
                                    wanted=f"{wanted:.0f}")
        mode = ctx.settings.get("LYRICS", "both")
        lyrics = (resolved.lyrics or _lyrics_of(source, target, details)) if mode != "off" else None
        write_tags(part, song, cover=fetch_cover(ctx.session, song.cover_url, ctx.covers,
                                                  timeout=float(ctx.settings.get("HTTP_TIMEOUT_SECONDS", 30))),
                   lyrics=lyrics if mode in ("both", "embed") else None)
    except SourceError:
        remove_partial(dest)
        raise
    ext = ext_for(quality.codec, resolved.ext)

    def place(rel: str) -> Outcome:
        """Put the checked, tagged file in place at `rel` (its lyrics beside it) and record it."""
        dest = Path(ctx.library_root) / rel
        check_inside(Path(ctx.library_root), dest, *own_files_beside(dest))
        sidecar_hash = None
        if lyrics and mode in ("both", "sidecar"):
            # Beside the song, before the song is in place: a crash in between leaves lyrics the
            # next attempt writes again, never a recorded song whose lyrics were never written.
            # An .lrc we did not write (the owner's own) is kept, never overwritten.
            sidecar = sidecar_of(dest)
            data = lyrics.encode("utf-8")
            found = sha256_file(sidecar) if sidecar.exists() else None
            ours = catalog.file_at(ctx.conn, ctx.library_root, rel) if found else None
            mine = {row["lyrics_sha256"] for row in (ours, replacing) if row is not None}
            if found is None or found in mine:
                sidecar_hash = write_atomic(sidecar, data)
            elif found == hashlib.sha256(data).hexdigest():
                sidecar_hash = found  # these very lyrics, left by an attempt killed before it recorded them
            else:
                details["lyrics_kept_existing"] = sidecar.name
        size, digest = part.stat().st_size, sha256_file(part)
        kind = None if mode == "off" else "none" if not lyrics else "synced" if lrc_lines(lyrics) else "plain"
        # Recorded before the rename: after a crash the file found at the path is adopted by hash,
        # its lyrics with it.
        file_id = catalog.record_file(ctx.conn, song_id, ctx.library_root, rel, size=size, sha256=digest,
                                      fmt=ext, source=name, verified=False, quality=quality, lyrics=kind,
                                      lyrics_sha256=sidecar_hash)
        if dest.exists() and not (replacing is not None and replacing["rel_path"] == rel):
            # Only a file recorded as this song's can be here (see _reserve_path), and it failed
            # the adopt check: someone changed it. It is kept, never overwritten.
            kept = set_aside(Path(ctx.library_root), rel)
            details["kept_changed_file"] = str(kept)
        commit_file(part, dest)
        catalog.mark_file_verified(ctx.conn, file_id, mtime_ns=dest.stat().st_mtime_ns)
        if replacing is not None:
            details["replaced"] = _retire(ctx, replacing, file_id, rel)
        if kind:
            details["lyrics"] = kind
        details.update(path=rel, file_id=file_id, size=size, resumed_from=result.resumed_from, quality=quality.label,
                       rung=quality.rung)
        if resolved.quality:
            details["claimed"] = resolved.quality  # what the platform said; `rung` is what the file is
        if resolved.service:
            details["link_service"] = resolved.service  # a third-party service gave the link, not the platform
        return Outcome(source=name, bytes_done=result.size - result.resumed_from, details=details)

    if ext != resolved.ext.lower().lstrip("."):
        # The platform named it wrongly (MP3 bytes called .flac): the file goes by what it is.
        details["named_as"] = resolved.ext
        real = render_layout(ctx.settings["DOWNLOAD_LAYOUT"], _layout_fields(ctx, song_id, song, ext))
        with _reserve_path(ctx, song_id, real) as real:
            return place(real)
    return place(rel)
