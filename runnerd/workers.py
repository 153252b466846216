"""The worker pool: threads that claim items of the current stage and run them.

Each worker owns a connection and a WorkContext. The completion of one item and the claim of
the next share one transaction (one commit per item). Progress lives in memory and is
flushed to `job_workers` by the daemon at most once a second for all workers together.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from catalogsync_ops.db import Connection, connect, iso, transaction
from catalogsync_ops.downloader import Canceled, CancelToken
from catalogsync_ops.errors import TransitionError
from catalogsync_ops.items import (
    claim_next_item,
    mark_item_canceled,
    mark_item_failed,
    mark_item_interrupted,
    mark_item_skipped,
    mark_item_succeeded,
    seconds_until_next_due,
)
from catalogsync_ops.pipeline import Outcome, WorkContext, collect_pool, download_song, is_retryable, sync_playlist, upload_file
from catalogsync_ops.queue import Claim, RetryPolicy
from catalogsync_ops.sources.base import SourceError
from catalogsync_ops.states import ErrorClass

log = logging.getLogger("runnerd.workers")


@dataclass
class Assignment:
    """What the workers work on: one running stage of the active job."""

    job_id: int
    stage_id: int
    stage_type: str
    count: int
    settings: dict[str, Any]
    uploader: Any = None


@dataclass
class WorkerView:
    """A worker's live state, as shown on the workers page."""

    state: str = "starting"
    job_id: int | None = None
    stage_id: int | None = None
    item_id: int | None = None
    song_id: int | None = None
    playlist_id: int | None = None
    display_text: str | None = None
    bytes_done: int | None = None
    bytes_total: int | None = None
    speed_bps: float | None = None
    item_started_at: str | None = None
    started_mono: float = 0.0
    dirty: bool = True


def run_item(ctx: WorkContext, claim: Claim) -> Outcome:
    """Dispatch one claimed item to its stage's function."""
    if claim.item_type == "pool":
        return collect_pool(ctx, claim.payload["pool"])
    if claim.item_type == "playlist":
        return sync_playlist(ctx, claim.playlist_id)
    if claim.item_type == "song":
        return download_song(ctx, claim.song_id)
    if claim.item_type == "upload":
        return upload_file(ctx, claim.file_location_id)
    return Outcome()  # noop items: benchmarks and tests of the machinery itself


class Worker(threading.Thread):
    def __init__(self, pool: "WorkerPool", index: int) -> None:
        super().__init__(name=f"worker-{index + 1}", daemon=True)
        self.pool = pool
        self.index = index
        self.view = WorkerView()
        self.row_id: int | None = None
        self.cancel: CancelToken | None = None
        self.claim: Claim | None = None
        self.last_assignment: Assignment | None = None

    # -- progress, called from transfers on this thread

    def _progress(self, done: int, total: int | None) -> None:
        view = self.view
        elapsed = max(1e-6, time.monotonic() - view.started_mono)
        view.bytes_done, view.bytes_total, view.speed_bps = done, total, done / elapsed
        view.dirty = True

    def _set(self, **fields: Any) -> None:
        for key, value in fields.items():
            setattr(self.view, key, value)
        self.view.dirty = True

    def run(self) -> None:
        conn = connect(self.pool.db_path)
        contexts: dict[int, WorkContext] = {}
        try:
            self._loop(conn, contexts)
        finally:
            for ctx in contexts.values():
                ctx.close()
            conn.close()
            self._set(state="stopped", item_id=None)

    def _context(self, conn: Connection, contexts: dict, assignment: Assignment) -> WorkContext:
        ctx = contexts.get(assignment.job_id)
        if ctx is None:
            for old in contexts.values():
                old.close()
            contexts.clear()
            ctx = contexts[assignment.job_id] = WorkContext(conn=conn, settings=assignment.settings,
                                                            uploader=assignment.uploader, progress=self._progress)
        ctx.uploader = assignment.uploader
        return ctx

    def _loop(self, conn: Connection, contexts: dict) -> None:
        pool = self.pool
        self._set(state="idle")
        claim: Claim | None = None
        while not pool.stopping.is_set():
            assignment = pool.assignment
            if claim is None:
                if assignment is None or self.index >= assignment.count or not pool.may_claim():
                    self._set(state="idle", job_id=None, stage_id=None, item_id=None)
                    pool.wake.wait(0.5)
                    continue
                claim = claim_next_item(conn, assignment.stage_id, runner_instance_id=pool.runner_id,
                                        worker_id=self.row_id)
                if claim is None:
                    self._set(state="idle", item_id=None)
                    due = seconds_until_next_due(conn, assignment.stage_id)
                    pool.wake.wait(min(0.5, due) if due is not None else 0.5)
                    continue
            # A claim chained from the previous item runs with the assignment it was made under.
            assignment = assignment or self.last_assignment
            self.last_assignment = assignment
            ctx = self._context(conn, contexts, assignment)
            claim = self._run_one(conn, ctx, claim, assignment)

    def _run_one(self, conn: Connection, ctx: WorkContext, claim: Claim, assignment: Assignment | None) -> Claim | None:
        """Run a claimed item, record its result, and (in the same commit) claim the next one."""
        pool = self.pool
        token = CancelToken()
        self.cancel, self.claim = token, claim
        ctx.cancel = token
        self._set(state="busy", job_id=claim.job_id, stage_id=claim.stage_id, item_id=claim.item_id,
                  song_id=claim.song_id, playlist_id=claim.playlist_id, display_text=claim.display_text,
                  bytes_done=0, bytes_total=None, speed_bps=None, item_started_at=iso(), started_mono=time.monotonic())
        pool.register(claim.item_id, token)
        finish: Callable[[Connection], None]
        try:
            outcome = run_item(ctx, claim)
        except Canceled as exc:
            if exc.reason == "cancel":
                finish = lambda c: mark_item_canceled(c, claim.item_id, claim.attempt_no,  # noqa: E731
                                                      bytes_done=self.view.bytes_done)
            else:
                finish = lambda c: mark_item_interrupted(c, claim.item_id, claim.attempt_no,  # noqa: E731
                                                         reason="the runner stopped", bytes_done=self.view.bytes_done)
        except SourceError as exc:
            finish = self._failure(claim, exc.error_class, str(exc), getattr(exc, "source", None),
                                   is_retryable(exc.error_class))
        except Exception as exc:  # a bug in one item must not kill the worker
            log.exception("Item %s (%s): unexpected error", claim.item_id, claim.display_text)
            finish = self._failure(claim, ErrorClass.INTERNAL, f"{type(exc).__name__}: {exc}", None, True)
        else:
            if outcome.skipped:
                finish = lambda c: mark_item_skipped(c, claim.item_id, claim.attempt_no,  # noqa: E731
                                                     reason=outcome.skipped)
            else:
                finish = lambda c: mark_item_succeeded(c, claim.item_id, claim.attempt_no,  # noqa: E731
                                                       source=outcome.source, details=outcome.details or None,
                                                       bytes_done=outcome.bytes_done)
        finally:
            pool.unregister(claim.item_id)
            self.cancel, self.claim = None, None
        assignment = pool.assignment
        chain = (assignment is not None and assignment.stage_id == claim.stage_id
                 and self.index < assignment.count and pool.may_claim())
        try:
            with transaction(conn):
                finish(conn)
                following = claim_next_item(conn, claim.stage_id, runner_instance_id=pool.runner_id,
                                            worker_id=self.row_id) if chain else None
        except TransitionError as exc:
            # Recovery or a cancel took the item away meanwhile: its new owner decides.
            log.warning("Item %s: result discarded: %s", claim.item_id, exc)
            following = None
        self._set(state="busy" if following else "idle", item_id=following.item_id if following else None)
        pool.done_items += 1
        return following

    def _failure(self, claim: Claim, error_class, message: str, source: str | None, retryable: bool):
        pool = self.pool
        policy = pool.retry_policy()
        details = {"error": message[:2000]}
        return lambda c: mark_item_failed(c, claim.item_id, claim.attempt_no, error_class=error_class,  # noqa: E731
                                          error=message[:4000], source=source, retryable=retryable,
                                          policy=policy, details=details, bytes_done=self.view.bytes_done)


