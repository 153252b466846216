"""The source host: musicdl's platforms run in a supervised process of their own.

musicdl is written for a terminal and for one user at a time: it calls services with no
timeout, prints, changes the process's warning filters and logging, and raises from private
names that move between releases. None of that may reach the runner. So every platform source
(`qq`, `netease`, `kuwo`, …) is a `HostedSource` here, a small proxy; the work happens in one
child process (`host_main.py`), reached by JSON lines over its stdin and stdout:

- runner → host: `{"id", "key", "name", "config", "method", "args"}` (a call),
  `{"prepare": key, "name", "config"}` (make the source now, before its first call: musicdl's
  imports and client take a second or two), `{"close": key}`;
- host → runner: `{"id", "tick": quiet_s}` while a call makes progress
  (a request started or ended; `quiet_s` > 0 announces a longer wait, a 429 back-off),
  `{"id", "ok": result, "rss"}` or `{"id", "error": {...}, "rss"}` at its end.

**The deadline.** A call whose host has said nothing for `HTTP_TIMEOUT_SECONDS` + a grace is
stalled past every timeout musicdl could have honoured: the host is killed (SIGKILL) and the
call fails as `timeout`; calls that were in flight beside it fail as `interrupted` (retried
without counting against the source). The next call starts a new host.

**Processes.** `SOURCE_HOST_PROCESSES` hosts (default 1, ~90 MB each) share the work; each
source stays on one, so several workers' link look-ups run at once on more cores.

**Looking ahead.** A download worker holds its next song while it downloads the current one;
`resolve_ahead` looks that song's link up meanwhile (on a twin of the worker's source, paced by
the same limiter), so the worker does not wait for the platform between songs. A link older
than `AHEAD_FRESH_S` is looked up again; one that expired anyway is looked up again by the
download (a stale-link answer).

**Recycling.** After `RECYCLE_CALLS` calls, or once the host's resident memory passes
`RECYCLE_MB`, the host is retired: new calls go to a new one, and the old one exits when its
last call is answered. musicdl's leaks, if any, end with the process.

The host ends with the runner, a SIGKILL included: the end of its stdin (the runner's end of
the pipe closes with the runner's process) makes it close its sources and exit. Work folders of
a host that was killed are swept by the next one.
"""
from __future__ import annotations

import atexit
import itertools
import json
import logging
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from catalogsync_ops.errors import ErrorClass, SourceError
from catalogsync_ops.messages import Said, as_param
from catalogsync_ops.sources.base import PlaylistInfo, Resolved, Source, Track
from catalogsync_ops.sources.host_wire import (
    error_from_wire,
    playlist_from_wire,
    resolved_from_wire,
    track_from_wire,
    track_to_wire,
)
from catalogsync_ops.sources.platforms import platform_for_url

log = logging.getLogger("catalogsync_ops.source_host")

GRACE_S = 5.0  # beyond HTTP_TIMEOUT_SECONDS, how long a call may go without a word
STARTUP_S = 30.0  # a new host imports musicdl and makes its clients before the first word
RECYCLE_CALLS = 2000
RECYCLE_MB = 400
AHEAD_FRESH_S = 20.0  # a link looked up ahead is used for this long (they last minutes; see resolve_ahead)
AHEAD_KEPT = 4  # links looked up ahead and not yet taken, at most (a worker holds one song ahead)


# ---------------------------------------------------------------- the runner's side

@dataclass
class _Pending:
    """A call waiting for its answer; `deadline` moves on with every word from the host."""

    id: int
    timeout: float
    deadline: float
    done: threading.Event = field(default_factory=threading.Event)
    answer: dict[str, Any] | None = None


