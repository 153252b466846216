"""Sync: fetch a playlist's tracks into songs and membership."""
from __future__ import annotations

from typing import Any

from catalogsync_ops.errors import Deferred, ErrorClass, SourceError
from catalogsync_ops.library import catalog
from catalogsync_ops.messages import as_param
from catalogsync_ops.pipeline.context import Outcome, WorkContext


def sync_playlist(ctx: WorkContext, playlist_id: int) -> Outcome:
    """Fetch a playlist's tracks into songs and membership (order kept, leavers unlinked)."""
    row = ctx.conn.execute("SELECT * FROM playlists WHERE id = ?", (playlist_id,)).fetchone()
    if row is None:
        raise SourceError(f"playlist {playlist_id} is no longer in the catalog", ErrorClass.NOT_FOUND)
    verdict = ctx.breaker(row["platform"])
    if not verdict.allowed:
        raise Deferred(f"{row['platform']} is down (its breaker is {verdict.state}); the playlist waits", verdict.until)
    try:
        info = ctx.call_source(row["platform"], lambda: ctx.source(row["platform"]).parse_playlist(row["url"]))
    except SourceError as exc:
        catalog.record_playlist_error(ctx.conn, playlist_id, str(exc))
        raise
    song_ids = [catalog.upsert_song(ctx.conn, track) for track in info.tracks]
    counts = catalog.set_playlist_songs(ctx.conn, playlist_id, song_ids, title=info.title, external_id=info.external_id,
                                        unresolved=info.unresolved, skipped=info.skipped, missing=info.missing,
                                        partial_reason=info.partial_reason)
    details: dict[str, Any] = {"title": info.title, "complete": info.complete, **counts}
    if info.declared is not None:
        details["declared"] = info.declared
    if info.partial_reason:
        details["partial_reason"] = as_param(info.partial_reason)  # worded in the reader's language
    if info.encoding:
        details["encoding"] = info.encoding
    for key, entries in (("unresolved_entries", info.unresolved), ("skipped_entries", info.skipped)):
        if entries:
            details[key] = [{"id": u.external_id, "title": u.title, "reason": u.reason} for u in entries[:50]]
    return Outcome(source=row["platform"], details=details)
