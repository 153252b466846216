"""Logs into job_logs: a bounded, batched handler that never blocks a worker."""
from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import traceback

from catalogsync_ops.engine.activity import prune_activity
from catalogsync_ops.errors import SourceError
from catalogsync_ops.messages import Said
from catalogsync_ops.store.connection import Connection, connect, iso, transaction

DROPPED_TEMPLATE = "%d log lines were dropped because the log queue was full"  # a log line's template
MAX_PENDING = 10_000

# The job and item a thread is working on: a worker sets it around each item, so everything
# logged meanwhile (by the pipeline, the sources, musicdl's adapter) is tied to them.
working = threading.local()

# Loggers whose lines keep their template and values, so the console can show them in the
# reader's language (webui/logtext.py holds the translations).
OWN_LOGGERS = ("runnerd", "catalogsync_ops")


def _code_and_params(record: logging.LogRecord) -> tuple[str | None, str | None]:
    if not isinstance(record.msg, str) or not record.name.startswith(OWN_LOGGERS):
        return None, None
    args = record.args if isinstance(record.args, tuple) else ()
    if record.args and not args:
        return None, None  # a mapping of values: the English text only
    # A coded error or message among the values keeps its code (the console words it in the
    # reader's language); a Said is a str too, so it is asked first.
    values = [a.as_param() if isinstance(a, Said) or (isinstance(a, SourceError) and a.code)
              else a if isinstance(a, (str, int, float, bool)) or a is None else str(a) for a in args]
    return record.msg, json.dumps(values, ensure_ascii=False) if values else None


def working_on(job_id: int | None, item_id: int | None) -> None:
    working.job_id, working.item_id = job_id, item_id


class DatabaseLogHandler(logging.Handler):
    """Queues records (dropping, and counting, past MAX_PENDING); `flush()` writes them in one transaction.

    A record may carry `job_id` and `item_id` through `extra=`. `flush()` is called by the
    daemon's main loop, on its thread; old lines are forgotten by the history pruner
    (engine/retention.py), a batch at a time.
    """

    def __init__(self, db_path, *, runner_id: int | None, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.db_path = db_path
        self.runner_id = runner_id
        self.pending: queue.SimpleQueue = queue.SimpleQueue()
        self.size = 0
        self.dropped = 0
        self._conn: Connection | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.size >= MAX_PENDING:
            self.dropped += 1
            return
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not break logging
            message = str(record.msg)
        tb = "".join(traceback.format_exception(*record.exc_info)) if record.exc_info else None
        self.size += 1
        job_id = getattr(record, "job_id", None) or getattr(working, "job_id", None)
        item_id = getattr(record, "item_id", None) or getattr(working, "item_id", None)
        code, params = _code_and_params(record)
        self.pending.put((iso(), record.levelname, record.name, job_id, item_id, self.runner_id, message, tb,
                          code, params))

    def flush(self) -> None:
        rows = []
        while True:
            try:
                rows.append(self.pending.get_nowait())
            except queue.Empty:
                break
        self.size = max(0, self.size - len(rows))
        if self.dropped:
            rows.append((iso(), "WARNING", "runnerd.logs", None, None, self.runner_id,
                         DROPPED_TEMPLATE % self.dropped, None, DROPPED_TEMPLATE, json.dumps([self.dropped])))
            self.dropped = 0
        if not rows:
            return
        if self._conn is None:
            self._conn = connect(self.db_path)
        try:
            with transaction(self._conn):
                self._conn.executemany(
                    "INSERT INTO job_logs (created_at, level, logger, job_id, item_id, runner_instance_id, message,"
                    " traceback, code, params_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.Error:
            # A log must never stop the runner (a full disk): the lines still went to stderr.
            self.dropped += len(rows)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            super().close()


def apply_retention(conn: Connection) -> None:
    """Hourly housekeeping: the activity minutes folded into hours and totals, chart hours older than
    a week dropped (log lines: engine/retention.py)."""
    prune_activity(conn)
