"""Running musicdl as a well-behaved guest inside runnerd.

musicdl is written for a terminal: importing it configures the root logger and creates a log
folder under HOME, its clients draw progress bars on stdout even with `disable_print=True`,
its own requests pass `timeout=10` or none at all and retry three times, and it swallows most
errors (a search that could not reach the platform returns `[]`, a track whose link could not
be looked up is dropped with a warning). This module keeps all of that in bounds:

- `client_class()` imports a platform's client (that platform's module only, not all ~60 of
  musicdl's) with a writable state folder and the root logger restored;
- `quiet_stdout()` keeps its bars off stdout (one process-wide redirect, counted, thread-safe);
- `GuardedAdapter`, mounted on a client's session, paces its requests (`limits.py`), bounds
  each by the configured timeout, records what each request of a call ended in, and once the
  platform has stayed silent past the timeout fails the rest of the call at once instead of
  waiting again;
- `CallLog` (the client's `logger_handle`) records the tracks musicdl dropped;
- `classify()` turns whatever musicdl raised, or the failures it hid, into an error class.
"""
from __future__ import annotations

import contextlib
import contextvars
import importlib.util
import io
import json
import logging
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from catalogsync_ops.errors import ErrorClass, SourceError
from catalogsync_ops.sources.limits import Limiter
from catalogsync_ops.transfer.http import error_class_for_status

log = logging.getLogger("catalogsync_ops.musicdl")

# Containers a player cannot open without the platform's key; musicdl lists them as audio.
ENCRYPTED_EXTS = frozenset({"mflac", "mflac0", "mgg", "mgg1", "mggl", "ncm", "kgm", "kgma", "vpr", "kwm", "tkm",
                            "bkcmp3", "bkcflac", "mg3d", "qmcflac", "qmcogg", "qmc0", "qmc2", "qmc3", "qmc4", "qmc6",
                            "qmc8", "tm0", "tm2", "tm3", "tm6"})

# Where each platform's client lives under `musicdl.modules`, and its class.
CLIENTS: dict[str, tuple[str, str]] = {
    "qq": ("sources.qq", "QQMusicClient"), "netease": ("sources.netease", "NeteaseMusicClient"),
    "kuwo": ("sources.kuwo", "KuwoMusicClient"), "migu": ("sources.migu", "MiguMusicClient"),
    "kugou": ("sources.kugou", "KugouMusicClient"), "qianqian": ("sources.qianqian", "QianqianMusicClient"),
    "joox": ("sources.joox", "JooxMusicClient"), "fivesing": ("sources.fivesing", "FiveSingMusicClient"),
    "lizhi": ("audiobooks.lizhi", "LizhiMusicClient"), "ximalaya": ("audiobooks.ximalaya", "XimalayaMusicClient"),
}
# Packages whose `__init__` imports every client musicdl has (~60, with their dependencies: an
# interactive terminal toolkit, YouTube's and TIDAL's clients, protobuf): registered without
# running it, so that only the modules of the platforms in use are imported.
_SHELLS = ("musicdl.modules", "musicdl.modules.sources", "musicdl.modules.audiobooks")

_import_lock = threading.Lock()
_prepared = False


