"""The demo platform's HTTP server, on 127.0.0.1, with switchable faults.

Routes, for platform P in (demo, demo2):
  GET /P/playlist/<id>            the playlist page a person would paste into a pool file
  GET /P/playlist/<id>.m3u8       the same playlist as an M3U8 file
  GET /P/api/playlist/<id>        JSON: title and tracks
  GET /P/api/search?q=…&limit=N   JSON: candidate tracks
  GET /P/api/song/<id>/url        JSON: where the audio is (404 if P cannot serve it); with
                                  ?quality=R, that rung's file (404 if it is not on offer)
  GET /P/api/song/<id>/lyrics     JSON: the song's time-synced lyrics, {"lrc": …} (404: none)
  GET /P/audio/<id>.<ext>         the audio bytes (Range supported unless told to ignore it)
  GET /P/audio/<id>-<rung>.<ext>  another quality of it (tracks list their `qualities`)
  GET /blob/<bytes>               deterministic bytes of any size (benchmarks)
  GET /status/<code>              an answer with that HTTP status (tests of error handling)
  GET|POST /_control/faults       read or set the faults (JSON)
"""
from __future__ import annotations

import hashlib
import json
import random
import re
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from catalogsync_ops.demo.audio import audio_bytes, lossless_bytes, mp3_bytes
from catalogsync_ops.demo.catalog import DemoPlatform, DemoSong, build_platforms
from catalogsync_ops.library.matching import fold

CHUNK = 64 * 1024
# Each rung's file on the demo platform: its extension and Content-Type (128: the song's own file).
_RUNG_FILES = {"lossless": ("flac", "audio/flac"), "320": ("mp3", "audio/mpeg"), "256": ("mp3", "audio/mpeg"),
               "192": ("mp3", "audio/mpeg"), "128": ("mp3", "audio/mpeg")}
