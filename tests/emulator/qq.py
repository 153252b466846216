"""QQ Music as musicdl's QQMusicClient reads it: the playlist (`fcg_ucc_getcdinfo_byids_cp`),
the `musicu.fcg` gateway (song details, the vkey link look-up by quality, search), lyrics, and
the `isure.stream.qqmusic.qq.com` CDN, which refuses requests without QQ's Referer."""
from __future__ import annotations

import base64
import json

from emulator.catalog import AudioLinks, CatalogPlatform, Song
from emulator.proxy import Request, Response

OFFERED = ("M800", "M500")  # the qualities the emulated songs exist in (MP3)
LOSSLESS = "F000"  # and a FLAC, for a song the platform holds losslessly (musicdl asks for it first)


def _require_referer(request: Request) -> str | None:
    referer = request.headers.get("Referer") or ""
    return None if "y.qq.com" in referer else f"Referer {referer!r} is not QQ Music's"


class QQ(CatalogPlatform):
    name = "qq"
    hosts = ("y.qq.com", "qqmusic.qq.com", "gtimg.cn")

    def make_cdn(self) -> AudioLinks:
        return AudioLinks("isure.stream.qqmusic.qq.com", _require_referer)

    def playlist_url(self, playlist_id: str) -> str:
        return f"https://y.qq.com/n/ryqq/playlist/{playlist_id}"

    def _song(self, song: Song) -> dict:
        return {"mid": song.id, "songmid": song.id, "title": song.name, "name": song.name,
                "singer": [{"name": a, "mid": f"s{i}"} for i, a in enumerate(song.artists)],
                "album": {"title": song.album, "name": song.album,
                          "mid": f"al{song.id}"}, "interval": int(song.seconds),
                "pay": {"pay_play": 1 if song.access == "preview" else 0}}

    def handle(self, request: Request) -> Response:
        if request.host == self.cdn.host:
            return self.cdn.handle(request)
        if request.host.endswith("gtimg.cn"):
            return Response(200, bytes.fromhex("ffd8fffe000a656d756c61746f72ffd9"), {"Content-Type": "image/jpeg"})
        path = request.path
        if path.startswith("/n/ryqq/playlist/") or path == "/":
            return Response(200, b"<html>QQ Music</html>", {"Content-Type": "text/html"})
        if path == "/qzone/fcg-bin/fcg_ucc_getcdinfo_byids_cp.fcg":
            playlist = self.playlists.get(request.arg("disstid", ""))
            if playlist is None:
                return Response.json({"code": 0, "cdlist": []})
            return Response.json({"code": 0, "cdlist": [{"disstid": playlist.id, "dissname": playlist.name,
                                                         "songnum": len(playlist.songs),
                                                         "songlist": [self._song(s) for s in playlist.songs]}]})
        if path == "/lyric/fcgi-bin/fcg_query_lyric_new.fcg":
            return Response.json({"code": 0, "lyric": base64.b64encode(b"[00:00.00]emulated").decode()})
        if path == "/cgi-bin/musicu.fcg":
            body = json.loads(request.body or b"{}")
            out: dict = {"code": 0}
            for key, value in body.items():
                if key == "comm" or not isinstance(value, dict):
                    continue
                param = value.get("param") or {}
                if key.endswith("UrlGetVkey") or key.endswith("CgiGetEVkey"):
                    purls = []
                    for filename, mid in zip(param.get("filename", []), param.get("songmid", []), strict=False):
                        song = self.songs.get(mid)
                        flac = song is not None and song.lossless and filename[:4] == LOSSLESS
                        offered = song is not None and song.access != "none" and (filename[:4] in OFFERED or flac)
                        link = self.cdn.link(song, "flac" if flac else None).split("/", 3)[3] if offered else ""
                        purls.append({"songmid": mid, "filename": filename, "purl": link, "wifiurl": ""})
                    out[key] = {"code": 0, "data": {"midurlinfo": purls}}
                elif key.endswith("DoSearchForQQMusicMobile"):
                    hits = self.find(str(param.get("query", "")))
                    size, page = int(param.get("num_per_page", 10)), int(param.get("page_num", 1))
                    out[key] = {"code": 0, "data": {"body": {"item_song": [self._song(s) for s in
                                                                         hits[(page - 1) * size: page * size]]}}}
                elif key == "songinfo":
                    song = self.songs.get(str(param.get("song_mid", "")))
                    out[key] = {"code": 0, "data": {"track_info": self._song(song) if song else {}}}
            return Response.json(out)
        return Response(404, b"not found", {"Content-Type": "text/plain"})
