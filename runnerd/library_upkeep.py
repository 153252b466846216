"""The library's upkeep thread: what the library looks like from outside, brought up to date after a job
ends, so the runner's main loop goes on meanwhile: the coverage counts (`coverage` rows the
console and `runnerd coverage` read) and the playlists' M3U8 files. A request made while one
refresh runs makes one more."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from catalogsync_ops.library.coverage import refresh_coverage
from catalogsync_ops.library.drift import settle_repairs
from catalogsync_ops.library.export import export_folder, export_playlists
from catalogsync_ops.store.connection import connect

log = logging.getLogger("runnerd.library")


class LibraryUpkeep(threading.Thread):
    def __init__(self, db_path: str, config: Callable[[], Any], *, finish_on_stop: bool = False) -> None:
        super().__init__(name="library-upkeep", daemon=True)
        self.db_path = db_path
        self.config = config
        self.wanted = threading.Event()
        self.stopping = threading.Event()
        self.woken = threading.Event()  # a request or a stop: the thread waits on nothing else
        # A burst run ends right after its job: it waits for the refresh that job asked for. A
        # daemon that stops does not: a refresh cut short is safe (the counts are written in one
        # transaction, each file renamed into place) and the next start counts again.
        self.finish_on_stop = finish_on_stop

    def request(self) -> None:
        self.wanted.set()
        self.woken.set()

    def run(self) -> None:
        while True:
            # The flags are the truth; `woken` only ends the wait (set after a flag, so never missed).
            if not self.wanted.is_set() and not self.stopping.is_set():
                self.woken.wait()
            self.woken.clear()
            if self.stopping.is_set() and not self.finish_on_stop:
                return
            if self.wanted.is_set():
                self.wanted.clear()
                self.refresh_once()
            elif self.stopping.is_set():
                return

    def refresh_once(self) -> None:
        config = self.config()
        conn = connect(self.db_path)
        try:
            try:
                settle_repairs(conn)  # before counting: a repaired song counts as in the library
                refresh_coverage(conn, str(config["LIBRARY_DIR"]))
            except Exception:  # a busy or full database: the next job tries again
                log.exception("Coverage could not be counted")
            folder = export_folder(config)
            if folder is not None:
                self._export(conn, config, folder)
        finally:
            conn.close()

    def _export(self, conn, config, folder: Path) -> None:
        try:
            summary = export_playlists(conn, Path(config["LIBRARY_DIR"]), folder)
        except OSError as exc:  # a full disk, a folder it may not write: the next job tries again
            log.warning("Playlists could not be written to %s: %s", str(folder), exc)
            return
        except Exception:
            log.exception("Playlists could not be written to %s", str(folder))
            return
        for name in summary.kept:
            log.info("Playlists in %s: %s is not ours, so it is kept; its playlist is written beside it with"
                        " its id in the name", summary.folder, name)
        if summary.written or summary.removed:
            log.info("Playlists in %s: %d written, %d unchanged, %d removed", summary.folder, len(summary.written),
                     summary.unchanged, len(summary.removed))

    def stop(self) -> None:
        self.stopping.set()
        self.woken.set()
        self.join(120.0 if self.finish_on_stop else 5.0)