class _Process:
    """One generation of the host process, with the calls in flight to it."""

    def __init__(self, env_key: tuple) -> None:
        self.env_key = env_key
        self.started = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "-m", "catalogsync_ops.sources.host_main"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, close_fds=True)
        self.pending: dict[int, _Pending] = {}
        self.lock = threading.Lock()
        self.write_lock = threading.Lock()
        self.calls = 0
        self.rss = 0
        self.retiring = False
        self.killed_for: str | None = None
        self.reader = threading.Thread(target=self._read, name=f"source-host-{self.proc.pid}", daemon=True)
        self.reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, message: dict[str, Any]) -> bool:
        data = (json.dumps(message, ensure_ascii=False) + "\n").encode()
        with self.write_lock:
            try:
                self.proc.stdin.write(data)
                self.proc.stdin.flush()
                return True
            except (BrokenPipeError, OSError, ValueError):
                return False

    def _read(self) -> None:
        stream = self.proc.stdout
        try:
            for line in stream:
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                self._dispatch(message)
        except (OSError, ValueError):
            pass
        finally:
            code = self.proc.wait()
            stream.close()
            with self.lock:
                left = list(self.pending.values())
                self.pending.clear()
            why = self.killed_for or f"the source host ended (exit code {code})"
            for pending in left:
                pending.answer = {"error": {"class": ErrorClass.INTERRUPTED.value, "message": why, "source": None}}
                pending.done.set()

    def _dispatch(self, message: dict[str, Any]) -> None:
        with self.lock:
            pending = self.pending.get(message.get("id"))
            if pending is None:
                return
            if "tick" in message:
                pending.deadline = time.monotonic() + pending.timeout + GRACE_S + float(message["tick"] or 0)
                return
            del self.pending[pending.id]
            self.rss = int(message.get("rss") or self.rss)
        pending.answer = message
        pending.done.set()
        self._maybe_exit()

    def begin(self, pending: _Pending) -> None:
        with self.lock:
            self.pending[pending.id] = pending
            self.calls += 1

    def forget(self, pending: _Pending) -> None:
        with self.lock:
            self.pending.pop(pending.id, None)
        self._maybe_exit()

    def retire(self) -> None:
        self.retiring = True
        self._maybe_exit()

    def _maybe_exit(self) -> None:
        """A retired host leaves once its last call is answered: its stdin ends."""
        if self.retiring:
            with self.lock:
                idle = not self.pending
            if idle:
                self._close_stdin()

    def _close_stdin(self) -> None:
        with self.write_lock:
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def kill(self, why: str) -> None:
        self.killed_for = why
        self.retiring = True
        try:
            self.proc.kill()
        except OSError:
            pass
        self._close_stdin()

    def stop(self, timeout: float = 10.0) -> None:
        """End the host: stdin closes (it closes its sources and exits), SIGKILL if it lingers."""
        self.retiring = True
        self._close_stdin()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill("the source host was stopped")
            self.proc.wait(5)
        self.reader.join(timeout=5)


def _env_key() -> tuple:
    """What a host inherits from this process's environment (proxies, CA bundle, TMPDIR, HOME)."""
    return tuple(sorted(os.environ.items()))