_BLOCK = hashlib.sha256(b"catalogsync").digest() * (1024 * 1024 // 32)  # 1 MiB pattern


@dataclass
class Faults:
    """What the server does wrong, on purpose. Rates are probabilities per audio request."""

    fail_rate: float = 0.0  # answer 503
    not_found: list[str] = field(default_factory=list)  # song ids whose audio is 404
    slow_ms: int = 0  # sleep this long before every 64 KiB chunk of audio
    cut_short_rate: float = 0.0  # close the connection halfway through the body
    ignore_range: bool = False  # answer 200 with the whole body to a Range request
    changed: list[str] = field(default_factory=list)  # song ids whose audio is a new edition (new bytes, new ETag)
    wrong_range: bool = False  # answer a Range request with 206 from byte 0 (a broken cache or proxy)
    hide_total: bool = False  # the size unknown: chunked bodies, and 206 with "bytes a-b/*"
    api_fail_rate: float = 0.0  # answer 500 to JSON API calls
    seed: int = 1


class DemoServer(ThreadingHTTPServer):
    """The demo platform; `with DemoServer() as s:` starts it on a free loopback port."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int = 0, host: str = "127.0.0.1", *, songs: int = 0,
                 song_seconds: float | None = None, playlists: int = 1) -> None:
        self.platforms: dict[str, DemoPlatform] = build_platforms(songs=songs, song_seconds=song_seconds,
                                                                  playlists=playlists)
        self.faults = Faults()
        self._rng = random.Random(self.faults.seed)
        self.requests: list[dict] = []  # method, path, Range and If-Range headers: what tests assert on
        self.lock = threading.Lock()
        self._audio: dict[tuple, tuple[bytes, str]] = {}  # the body and its ETag
        # Qualities put on offer (or withdrawn: kind None) while the server runs, by (platform, song).
        self.offers: dict[tuple[str, str], dict[str, str | None]] = {}
        self._thread: threading.Thread | None = None
        super().__init__((host, port), _Handler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def playlist_urls(self, platform: str = "demo") -> list[str]:
        """The human playlist URLs of a platform, in id order."""
        return [f"{self.base_url}/{platform}/playlist/{pid}" for pid in sorted(self.platforms[platform].playlists)]

    def set_faults(self, **changes) -> None:
        """Change some faults (unknown names raise)."""
        with self.lock:
            for key, value in changes.items():
                if not hasattr(self.faults, key):
                    raise ValueError(f"unknown fault {key!r}; known: {', '.join(asdict(Faults()))}")
                setattr(self.faults, key, value)
            self._rng = random.Random(self.faults.seed)

    def handle_error(self, request, client_address) -> None:
        """A client that went away (a canceled or refused download) is no error to print."""
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)

    def roll(self, rate: float) -> bool:
        with self.lock:
            return rate > 0 and self._rng.random() < rate

    def audio(self, platform: str, song: DemoSong, rung: str | None = None) -> bytes:
        """The song's audio as served now (a song in `faults.changed` is another edition)."""
        return self.audio_and_etag(platform, song, rung)[0]

    def offer(self, platform: str, song_id: str, rung: str, kind: str | None = "real") -> None:
        """Put a quality of a song on offer from now on, or take it away (None): a lossless copy
        that appears on a platform, or one that goes. `kind`: real; transcoded (a "lossless" file
        made from a lossy one); mislabeled (the song's own 128 kbit/s file, called that rung)."""
        if kind not in ("real", "transcoded", "mislabeled", None) or rung not in _RUNG_FILES:
            raise ValueError(f"offer a rung of {', '.join(_RUNG_FILES)} as real, transcoded or mislabeled")
        with self.lock:
            self.offers.setdefault((platform, song_id), {})[rung] = kind

    def offered(self, platform: str, song: DemoSong) -> dict[str, str]:
        """The rungs a song is on offer at, best first, with the kind of each (base: the song's own file)."""
        with self.lock:
            changes = dict(self.offers.get((platform, song.id), {}))
        found = {**dict(song.offers), "128": "base"}
        for rung, kind in changes.items():
            if kind is None:
                found.pop(rung, None)
            else:
                found[rung] = kind
        return {rung: found[rung] for rung in _RUNG_FILES if rung in found}

    def ext_of(self, platform: str, song: DemoSong, rung: str | None) -> str:
        kind = self.offered(platform, song).get(rung or "128")
        return song.ext if kind in (None, "base") else _RUNG_FILES[rung][0]

    def audio_and_etag(self, platform: str, song: DemoSong, rung: str | None = None) -> tuple[bytes, str]:
        kind = self.offered(platform, song).get(rung or "128", "base")
        with self.lock:
            key = (platform, song.id, song.id in self.faults.changed, rung if kind != "base" else None, kind)
            cached = self._audio.get(key)
        if cached is None:
            # Another edition: the same length and format, other bytes (as a re-upload would be).
            seed = song.seed + (7919 if key[2] else 0)
            if kind in ("base", "mislabeled"):
                data = audio_bytes(song.ext, song.duration_s, seed)
            elif rung == "lossless":
                data = lossless_bytes(song.duration_s, seed, cutoff_hz=16_000 if kind == "transcoded" else None)
            else:
                data = mp3_bytes(song.duration_s, seed, kbps=int(rung))
            cached = (data, f'"{hashlib.sha256(data).hexdigest()[:24]}"')
            with self.lock:
                self._audio[key] = cached
        return cached

    def write_pool_file(self, path: Path, platform: str = "demo") -> Path:
        """A pool file listing the platform's playlists, ready for INPUT_DIR."""
        lines = [f"# demo playlists served by {self.base_url}"] + self.playlist_urls(platform)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def start(self) -> DemoServer:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="demo-server", daemon=True)
        self._thread.start()
        return self

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


def _track_json(server: DemoServer, platform: str, song: DemoSong) -> dict:
    return {"id": song.id, "title": song.title, "artists": list(song.artists), "album": song.album,
            "duration": song.duration_s, "track_no": song.track_no,
            "qualities": list(server.offered(platform, song)) if song.downloadable else []}


