"""`demo` and `demo2`: the JSON API of the bundled demo platform (see catalogsync_ops.demo)."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import requests

from catalogsync_ops.errors import ErrorClass, SourceError
from catalogsync_ops.sources.base import PlaylistInfo, Resolved, Source, Track
from catalogsync_ops.transfer.http import get_json, new_session


class DemoSource(Source):
    """One demo platform; `base_url` (DEMO_BASE_URL) is used for search."""

    def __init__(self, name: str = "demo", *, base_url: str = "http://127.0.0.1:8765",
                 session: requests.Session | None = None, timeout: float = 30) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.session = session or new_session()
        self.timeout = timeout

    def _playlist_id(self, url: str) -> tuple[str, str] | None:
        parts = urlsplit(url)
        m = re.fullmatch(rf"/{self.name}/playlist/(\w+)/?", parts.path)
        if parts.scheme in ("http", "https") and m:
            return f"{parts.scheme}://{parts.netloc}", m.group(1)
        return None

    def recognizes(self, url: str) -> bool:
        return self._playlist_id(url) is not None

    def _track(self, data: dict, base: str) -> Track:
        return Track(self.name, str(data["id"]), data["title"], tuple(data.get("artists") or ()), data.get("album"),
                     data.get("duration"), data.get("track_no"),
                     extra={"api": base, "qualities": tuple(data.get("qualities") or ())})

    def parse_playlist(self, url: str) -> PlaylistInfo:
        found = self._playlist_id(url)
        if found is None:
            raise SourceError(f"{url!r} is not a {self.name} playlist URL (expected …/{self.name}/playlist/<id>)",
                              ErrorClass.UNSUPPORTED)
        base, playlist_id = found
        data = get_json(self.session, f"{base}/{self.name}/api/playlist/{playlist_id}", timeout=self.timeout,
                        what={"code": "what_playlist", "params": {"source": self.name, "id": playlist_id}})
        return PlaylistInfo(self.name, url, playlist_id, data["title"],
                            [self._track(t, base) for t in data["tracks"]])

    def search(self, track: Track, *, limit: int = 10) -> list[Track]:
        query = " ".join([track.title, *track.artists])
        data = get_json(self.session, f"{self.base_url}/{self.name}/api/search", timeout=self.timeout,
                        params={"q": query, "limit": limit},
                        what={"code": "what_search", "params": {"source": self.name}})
        return [self._track(t, self.base_url) for t in data["results"]]

    def lyrics(self, track: Track) -> str | None:
        base = track.extra.get("api") or self.base_url
        try:
            data = get_json(self.session, f"{base}/{self.name}/api/song/{track.external_id}/lyrics",
                            timeout=self.timeout,
                            what={"code": "what_lyrics", "params": {"source": self.name, "id": track.external_id}})
        except SourceError as exc:
            if exc.error_class is ErrorClass.NOT_FOUND:
                return None  # no lyrics for this song
            raise
        return data.get("lrc") or None

    def resolve(self, track: Track, quality: str | None = None) -> Resolved:
        base = track.extra.get("api") or self.base_url
        data = get_json(self.session, f"{base}/{self.name}/api/song/{track.external_id}/url", timeout=self.timeout,
                        params={"quality": quality} if quality else None,
                        what={"code": "what_song", "params": {"source": self.name, "id": track.external_id}})
        return Resolved(url=data["url"], ext=data["ext"], size=data.get("size"), quality=data.get("quality"))

    def close(self) -> None:
        self.session.close()
