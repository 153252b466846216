"""Which items a stage has, from the catalog and the job's scope (made when the stage starts)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from catalogsync_ops.engine.records import ItemSpec
from catalogsync_ops.engine.states import ItemType, StageType
from catalogsync_ops.library import catalog
from catalogsync_ops.library.pools import pool_files, pool_name
from catalogsync_ops.quality import RUNGS
from catalogsync_ops.store.connection import Connection, iso, utcnow
from catalogsync_ops.transfer.storage.base import Uploader


def items_for_stage(conn: Connection, stage_type: StageType | str, scope: dict[str, list],
                    settings: dict[str, Any], uploader: Uploader | None) -> list[ItemSpec]:
    """The items a stage has now, from the catalog and the job's scope (materialised at stage start).
    A verify stage's are `verify.verify_items`' (see runnerd/workers.stage_items)."""
    stage_type = StageType(stage_type)
    if stage_type is StageType.COLLECT:
        names = {pool_name(p): p for p in pool_files(Path(settings["INPUT_DIR"]))}
        wanted = [str(n) for n in scope.get("pools") or sorted(names)]
        return [ItemSpec(f"pool:{n}", ItemType.POOL, display_text=n[:200], payload={"pool": n}) for n in wanted]
    if stage_type is StageType.SYNC:
        return [ItemSpec(f"playlist:{r['id']}", ItemType.PLAYLIST, display_text=r["title"] or r["url"],
                         playlist_id=r["id"]) for r in catalog.playlists_in_scope(conn, scope)]
    if stage_type is StageType.DOWNLOAD:
        return [ItemSpec(f"song:{r['id']}", ItemType.SONG, song_id=r["id"],
                         display_text=catalog.track_of(r).display)
                for r in catalog.songs_needing_download(conn, scope, str(settings["LIBRARY_DIR"]))]
    if stage_type is StageType.UPGRADE:
        ladder = tuple(settings.get("DOWNLOAD_QUALITY") or RUNGS)
        below = RUNGS[RUNGS.index(ladder[0]) + 1:]
        days = int(settings.get("UPGRADE_RECHECK_DAYS", 30))
        # Songs the job names are asked about now; the others once in UPGRADE_RECHECK_DAYS.
        checked_before = None if scope.get("songs") or not days else iso(utcnow() - timedelta(days=days))
        return [ItemSpec(f"upgrade:{r['song_id']}", ItemType.UPGRADE, song_id=r["song_id"],
                         display_text=r["rel_path"][:200])
                for r in catalog.files_to_upgrade(conn, scope, str(settings["LIBRARY_DIR"]), below, checked_before)]
    if uploader is None:
        return []
    return [ItemSpec(f"upload:{r['id']}:{uploader.backend}:{uploader.bucket}", ItemType.UPLOAD,
                     file_location_id=r["id"],
                     song_id=r["song_id"], display_text=r["rel_path"])
            for r in catalog.files_needing_upload(conn, scope, str(settings["LIBRARY_DIR"]), uploader.backend,
                                                  uploader.bucket)]
