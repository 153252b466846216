"""`runnerd run`: apply commands, schedule jobs and stages, keep workers busy, never lose work.

The main thread owns the loop: each step applies pending commands, advances the active job
(materialise a stage's items when it starts, finish it when none is left, finish the job),
starts the next queued job, flushes worker progress and logs, and heartbeats. Signal
handlers only set flags. Workers run items on their own threads (runnerd/workers.py).
"""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from catalogsync_ops import __version__, sdnotify
from catalogsync_ops.config.envfile import Config, check_text, load_config, mask_values
from catalogsync_ops.config.revisions import get_revision, latest_revision, record_if_changed
from catalogsync_ops.engine import breakers, notify, scheduling
from catalogsync_ops.engine.commands import CommandContext, apply_pending_commands, reject_interrupted_commands
from catalogsync_ops.engine.jobs import (
    finalize_cancel,
    finalize_pause,
    finish_job,
    request_pause,
    resume_job,
    start_job,
)
from catalogsync_ops.engine.records import RetryPolicy
from catalogsync_ops.engine.retention import Pruner
from catalogsync_ops.engine.runners import (
    heartbeat,
    mark_runner_stopped,
    recover_orphaned_items,
    register_runner,
    runner_paused,
)
from catalogsync_ops.engine.scheduling import next_step
from catalogsync_ops.engine.stages import add_items, fail_stage, finish_stage, skip_stage, start_stage
from catalogsync_ops.engine.states import StageType
from catalogsync_ops.errors import CatalogsyncError, ConfigError, TransitionError
from catalogsync_ops.fileio import log_files, tighten
from catalogsync_ops.messages import Said
from catalogsync_ops.pipeline import stage_items, stage_workers
from catalogsync_ops.store.connection import Connection, iso, transaction
from catalogsync_ops.store.database import open_database, open_secret_files, secret_files
from runnerd.health import LibraryDiskWatch, is_disk_full
from runnerd.job_settings import JobSettings
from runnerd.library_upkeep import LibraryUpkeep
from runnerd.lock import RunnerLock, RunnerLockHeld
from runnerd.logs import DatabaseLogHandler, apply_retention
from runnerd.watch import EnvWatcher
from runnerd.workers import Assignment, WorkerPool

log = logging.getLogger("runnerd")

HEARTBEAT_S = 2.0
FLUSH_S = 1.0
TICK_S = 0.1
USES_BACKUP = (StageType.UPLOAD, StageType.VERIFY)
DISK_CHECK_S = 60.0


class StartupError(Exception):
    """runnerd cannot start; the message says why and what to do."""


class AlreadyRunning(StartupError):
    """Another runnerd holds this database's lock."""


@dataclass
class Options:
    env_path: Path
    db_path: Path | None = None
    burst: bool = False


