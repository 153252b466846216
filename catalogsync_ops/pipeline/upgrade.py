"""Upgrade: a song whose file is below the ladder's top rung, looked for again on every source,
and its file replaced only by one that is really better.

Better is read from the downloaded file (`quality.judged`), never taken from the platform's
word: a "FLAC" that is a lossy file's sound (`transcoded`), a clip, or a file no better than the
one we have is refused, and the old file stays. The new one is checked, tagged, recorded and
renamed into place as any download is (download.py); only then does the old one go (its row,
its file and its .lrc when they lay under another name), and its copy in the backup goes after
the new one is uploaded (upload.py). Never a downgrade: a rung at or below the file's is not
even asked for.
"""
from __future__ import annotations

from pathlib import Path

from catalogsync_ops.engine import breakers
from catalogsync_ops.errors import Deferred, ErrorClass, SourceError
from catalogsync_ops.library import catalog
from catalogsync_ops.pipeline.context import Outcome, WorkContext, is_retryable
from catalogsync_ops.pipeline.download import (
    Found,
    _by_quality_offered,
    _candidates,
    _download_from,
    _ladder,
    _tried,
    download_song,
)
from catalogsync_ops.quality import rung_rank
from catalogsync_ops.transfer.downloader import sha256_file


def upgrade_song(ctx: WorkContext, song_id: int) -> Outcome:
    """Replace the song's file by a better one, if a source has one; else say why not."""
    rows = ctx.conn.execute("SELECT * FROM file_locations WHERE song_id = ? AND library_root = ?"
                            " ORDER BY verified_at IS NULL, id DESC", (song_id, ctx.library_root)).fetchall()
    if rows and rows[0]["verified_at"] is None:
        # A replacement cut short between its record and its rename: finished as a download
        # (the file found at the path is adopted by its hash, or the song fetched again).
        return download_song(ctx, song_id)
    if not rows:
        return Outcome(skipped="no file of this song in the library to upgrade")
    current = rows[0]
    path = Path(current["library_root"]) / current["rel_path"]
    if not path.is_file() or path.stat().st_size != current["size_bytes"] or sha256_file(path) != current["sha256"]:
        raise SourceError.coded("upgrade_file_changed", ErrorClass.NOT_FOUND, path=current["rel_path"])
    top = _ladder(ctx)[0]
    if rung_rank(current["quality"]) <= rung_rank(top):
        catalog.mark_upgrade_checked(ctx.conn, current["id"])
        return Outcome(skipped=f"already {current['quality']}", details={"have": current["quality"]})
    song = catalog.track_of(ctx.conn.execute("SELECT * FROM songs WHERE id = ?", (song_id,)).fetchone())
    failures: list[tuple[str, SourceError]] = []
    closed: list[tuple[str, breakers.Verdict]] = []
    found: dict[str, Found] = {}
    # Every source is asked what it offers (the first offering the top rung ends the asking),
    # then tried best offer first: an upgrade is worth the searches a first download is spared.
    for name in _by_quality_offered(ctx, song, _candidates(ctx, song), found, failures, closed, fresh=True):
        ctx.cancel.check()
        try:
            outcome = ctx.call_source(name, lambda name=name: _download_from(ctx, song_id, song, name, found,
                                                                             replacing=current))
        except Deferred as exc:
            closed.append((name, breakers.Verdict(False, exc.until, state="incompatible")))
        except SourceError as exc:
            failures.append((name, exc))
        else:
            catalog.mark_upgrade_checked(ctx.conn, outcome.details["file_id"])
            outcome.details.update(upgraded_from=current["quality"], tried=[_tried(n, e) for n, e in failures])
            return outcome
    transient = [(n, e) for n, e in failures if is_retryable(e.error_class)]
    if transient:
        name, exc = transient[0]
        raise SourceError.coded("tried_sources", exc.error_class, source=name,
                                details={"tried": [_tried(n, e) for n, e in failures]},
                                tried=[{"code": "source_said", "params": {"source": n, "error": e.as_param()}}
                                       for n, e in failures])
    catalog.mark_upgrade_checked(ctx.conn, current["id"])
    return Outcome(skipped="nothing better on offer", details={
        "have": current["quality"], "tried": [_tried(n, e) for n, e in failures],
        "down": [n for n, _ in closed]})
