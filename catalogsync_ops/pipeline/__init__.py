"""What each stage does to one item: collect a pool, sync a playlist, download a song, upload a
file, verify a part of the library and its backup.

Each stage's work is a module (collect.py, sync.py, download.py, upload.py, verify.py). Its
functions take a `WorkContext` (context.py: the worker's connection, the config values, a cancel
token, a progress callback) and one item, do the work, write the catalog rows it produces, and
return an `Outcome` or raise `SourceError` with an error class. The runner records the attempt
and moves the item; the work never touches job state. Which items a stage has comes from
scope.py (and verify.py's parts). `ITEM_WORK` is the one table from an item's type to its work:
the runner's workers dispatch through it.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from catalogsync_ops.engine.records import Claim, ItemSpec
from catalogsync_ops.engine.states import ItemType, StageType
from catalogsync_ops.pipeline.collect import collect_pool
from catalogsync_ops.pipeline.context import PERMANENT, STALE_LINK, Outcome, WorkContext, is_retryable
from catalogsync_ops.pipeline.download import download_song, look_ahead
from catalogsync_ops.pipeline.scope import items_for_stage
from catalogsync_ops.pipeline.sync import sync_playlist
from catalogsync_ops.pipeline.upgrade import upgrade_song
from catalogsync_ops.pipeline.upload import upload_file
from catalogsync_ops.pipeline.verify import run_verify, verify_items
from catalogsync_ops.store.connection import Connection

__all__ = ["ITEM_WORK", "PERMANENT", "STALE_LINK", "ItemWork", "Outcome", "WorkContext", "collect_pool",
           "download_song", "is_retryable", "items_for_stage", "look_ahead", "run_item", "stage_items", "stage_workers",
           "sync_playlist", "upgrade_song", "upload_file"]

WORKER_SETTINGS = {StageType.COLLECT: "COLLECT_WORKERS", StageType.SYNC: "SYNC_WORKERS",
                   StageType.DOWNLOAD: "DOWNLOAD_WORKERS", StageType.UPLOAD: "UPLOAD_WORKERS",
                   StageType.VERIFY: "VERIFY_WORKERS", StageType.UPGRADE: "DOWNLOAD_WORKERS"}


def stage_workers(conn: Connection, config: Any, job_id: int, stage_type: str) -> int:
    """How many workers run a stage: its setting, but at most two for a fast verify. A fast
    verify's library parts are a stat per file and rows to compare, work that holds Python's
    lock: two threads of it only take turns (measured: 2.5 s against 1.5 s for 100,000 files,
    bench/verify_scale.py). Its backup part mostly waits with the lock let go (for the listing
    process of a mirror, for a bucket's pages), so a second worker takes it beside the library's
    parts; without a backup one worker runs them all. A deep verify hashes with the lock let
    go, so its setting counts."""
    count = int(config[WORKER_SETTINGS[StageType(stage_type)]])
    if stage_type == StageType.VERIFY and count > 1:
        row = conn.execute("SELECT scope_json FROM job_runs WHERE id = ?", (job_id,)).fetchone()
        if row is not None and not json.loads(row[0] or "{}").get("deep"):
            return 1 if config["OBJECT_BACKEND_NAME"] == "none" else 2
    return count


def stage_items(conn: Connection, stage_type: str, scope: dict[str, Any], settings: dict[str, Any],
                uploader: Any) -> list[ItemSpec]:
    """The items a stage has now (materialised at stage start): a verify stage's parts, or the
    pipeline's items."""
    if stage_type == StageType.VERIFY:
        return verify_items(conn, scope, settings, uploader)
    return items_for_stage(conn, stage_type, scope, settings, uploader)


def _noop(ctx: WorkContext, claim: Claim) -> Outcome:
    """noop items: benchmarks and tests of the machinery itself; `hold_s` stands in for slow work
    that stops when asked, as a transfer does at its next chunk."""
    if claim.payload.get("hold_s"):
        ctx.cancel.sleep(float(claim.payload["hold_s"]))
    return Outcome()


@dataclass(frozen=True)
class ItemWork:
    """What a worker does with an item of one type: `run` it, and, for the item it holds next,
    start what can be done `ahead` while the current one runs."""

    run: Callable[[WorkContext, Claim], Outcome]
    ahead: Callable[[WorkContext, Claim], None] | None = None


ITEM_WORK: dict[ItemType, ItemWork] = {
    ItemType.POOL: ItemWork(lambda ctx, claim: collect_pool(ctx, claim.payload["pool"])),
    ItemType.PLAYLIST: ItemWork(lambda ctx, claim: sync_playlist(ctx, claim.playlist_id)),
    # The next song's link is looked up while the current one downloads (platforms that can).
    ItemType.SONG: ItemWork(lambda ctx, claim: download_song(ctx, claim.song_id),
                            ahead=lambda ctx, claim: look_ahead(ctx, claim.song_id)),
    ItemType.UPLOAD: ItemWork(lambda ctx, claim: upload_file(ctx, claim.file_location_id)),
    ItemType.VERIFY: ItemWork(lambda ctx, claim: run_verify(ctx, claim.payload, claim.job_id)),
    ItemType.UPGRADE: ItemWork(lambda ctx, claim: upgrade_song(ctx, claim.song_id)),
    ItemType.NOOP: ItemWork(_noop),
}
assert set(ITEM_WORK) == set(ItemType), "every item type has its work"


def run_item(ctx: WorkContext, claim: Claim) -> Outcome:
    """Dispatch one claimed item to its type's work."""
    return ITEM_WORK[ItemType(claim.item_type)].run(ctx, claim)