class Runner:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.env_path = options.env_path
        try:
            self.config = load_config(self.env_path)
        except ConfigError as exc:
            raise StartupError(f"{exc}\nFix the file (runnerd config check) and start runnerd again.") from None
        self.db_path = Path(options.db_path or self.config["DB_PATH"])
        self.stop_requested = threading.Event()
        self.signals = 0
        self.lock = RunnerLock(self.db_path)
        self.conn: Connection | None = None
        self.runner_id: int | None = None
        self.pool: WorkerPool | None = None
        self.watcher: EnvWatcher | None = None
        self.log_handler: DatabaseLogHandler | None = None
        self.config_revision_id: int | None = None
        self.jobs = JobSettings(lambda: self.conn, self.env_path.resolve().parent, lambda: self.config.values)
        self._data_version = None
        self.pruner = Pruner()
        self._last = {"heartbeat": 0.0, "flush": 0.0, "poll": 0.0, "retention": 0.0, "disk": 0.0}
        self.notifier: notify.Notifier | None = None
        self.library_upkeep: LibraryUpkeep | None = None
        self._watchdog = sdnotify.watchdog_enabled()
        self.library_disk = LibraryDiskWatch()

    # ------------------------------------------------------------ start and stop

    def start(self) -> None:
        """Lock, register, recover: everything before the first claim."""
        try:
            self.lock.acquire()
        except RunnerLockHeld as exc:
            raise AlreadyRunning(str(exc)) from None
        try:
            self.conn = open_database(self.db_path)
        except CatalogsyncError as exc:
            self.lock.release()
            raise StartupError(str(exc)) from None
        record_if_changed(self.conn, self.env_path, source="startup")
        self.config_revision_id = self._latest_valid_revision()
        self.runner_id = register_runner(self.conn, config_revision_id=self.config_revision_id)
        self.log_handler = DatabaseLogHandler(self.db_path, runner_id=self.runner_id)
        logging.getLogger().addHandler(self.log_handler)
        log.info("runnerd %s starting (pid %d on %s), database %s", __version__, os.getpid(), socket.gethostname(),
                 self.db_path)
        for key, value in mask_values({k: str(v) for k, v in self.config.values.items()}).items():
            log.info("  %-28s %s", key, value)
        # The runner owns what holds secrets: an older release (or a umask) left them readable to
        # others; they are made the owner's only, said once (the next start finds nothing to do).
        for path, mode in tighten(secret_files(self.db_path, self.env_path, *log_files(self.config["LOG_DIR"]))):
            log.warning("%s could be read by other users (mode %o) and holds secrets: now 600", path, mode)
        for problem in open_secret_files(self.db_path, self.env_path):
            log.warning("%s", problem)  # a file of another owner: the person fixes it
        for command_id in reject_interrupted_commands(self.conn, self.runner_id):
            log.warning("Command %s was being applied when the last runner stopped: rejected, so it cannot stop this "
                        "one too (send it again if it is still wanted)", command_id)
        report = recover_orphaned_items(self.conn, current_runner_id=self.runner_id,
                                        auto_resume=bool(self.config["AUTO_RESUME_AFTER_RECOVERY"]))
        for source in breakers.recover_lost_probes(self.conn):
            log.info("Source %s: the probe the last runner made was lost; the next call probes again", source)
        if report.interrupted or report.failed:
            # Items were running when the last runner died: a crash or a power cut.
            notify.enqueue(self.conn, "runner_recovered", f"recovered:{self.runner_id}",
                           data={"interrupted": len(report.interrupted), "failed": len(report.failed),
                                 "paused_jobs": report.paused_jobs,
                                 "auto_resume": bool(self.config["AUTO_RESUME_AFTER_RECOVERY"])})
        if report.did_anything:
            log.warning("Recovery: %d items interrupted, %d failed after their last attempt; jobs paused %s, "
                        "resumed %s, canceled %s", len(report.interrupted), len(report.failed), report.paused_jobs,
                        report.resumed_jobs, report.canceled_jobs)
        self.pool = WorkerPool(str(self.db_path), self.runner_id, retry_policy=self._retry_policy,
                               register_worker=self._register_worker)
        if runner_paused(self.conn):
            self.pool.paused.set()
        if not self.options.burst:
            self.watcher = EnvWatcher(self.env_path)
            self.watcher.start()
            self.watcher.changed.set()  # an edit made before the observer was up: read the file once more
        self.notifier = notify.Notifier(str(self.db_path), lambda: self.config.values)
        self.notifier.start()
        self.library_upkeep = LibraryUpkeep(str(self.db_path), lambda: self.config, finish_on_stop=self.options.burst)
        self.library_upkeep.start()
        self.library_upkeep.request()  # counts for a database the runner has not seen finish a job

    def _latest_valid_revision(self) -> int | None:
        row = latest_revision(self.conn, status="applied")
        return row["id"] if row else None

    def _register_worker(self, name: str) -> int:
        ts = iso()
        with transaction(self.conn):
            return int(self.conn.execute(
                "INSERT INTO job_workers (runner_instance_id, name, state, started_at, heartbeat_at)"
                " VALUES (?, ?, 'idle', ?, ?) ON CONFLICT (runner_instance_id, name) DO UPDATE SET state = 'idle'"
                " RETURNING id", (self.runner_id, name, ts, ts)).fetchone()[0])

    def request_stop(self, signum: int | None = None, frame: Any = None) -> None:
        """Signal handler: only set flags (the loop acts)."""
        self.signals += 1
        self.stop_requested.set()

    def shutdown(self) -> None:
        """Stop claiming, give in-flight items the grace period, interrupt the rest, exit cleanly."""
        pool, conn = self.pool, self.conn
        sdnotify.notify("STOPPING=1")
        if pool is not None:
            pool.draining.set()
            self._unless_full("mark the runner stopping", lambda: conn.execute(
                "UPDATE runner_instances SET status = 'stopping' WHERE id = ?", (self.runner_id,)))
            grace = float(self.config["SHUTDOWN_GRACE_SECONDS"])
            deadline = time.monotonic() + grace
            announced = False
            while pool.in_flight() and time.monotonic() < deadline:
                if self.signals > 1:
                    break
                if not announced:
                    log.info("Stopping: %d items in flight get up to %.0fs to finish", pool.in_flight(), grace)
                    announced = True
                time.sleep(0.05)
            if pool.in_flight():
                log.info("Stopping: interrupting %d items (they resume on the next start)", pool.in_flight())
                pool.cancel_items(None, "interrupt")
            pool.stop()
            self._unless_full("put the active job back in the queue", self._requeue_active_job)
            self._unless_full("record the workers' last state", lambda: pool.flush_views(conn, final=True))
        for thread in (self.watcher, self.library_upkeep):
            if thread is not None:
                thread.stop()
        if self.notifier is not None:
            self.notifier.stop()
            if self.options.burst and conn is not None:
                # A burst run ends now: one last pass so a finished job's notification goes out
                # (failed deliveries wait for the next start).
                with requests.Session() as session:
                    self._unless_full("send the last notifications", lambda: notify.deliver_due(
                        conn, self.config.values, session, deadline=time.monotonic() + notify.TIMEOUT_S))
        if self.log_handler:
            logging.getLogger().removeHandler(self.log_handler)
            self.log_handler.close()
        if conn is not None:
            self._unless_full("mark the runner stopped", lambda: mark_runner_stopped(conn, self.runner_id))
            conn.close()
        self.lock.release()

    def _unless_full(self, what: str, write) -> None:
        """A write while stopping; with the database disk full it is left for the next start to heal."""
        try:
            write()
        except sqlite3.OperationalError as exc:
            if not is_disk_full(exc):
                raise
            log.warning("Stopping: could not %s: the database disk is full (the next start recovers)", what)

    def _requeue_active_job(self) -> None:
        """A clean stop puts the active job back in the queue, so the next start carries on."""
        for job in self.conn.execute("SELECT id, status FROM job_runs WHERE status IN "
                                     "('running', 'pause_requested', 'cancel_requested')").fetchall():
            try:
                if job["status"] == "cancel_requested":
                    finalize_cancel(self.conn, job["id"])
                    continue
                if job["status"] == "running":
                    request_pause(self.conn, job["id"])
                finalize_pause(self.conn, job["id"])
                if job["status"] == "running":
                    resume_job(self.conn, job["id"])
            except TransitionError as exc:
                log.warning("Job %s: left as it is at shutdown: %s", job["id"], exc, extra={"job_id": job["id"]})

    # ------------------------------------------------------------ the loop

    def run(self) -> int:
        """Loop until stopped (or, in burst mode, until nothing is runnable). Returns the exit code."""
        self.start()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.request_stop)
        sdnotify.notify(f"READY=1\nSTATUS=working the queue (runner {self.runner_id})\nMAINPID={os.getpid()}")
        try:
            while not self.stop_requested.is_set():
                try:
                    did = self.step() if not self.pool.disk.full.is_set() else self._degraded_step()
                except sqlite3.OperationalError as exc:
                    if not is_disk_full(exc):
                        raise
                    self.pool.disk.enter(exc)  # claim nothing until a write succeeds again
                    did = False
                if self.options.burst and not did and not self.pool.disk.full.is_set() and self._idle():
                    break
                if not did:
                    self.pool.loop_wake.wait(TICK_S)  # a stop is seen at the next tick
                    self.pool.loop_wake.clear()
        finally:
            self.shutdown()
        return 0

    def _degraded_step(self) -> bool:
        """While the database disk is full: try to write every few seconds, nothing else."""
        recovered = self.pool.disk.try_recover(self.conn, self.runner_id)
        if recovered:
            self.pool.wake.set()
        return recovered

    def step(self, now: float | None = None) -> bool:
        """One pass of the loop; returns whether anything happened."""
        now = time.monotonic() if now is None else now
        did = False
        if self.watcher and self.watcher.changed.is_set():
            self.watcher.changed.clear()
            did |= self._reload_config("external")
        did |= self._apply_commands()
        did |= self._schedule()
        self._check_workers()
        if now - self._last["flush"] >= FLUSH_S:
            self._last["flush"] = now
            self.pool.flush_views(self.conn)
            if self.log_handler:
                self.log_handler.flush()
        if now - self._last["heartbeat"] >= HEARTBEAT_S:
            self._last["heartbeat"] = now
            heartbeat(self.conn, self.runner_id)
            if self._watchdog:
                sdnotify.notify("WATCHDOG=1")  # a loop that hangs stops pinging and systemd restarts it
        if now - self._last["disk"] >= DISK_CHECK_S:
            self._last["disk"] = now
            self.library_disk.check(self.conn, Path(self.config["LIBRARY_DIR"]),
                                    int(self.config["NOTIFY_DISK_FREE_MB"]))
        self.pruner.run_if_due(self.conn, self.config, now)  # history past its time, a batch at a time
        if now - self._last["retention"] >= 3600:
            self._last["retention"] = now
            apply_retention(self.conn)
        return did

    def _idle(self) -> bool:
        """Burst mode's end: no command pending and no job that can run now."""
        pending = self.conn.execute("SELECT 1 FROM job_commands WHERE status = 'pending' LIMIT 1").fetchone()
        active = self.conn.execute("SELECT 1 FROM job_runs WHERE status IN ('running', 'pause_requested',"
                                   " 'cancel_requested') OR (status = 'queued' AND ? = 0) LIMIT 1",
                                   (1 if self.pool.paused.is_set() else 0,)).fetchone()
        return pending is None and active is None and self.pool.in_flight() == 0

    def _apply_commands(self) -> bool:
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        now = time.monotonic()
        if version == self._data_version and now - self._last["poll"] < 1.0:
            return False
        self._data_version, self._last["poll"] = version, now
        ctx = CommandContext(env_path=self.env_path, runner_instance_id=self.runner_id, config=self.config,
                             config_revision_id=self.config_revision_id, on_config_applied=self._config_applied,
                             on_stopping=self._stopping)
        results = apply_pending_commands(self.conn, ctx)
        for command_id, status, result in results:
            log.info("Command %s %s: %s", command_id, status.value, result)
        self.pool.paused.set() if runner_paused(self.conn) else self.pool.paused.clear()
        if self.pool.blocked_jobs:
            # Still blocked: jobs on their way to paused or canceled. Once there, the claim query
            # finds nothing of them anyway, and a resumed (or rejected) one must run again.
            marks = ",".join("?" for _ in self.pool.blocked_jobs)
            self.pool.blocked_jobs = {r[0] for r in self.conn.execute(
                f"SELECT id FROM job_runs WHERE id IN ({marks}) AND status IN ('pause_requested', 'cancel_requested')",
                tuple(self.pool.blocked_jobs))}
        if results:
            self._cancel_in_flight_of_canceled_jobs()
        return bool(results)

    def _stopping(self, job_id: int | None) -> None:
        """Before a pause or cancel is written: workers must not start the items they hold.

        Workers may hold a few claimed items they have not started (fast items are claimed in
        batches). Blocking the job (or pausing the pool) before the command commits means
        none of them starts after it is applied; the workers give them back to the queue.
        """
        if job_id is None:
            self.pool.paused.set()
        else:
            self.pool.blocked_jobs = self.pool.blocked_jobs | {job_id}

    def _cancel_in_flight_of_canceled_jobs(self) -> None:
        rows = self.conn.execute("SELECT id FROM job_items WHERE status = 'running' AND job_id IN"
                                 " (SELECT id FROM job_runs WHERE status = 'cancel_requested')").fetchall()
        if rows:
            stopped = self.pool.cancel_items({r[0] for r in rows}, "cancel")
            log.info("Cancel: stopping %d transfers at their next chunk", stopped)

    def _config_applied(self, revision_id: int, config: Config) -> None:
        self.config = Config(values=config.values, unknown=config.unknown, warnings=config.warnings,
                             env_path=self.env_path)
        self.config_revision_id = revision_id
        self._resize_workers()

    def _reload_config(self, source: str) -> bool:
        revision_id = record_if_changed(self.conn, self.env_path, source=source)
        if revision_id is None:
            return False
        row = get_revision(self.conn, revision_id)
        if row["status"] != "applied":
            log.error("catalogsync.env was edited and is now invalid (revision %s); keeping the last valid config. "
                      "Problems: %s", revision_id, row["problems_json"])
            return True
        config, _ = check_text(row["content"], self.env_path.resolve().parent)
        self._config_applied(revision_id, config)
        log.info("catalogsync.env changed outside runnerd: revision %s recorded and in force", revision_id)
        return True

    def _resize_workers(self) -> None:
        assignment = self.pool.assignment
        if assignment is not None:
            count = stage_workers(self.conn, self.config, assignment.job_id, assignment.stage_type)
            if count != assignment.count:
                log.info("Stage %s: %d workers (was %d)", assignment.stage_type, count, assignment.count)
                self.pool.assign(Assignment(**{**assignment.__dict__, "count": count}))

    def _retry_policy(self) -> RetryPolicy:
        return RetryPolicy(float(self.config["RETRY_BACKOFF_SECONDS"]), float(self.config["RETRY_BACKOFF_MAX_SECONDS"]))

    # ------------------------------------------------------------ scheduling

    def _schedule(self) -> bool:
        """Carry out the next step of the scheduling policy (engine/scheduling.py); True when
        something changed (the loop steps again at once)."""
        conn, pool = self.conn, self.pool
        step = next_step(conn, may_start=not (pool.paused.is_set() or pool.draining.is_set()),
                         in_flight=pool.in_flight())
        job, stage = step.job, step.stage
        if step.action == scheduling.IDLE:
            pool.assign(None)
            return False
        if step.action == scheduling.START_JOB:
            pool.assign(None)
            start_job(conn, job["id"])
            log.info("Job %s (%s): started", job["id"], job["job_type"], extra={"job_id": job["id"]})
            return True
        if step.action == scheduling.WAIT:
            return False
        if step.action in (scheduling.FINISH_PAUSE, scheduling.FINISH_CANCEL):
            pausing = step.action == scheduling.FINISH_PAUSE
            (finalize_pause if pausing else finalize_cancel)(conn, job["id"])
            pool.assign(None)
            log.info("Job %s: %s", job["id"], "paused" if pausing else "canceled", extra={"job_id": job["id"]})
            return True
        if step.action == scheduling.FINISH_JOB:
            status = finish_job(conn, job["id"], upgrade_after=bool(self.config["UPGRADE_AFTER_PIPELINE"]))
            self.library_upkeep.request()
            pool.assign(None)
            self.jobs.close(job["id"])
            log.info("Job %s: %s", job["id"], status.value, extra={"job_id": job["id"]})
            return True
        if step.action == scheduling.SKIP_STAGE:
            skip_stage(conn, stage["id"], reason=step.reason)
            return True
        if step.action == scheduling.START_STAGE:
            try:
                settings = self.jobs.settings(job)
                scope = json.loads(job["scope_json"] or "{}")
                uploader = self.jobs.uploader(job) if stage["stage_type"] in USES_BACKUP else None
                specs = stage_items(conn, stage["stage_type"], scope, settings, uploader)
                attempts = int(self.config["MAX_ATTEMPTS"])
                added = add_items(conn, stage["id"], specs, max_attempts=attempts) if specs else 0
            except sqlite3.OperationalError:
                raise  # a full or locked database is the loop's to handle, not this job's
            except Exception as exc:  # noqa: BLE001 - whatever the scope or catalog held fails this job only
                self._stage_failed(job, stage, Said("stage_not_built", stage=stage["stage_type"], error=_said(exc)))
                return True
            start_stage(conn, stage["id"])
            log.info("Job %s: stage %s started with %d new items", job["id"], stage["stage_type"], added,
                     extra={"job_id": job["id"]})
            self._assign(job, stage, settings)
            return True
        settings = self.jobs.settings(job)
        if step.action == scheduling.FINISH_STAGE:
            try:
                status = finish_stage(conn, stage["id"], give_up_nights=int(settings["WANTED_GIVE_UP_NIGHTS"]),
                                      recheck_days=int(settings["WANTED_RECHECK_DAYS"]))
            except (sqlite3.OperationalError, TransitionError):
                raise
            except Exception as exc:  # noqa: BLE001
                self._stage_failed(job, stage, Said("stage_not_closed", stage=stage["stage_type"], error=_said(exc)))
                return True
            log.info("Job %s: stage %s %s", job["id"], stage["stage_type"], status.value,
                     extra={"job_id": job["id"]})
            return True
        if pool.assignment is None or pool.assignment.stage_id != stage["id"]:
            self._assign(job, stage, settings)
        return False

    def _stage_failed(self, job, stage, reason: Said) -> None:
        log.exception("Job %s: %s", job["id"], reason, extra={"job_id": job["id"]})
        fail_stage(self.conn, stage["id"], reason=reason)
        self.pool.assign(None)

    def _assign(self, job, stage, settings: dict[str, Any]) -> None:
        uploader = self.jobs.uploader(job) if stage["stage_type"] in USES_BACKUP else None
        count = stage_workers(self.conn, self.config, job["id"], stage["stage_type"])
        self.pool.assign(Assignment(job["id"], stage["id"], stage["stage_type"], count, settings, uploader))

    # ------------------------------------------------------------ workers

    def _check_workers(self) -> None:
        for index, worker in enumerate(list(self.pool.workers)):
            if not worker.is_alive() and not self.pool.stopping.is_set():
                claim = worker.claim
                if claim:
                    log.error("Worker %s died while running item %s; starting a new one", worker.name, claim.item_id)
                else:
                    log.error("Worker %s died; starting a new one", worker.name)
                self.pool.add_worker(index)


def _said(exc: BaseException) -> str:
    """An unexpected error as one line a person can report: its class and its first 300 characters."""
    text = " ".join(str(exc).split())[:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
