"""The intercepting proxy: CONNECT tunnels are opened with a certificate for the host asked
for, and each request inside is answered by the platform that serves that host."""
from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from emulator.tls import CertificateAuthority


@dataclass
class Request:
    """One request as the platform saw it."""

    method: str
    scheme: str
    host: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    path_query: str = ""  # the query string as sent (signatures are made over it)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}{self.path}"

    def form(self) -> dict[str, str]:
        """The body as an urlencoded form (last value wins)."""
        return {k: v[-1] for k, v in parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True).items()}

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def cookies(self) -> dict[str, str]:
        out = {}
        for part in (self.headers.get("Cookie") or "").split(";"):
            key, sep, value = part.strip().partition("=")
            if sep:
                out[key] = value
        return out


@dataclass
class Response:
    """What a platform answers; `chunks` streams the body, `content_length=False` sends none."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    chunks: Iterable[bytes] | None = None
    content_length: bool = True

    @classmethod
    def json(cls, payload, status: int = 200) -> Response:
        import json

        return cls(status, json.dumps(payload, ensure_ascii=False).encode(),
                   {"Content-Type": "application/json;charset=UTF-8"})


class Platform:
    """Base of the emulated platforms: the hosts it serves, its state, and its handler."""

    name = "platform"
    hosts: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.mode = "up"  # up | down (connections refused) | hung (accepts, never answers)
        self.lock = threading.Lock()
        self.too_many_next = 0  # answer this many of the next API requests 429 with Retry-After
        self.retry_after = "1"
        self.api_delay_s = 0.0  # each API answer takes this long (to see requests overlap)
        self.in_flight = 0
        self.max_in_flight = 0
        self.started: list[float] = []  # when each API request arrived (time.monotonic)
        self.trickle_s = 0.0  # API answers come a byte at a time, this far apart (no read timeout trips)
        self.answers: dict[str, Response] = {}  # a path answered with this instead (a broken endpoint)

    def enter(self) -> Response | None:
        """Count an API request in; answer 429 instead when told to."""
        with self.lock:
            self.started.append(time.monotonic())
            if self.too_many_next > 0:
                self.too_many_next -= 1
                return Response(429, b"too many requests", {"Retry-After": self.retry_after,
                                                            "Content-Type": "text/plain"})
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if self.api_delay_s:
            time.sleep(self.api_delay_s)
        return None

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def serves(self, host: str) -> bool:
        return any(host == h or host.endswith("." + h) for h in self.hosts)

    def handle(self, request: Request) -> Response:
        raise NotImplementedError


class PlatformEmulator(ThreadingHTTPServer):
    """The proxy on 127.0.0.1; `env()` is what a process sets to send its traffic here."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, folder: Path, platforms: Iterable[Platform]) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.authority = CertificateAuthority(Path(folder))
        self.platforms = list(platforms)
        self.requests: list[Request] = []
        self.refused: list[str] = []
        self.release = threading.Event()  # set at shutdown: hung connections let go
        self._log_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment for a process (or this one) whose requests must reach the emulator."""
        return {"HTTPS_PROXY": self.proxy_url, "HTTP_PROXY": self.proxy_url, "https_proxy": self.proxy_url,
                "http_proxy": self.proxy_url, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
                "REQUESTS_CA_BUNDLE": str(self.authority.ca_path), "CURL_CA_BUNDLE": str(self.authority.ca_path)}

    def handle_error(self, request, client_address) -> None:
        """A client that hangs up (as downloaders and refused tunnels do) is not an error here."""
        import sys as _sys

        if not isinstance(_sys.exc_info()[1], (ConnectionError, ssl.SSLError, socket.timeout)):
            super().handle_error(request, client_address)

    def platform_for(self, host: str) -> Platform | None:
        return next((p for p in self.platforms if p.serves(host)), None)

    def log(self, request: Request) -> None:
        with self._log_lock:
            self.requests.append(request)

    def seen(self, predicate: Callable[[Request], bool]) -> list[Request]:
        with self._log_lock:
            return [r for r in self.requests if predicate(r)]

    def start(self) -> PlatformEmulator:
        self._thread = threading.Thread(target=self.serve_forever, name="platform-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()
        if self._thread:
            self._thread.join(timeout=10)


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def _serve(handler: BaseHTTPRequestHandler, server: PlatformEmulator, scheme: str, host: str, path: str) -> None:
    parts = urlsplit(path)
    request = Request(handler.command, scheme, host, parts.path or "/", parse_qs(parts.query, keep_blank_values=True),
                      handler.headers, _read_body(handler), parts.query)
    platform = server.platform_for(host)
    if platform is None or platform.mode == "down":
        # As a host that cannot be reached: the connection ends without an answer.
        server.refused.append(request.url)
        handler.close_connection = True
        return
    server.log(request)
    if platform.mode == "hung":
        server.release.wait(300)
        handler.close_connection = True
        return
    cdn = getattr(getattr(platform, "cdn", None), "host", None)
    api = host != cdn and not request.path.endswith(".jpg")
    response = platform.enter() if api else None
    if response is None:
        try:
            response = platform.answers.get(request.path) or platform.handle(request)
        finally:
            if api:
                platform.leave()
    if api and platform.trickle_s and response.chunks is None:
        response = Response(response.status, b"", response.headers,
                            chunks=throttle(response.body, 1, platform.trickle_s),
                            content_length=False)
    handler.send_response(response.status)
    for key, value in response.headers.items():
        handler.send_header(key, value)
    body = response.body if response.chunks is None else None
    if "Content-Length" in response.headers:
        pass  # a HEAD answer naming the size of the body it does not send
    elif response.content_length and body is not None:
        handler.send_header("Content-Length", str(len(body)))
    else:
        handler.send_header("Connection", "close")
        handler.close_connection = True
    handler.end_headers()
    if handler.command == "HEAD":
        return
    try:
        if body is not None:
            handler.wfile.write(body)
        else:
            for chunk in response.chunks:
                handler.wfile.write(chunk)
                handler.wfile.flush()
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
        handler.close_connection = True


class _TunnelHandler(BaseHTTPRequestHandler):
    """Requests inside one CONNECT tunnel, after TLS."""

    protocol_version = "HTTP/1.1"

    def __init__(self, sock, client_address, server, host: str) -> None:
        self.tunnel_host = host
        super().__init__(sock, client_address, server)

    def log_message(self, format: str, *args) -> None:
        pass

    def _any(self) -> None:
        _serve(self, self.server, "https", self.tunnel_host, self.path)

    do_GET = do_POST = do_HEAD = do_PUT = do_OPTIONS = _any


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: PlatformEmulator

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK hold each kept-alive answer back by ~40 ms (as no real server does).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args) -> None:
        pass

    def do_CONNECT(self) -> None:
        host, _, port = self.path.rpartition(":")
        platform = self.server.platform_for(host)
        if platform is None or platform.mode == "down":
            self.server.refused.append(f"https://{host}")
            self.send_error(502, "unreachable")
            self.close_connection = True
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True
        try:
            tls = self.server.authority.context_for(host).wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            tls.settimeout(60)
            _TunnelHandler(tls, self.client_address, self.server, host)
        except (TimeoutError, ssl.SSLError, OSError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def _plain(self) -> None:
        parts = urlsplit(self.path)
        if not parts.scheme:
            self.send_error(400, "a proxy request needs an absolute URL")
            return
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        _serve(self, self.server, parts.scheme, parts.hostname or "", path)

    do_GET = do_POST = do_HEAD = do_PUT = do_OPTIONS = _plain


def throttle(data: bytes, chunk: int, delay: float) -> Iterable[bytes]:
    """A body sent `chunk` bytes at a time with a pause before each."""
    for start in range(0, len(data), chunk):
        if delay:
            time.sleep(delay)
        yield data[start:start + chunk]
