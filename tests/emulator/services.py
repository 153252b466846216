"""Third-party link services, as musicdl's clients call them before (or after) a platform's own
API: module-level `requests` calls to hosts that are not the platform's. Each host can answer
a working link, answer garbage, answer late, or never answer at all."""
from __future__ import annotations

import threading
import time

from emulator.proxy import Platform, Request, Response

# Kuwo's link services in musicdl 2.14 (its "l2" list, asked in this order).
KUWO_SERVICES = ("music.nxinxz.com", "musicapi.haitangw.net", "music.xcloudv.top")


class LinkServices(Platform):
    name = "services"
    hosts = KUWO_SERVICES

    def __init__(self) -> None:
        super().__init__()
        self.kuwo = None  # the platform whose CDN a working answer links to (set by the world)
        self.release = threading.Event()
        self.reset()

    def reset(self) -> None:
        self.release.set()  # a request still held from the last test lets go
        self.release = threading.Event()
        self.behaviour: dict[str, str] = {host: "garbage" for host in self.hosts}  # garbage | hung | late | none
        self.late_s = 0.0
        self.seen: list[tuple[float, str, str]] = []  # (time.monotonic, host, path)

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.seen.append((time.monotonic(), request.host, request.path))
        behaviour = self.behaviour.get(request.host, "garbage")
        if behaviour == "hung":
            self.release.wait(120)
            return Response(504, b"", {"Content-Type": "text/plain"})
        if behaviour == "late":
            time.sleep(self.late_s)
        if request.path.startswith("/file/") and self.kuwo is not None:
            # The service's own copy: a high-bitrate WAV (musicdl refuses a service link under 320 kbps).
            song = self.kuwo.songs.get(request.path.rsplit("/", 1)[-1].split(".")[0])
            if song is None:
                return Response(404, b"gone", {"Content-Type": "text/plain"})
            from catalogsync_ops.demo.audio import wav_bytes

            body = wav_bytes(song.seconds, rate=22050)
            if request.method == "HEAD":
                return Response(200, b"", {"Content-Type": "audio/wav", "Content-Length": str(len(body))})
            return Response(200, body, {"Content-Type": "audio/wav"})
        if behaviour == "link" and self.kuwo is not None:
            from urllib.parse import parse_qs

            song_id = request.arg("id") or parse_qs(request.body.decode()).get("songid", [""])[-1]
            if song_id in self.kuwo.songs:
                url = f"https://{request.host}/file/{song_id}.wav"
                return Response.json({"code": 200, "data": {"url": url, "br": 1411}, "url": url})
        if behaviour == "none":
            return Response.json({"code": 404, "data": {"url": ""}, "url": ""})
        return Response(200, b"<html><body>service unavailable</body></html>", {"Content-Type": "text/html"})

    def asked(self, host: str) -> int:
        with self.lock:
            return sum(1 for _, h, _ in self.seen if h == host)
