"""Kuwo as musicdl's KuwoMusicClient reads it: the h5 playlist API (paged, 100 a page), song
info, keyword search, the DES-encrypted `mobi.s` link endpoint (which answers plain text with a
`url=` line), and the audio CDN, which refuses requests without a browser User-Agent."""
from __future__ import annotations

import base64
import functools
import re
import zlib
from urllib.parse import parse_qs

from emulator.catalog import AudioLinks, CatalogPlatform, Song, require_browser
from emulator.netease import COVER
from emulator.proxy import Request, Response


@functools.lru_cache(maxsize=4096)
def _decrypt_query(raw: str) -> str:
    """The `q` of a mobi.s link request, as Kuwo's server reads it (musicdl's own DES, in pure
    Python: kept per query, so that the emulator's CPU does not weigh on what a test measures)."""
    from musicdl.modules.utils.kuwoutils import KuwoMusicClientUtils

    return KuwoMusicClientUtils.decrypt(base64.b64decode(raw)).rstrip(b"\0").decode("utf-8", "replace")


LYRIC_KEY = b"yeelion"  # what Kuwo XORs its word-timed lyrics with


def _xor(data: bytes) -> bytes:
    return bytes(b ^ LYRIC_KEY[i % len(LYRIC_KEY)] for i, b in enumerate(data))


def _lyricx(request: Request, songs: dict) -> bytes:
    """The word-timed lyrics of a song as newlyric.kuwo.cn sends them (`lyricx`): a `tp=content`
    header, then zlib of base64 of the GB18030 text XORed with Kuwo's key. The request's whole
    query is base64 of `user=…&rid=MUSIC_<id>&lrcx=1` XORed with the same key. Empty: no such song."""
    try:
        asked = parse_qs(_xor(base64.b64decode(request.path_query.lstrip("?"))).decode("utf-8"))
    except ValueError:
        return b""
    song = songs.get(re.sub(r"\D", "", (asked.get("rid") or [""])[-1]))
    if song is None:
        return b""
    text = (f"[ti:{song.name}]\r\n[00:00.000]<0,800>{song.name}\r\n"
            f"[00:01.500]<0,600>{'&'.join(song.artists)}<600,400> · <1000,500>{song.album}\r\n").encode("gb18030")
    return b"tp=content\r\nlrcx=1\r\n\r\n" + zlib.compress(base64.b64encode(_xor(text)))


class Kuwo(CatalogPlatform):
    name = "kuwo"
    hosts = ("kuwo.cn",)
    failing_pages: dict[int, Response]  # page number -> what that page answers instead

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.failing_pages = {}
        self.covers: list[str] = []  # cover paths asked for

    def make_cdn(self) -> AudioLinks:
        return AudioLinks("other.web.ra01.sycdn.kuwo.cn", require_browser)

    def playlist_url(self, playlist_id: str) -> str:
        return f"https://www.kuwo.cn/playlist_detail/{playlist_id}"

    def _music(self, song: Song) -> dict:
        return {"musicrid": f"MUSIC_{song.id}", "rid": int(song.id), "name": song.name,
                "artist": "&".join(song.artists),
                "album": song.album, "duration": int(song.seconds),
                # The album's cover, as Kuwo names it: one picture for every song of an album.
                "pic": f"https://img1.kuwo.cn/star/albumcover/500/{zlib.crc32(song.album.encode()) % 10**6}.jpg",
                "isListenFee": song.access == "preview"}

    def _abs(self, song: Song) -> dict:
        return {"MUSICRID": f"MUSIC_{song.id}", "SONGNAME": song.name, "ARTIST": "&".join(song.artists),
                "ALBUM": song.album, "DURATION": str(int(song.seconds)), "hts_MVPIC": ""}

    def handle(self, request: Request) -> Response:
        if request.host == self.cdn.host:
            return self.cdn.handle(request)
        if request.host.startswith("img") and request.path.endswith(".jpg"):
            self.covers.append(request.path)
            return Response(200, COVER, {"Content-Type": "image/jpeg"})
        path = request.path
        if path.startswith("/playlist_detail/") or path in ("/", ""):
            return Response(200, b"<html>kuwo</html>", {"Content-Type": "text/html"})
        if path == "/newh5app/wapi/api/www/playlist/playListInfo":
            playlist = self.playlists.get(request.arg("pid", ""))
            if playlist is None:
                return Response.json({"code": 200, "data": {"musicList": [], "total": 0}})
            page, size = int(request.arg("pn", "1")), int(request.arg("rn", "100"))
            if page in self.failing_pages:
                return self.failing_pages[page]
            chunk = playlist.songs[(page - 1) * size: page * size]
            return Response.json({"code": 200, "data": {"name": playlist.name, "total": len(playlist.songs),
                                                        "musicList": [self._music(s) for s in chunk]}})
        if path == "/newh5/singles/songinfoandlrc":
            song = self.songs.get(request.arg("musicId", ""))
            if song is None:
                return Response.json({"status": 200, "data": {"songinfo": None}})
            info = {"id": song.id, "songName": song.name, "artist": "&".join(song.artists), "album": song.album,
                    "duration": str(int(song.seconds)), "pic": ""}
            return Response.json({"status": 200, "data": {"songinfo": info, "lrclist": []}})
        if path == "/search/searchMusicBykeyWord":
            hits = self.find(request.arg("all", ""))
            page, size = int(request.arg("pn", "0")), int(request.arg("rn", "10"))
            return Response.json({"TOTAL": str(len(hits)),
                                  "abslist": [self._abs(s) for s in hits[page * size:(page + 1) * size]]})
        if path == "/mobi.s":
            raw = (request.arg("q", "") or "").replace(" ", "+")  # sent unescaped: parse_qs made "+" a space
            fields = {k: v[-1] for k, v in parse_qs(_decrypt_query(raw)).items()}
            song = self.songs.get(re.sub(r"\D", "", fields.get("rid", "")))
            if song is None or song.access == "none":
                return Response(200, b"res not found", {"Content-Type": "text/plain"})
            url = self.cdn.link(song)
            body = f"format={song.ext}\r\nbitrate=320\r\nurl={url}\r\nsig=1\r\n".encode()
            return Response(200, body, {"Content-Type": "text/plain"})
        if path == "/newlyric.lrc":
            return Response(200, _lyricx(request, self.songs), {"Content-Type": "text/plain"})
        return Response(404, b"not found", {"Content-Type": "text/plain"})
