"""Notice edits of catalogsync.env made outside runnerd (an editor, sed, replace-by-rename)."""
from __future__ import annotations

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
        self._observer.stop()
        self._observer.join(timeout=5)
