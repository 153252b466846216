"""The source host's own process: musicdl's platforms, answering the runner (see `host.py`).

Started as `python -m catalogsync_ops.sources.host_main`. Its stdout carries nothing but the
answers (file descriptor 1 itself points at /dev/null, so whatever musicdl prints, from Python
or below it, goes nowhere); its stderr is the runner's (warnings reach the journal). Each call
runs on a thread of its own; sources are made on first use, one per key the runner gives, and
closed when the runner says so or when stdin ends.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
from typing import Any, TextIO

from catalogsync_ops.errors import ErrorClass, SourceError
from catalogsync_ops.sources.host_wire import (
    error_to_wire,
    playlist_to_wire,
    resolved_to_wire,
    track_from_wire,
    track_to_wire,
)

log = logging.getLogger("catalogsync_ops.source_host")
MAKING_S = 120  # the longest a call waits, saying it is alive, for its source to be made
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


_measured = [0.0, 0]  # when this process's RSS was last read, and what it was


def _rss() -> int:
    """This process's resident memory, in bytes (0 where /proc is missing), read at most once a
    second (the runner recycles the host on it; every answer carries it)."""
    now = time.monotonic()
    if now - _measured[0] < 1.0:
        return int(_measured[1])
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            rss = int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        rss = 0
    _measured[:] = [now, rss]
    return rss


def _services(source: Any) -> dict[str, dict[str, int]]:
    """What the link services did in the source's last call (for the runner's health counts)."""
    call = getattr(source, "last_call", None)
    return dict(call.services) if call is not None else {}


class Host:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.out_lock = threading.Lock()
        self.sources: dict[str, Any] = {}
        self.sources_lock = threading.Lock()
        self.calls: list[threading.Thread] = []

    def send(self, message: dict[str, Any]) -> None:
        line = json.dumps(message, ensure_ascii=False, default=str) + "\n"
        with self.out_lock:
            try:
                self.out.write(line)
                self.out.flush()
            except (OSError, ValueError):
                os._exit(0)  # the runner stopped listening

    def source(self, key: str, name: str, config: dict[str, Any]) -> Any:
        from catalogsync_ops.sources.musicdl_source import MusicdlSource

        with self.sources_lock:
            source = self.sources.get(key)
            if source is None:
                source = self.sources[key] = MusicdlSource(
                    name, timeout=config["timeout"], rate=config["rate"], concurrency=config["concurrency"],
                    link_services=config["link_services"], lyrics=config.get("lyrics", True))
            else:
                source.configure(timeout=config["timeout"], rate=config["rate"], concurrency=config["concurrency"],
                                 link_services=config["link_services"], lyrics=config.get("lyrics", True))
            return source

    def _ready_source(self, call_id: Any, message: dict[str, Any]) -> Any:
        """The call's source. While it is being made (musicdl's imports and client: seconds on a
        busy NAS), the call says it is alive once a second, for up to MAKING_S: making a source
        is no stalled request, and the runner's deadline is for those."""
        if message["key"] in self.sources:
            return self.source(message["key"], message["name"], message["config"])
        made = threading.Event()

        def alive() -> None:
            for _ in range(MAKING_S):
                if made.wait(1.0):
                    return
                self.send({"id": call_id, "tick": 0})

        threading.Thread(target=alive, name=f"making-{call_id}", daemon=True).start()
        try:
            return self.source(message["key"], message["name"], message["config"])
        finally:
            made.set()

    def run(self, message: dict[str, Any]) -> None:
        call_id = message["id"]
        source = None
        try:
            source = self._ready_source(call_id, message)
            source.tick = lambda quiet_s: self.send({"id": call_id, "tick": quiet_s})
            method, args = message["method"], message["args"]
            if method == "parse_playlist":
                result: Any = playlist_to_wire(source.parse_playlist(args[0]))
            elif method == "search":
                result = [track_to_wire(t) for t in source.search(track_from_wire(args[0]), limit=int(args[1]))]
            elif method == "resolve":
                result = resolved_to_wire(source.resolve(track_from_wire(args[0])))
            else:
                raise SourceError(f"the source host has no method {method!r}", ErrorClass.INTERNAL)
            self.send({"id": call_id, "ok": result, "rss": _rss(), "services": _services(source)})
        except SourceError as exc:
            self.send({"id": call_id, "error": error_to_wire(exc), "rss": _rss(), "services": _services(source)})
        except Exception as exc:  # noqa: BLE001 - whatever musicdl raised, the runner hears of it
            log.exception("source host: %s of %s failed", message.get("method"), message.get("name"))
            error = SourceError(f"{message.get('name')}: failed inside the source host ({type(exc).__name__}: "
                                f"{str(exc)[:300]})", ErrorClass.INTERNAL, source=message.get("name"))
            self.send({"id": call_id, "error": error_to_wire(error), "rss": _rss()})

    def prepare(self, message: dict[str, Any]) -> None:
        """Make a source before its first call. What fails here is said by that call."""
        with contextlib.suppress(Exception):  # the first call makes the source again and says why
            self.source(str(message["prepare"]), message["name"], message["config"])

    def close(self, key: str) -> None:
        with self.sources_lock:
            source = self.sources.pop(key, None)
        if source is not None:
            source.close()

    def close_all(self) -> None:
        for thread in self.calls:
            thread.join(timeout=5)
        for key in list(self.sources):
            self.close(key)

    def serve(self, lines: TextIO) -> None:
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if "close" in message:
                self.close(str(message["close"]))
                continue
            if "prepare" in message:
                threading.Thread(target=self.prepare, args=(message,), daemon=True).start()
                continue
            thread = threading.Thread(target=self.run, args=(message,), name=f"call-{message.get('id')}",
                                      daemon=True)
            self.calls = [t for t in self.calls if t.is_alive()]
            self.calls.append(thread)
            thread.start()
        self.close_all()


def main() -> None:
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)
    sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - for the process's life
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="catalogsync source host: %(levelname)s %(message)s")
    host = Host(out)
    host.serve(sys.stdin)


if __name__ == "__main__":
    main()