def _can_make(folder: Path) -> bool:
    """Whether musicdl's log folder can be made (it makes it itself at import)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def _prepare_state_folder() -> None:
    """musicdl makes `$XDG_STATE_HOME/musicdl/log` (by default under HOME) when imported."""
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    if not _can_make(state / "musicdl" / "log"):
        fallback = Path(tempfile.gettempdir()) / f"catalogsync-musicdl-state-{os.getuid()}"
        fallback.mkdir(mode=0o700, exist_ok=True)
        log.warning("musicdl: %s is not writable (HOME=%s); its log folder goes to %s instead. Give the "
                    "runnerd user a writable HOME (systemd: Environment=HOME=/var/lib/catalogsync) to keep it "
                    "there.", state, os.environ.get("HOME", "?"), fallback)
        os.environ["XDG_STATE_HOME"] = str(fallback)


def _register_shells() -> None:
    """Put musicdl's all-importing packages in place without running their `__init__`.

    Nothing is done when musicdl was already imported whole (then its packages are complete).
    """
    for name in _SHELLS:
        if name in sys.modules:
            continue
        spec = importlib.util.find_spec(name)
        if spec is None:
            raise ImportError(f"no module named {name!r}")
        sys.modules[name] = importlib.util.module_from_spec(spec)


def _share_user_agents() -> None:
    """Parse fake_useragent's browser list once per process, not on every `UserAgent()`.

    musicdl makes three `UserAgent()` per client, and each parses the library's 2.6 MB list of
    browsers (13 MB of objects) for one random string: with a client per download worker that
    left the runner several MB larger per client. The list is read once, its repeated strings
    shared, and every `UserAgent()` filters that one list as before.
    """
    try:
        from fake_useragent import fake, utils
    except ImportError:
        return
    if getattr(fake.load, "shared_by_catalogsync", False):
        return
    original = fake.load
    cache: list[Any] = []
    lock = threading.Lock()

    def share(entry: dict) -> dict:
        return {sys.intern(key): sys.intern(value) if isinstance(value, str) and key != "useragent" else value
                for key, value in entry.items()}

    def read_lines() -> list[dict]:
        # One line at a time: the whole list parsed at once would be the 13 MB peak again.
        with open(utils.find_browser_json_path(), encoding="utf-8") as lines:
            return [share(json.loads(line)) for line in lines if line.strip()]

    def shared_load():
        with lock:
            if not cache:
                try:
                    cache.append(read_lines())
                except (AttributeError, OSError, ValueError):
                    cache.append([share(entry) for entry in original()])  # another fake_useragent layout
        return cache[0]

    shared_load.shared_by_catalogsync = True
    fake.load = shared_load


def _guarded_import(module: str) -> Any:
    """Import `musicdl.modules.<module>` without letting it crash on, or take over, the process.

    A service user's HOME may not be writable: musicdl's state folder then goes to a private
    temp folder (said once in the log). Importing musicdl calls `logging.basicConfig`: handlers
    it adds to the root logger are removed again, so runnerd's own logging stays as configured.
    """
    global _prepared
    with _import_lock:
        if not _prepared:
            _prepare_state_folder()
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        try:
            with quiet_stdout():
                _register_shells()
                found = importlib.import_module(f"musicdl.modules.{module}")
                _share_user_agents()
        except ImportError as exc:
            raise SourceError(f"musicdl could not be imported ({exc}); reinstall the extra: "
                              "pip install 'catalogsync-ops[musicdl]'", ErrorClass.CONFIG) from None
        except OSError as exc:
            raise SourceError(f"musicdl could not start ({exc}); set HOME or XDG_STATE_HOME of the runnerd user "
                              "to a writable folder", ErrorClass.CONFIG) from None
        finally:
            for handler in root.handlers[:]:
                if handler not in handlers:
                    root.removeHandler(handler)
                    handler.close()
            root.setLevel(level)
        _prepared = True
        return found


def client_class(name: str) -> type:
    """musicdl's client class for the platform `name`, importing that platform's module only."""
    module, cls = CLIENTS[name]
    if module.startswith("audiobooks."):
        # These read `BaseMusicClient` from the sources package, whose `__init__` did not run.
        base = _guarded_import("sources.base")
        for attr in ("BaseMusicClient", "BaseMusicClientKwargs"):
            if not hasattr(sys.modules["musicdl.modules.sources"], attr):
                setattr(sys.modules["musicdl.modules.sources"], attr, getattr(base, attr))
    return getattr(_guarded_import(module), cls)


def import_utils() -> Any:
    """musicdl's `utils` package (its link tester, SongInfo)."""
    return _guarded_import("utils")


