"""The songs the emulated platforms hold, and the audio links they hand out.

A song can be served whole, only as a trial clip (a membership song), in an encrypted
container, not at all (its link cannot be looked up), or from a link that expires after its
first download. The audio endpoint refuses a request without the platform's headers.
"""
from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from catalogsync_ops.demo.audio import lossless_bytes, mp3_bytes
from emulator.proxy import Platform, Request, Response, throttle


@dataclass
class Song:
    id: str
    name: str
    artists: tuple[str, ...]
    album: str
    seconds: float = 8.0
    ext: str = "mp3"
    access: str = "full"  # full | preview | encrypted | none
    lossless: bool = False  # the platform also holds it as a FLAC (its top levels serve that)
    _audio: bytes | None = field(default=None, repr=False)
    _flac: bytes | None = field(default=None, repr=False)

    @property
    def audio(self) -> bytes:
        if self._audio is None:
            seconds = min(self.seconds, 30.0) if self.access == "preview" else self.seconds
            self._audio = mp3_bytes(seconds, seed=int(self.id) % 100_000 if self.id.isdigit() else hash(self.id) % 1000)
        return self._audio

    @property
    def flac(self) -> bytes:
        """The FLAC the platform serves at its lossless levels: full-band sound, CD resolution."""
        if self._flac is None:
            self._flac = lossless_bytes(self.seconds, seed=int(self.id) % 1000 if self.id.isdigit() else 7)
        return self._flac

    def body(self, ext: str) -> bytes:
        return self.flac if ext == "flac" and self.lossless else self.audio


@dataclass
class Playlist:
    id: str
    name: str
    songs: list[Song]


def require_browser(request: Request) -> str | None:
    """Why a CDN refuses a request whose User-Agent is no browser's (None: it does not)."""
    agent = request.headers.get("User-Agent") or ""
    return None if "Mozilla" in agent else f"User-Agent {agent!r} is not a browser"


class AudioLinks:
    """Signed, expiring audio links on a platform's CDN host, checked per request."""

    def __init__(self, host: str, require: Callable[[Request], str | None], *, expire_after_use: bool = True) -> None:
        self.host = host
        self.require = require  # returns why a request is refused, or None
        self.expire_after_use = expire_after_use
        self.lock = threading.Lock()
        self.tokens: dict[str, tuple[Song, float]] = {}
        self.used: set[str] = set()
        self.counter = itertools.count(1)
        self.lifetime_s = 3600.0
        self.no_length_every = 0  # every Nth download omits Content-Length (0: never)
        self.head_without_length = False  # HEAD answers without the size (musicdl then says 0)
        self.expire_next = 0  # this many of the next links expire before their download (HEAD still answers)
        self.doomed: set[str] = set()
        self.gate = threading.Event()  # cleared: bodies wait until it is set again (downloads held in flight)
        self.gate.set()
        self.in_flight = 0
        self.chunk_delay_s = 0.0
        self.downloads: list[tuple[str, str]] = []  # (song id, token)
        self.refusals: list[tuple[str, str]] = []  # (path, why)

    def link(self, song: Song, ext: str | None = None) -> str:
        """A signed link to the song's audio: its FLAC when `ext` is flac and it has one."""
        token = secrets.token_hex(8)
        with self.lock:
            if self.expire_next > 0:
                self.expire_next -= 1
                self.doomed.add(token)
            self.tokens[token] = (song, time.monotonic() + self.lifetime_s)
        ext = "mflac" if song.access == "encrypted" else "flac" if ext == "flac" and song.lossless else song.ext
        return f"https://{self.host}/audio/{token}/{song.id}.{ext}"

    def _held(self, body: bytes):
        with self.lock:
            self.in_flight += 1
        try:
            self.gate.wait(60)
            yield body
        finally:
            with self.lock:
                self.in_flight -= 1

    def handle(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        token = parts[1] if len(parts) == 3 and parts[0] == "audio" else ""
        why = self.require(request)
        if request.method != "HEAD" and token in self.doomed:
            with self.lock:
                self.used.add(token)
        with self.lock:
            entry = self.tokens.get(token)
            expired = entry is None or entry[1] < time.monotonic() or token in self.used
        if why:
            self.refusals.append((request.path, why))
            return Response(403, f"forbidden: {why}".encode(), {"Content-Type": "text/plain"})
        if expired:
            self.refusals.append((request.path, "expired"))
            return Response(403, b"<html>link expired</html>", {"Content-Type": "text/html"})
        song = entry[0]
        served = parts[2].rsplit(".", 1)[-1] if len(parts) == 3 else song.ext
        data = song.body(served)
        headers = {"Content-Type": "audio/flac" if song.access == "encrypted" or served == "flac" else "audio/mpeg",
                   "Accept-Ranges": "bytes"}
        if request.method == "HEAD":
            if self.head_without_length:
                return Response(200, b"", headers, content_length=False)
            return Response(200, b"", {**headers, "Content-Length": str(len(data))})
        status, body = 200, data
        wanted = request.headers.get("Range")
        if wanted and wanted.startswith("bytes="):
            start_s, _, end_s = wanted[6:].partition("-")
            start = int(start_s or 0)
            end = min(int(end_s), len(data) - 1) if end_s else len(data) - 1
            status, body = 206, data[start:end + 1]
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        whole_download = status == 200 or (status == 206 and len(body) > 65536)
        with self.lock:
            n = next(self.counter)
            if whole_download:
                self.downloads.append((song.id, token))
                if self.expire_after_use:
                    self.used.add(token)
        drop_length = bool(self.no_length_every) and n % self.no_length_every == 0
        if not self.gate.is_set():
            return Response(status, b"", headers, chunks=self._held(body), content_length=False)
        return Response(status, b"" if self.chunk_delay_s else body, headers,
                        chunks=throttle(body, 64 * 1024, self.chunk_delay_s) if self.chunk_delay_s else None,
                        content_length=not drop_length and not self.chunk_delay_s)


class CatalogPlatform(Platform):
    """A platform holding playlists of songs, behind an audio CDN of its own."""

    def __init__(self, playlists: list[Playlist], extra_songs: list[Song] = ()) -> None:
        super().__init__()
        self.playlists = {p.id: p for p in playlists}
        self.songs = {s.id: s for p in playlists for s in p.songs}
        self.songs.update({s.id: s for s in extra_songs})
        self.cdn = self.make_cdn()

    def make_cdn(self) -> AudioLinks:
        raise NotImplementedError

    def find(self, query: str) -> list[Song]:
        """The platform's search: songs whose title or an artist contains any word of the query."""
        words = [w for w in (query or "").lower().split() if w]
        return [s for s in self.songs.values()
                if any(w in s.name.lower() or any(w in a.lower() for a in s.artists) for w in words)]