class _Handler(BaseHTTPRequestHandler):
    server: DemoServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body are separate writes: without this, Nagle's algorithm and the client's
        # delayed ACK hold each kept-alive answer back by ~40 ms, which no real platform does.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args) -> None:  # quiet: tests read server.requests
        pass

    def _json(self, status: int, payload: dict) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _text(self, status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> None:
        body = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/_control/faults":
            return self._json(404, {"error": "not found"})
        length = int(self.headers.get("Content-Length") or 0)
        try:
            self.server.set_faults(**json.loads(self.rfile.read(length) or b"{}"))
        except (ValueError, TypeError) as exc:
            return self._json(400, {"error": str(exc)})
        self._json(200, asdict(self.server.faults))

    def do_HEAD(self) -> None:
        self.do_GET(head=True)

    def do_GET(self, head: bool = False) -> None:
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        with self.server.lock:
            self.server.requests.append({"method": self.command, "path": path, "range": self.headers.get("Range"),
                                         "if_range": self.headers.get("If-Range")})
        if path == "/_control/faults":
            return self._json(200, asdict(self.server.faults))
        if (m := re.fullmatch(r"/blob/(\d+)", path)):
            return self._send_bytes(_BlobBody(int(m.group(1))), "application/octet-stream", head)
        if (m := re.fullmatch(r"/status/([1-5]\d\d)", path)):
            return self._json(int(m.group(1)), {"status": int(m.group(1))})
        m = re.fullmatch(r"/(demo2?)/(.+)", path)
        if not m:
            return self._json(404, {"error": f"no route {path}"})
        platform = self.server.platforms[m.group(1)]
        rest = m.group(2)
        if rest.startswith("api/") and self.server.roll(self.server.faults.api_fail_rate):
            return self._json(500, {"error": "injected API failure"})
        if (m := re.fullmatch(r"playlist/(\w+)", rest)):
            playlist = platform.playlists.get(m.group(1))
            if playlist is None:
                return self._text(404, "no such playlist")
            return self._text(200, f"<html><body><h1>{playlist.title}</h1></body></html>", "text/html; charset=utf-8")
        if (m := re.fullmatch(r"playlist/(\w+)\.m3u8", rest)):
            playlist = platform.playlists.get(m.group(1))
            if playlist is None:
                return self._text(404, "no such playlist")
            lines = ["#EXTM3U", f"#PLAYLIST:{playlist.title}"]
            for sid in playlist.song_ids:
                song = platform.songs[sid]
                if not song.downloadable:
                    continue  # an M3U lists files that exist
                lines.append(f"#EXTINF:{round(song.duration_s)},{', '.join(song.artists)} - {song.title}")
                lines.append(f"../audio/{sid}.{song.ext}")
            return self._text(200, "\r\n".join(lines) + "\r\n", "audio/x-mpegurl; charset=utf-8")
        if (m := re.fullmatch(r"api/playlist/(\w+)", rest)):
            playlist = platform.playlists.get(m.group(1))
            if playlist is None:
                return self._json(404, {"error": "no such playlist"})
            return self._json(200, {"id": playlist.id, "title": playlist.title,
                                    "tracks": [_track_json(self.server, platform.name, platform.songs[s])
                                               for s in playlist.song_ids]})
        if rest == "api/search":
            words = [fold(w) for w in (query.get("q", [""])[0]).split() if fold(w)]
            limit = int(query.get("limit", ["10"])[0])
            hits = [s for s in platform.songs.values()
                    if words and any(w in fold(s.title) or any(w in fold(a) for a in s.artists) for w in words)]
            return self._json(200, {"results": [_track_json(self.server, platform.name, s) for s in hits[:limit]]})
        if (m := re.fullmatch(r"api/song/(\w+)/lyrics", rest)):
            song = platform.songs.get(m.group(1))
            if song is None or not song.lyrics:
                return self._json(404, {"error": "no lyrics for this song"})
            return self._json(200, {"lrc": song.lrc()})
        if (m := re.fullmatch(r"api/song/(\w+)/url", rest)):
            song = platform.songs.get(m.group(1))
            if song is None or not song.downloadable:
                return self._json(404, {"error": "this song is not available on this platform"})
            rung = query.get("quality", [None])[0]
            offered = self.server.offered(platform.name, song)
            if rung is not None and rung not in offered:
                return self._json(404, {"error": f"not offered at {rung}; offered: {', '.join(offered)}"})
            if offered.get(rung or "128", "base") == "base":
                rung = None  # the song's own file, at its own address
            ext = self.server.ext_of(platform.name, song, rung)
            data = self.server.audio(platform.name, song, rung)
            name = f"{song.id}-{rung}" if rung else song.id
            return self._json(200, {"url": f"{self.server.base_url}/{platform.name}/audio/{name}.{ext}",
                                    "ext": ext, "size": len(data), "quality": rung or "128"})
        if (m := re.fullmatch(r"audio/(\w+?)(?:-(lossless|\d+))?\.(\w+)", rest)):
            song = platform.songs.get(m.group(1))
            faults = self.server.faults
            rung = m.group(2)
            if song is None or song.id in faults.not_found or not song.downloadable \
                    or (rung and rung not in self.server.offered(platform.name, song)) \
                    or self.server.ext_of(platform.name, song, rung) != m.group(3):
                return self._json(404, {"error": "no such audio"})
            if self.server.roll(faults.fail_rate):
                return self._json(503, {"error": "injected failure"})
            ext = m.group(3)
            content_type = {"mp3": "audio/mpeg", "flac": "audio/flac"}.get(ext, "audio/wav")
            data, etag = self.server.audio_and_etag(platform.name, song, rung)
            return self._send_bytes(data, content_type, head, etag)
        return self._json(404, {"error": f"no route {path}"})

    def _send_bytes(self, data, content_type: str, head: bool, etag: str | None = None) -> None:
        faults = self.server.faults
        total = len(data)
        etag = etag or f'"blob-{total}"'  # a blob's bytes follow from its size
        start, status = 0, 200
        wanted = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if wanted and not faults.ignore_range and (if_range is None or if_range == etag):
            m = re.fullmatch(r"bytes=(\d+)-", wanted.strip())
            if m:
                start = 0 if faults.wrong_range else int(m.group(1))
                if start >= total:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{total}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if faults.hide_total:
            self.send_header("Transfer-Encoding", "chunked")  # as servers send a body of unknown length
        else:
            self.send_header("Content-Length", str(total - start))
        self.send_header("Accept-Ranges", "none" if faults.ignore_range else "bytes")
        self.send_header("ETag", etag)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{total - 1}/{'*' if faults.hide_total else total}")
        self.end_headers()
        if head:
            return
        cut_at = None
        if self.server.roll(faults.cut_short_rate):
            cut_at = start + max(1, (total - start) // 2)
        position = start
        try:
            while position < total:
                if faults.slow_ms:
                    time.sleep(faults.slow_ms / 1000)
                end = min(total, position + (CHUNK if faults.slow_ms else 1024 * 1024))
                if cut_at is not None and end > cut_at:
                    piece = bytes(data[position:cut_at])
                    self.wfile.write(b"%x\r\n%s" % (len(piece), piece) if faults.hide_total else piece)
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                piece = bytes(data[position:end]) if not isinstance(data, _BlobBody) else data[position:end]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if faults.hide_total else piece)
                position = end
            if faults.hide_total:
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class _BlobBody:
    """Deterministic bytes of any length, sliced without building the whole body."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, item: slice) -> bytes:
        start, stop = item.start or 0, min(item.stop if item.stop is not None else self.size, self.size)
        out = bytearray()
        while start < stop:
            offset = start % len(_BLOCK)
            piece = _BLOCK[offset: offset + (stop - start)]
            out += piece
            start += len(piece)
        return bytes(out)


def blob_bytes(size: int) -> bytes:
    """The bytes /blob/<size> serves (for checking downloads in tests)."""
    return _BlobBody(size)[0:size]