class _Sink(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False


_quiet_lock = threading.Lock()
_quiet_depth = 0
_saved_stdout: Any = None


@contextlib.contextmanager
def quiet_stdout():
    """Send stdout to nowhere while musicdl runs (its progress bars ignore `disable_print`).

    `contextlib.redirect_stdout` is not safe when two threads nest it: the first to leave would
    restore the other's sink for good. One counted redirect for the whole process is.
    """
    global _quiet_depth, _saved_stdout
    with _quiet_lock:
        if _quiet_depth == 0:
            _saved_stdout = sys.stdout
            sys.stdout = _Sink()
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                sys.stdout = _saved_stdout
                _saved_stdout = None


# The call into musicdl that the current thread works for. musicdl's searches run their pages
# on a thread pool of their own: `install_guards()` makes each task carry its submitter's call.
CURRENT_CALL: contextvars.ContextVar["Call | None"] = contextvars.ContextVar("musicdl_call", default=None)
SERVICE_COOLDOWN_S = 600.0  # a link service that stayed silent is not asked again for this long
TICK_EVERY_S = 0.25


@dataclass
class Call:
    """What one call into musicdl did: on the platform's own API, and on third-party link services.

    A request to a host of the platform (`official`) is paced by the platform's limiter and
    decides whether the platform answered; any other host is a third-party link service,
    paced per host, bounded by the same timeout and counted in `services`, but its failures
    say nothing about the platform. `pages` keeps the JSON answers of the endpoints that
    `watch` names (a playlist's pages), so that what was read can be proven complete.
    """

    timeout: float
    limiter: Limiter | None = None
    official: tuple[str, ...] = ()  # domains of the platform's own API and CDN
    watch: Callable[[str], bool] | None = None  # URL paths whose JSON answers are kept in `pages`
    tick: Callable[[float], None] | None = None  # told of progress (the host's deadline follows it)
    answered: int = 0  # official responses below 400
    failures: list[tuple[ErrorClass, str]] = field(default_factory=list)
    failed_paths: list[str] = field(default_factory=list)
    pages: list[tuple[str, Any]] = field(default_factory=list)  # (path, parsed JSON) of watched answers
    services: dict[str, dict[str, int]] = field(default_factory=dict)  # host -> {"ok", "failed", "timeout"}
    silenced: BaseException | None = None  # set once the platform stayed silent past the timeout
    silenced_hosts: set[str] = field(default_factory=set)
    retry_after: float | None = None
    _last_tick: float = 0.0

    def fail(self, error_class: ErrorClass, detail: str, path: str = "") -> None:
        self.failures.append((error_class, detail))
        self.failed_paths.append(path)

    @property
    def all_failed(self) -> bool:
        return bool(self.failures) and not self.answered

    def is_official(self, host: str) -> bool:
        return any(host == d or host.endswith("." + d) for d in self.official)

    def count_service(self, host: str, outcome: str) -> None:
        counts = self.services.setdefault(host, {"ok": 0, "failed": 0, "timeout": 0})
        counts[outcome] += 1

    def progress(self, quiet_s: float = 0.0) -> None:
        """Say the call is alive (at most a few times a second, or whenever a long wait starts)."""
        if self.tick is None:
            return
        now = time.monotonic()
        if quiet_s or now - self._last_tick >= TICK_EVERY_S:
            self._last_tick = now
            self.tick(quiet_s)


class _Cooldowns:
    """Link services that stayed silent, kept out of every call for a while (process-wide)."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def silent(self, host: str, seconds: float = SERVICE_COOLDOWN_S) -> None:
        with self._lock:
            self._until[host] = time.monotonic() + seconds

    def cooling(self, host: str) -> bool:
        with self._lock:
            return self._until.get(host, 0.0) > time.monotonic()

    def clear(self) -> None:
        with self._lock:
            self._until.clear()


SERVICE_COOLDOWNS = _Cooldowns()
_service_limiters: dict[str, Limiter] = {}
_service_lock = threading.Lock()


def _service_limiter(host: str, like: Limiter | None) -> Limiter | None:
    """One limiter per third-party host, with the platform's pace."""
    if like is None:
        return None
    with _service_lock:
        limiter = _service_limiters.get(host)
        if limiter is None:
            limiter = _service_limiters[host] = Limiter(rate=like.rate, concurrency=like.concurrency)
        return limiter


class GuardedAdapter(HTTPAdapter):
    """The transport of every requests session in a musicdl process: bounded, paced, observed.

    It serves the call the current thread works for (`CURRENT_CALL`); outside any call it only
    bounds the request by `timeout`.
    """

    def __init__(self, timeout: float = 30.0) -> None:
        super().__init__(max_retries=0)
        self.timeout = timeout

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        call = CURRENT_CALL.get()
        limit = call.timeout if call else self.timeout
        host = _host(request.url)
        path = urlsplit(request.url).path
        official = call is None or call.is_official(host)
        if call is not None and official and call.silenced is not None:
            raise requests.Timeout(f"{request.url}: not tried, the platform already stayed silent for {limit:g} s")
        if call is not None and not official and (host in call.silenced_hosts or SERVICE_COOLDOWNS.cooling(host)):
            call.count_service(host, "failed")
            raise requests.ConnectionError(f"{host}: not tried, it stayed silent for {limit:g} s a short while ago")
        if timeout is None:
            timeout = limit
        elif isinstance(timeout, tuple):
            timeout = tuple(limit if t is None else min(float(t), limit) for t in timeout)
        else:
            timeout = min(float(timeout), limit)
        limiter = None
        if call is not None:
            limiter = call.limiter if official else _service_limiter(host, call.limiter)
            call.progress()
        try:
            if limiter is None:
                response = super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert,
                                        proxies=proxies)
            else:
                waiting = limiter.blocked_for()
                if call is not None and waiting > 1:
                    call.progress(waiting)
                with limiter.slot():
                    response = super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert,
                                            proxies=proxies)
        except requests.Timeout as exc:
            if call is not None:
                call.progress()
                if official:
                    call.fail(ErrorClass.TIMEOUT, f"no answer from {host} within {limit:g} s", path)
                    call.silenced = exc
                else:
                    call.count_service(host, "timeout")
                    call.silenced_hosts.add(host)
                    SERVICE_COOLDOWNS.silent(host)
            raise
        except requests.ConnectionError as exc:
            if call is not None:
                call.progress()
                if official:
                    call.fail(ErrorClass.CONNECTION, f"cannot reach {host} ({_reason(exc)})", path)
                else:
                    call.count_service(host, "failed")
            raise
        if call is None:
            return response
        call.progress()
        if response.status_code == 429 and limiter is not None:
            limiter.back_off(_retry_after(response.headers.get("Retry-After")))
        if not official:
            call.count_service(host, "ok" if response.status_code < 400 else "failed")
        elif response.status_code >= 400:
            error_class = error_class_for_status(response.status_code)
            call.fail(error_class, f"{host} answered HTTP {response.status_code}", path)
            if response.status_code == 429:
                call.retry_after = _retry_after(response.headers.get("Retry-After"))
        else:
            call.answered += 1
            if call.watch is not None and not stream and call.watch(path):
                call.pages.append((path, _json_or_none(response)))
        return response


