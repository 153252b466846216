"""The worker pool: threads that claim items of the current stage and run them.

Each worker owns a connection and a WorkContext. The completion of one item and the claim of
the next share one transaction (one commit per item). When items finish in a few
milliseconds (no-op or already-done work: skipped uploads, adopted files), a worker claims
them a few at a time, doubling up to BATCH_MAX, and records their results together with the
next claim, so the queue's cost per item falls; one slow item brings the batch back to one.
A worker whose items can be prepared ahead (`ItemWork.ahead`: the next song's link on a
platform that looks links up) holds one more item than it runs, and starts it ahead.
A claimed item a worker has not started is given back (`release_items`) as soon as its job
is being paused or canceled or the runner pauses or stops: the daemon marks the job blocked
before it applies such a command, so no held item starts after the command is applied.
Progress lives in memory and is flushed to `job_workers` by the daemon at most once a second
for all workers together.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from catalogsync_ops.engine.items import (
    claim_items,
    defer_item,
    mark_item_canceled,
    mark_item_failed,
    mark_item_interrupted,
    mark_item_skipped,
    mark_item_succeeded,
    mark_items_succeeded,
    release_items,
    seconds_until_next_due,
)
from catalogsync_ops.engine.records import Claim, RetryPolicy
from catalogsync_ops.errors import Deferred, ErrorClass, SourceError, TransitionError
from catalogsync_ops.pipeline import ITEM_WORK, WorkContext, is_retryable, run_item
from catalogsync_ops.store.connection import Connection, connect, iso, transaction, utcnow
from catalogsync_ops.transfer.downloader import Canceled, CancelToken
from runnerd.health import DatabaseDiskGuard, is_disk_full
from runnerd.logs import working_on

log = logging.getLogger("runnerd.workers")

BATCH_MAX = 64  # items a worker may hold claimed at once (only while items take under FAST_ITEM_S)
FAST_ITEM_S = 0.005
FLUSH_AFTER_S = 0.1  # results of fast items are recorded at least this often


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


class Worker(threading.Thread):
    def __init__(self, pool: WorkerPool, index: int) -> None:
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
        except BaseException:
            log.exception("%s stopped on an error", self.name)  # the runner starts a new one
            raise
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
        held: deque[Claim] = deque()  # claimed, not started
        finished: list[Callable[[Connection], None]] = []  # results not yet recorded
        flushed_at = time.monotonic()
        batch = 1
        worked = False  # ran an item since it was last idle
        try:
            while not pool.stopping.is_set():
                assignment = pool.assignment
                # A worker whose items can be prepared ahead (a song's link) holds the next one
                # too, topped up as it starts each item (in the transaction that records the last).
                same = contexts.get(assignment.job_id) if assignment is not None else None
                looks_ahead = same is not None and same.looks_ahead
                top_up = (len(held) == 1 and looks_ahead and self.last_assignment is not None
                          and assignment.stage_id == self.last_assignment.stage_id)
                if not held or top_up:
                    chain = (assignment is not None and self.index < assignment.count
                             and not pool.blocks(assignment.job_id) and not pool.disk.full.is_set())
                    limit = 1 if held else max(batch, 2) if looks_ahead else batch
                    claims = self._record(conn, finished, assignment.stage_id if chain else None, limit)
                    flushed_at = time.monotonic()
                    if not claims and not held:
                        self._set(state="stopped" if self._retired(assignment) else "idle", job_id=None,
                                  stage_id=None, item_id=None)
                        if chain and worked:
                            # It ran items and finds no more: its stage may be done, and the runner's
                            # loop looks now (once per drain: an idle worker wakes nobody).
                            pool.loop_wake.set()
                        worked = False
                        due = seconds_until_next_due(conn, assignment.stage_id) if chain else None
                        pool.wake.wait(min(0.5, due) if due is not None else 0.5)
                        continue
                    if claims:
                        held.extend(claims)
                        self.last_assignment = assignment
                claim = held.popleft()
                if pool.blocks(claim.job_id) or self._retired(pool.assignment):
                    # Paused, canceled or stopping since the claim, or retired by a resize down (it
                    # would have run its whole batch first): give back what has not started.
                    self._record(conn, finished, None, 0, release=[claim, *held])
                    held.clear()
                    flushed_at = time.monotonic()
                    continue
                ctx = self._context(conn, contexts, self.last_assignment)
                if held:
                    self._ahead(ctx, held[0])
                started = time.monotonic()
                finished.append(self._run_one(ctx, claim))
                worked = True
                fast = time.monotonic() - started < FAST_ITEM_S
                batch = min(batch * 2, BATCH_MAX) if fast else 1
                tops_up = len(held) == 1 and ctx.looks_ahead  # its results go with that claim
                if held and not tops_up and (not fast or time.monotonic() - flushed_at >= FLUSH_AFTER_S):
                    self._record(conn, finished, None, 0)
                    flushed_at = time.monotonic()
        finally:
            try:
                self._record(conn, finished, None, 0, release=list(held))
            except Exception:  # the connection may be gone at exit; recovery handles what is left
                log.exception("%s: could not record its last results", self.name)

    def _retired(self, assignment: Assignment | None) -> bool:
        """Beyond the stage's worker count (a resize down): retired until it grows again."""
        return assignment is not None and self.index >= assignment.count

    def _ahead(self, ctx: WorkContext, claim: Claim) -> None:
        """Start what the next held item can do ahead; a failure here is only a lost head start."""
        work = ITEM_WORK.get(claim.item_type)
        if work is None or work.ahead is None:
            return
        try:
            work.ahead(ctx, claim)
        except Exception:  # noqa: BLE001 - the item itself meets the same problem and records it
            log.debug("%s: could not start item %s ahead", self.name, claim.item_id, exc_info=True)

    def _record(self, conn: Connection, finished: list, stage_id: int | None, limit: int,
                release: list[Claim] = ()) -> list[Claim]:
        """`_record_once`, again every few seconds while the database disk is full (claiming nothing
        meanwhile): the results a worker holds are written once there is space."""
        while True:
            try:
                return self._record_once(conn, finished, stage_id, limit, release)
            except sqlite3.OperationalError as exc:
                if not is_disk_full(exc) or self.pool.stopping.is_set():
                    raise
                self.pool.disk.enter(exc)
                self._set(state="idle")
                self.pool.disk.wait(self.pool.stopping)
                stage_id, limit = None, 0

    def _record_once(self, conn: Connection, finished: list, stage_id: int | None, limit: int,
                     release: list[Claim] = ()) -> list[Claim]:
        """In one transaction: record finished results, give back `release`, claim up to `limit` more."""
        if not finished and not release and not (stage_id and limit):
            return []
        claims: list[Claim] = []
        successes = [f for f in finished if isinstance(f, tuple)]
        others = [f for f in finished if not isinstance(f, tuple)]
        with transaction(conn):
            if successes:
                try:
                    mark_items_succeeded(conn, successes)
                except TransitionError:
                    others += [self._success(*result) for result in successes]
            for finish in others:
                try:
                    finish(conn)
                except TransitionError as exc:
                    # Recovery or a cancel took the item away meanwhile: its new owner decides.
                    log.warning("Result discarded: %s", exc)
            if release:
                release_items(conn, list(release), reason="not started: the job or the runner is pausing or stopping,"
                                                          " or the stage has fewer workers now")
            if stage_id and limit:
                claims = claim_items(conn, stage_id, runner_instance_id=self.pool.runner_id, worker_id=self.row_id,
                                     limit=limit)
        self.pool.done_items += len(finished)
        finished.clear()
        return claims

    def _run_one(self, ctx: WorkContext, claim: Claim):
        """Run a claimed item; return how to record its result (recorded with the next claim):
        a (claim, source, details, bytes) tuple for a success, else a function of the connection."""
        pool = self.pool
        token = CancelToken()
        self.cancel, self.claim = token, claim
        ctx.cancel = token
        self._set(state="busy", job_id=claim.job_id, stage_id=claim.stage_id, item_id=claim.item_id,
                  song_id=claim.song_id, playlist_id=claim.playlist_id, display_text=claim.display_text,
                  bytes_done=0, bytes_total=None, speed_bps=None, item_started_at=iso(), started_mono=time.monotonic())
        pool.register(claim.item_id, token)
        working_on(claim.job_id, claim.item_id)
        finish: Any
        try:
            outcome = run_item(ctx, claim)
        except Canceled as exc:
            if exc.reason == "cancel":
                finish = lambda c: mark_item_canceled(c, claim.item_id, claim.attempt_no,  # noqa: E731
                                                      bytes_done=self.view.bytes_done)
            else:
                finish = lambda c: mark_item_interrupted(c, claim.item_id, claim.attempt_no,  # noqa: E731
                                                         reason="the runner stopped", bytes_done=self.view.bytes_done)
        except Deferred as exc:
            until, reason = exc.until, str(exc)
            finish = lambda c: defer_item(c, claim, until=until, reason=reason)  # noqa: E731
        except SourceError as exc:
            finish = self._failure(claim, exc.error_class, str(exc), getattr(exc, "source", None),
                                   is_retryable(exc.error_class), exc.details, coded=exc)
        except Exception as exc:  # a bug in one item must not kill the worker
            if isinstance(exc, sqlite3.OperationalError) and is_disk_full(exc):
                # The database cannot grow: not the item's fault. It waits, its attempt unspent.
                pool.disk.enter(exc)
                until = utcnow() + timedelta(seconds=pool.disk.retry_s)
                finish = lambda c: defer_item(c, claim, until=until, reason="the database disk is full")  # noqa: E731
            elif is_disk_full(exc):  # ENOSPC while tagging, copying, …: the library disk is full
                finish = self._failure(claim, ErrorClass.DISK_FULL, f"{type(exc).__name__}: {exc}", None,
                                       is_retryable(ErrorClass.DISK_FULL))
            else:
                log.exception("Item %s (%s): unexpected error", claim.item_id, claim.display_text)
                finish = self._failure(claim, ErrorClass.INTERNAL, f"{type(exc).__name__}: {exc}", None, True)
        else:
            if outcome.skipped:
                finish = lambda c: mark_item_skipped(c, claim.item_id, claim.attempt_no,  # noqa: E731
                                                     reason=outcome.skipped, details=outcome.details)
            else:
                # Recorded with other successes in one statement each (mark_items_succeeded).
                finish = (claim, outcome.source, outcome.details or None, outcome.bytes_done)
        finally:
            pool.unregister(claim.item_id)
            working_on(None, None)
            self.cancel, self.claim = None, None
        return finish

    @staticmethod
    def _success(claim: Claim, source: str | None, details: dict | None, bytes_done: int | None):
        return lambda c: mark_item_succeeded(c, claim.item_id, claim.attempt_no, source=source,  # noqa: E731
                                             details=details, bytes_done=bytes_done)

    def _failure(self, claim: Claim, error_class, message: str, source: str | None, retryable: bool,
                 extra: dict | None = None, coded: SourceError | None = None):
        pool = self.pool
        policy = pool.retry_policy()
        details = {**(extra or {}), "error": message[:2000]}
        # Tied to the job and item (working_on): the job and item pages and /logs?job=N show it.
        # A coded error is logged as itself: its line keeps the code (worded in the reader's language).
        said = coded if coded is not None and coded.code and len(message) <= 500 else message[:500]
        log.warning("%s: attempt %s failed [%s]: %s", claim.display_text or claim.item_id, claim.attempt_no,
                    getattr(error_class, "value", error_class), said)
        code, params = (coded.code, coded.params) if coded is not None and coded.code else (None, None)
        return lambda c: mark_item_failed(c, claim.item_id, claim.attempt_no, error_class=error_class,  # noqa: E731
                                          error=message[:4000], source=source, retryable=retryable,
                                          policy=policy, details=details, bytes_done=self.view.bytes_done,
                                          error_code=code, error_params=params)


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
    # Set by a worker that found its stage with nothing to claim: the runner's loop, which
    # otherwise looks every TICK_S, starts the next stage or ends the job at once.
    loop_wake: threading.Event = field(default_factory=threading.Event)
    tokens: dict[int, CancelToken] = field(default_factory=dict)
    blocked_jobs: set[int] = field(default_factory=set)  # a pause or cancel of these is being applied
    register_worker: Callable[[str], int] | None = None  # makes the job_workers row
    disk: DatabaseDiskGuard | None = None  # set in __post_init__: the database disk's state
    done_items: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.disk is None:
            self.disk = DatabaseDiskGuard(self.db_path)

    def may_claim(self) -> bool:
        return not (self.draining.is_set() or self.paused.is_set() or self.stopping.is_set())

    def blocks(self, job_id: int) -> bool:
        """Whether a held (claimed, not started) item of this job must not start now."""
        return job_id in self.blocked_jobs or not self.may_claim()

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
        if assignment is not None:
            while len(self.workers) < assignment.count:
                self.add_worker()  # first: if it fails (a full disk), the next pass assigns again
        self.assignment = assignment
        self.wake.set()
        self.wake.clear()

    def add_worker(self, index: int | None = None) -> Worker:
        index = len(self.workers) if index is None else index
        worker = Worker(self, index)
        if index < len(self.workers):
            worker.row_id = self.workers[index].row_id
        if worker.row_id is None and self.register_worker is not None:
            worker.row_id = self.register_worker(worker.name)  # may fail (a full disk): nothing listed then
        if index < len(self.workers):
            self.workers[index] = worker
        else:
            self.workers.append(worker)
        worker.start()
        return worker

    def stop(self, timeout: float = 30) -> None:
        self.stopping.set()
        self.wake.set()
        for worker in self.workers:
            worker.join(timeout)

    def flush_views(self, conn: Connection, final: bool = False) -> None:
        """One transaction for every worker whose view changed (at most once a second)."""
        rows = []
        ts = iso()
        for worker in self.workers:
            view = worker.view
            if worker.row_id is None or not (view.dirty or final):
                continue
            view.dirty = False
            state = "stopped" if final else view.state
            rows.append((state, view.job_id, view.stage_id, view.item_id, view.song_id, view.playlist_id,
                         view.display_text, view.bytes_done, view.bytes_total, view.speed_bps, view.item_started_at,
                         self.assignment.stage_type if self.assignment else None, ts, worker.row_id))
        if rows:
            with transaction(conn):
                conn.executemany(
                    "UPDATE job_workers SET state = ?, job_id = ?, stage_id = ?, item_id = ?, song_id = ?,"
                    " playlist_id = ?, display_text = ?, bytes_done = ?, bytes_total = ?, speed_bps = ?,"
                    " item_started_at = ?, stage_type = ?, heartbeat_at = ? WHERE id = ?", rows)