class SourceHost:
    """The hosts of this process's platform sources: `size` processes, each source kept on one
    (a source's calls are one worker's, one at a time); one per process (`shared()`)."""

    def __init__(self, *, size: int = 1, recycle_calls: int = RECYCLE_CALLS, recycle_mb: int = RECYCLE_MB) -> None:
        self.size = max(1, int(size))
        self.recycle_calls = recycle_calls
        self.recycle_mb = recycle_mb
        self._lock = threading.Lock()
        self._slots: list[_Process | None] = [None] * self.size
        self._all: list[_Process] = []
        self._ids = itertools.count(1)
        self._next_slot = itertools.count()
        self.restarts = 0  # hosts killed at a deadline

    # -------------------------------------------------------- the processes

    def slot_for_new_source(self) -> int:
        return next(self._next_slot) % self.size

    def resize(self, size: int) -> None:
        """Run `size` host processes from now on (SOURCE_HOST_PROCESSES); extra ones retire."""
        size = max(1, int(size))
        with self._lock:
            if size == self.size:
                return
            extra = self._slots[size:]
            self._slots = (self._slots + [None] * size)[:size]
            self.size = size
        for process in extra:
            if process is not None:
                process.retire()

    def _process(self, slot: int = 0) -> _Process:
        key = _env_key()
        with self._lock:
            current = self._slots[slot]
            if current is not None and (current.retiring or current.env_key != key or current.proc.poll() is not None):
                current.retire()
                current = self._slots[slot] = None
            if current is None:
                current = self._slots[slot] = _Process(key)
                self._all.append(current)
            self._all = [p for p in self._all if p in self._slots or p.proc.poll() is None]
            return current

    def warm(self, slot: int = 0, source: HostedSource | None = None) -> None:
        """Start a host process now, and make `source` in it, so that both are ready by the
        first call (neither waits: Popen does not, the host makes the source on a thread)."""
        process = self._process(slot)
        if source is not None:
            process.send({"prepare": source.key, "name": source.name, "config": source.config})

    def _live(self) -> list[_Process]:
        return [p for p in self._slots if p is not None and p.proc.poll() is None]

    @property
    def pids(self) -> list[int]:
        """The process ids of the hosts that run now."""
        return [p.pid for p in self._live()]

    @property
    def pid(self) -> int | None:
        """The first host's process id (None when none runs)."""
        live = self._live()
        return live[0].pid if live else None

    # -------------------------------------------------------- calls

    def call(self, source: HostedSource, method: str, args: list[Any], what: str) -> Any:
        """Run `method` of the hosted source; its answer, or the SourceError it ended in."""
        process = self._process(source.slot % self.size)
        timeout = float(source.config["timeout"])
        first = time.monotonic() - process.started < STARTUP_S and process.calls == 0
        pending = _Pending(next(self._ids), timeout,
                           time.monotonic() + timeout + GRACE_S + (STARTUP_S if first else 0.0))
        process.begin(pending)
        sent = process.send({"id": pending.id, "key": source.key, "name": source.name, "config": source.config,
                             "method": method, "args": args})
        if not sent:
            process.forget(pending)
            raise SourceError.coded("host_gone", ErrorClass.INTERRUPTED, source=source.name)
        while not pending.done.wait(0.2):
            if time.monotonic() > pending.deadline:
                waited = time.monotonic() - pending.deadline + timeout + GRACE_S
                self._stalled(process, f"a {source.name} call ({what}) said nothing for {waited:.0f} s")
                pending.done.wait(10)
                raise SourceError.coded("host_silent", ErrorClass.TIMEOUT, source=source.name, what=_named(what),
                                        waited=f"{waited:.0f}", timeout=f"{timeout:g}")
        answer = pending.answer or {}
        source.add_services(answer.get("services") or {})
        self._after(process)
        if "error" in answer:
            error = error_from_wire(answer["error"])
            if error.source is None and error.error_class is ErrorClass.INTERRUPTED:
                error = SourceError.coded("host_interrupted", ErrorClass.INTERRUPTED, source=source.name,
                                          what=_named(what), error=error.as_param())
            raise error
        return answer.get("ok")

    def _leave_slot(self, process: _Process) -> None:
        with self._lock:
            self._slots = [None if p is process else p for p in self._slots]

    def _stalled(self, process: _Process, why: str) -> None:
        log.warning("source host %d stopped: %s", process.pid, why)
        self._leave_slot(process)
        with self._lock:
            self.restarts += 1
        process.kill(f"interrupted: the source host was stopped because {why}")

    def _after(self, process: _Process) -> None:
        """Retire a host that has served its calls or grown past its memory bound."""
        if process.retiring:
            return
        if process.calls >= self.recycle_calls or process.rss >= self.recycle_mb * 2**20:
            log.info("source host %d retired after %d calls at %.0f MB", process.pid, process.calls,
                     process.rss / 2**20)
            self._leave_slot(process)
            process.retire()

    def close_source(self, source: HostedSource) -> None:
        current = self._slots[source.slot % self.size]
        if current is not None and current.proc.poll() is None:
            current.send({"close": source.key})

    def stop(self) -> None:
        with self._lock:
            processes, self._all, self._slots = self._all, [], [None] * self.size
        for process in processes:
            process.stop()


_shared: SourceHost | None = None
_shared_lock = threading.Lock()


