"""Migu as musicdl's MiguMusicClient reads it: the app API under app.c.nf.migu.cn (playlists in
pages of 50 with a declared `totalCount`, the playlist's title), which refuses requests without
the app's headers (`channel`, `ua`); keyword search; the h5 `listen-url` endpoint, whose answer
is scrambled (a magic prefix, a seed byte, each byte shifted by a key) when the client asks for
it with `signature: 1`; songs whose `rateFormats` list the qualities on offer; a `listenSong.do`
address that redirects to the CDN when `listen-url` names no link; and a CDN that wants a
browser User-Agent."""
from __future__ import annotations

import json
import random
import re
from urllib.parse import urlencode

from emulator.catalog import AudioLinks, CatalogPlatform, Song, require_browser
from emulator.proxy import Request, Response

MAGIC = b"\xab\xcd\x01"
KEY = b"Jk8qzuePiJ1qE3mDYhLQ3T73DtDoAhLP"
PAGE = 50


def scramble(payload: dict) -> bytes:
    """What musicdl's `_decryptresp` undoes: each byte shifted back by the key, less a seed."""
    plain = json.dumps(payload, ensure_ascii=False).encode()
    seed = random.randrange(256)
    return MAGIC + bytes([seed]) + bytes((b - seed + KEY[i % len(KEY)]) & 0xFF for i, b in enumerate(plain))


class Migu(CatalogPlatform):
    name = "migu"
    hosts = ("migu.cn",)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.failing_pages: dict[int, Response] = {}
        self.redirect_only: set[str] = set()  # songs whose listen-url names no link (listenSong.do redirects)

    def make_cdn(self) -> AudioLinks:
        return AudioLinks("freetyst.nf.migu.cn", require_browser)

    def playlist_url(self, playlist_id: str) -> str:
        return f"https://music.migu.cn/v3/music/playlist/{playlist_id}"

    def _song(self, song: Song) -> dict:
        formats = [] if song.access == "none" else [
            {"formatType": "PQ", "resourceType": "2", "size": f"{len(song.audio) / 2**20:.2f}MB", "format": "000019"},
            {"formatType": "Z3D", "resourceType": "E", "size": "30.0MB"},  # encrypted: musicdl skips it
        ]
        return {"contentId": song.id, "copyrightId": f"6{song.id}", "songName": song.name, "name": song.name,
                "singerList": [{"id": str(i), "name": a} for i, a in enumerate(song.artists, 1)],
                "singers": [{"id": str(i), "name": a} for i, a in enumerate(song.artists, 1)],
                "album": song.album, "albums": [{"name": song.album}], "rateFormats": formats,
                "duration": int(song.seconds)}

    def handle(self, request: Request) -> Response:
        if request.host == self.cdn.host:
            return self.cdn.handle(request)
        path = request.path
        if request.host == "music.migu.cn":
            return Response(200, b"<html>Migu</html>", {"Content-Type": "text/html"})
        if request.host.endswith("nf.migu.cn") and path.startswith("/MIGUM3.0/v1.0/content/sub/listenSong.do"):
            song = self.songs.get(request.arg("contentId", ""))
            if song is None or song.access == "none":
                return Response(404, b"not found", {"Content-Type": "text/plain"})
            return Response(302, b"", {"Location": self.cdn.link(song), "Content-Type": "text/plain"})
        if request.host == "d.musicapp.migu.cn" and re.match(r"/lrc", path):
            return Response(200, b"[00:00.00]emulated", {"Content-Type": "text/plain"})
        if request.headers.get("channel") != "014021I" or request.headers.get("ua") != "Android_migu":
            return Response.json({"code": "000002", "info": "illegal request: app headers missing"})
        if path == "/MIGUM3.0/resource/playlist/song/v2.0":
            playlist = self.playlists.get(request.arg("playlistId", ""))
            page, size = int(request.arg("pageNo", "1")), int(request.arg("pageSize", str(PAGE)))
            if page in self.failing_pages:
                return self.failing_pages[page]
            if playlist is None:
                return Response.json({"code": "000000", "data": {"songList": [], "totalCount": 0}})
            chunk = playlist.songs[(page - 1) * size: page * size]
            return Response.json({"code": "000000", "data": {"totalCount": len(playlist.songs),
                                                             "songList": [self._song(s) for s in chunk]}})
        if path == "/resource/playlist/v2.0":
            playlist = self.playlists.get(request.arg("playlistId", ""))
            return Response.json({"code": "000000", "data": {"title": playlist.name if playlist else ""}})
        if path == "/v1.0/content/search_all.do":
            hits = self.find(request.arg("text", ""))
            page, size = int(request.arg("pageNo", "1")), int(request.arg("pageSize", "20"))
            return Response.json({"code": "000000", "songResultData": {
                "totalCount": str(len(hits)), "result": [self._song(s) for s in hits[(page - 1) * size: page * size]]}})
        if path == "/strategy/listen-url/h5/v2.4":
            song = self.songs.get(request.arg("contentId", ""))
            tone = request.arg("toneFlag", "")
            if song is None or song.access == "none" or tone != "PQ":
                payload = {"code": "000000", "data": {}}
            else:
                url = "" if song.id in self.redirect_only else self.cdn.link(song)
                payload = {"code": "000000", "data": {"url": url, "song": {"duration": int(song.seconds)}}}
            if request.headers.get("signature") == "1":
                return Response(200, scramble(payload), {"Content-Type": "application/json", "signature": "1"})
            return Response.json(payload)
        if path == "/MIGUM3.0/strategy/pc/listen/v1.0":
            query = urlencode({"id": request.arg("contentId", "")})
            return Response.json({"code": "000000", "data": {"lrcUrl": f"https://d.musicapp.migu.cn/lrc?{query}"}})
        return Response.json({"code": "404", "info": f"no such API {path}"}, status=404)
