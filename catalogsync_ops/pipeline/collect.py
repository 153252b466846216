"""Collect: read a pool file into playlists."""
from __future__ import annotations

from pathlib import Path

from catalogsync_ops.errors import ErrorClass, SourceError
from catalogsync_ops.library import catalog
from catalogsync_ops.library.pools import pool_files, pool_name, pool_path, read_pool
from catalogsync_ops.pipeline.context import Outcome, WorkContext


def collect_pool(ctx: WorkContext, name: str) -> Outcome:
    """Read the pool file `name` from INPUT_DIR into playlists; bad lines are reported, not fatal."""
    input_dir = Path(ctx.settings["INPUT_DIR"])
    path = pool_path(input_dir, name)
    if path is None:
        known = ", ".join(pool_name(p) for p in pool_files(input_dir)[:20]) or "none"
        raise SourceError(f"there is no pool {name[:200]!r} in {str(input_dir)!r} (its pools: {known}); put its"
                          f" .txt file back or drop it from the job's scope", ErrorClass.NOT_FOUND)
    entries, problems = read_pool(path)
    pool_id = catalog.upsert_pool(ctx.conn, name, source_path=str(path))
    playlist_ids = [(catalog.upsert_playlist(ctx.conn, e.platform, e.url), e.line_no) for e in entries]
    linked = catalog.set_pool_playlists(ctx.conn, pool_id, playlist_ids)
    error = "; ".join(f"{path.name} {p}" for p in problems) or None
    catalog.record_pool_collected(ctx.conn, pool_id, error=error)
    return Outcome(details={"pool_id": pool_id, "playlists": len(entries), **linked,
                            "problems": [str(p) for p in problems]})