def shared() -> SourceHost:
    """This process's source host (made on first use, stopped at exit)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SourceHost()
            atexit.register(_shared.stop)
        return _shared


_keys = itertools.count(1)


class HostedSource(Source):
    """A platform source whose work runs in the source host; the same interface as any source."""

    def __init__(self, name: str, *, timeout: float = 30.0, rate: float = 4.0, concurrency: int = 2,
                 link_services: str = "official_first", processes: int = 1, host: SourceHost | None = None,
                 slot: int | None = None, lyrics: bool = True) -> None:
        self.name = name
        self.key = f"{os.getpid()}-{next(_keys)}"
        self.config = {"timeout": float(timeout), "rate": float(rate), "concurrency": int(concurrency),
                       "link_services": link_services, "lyrics": bool(lyrics)}
        self.host = host or shared()
        self.host.resize(processes)
        self.slot = self.host.slot_for_new_source() if slot is None else slot
        self._used = False
        self._services: dict[str, dict[str, int]] = {}  # what link services did, until taken
        self._services_lock = threading.Lock()
        self._twin: HostedSource | None = None  # looks links up ahead (see resolve_ahead)
        self._ahead: dict[tuple[str, str], tuple[float, Future]] = {}  # song -> (started, its link)
        self.host.warm(self.slot % self.host.size, self)

    def recognizes(self, url: str) -> bool:
        return platform_for_url(url) == self.name

    def _call(self, method: str, args: list[Any], what: str) -> Any:
        self._used = True
        return self.host.call(self, method, args, what)

    def add_services(self, services: dict[str, dict[str, int]]) -> None:
        with self._services_lock:  # a twin's look-up ahead adds from its own thread
            for host, counts in services.items():
                mine = self._services.setdefault(host, {})
                for key, n in counts.items():
                    mine[key] = mine.get(key, 0) + int(n)

    def take_services(self) -> dict[str, dict[str, int]]:
        """What third-party link services did since the last take ({host: {"ok", "failed", "timeout"}})."""
        if self._twin is not None:
            self.add_services(self._twin.take_services())
        with self._services_lock:
            taken, self._services = self._services, {}
        return taken

    def parse_playlist(self, url: str) -> PlaylistInfo:
        return playlist_from_wire(self._call("parse_playlist", [url], Said("what_reading_playlist")))

    def search(self, track: Track, *, limit: int = 10) -> list[Track]:
        found = self._call("search", [track_to_wire(track), limit], Said("what_searching", keyword=track.title))
        return [track_from_wire(t) for t in found]

    def resolve(self, track: Track, quality: str | None = None) -> Resolved:
        ahead = self._ahead.pop(_track_key(track), None)
        if ahead is not None and time.monotonic() - ahead[0] <= AHEAD_FRESH_S:
            try:
                return ahead[1].result()  # bounded: the call has its deadline in the host
            except SourceError:
                pass  # looked up again now, by this call: its failure is the one the song records
        data = self._call("resolve", [track_to_wire(track)], Said("what_looking_up", song=track.display))
        return resolved_from_wire(data)

    def resolve_ahead(self, track: Track) -> None:
        """Start looking up the link of the song this worker downloads next, while it downloads
        the current one; `resolve` of that song takes it if it is at most AHEAD_FRESH_S old.

        The look-up runs on a twin of this source in the host (a source's calls are one at a
        time), paced by the platform's same limiter; a look-up that failed is made again by
        `resolve`, so the song's own attempt decides. One look-up ahead at a time.
        """
        now = time.monotonic()
        for key, (started, future) in list(self._ahead.items()):
            if not future.done():
                return  # one at a time: the twin is busy
            if now - started > AHEAD_FRESH_S or len(self._ahead) >= AHEAD_KEPT:
                del self._ahead[key]
        if self._twin is None:
            self._twin = HostedSource(self.name, timeout=self.config["timeout"], rate=self.config["rate"],
                                      concurrency=self.config["concurrency"],
                                      link_services=self.config["link_services"], processes=self.host.size,
                                      host=self.host, slot=self.slot, lyrics=self.config["lyrics"])
        twin, future = self._twin, Future()

        def look_up() -> None:
            try:
                future.set_result(twin.resolve(track))
            except BaseException as exc:  # noqa: BLE001 - kept for `resolve`, which calls again
                future.set_exception(exc)

        self._ahead[_track_key(track)] = (now, future)
        threading.Thread(target=look_up, name=f"{self.name}-ahead", daemon=True).start()

    def close(self) -> None:
        if self._twin is not None:
            self._twin.close()
        self.host.close_source(self)


def _named(what: str) -> dict[str, Any]:
    """What a call was doing, as a message parameter."""
    return as_param(what) if isinstance(what, Said) else {"text": what}


def _track_key(track: Track) -> tuple[str, str]:
    return track.platform, track.external_id
