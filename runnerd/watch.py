"""Notice edits of catalogsync.env made outside runnerd (an editor, sed, replace-by-rename)."""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer


class _Handler(FileSystemEventHandler):
    def __init__(self, target: str, changed: threading.Event) -> None:
        self.target = target
        self.changed = changed

    def on_any_event(self, event: FileSystemEvent) -> None:
        paths = {os.path.realpath(str(event.src_path))}
        if getattr(event, "dest_path", None):
            paths.add(os.path.realpath(str(event.dest_path)))
        if self.target in paths and event.event_type in ("modified", "created", "moved", "closed"):
            self.changed.set()


class EnvWatcher:
    """A watchdog observer on the env file's folder; `changed` is set when the file changes."""

    def __init__(self, env_path: Path) -> None:
        self.env_path = Path(env_path)
        self.changed = threading.Event()
        self._observer = Observer()
        target = os.path.realpath(self.env_path)
        # The folder, not the file: editors replace the file by renaming a new one over it.
        self._observer.schedule(_Handler(target, self.changed), str(Path(target).parent), recursive=False)

    def start(self) -> None:
        self._observer.daemon = True
        self._observer.start()

    def stop(self) -> None:
        # watchdog's inotify emitter, stopped while an event is in flight, reads it after its
        # inotify handle was closed and logs that as an ERROR (a race inside watchdog): at a stop
        # nothing is wrong and nothing is lost, so that one complaint is not passed on.
        emitter_log = logging.getLogger("watchdog.observers.inotify")
        emitter_log.addFilter(_quiet_at_stop)
        try:
            self._observer.stop()
            self._observer.join(timeout=5)
        finally:
            emitter_log.removeFilter(_quiet_at_stop)


def _quiet_at_stop(record: logging.LogRecord) -> bool:
    """Drops the emitter's complaint that it was asked for events after it stopped."""
    return not (record.funcName == "queue_events" and record.levelno >= logging.ERROR)
