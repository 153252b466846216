"""The transport of every requests session in the source host: bounded, paced, observed.

musicdl makes its requests on its client's session, on fresh sessions of its link tester, and
with module-level `requests.get(..., timeout=10)` calls to third-party link services (some with
no timeout at all). In the source host's process `install_guards()` puts `GuardedAdapter` under
every one of them: each request is bounded by HTTP_TIMEOUT_SECONDS, paced (the platform's
limiter for its own hosts, one per host for the others), and recorded in the `Call` that the
current thread (or a musicdl pool thread it started) works for.
"""
from __future__ import annotations

import contextvars
import json
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from catalogsync_ops.errors import ErrorClass
from catalogsync_ops.sources.limits import Limiter
from catalogsync_ops.transfer.http import error_class_for_status

# The call into musicdl that the current thread works for. musicdl's searches run their pages
# on a thread pool of their own: `install_guards()` makes each task carry its submitter's call.
CURRENT_CALL: contextvars.ContextVar[Call | None] = contextvars.ContextVar("musicdl_call", default=None)
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
    needless: re.Pattern | None = None  # URLs (host and path) of what the product never uses: not sent
    answered: int = 0  # official responses below 400
    failures: list[tuple[ErrorClass, str]] = field(default_factory=list)
    failed_paths: list[str] = field(default_factory=list)
    pages: list[tuple[str, Any]] = field(default_factory=list)  # (path, parsed JSON) of watched answers
    services: dict[str, dict[str, int]] = field(default_factory=dict)  # host -> {"ok", "failed", "timeout"}
    skipped: int = 0  # needless requests answered without the network
    silenced: BaseException | None = None  # set once the platform stayed silent past the timeout
    silenced_hosts: set[str] = field(default_factory=set)
    retry_after: float | None = None
    _last_tick: float = field(default_factory=time.monotonic)  # the host says so as the call starts

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

    def __init__(self, timeout: float = 30.0, *, shared: bool = False) -> None:
        super().__init__(max_retries=0, pool_connections=32, pool_maxsize=16)
        self.timeout = timeout
        self.shared = shared

    def close(self) -> None:
        """The process-wide adapter outlives each session that closes it: its connections stay
        open for the next (musicdl makes a session per link-service call and per link test)."""
        if not self.shared:
            super().close()

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        call = CURRENT_CALL.get()
        limit = call.timeout if call else self.timeout
        host = _host(request.url)
        path = urlsplit(request.url).path
        if call is not None and call.needless is not None and call.needless.search(f"{host}{path}"):
            call.skipped += 1
            return _empty_answer(request)
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


def _empty_answer(request) -> requests.Response:
    """An empty 204 for a request not worth sending (musicdl reads it as "no lyric")."""
    response = requests.Response()
    response.status_code, response.reason, response.url, response.request = 204, "No Content", request.url, request
    response._content = b""
    response.encoding = "utf-8"
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
        adapter = GuardedAdapter(timeout, shared=True)  # one pool of kept-alive connections

        def guarded_init(self, *args, **kwargs):
            original_init(self, *args, **kwargs)
            self.mount("https://", adapter)
            self.mount("http://", adapter)
            self.merge_environment_settings = _environment_once(self)

        requests.Session.__init__ = guarded_init
        original_submit = ThreadPoolExecutor.submit

        def submit_with_call(self, fn, /, *args, **kwargs):
            context = contextvars.copy_context()
            return original_submit(self, context.run, fn, *args, **kwargs)

        ThreadPoolExecutor.submit = submit_with_call


def _environment_once(session: requests.Session) -> Callable[..., dict[str, Any]]:
    """`session.merge_environment_settings`, read from the environment once per host and settings.

    requests reads every proxy variable of the environment (and walks all of it) on each request:
    a quarter of a link look-up's CPU. A source host's environment never changes (the runner
    starts a new host when its own does), so the answer for a host is the answer for its next
    request too. Per-request proxies are not cached.
    """
    original = session.merge_environment_settings
    answers: dict[tuple, dict[str, Any]] = {}

    def merge(url, proxies, stream, verify, cert):
        if proxies:
            return original(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        try:
            key = (parts.scheme, parts.netloc, stream, verify, cert, session.trust_env, session.verify,
                   session.cert, tuple(sorted(session.proxies.items())))
            hash(key)
        except TypeError:  # settings that cannot be a key (a list as cert): read as requests does
            return original(url, proxies, stream, verify, cert)
        answer = answers.get(key)
        if answer is None:
            if len(answers) >= 512:
                answers.clear()
            answer = answers[key] = original(url, proxies, stream, verify, cert)
        return {**answer, "proxies": dict(answer["proxies"])}

    return merge


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
