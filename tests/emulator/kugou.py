"""Kugou as musicdl's KugouMusicClient reads it: playlists from the signed `gatewayretry` list
API (an MD5 signature over the sorted query, pages of 300 with a declared `count`), the
playlist page's `specialInfo` for its name, keyword search, the signed Android gateway
(`/v5/url`: a signature over every parameter and a `key` over the hash and device id) that
offers only some qualities, the `trackercdn` fallback keyed by MD5(hash + "kgcloudv2"), and a
CDN that wants a browser User-Agent. A request whose signature or key is wrong is refused as
the real gateway refuses it (status 0, an error code)."""
from __future__ import annotations

import hashlib
import json
from urllib.parse import parse_qsl

from emulator.catalog import AudioLinks, CatalogPlatform, Song, require_browser
from emulator.proxy import Request, Response

LIST_SECRET = "OIlwieks28dk2k092lksi2UIkp"
GATEWAY_OFFERS = ("128", "320")  # qualities the gateway hands out without a membership


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def song_hash(song: Song) -> str:
    return _md5(f"kugou-{song.id}").upper()


class Kugou(CatalogPlatform):
    name = "kugou"
    hosts = ("kugou.com",)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.by_hash = {song_hash(s): s for s in self.songs.values()}
        self.refused_signatures: list[str] = []
        self.page_cap = 300  # the most a page holds, whatever pagesize asks (gateways cap it)
        self.failing_pages: dict[int, Response] = {}

    def make_cdn(self) -> AudioLinks:
        return AudioLinks("webfs.kugou.com", require_browser)

    def playlist_url(self, playlist_id: str) -> str:
        return f"https://www.kugou.com/yy/special/single/{playlist_id}.html"

    def _entry(self, song: Song) -> dict:
        return {"hash": song_hash(song).lower(), "name": f"{'、'.join(song.artists)} - {song.name}",
                "singerinfo": [{"id": i, "name": a} for i, a in enumerate(song.artists, 1)],
                "albuminfo": {"id": 1, "name": song.album}, "timelen": int(song.seconds * 1000),
                "audio_id": int(song.id) if song.id.isdigit() else 0}

    def _search_entry(self, song: Song) -> dict:
        return {"FileHash": song_hash(song), "SongName": song.name, "SingerName": "、".join(song.artists),
                "AlbumName": song.album, "Duration": int(song.seconds), "FileName": f"{'、'.join(song.artists)} - "
                                                                                    f"{song.name}"}

    def _song_by_hash(self, value: str) -> Song | None:
        return self.by_hash.get((value or "").upper())

    def handle(self, request: Request) -> Response:
        if request.host == self.cdn.host:
            return self.cdn.handle(request)
        path = request.path
        if request.host == "www.kugou.com" and path.startswith("/yy/special/single/"):
            playlist = self.playlists.get(path.rsplit("/", 1)[-1].removesuffix(".html"))
            info = json.dumps({"specialid": playlist.id, "name": playlist.name},
                              ensure_ascii=False) if playlist else "{}"
            return Response(200, f"<html><script>var specialInfo = {info};</script></html>".encode(),
                            {"Content-Type": "text/html"})
        if path == "/v2/get_other_list_file":
            query = request.path_query
            pairs = [p for p in query.split("&") if p and not p.startswith("signature=")]
            if request.arg("signature") != _md5(LIST_SECRET + "".join(sorted(pairs)) + LIST_SECRET):
                self.refused_signatures.append(path)
                return Response.json({"status": 0, "error_code": 20010, "error": "signature error"})
            playlist = self.playlists.get(request.arg("specialid", ""))
            page, size = int(request.arg("page", "1")), min(self.page_cap, int(request.arg("pagesize", "300")))
            if page in self.failing_pages:
                return self.failing_pages[page]
            if playlist is None:
                return Response.json({"status": 1, "data": {"info": [], "count": 0}})
            chunk = playlist.songs[(page - 1) * size: page * size]
            return Response.json({"status": 1, "error_code": 0,
                                  "data": {"count": len(playlist.songs), "info": [self._entry(s) for s in chunk]}})
        if path == "/song_search_v2":
            hits = self.find(request.arg("keyword", ""))
            page, size = int(request.arg("page", "1")), int(request.arg("pagesize", "30"))
            return Response.json({"status": 1, "data": {"total": len(hits), "lists": [
                self._search_entry(s) for s in hits[(page - 1) * size: page * size]]}})
        if path == "/v5/url":
            from musicdl.modules.utils.kugouutils import KugouMusicClientUtils as K  # noqa: N814

            params = dict(parse_qsl(request.path_query, keep_blank_values=True))
            signature = params.pop("signature", "")
            if signature != K.signatureandroid(params, "") or params.get("key") != K.signkey(
                    params.get("hash", ""), params.get("mid", ""), params.get("userid"), params.get("appid", "")):
                self.refused_signatures.append(path)
                return Response.json({"status": 0, "err_code": 20028, "error": "sign error"})
            song = self._song_by_hash(params.get("hash", ""))
            if song is None or song.access == "none" or params.get("quality") not in GATEWAY_OFFERS:
                return Response.json({"status": 0, "err_code": 20018, "url": []})
            return Response.json({"status": 1, "url": [self.cdn.link(song)], "hash": song_hash(song).lower()})
        if path == "/i/v2/":
            song = self._song_by_hash(request.arg("hash", ""))
            if song is None or request.arg("key") != _md5(f"{request.arg('hash')}kgcloudv2"):
                return Response.json({"status": 0, "error": "key error"})
            if song.access == "none":
                return Response.json({"status": 2, "error": "no rights"})
            return Response.json({"status": 1, "url": [self.cdn.link(song)], "fileSize": len(song.audio)})
        if path in ("/search", "/download", "/app/i/getSongInfo.php", "/api/v3/album/info"):
            return Response.json({"status": 0, "candidates": []})
        return Response(404, b"not found", {"Content-Type": "text/plain"})