def _json_or_none(response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


_installed = False
_install_lock = threading.Lock()


def install_guards(timeout: float = 30.0) -> None:
    """Make every requests session of this process use `GuardedAdapter`, and musicdl's thread
    pools carry the call they work for. For the source host's process only, which exists to
    hold musicdl: its module-level `requests.get(..., timeout=10)` calls to link services and
    its link tester's fresh sessions are bounded, paced and counted like the client's own.
    """
    global _installed
    with _install_lock:
        if _installed:
            return
        _installed = True
        original_init = requests.Session.__init__

        def guarded_init(self, *args, **kwargs):
            original_init(self, *args, **kwargs)
            adapter = GuardedAdapter(timeout)
            self.mount("https://", adapter)
            self.mount("http://", adapter)

        requests.Session.__init__ = guarded_init
        original_submit = ThreadPoolExecutor.submit

        def submit_with_call(self, fn, /, *args, **kwargs):
            context = contextvars.copy_context()
            return original_submit(self, context.run, fn, *args, **kwargs)

        ThreadPoolExecutor.submit = submit_with_call


class CallLog:
    """musicdl's `logger_handle`: its messages go to our log at DEBUG (it reports every failed
    attempt of its many resolvers; what matters is classified by the adapter and logged by the
    runner). Nothing is decided from its wording."""

    def __init__(self) -> None:
        self.call: Call | None = None

    def _log(self, level: int, message: Any) -> None:
        log.debug("%s", str(message)[:500])

    def debug(self, message: Any, disable_print: bool = False) -> None:
        self._log(logging.DEBUG, message)

    def info(self, message: Any, disable_print: bool = False) -> None:
        self._log(logging.INFO, message)

    def warning(self, message: Any, disable_print: bool = False) -> None:
        self._log(logging.WARNING, message)

    def error(self, message: Any, disable_print: bool = False) -> None:
        self._log(logging.ERROR, message)


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "Temporary failure in name resolution",
                   "Network is unreachable", "No route to host", "Connection reset", "Tunnel connection failed",
                   "Remote end closed connection"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def classify(platform: str, what: str, exc: BaseException | None, call: Call) -> SourceError:
    """The error for a musicdl call that raised `exc` (or, with `exc` None, hid its failures)."""
    if isinstance(exc, NotImplementedError):
        return SourceError(f"{platform}: musicdl cannot do this ({what}) for {platform}", ErrorClass.UNSUPPORTED,
                           source=platform)
    if call.failures and (exc is None or call.all_failed or isinstance(exc, requests.RequestException)
                          or call.silenced is not None):
        error_class, detail = call.failures[0] if call.silenced is None else next(
            f for f in call.failures if f[0] is ErrorClass.TIMEOUT)
        more = f" ({len(call.failures)} requests failed)" if len(call.failures) > 1 else ""
        return SourceError(f"{platform}: {what} failed: {detail}{more}", error_class, source=platform)
    if isinstance(exc, UnboundLocalError) and not call.failures:
        # musicdl's loops over a platform's list leave their variable unset when the list is empty.
        return SourceError(f"{platform}: {what} found nothing there (missing, private, or not the right kind of "
                           "link)", ErrorClass.NOT_FOUND, source=platform)
    if isinstance(exc, requests.Timeout):
        return SourceError(f"{platform}: {what} timed out: {exc}", ErrorClass.TIMEOUT, source=platform)
    if isinstance(exc, requests.ConnectionError):
        return SourceError(f"{platform}: {what} failed: cannot connect ({_reason(exc)})", ErrorClass.CONNECTION,
                           source=platform)
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return SourceError(f"{platform}: {what} failed: HTTP {exc.response.status_code}",
                           error_class_for_status(exc.response.status_code), source=platform)
    if isinstance(exc, (ValueError, KeyError, TypeError, IndexError, AttributeError, AssertionError)):
        return SourceError(f"{platform}: {what}: the platform's answer could not be read "
                           f"({type(exc).__name__}: {str(exc)[:300]})", ErrorClass.PARSE, source=platform)
    if exc is None:
        return SourceError(f"{platform}: {what} gave nothing", ErrorClass.NOT_FOUND, source=platform)
    return SourceError(f"{platform}: {what} failed inside musicdl ({type(exc).__name__}: {str(exc)[:300]})",
                       ErrorClass.INTERNAL, source=platform)