@dataclass
class WorkerPool:
    """The threads, the current assignment, and the cancel tokens of items in flight."""

    db_path: str
    runner_id: int
    retry_policy: Callable[[], RetryPolicy]
    assignment: Assignment | None = None
    workers: list[Worker] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    draining: threading.Event = field(default_factory=threading.Event)  # SIGTERM: claim nothing new
    paused: threading.Event = field(default_factory=threading.Event)  # runner-wide pause
    wake: threading.Event = field(default_factory=threading.Event)
    tokens: dict[int, CancelToken] = field(default_factory=dict)
    register_worker: Callable[[str], int] | None = None  # makes the job_workers row
    done_items: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def may_claim(self) -> bool:
        return not (self.draining.is_set() or self.paused.is_set() or self.stopping.is_set())

    def register(self, item_id: int, token: CancelToken) -> None:
        with self._lock:
            self.tokens[item_id] = token

    def unregister(self, item_id: int) -> None:
        with self._lock:
            self.tokens.pop(item_id, None)

    def cancel_items(self, item_ids: set[int] | None, reason: str) -> int:
        """Stop in-flight items (all when `item_ids` is None) at their next chunk."""
        with self._lock:
            targets = [t for i, t in self.tokens.items() if item_ids is None or i in item_ids]
        for token in targets:
            token.cancel(reason)
        return len(targets)

    def in_flight(self) -> int:
        with self._lock:
            return len(self.tokens)

    def assign(self, assignment: Assignment | None) -> None:
        """Point the workers at a stage (or at nothing), growing the pool if it needs more threads."""
        self.assignment = assignment
        if assignment is not None:
            while len(self.workers) < assignment.count:
                self.add_worker()
        self.wake.set()
        self.wake.clear()

    def add_worker(self, index: int | None = None) -> Worker:
        index = len(self.workers) if index is None else index
        worker = Worker(self, index)
        if index < len(self.workers):
            worker.row_id = self.workers[index].row_id
            self.workers[index] = worker
        else:
            self.workers.append(worker)
        if worker.row_id is None and self.register_worker is not None:
            worker.row_id = self.register_worker(worker.name)
        worker.start()
        return worker

    def stop(self, timeout: float = 30) -> None:
        self.stopping.set()
        self.wake.set()
        for worker in self.workers:
            worker.join(timeout)
