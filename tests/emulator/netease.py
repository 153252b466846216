"""NetEase Cloud Music as musicdl's NeteaseMusicClient reads it: the playlist detail API (track
ids only), song details, the encrypted eapi player-url endpoint, lyrics, cloud search, and
the audio CDN, which wants the MUSIC_U cookie musicdl keeps among its download cookies."""
from __future__ import annotations

import json

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from emulator.catalog import AudioLinks, CatalogPlatform, Song
from emulator.proxy import Request, Response

EAPI_KEY = b"e82ckenh8dichen8"
# The smallest JPEG a tagger accepts: start of image, a comment, end of image.
COVER = bytes.fromhex("ffd8fffe000a656d756c61746f72ffd9")


def decrypt_eapi(params_hex: str) -> dict:
    """The JSON payload inside an eapi `params` field."""
    decryptor = Cipher(algorithms.AES(EAPI_KEY), modes.ECB()).decryptor()
    padded = decryptor.update(bytes.fromhex(params_hex)) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    text = (unpadder.update(padded) + unpadder.finalize()).decode()
    return json.loads(text.split("-36cd479b6b5-")[1])


def _require_cookie(request: Request) -> str | None:
    return None if request.cookies().get("MUSIC_U") else "no MUSIC_U cookie"


# musicdl asks for these levels first (jymaster, jyeffect, sky, hires, lossless, dolby): NetEase
# serves a FLAC for them when it holds one.
LOSSLESS_LEVELS = ("jymaster", "jyeffect", "sky", "hires", "lossless", "dolby")


class Netease(CatalogPlatform):
    name = "netease"
    hosts = ("music.163.com", "interface3.music.163.com", "music.126.net")

    def make_cdn(self) -> AudioLinks:
        return AudioLinks("m801.music.126.net", _require_cookie)

    def playlist_url(self, playlist_id: str) -> str:
        return f"https://music.163.com/#/playlist?id={playlist_id}"

    def _song_json(self, song: Song) -> dict:
        return {"id": int(song.id), "name": song.name,
                "ar": [{"id": i, "name": a} for i, a in enumerate(song.artists, 1)],
                "al": {"id": 1, "name": song.album, "picUrl": f"https://p1.music.126.net/{song.id}.jpg"},
                "dt": int(song.seconds * 1000), "fee": 1 if song.access == "preview" else 0}

    def handle(self, request: Request) -> Response:
        if request.host.endswith("music.126.net"):
            if request.path.endswith(".jpg"):  # album covers need no cookie
                return Response(200, COVER, {"Content-Type": "image/jpeg"})
            return self.cdn.handle(request)
        path = request.path
        if path in ("/", "/playlist", "/song") or path.startswith("/playlist"):
            return Response(200, b"<html>NetEase</html>", {"Content-Type": "text/html"})
        if path == "/api/v6/playlist/detail":
            playlist = self.playlists.get(request.form().get("id", ""))
            if playlist is None:
                return Response.json({"code": 404, "message": "playlist not found"})
            return Response.json({"code": 200, "playlist": {
                "id": int(playlist.id), "name": playlist.name, "trackCount": len(playlist.songs),
                "trackIds": [{"id": int(s.id), "v": 1, "t": 0} for s in playlist.songs],
                "tracks": [self._song_json(s) for s in playlist.songs[:10]]}})
        if path == "/api/v3/song/detail":
            ids = [str(entry["id"]) for entry in json.loads(request.form().get("c", "[]"))]
            return Response.json({"code": 200,
                                  "songs": [self._song_json(self.songs[i]) for i in ids if i in self.songs]})
        if path == "/eapi/song/enhance/player/url/v1":
            payload = decrypt_eapi(request.form()["params"])
            data = []
            for raw in payload.get("ids", []):
                song = self.songs.get(str(raw))
                if song is None or song.access == "none":
                    data.append({"id": int(raw), "url": None, "code": 404, "size": 0, "type": None})
                    continue
                # NetEase answers a level above what the song has with the best it has, and says
                # which level that is: a lossless copy for lossless and above, else the MP3.
                asked = payload.get("level") or "standard"
                flac = song.lossless and asked in LOSSLESS_LEVELS
                level = "lossless" if flac else "standard"  # the MP3s here are 128 kbit/s
                entry = {"id": int(song.id), "url": self.cdn.link(song, "flac" if flac else None), "code": 200,
                         "size": len(song.body("flac" if flac else song.ext)), "level": level,
                         "type": "mflac" if song.access == "encrypted" else "flac" if flac else song.ext,
                         "br": 999000 if flac else 128000}
                if song.access == "preview":
                    entry["freeTrialInfo"] = {"start": 0, "end": 30}
                data.append(entry)
            return Response.json({"code": 200, "data": data})
        if path == "/api/song/lyric":
            return Response.json({"code": 200, "lrc": {"lyric": "[00:00.00]emulated lyric"}})
        if path == "/api/cloudsearch/pc":
            form = request.form()
            hits = self.find(form.get("s", ""))
            offset, limit = int(form.get("offset", 0)), int(form.get("limit", 10))
            return Response.json({"code": 200,
                                  "result": {"songs": [self._song_json(s) for s in hits[offset:offset + limit]],
                                                          "songCount": len(hits)}})
        return Response.json({"code": 404, "message": f"no such API {path}"}, status=404)
