"""Platform sources (qq, netease, kuwo, migu, kugou, …) through the musicdl library.

musicdl resolves playlists and searches into `SongInfo` objects that already carry a
download URL; this adapter maps them to Tracks and Resolved downloads. The bytes are still
fetched by our own downloader (resume, cancel, verify), never by musicdl.
"""
from __future__ import annotations

import re
import tempfile
from typing import Any

from catalogsync_ops.errors import ErrorClass, SourceError
from catalogsync_ops.sources.base import PlaylistInfo, Resolved, Source, Track
from catalogsync_ops.sources.platforms import platform_for_url

CLIENT_CLASSES = {
    "qq": "QQMusicClient", "netease": "NeteaseMusicClient", "kuwo": "KuwoMusicClient", "migu": "MiguMusicClient",
    "kugou": "KugouMusicClient", "qianqian": "QianqianMusicClient", "joox": "JooxMusicClient",
    "fivesing": "FiveSingMusicClient", "lizhi": "LizhiMusicClient", "ximalaya": "XimalayaMusicClient",
}
_ARTIST_SPLIT = re.compile(r"\s*(?:&|＆|、|/|／|,|，|;|；)\s*")


def make_client(name: str, *, search_size: int = 10) -> Any:
    """A musicdl client for one platform, quiet, with its scratch files in a temp folder."""
    from musicdl.modules import sources as musicdl_sources

    cls = getattr(musicdl_sources, CLIENT_CLASSES[name])
    return cls(search_size_per_source=search_size, disable_print=True, maintain_session=True,
               work_dir=tempfile.mkdtemp(prefix=f"musicdl-{name}-"))


class MusicdlSource(Source):
    """One musicdl platform; `client` is any object with musicdl's parseplaylist/search methods."""

    def __init__(self, name: str, *, timeout: float = 30, client: Any = None) -> None:
        if name not in CLIENT_CLASSES:
            raise SourceError(f"musicdl has no source {name!r}; known: {', '.join(CLIENT_CLASSES)}", ErrorClass.CONFIG)
        self.name = name
        self.timeout = timeout
        self.client = client if client is not None else make_client(name)

    def recognizes(self, url: str) -> bool:
        return platform_for_url(url) == self.name

    def _track(self, info: Any, position: int | None = None) -> Track:
        singers = str(getattr(info, "singers", "") or "")
        artists = tuple(a for a in _ARTIST_SPLIT.split(singers) if a)
        identifier = str(getattr(info, "identifier", "") or "")
        if not identifier:
            raise SourceError(f"{self.name}: musicdl returned a song without an id ({getattr(info, 'song_name', '?')!r})",
                              ErrorClass.INTERNAL)
        extra = {"download_url": info.download_url if isinstance(info.download_url, str) else None,
                 "ext": (getattr(info, "ext", None) or "").lstrip(".") or None,
                 "size": getattr(info, "file_size_bytes", None),
                 "headers": dict(getattr(info, "default_download_headers", None) or {})}
        duration = getattr(info, "duration_s", None)
        return Track(self.name, identifier, str(info.song_name or identifier), artists, getattr(info, "album", None) or None,
                     float(duration) if duration else None, position, getattr(info, "cover_url", None) or None, extra=extra)

    def _call(self, what: str, fn, *args):
        try:
            return fn(*args)
        except SourceError:
            raise
        except Exception as exc:  # musicdl raises many kinds; all mean the platform did not answer usefully
            raise SourceError(f"{self.name}: {what} failed inside musicdl: {type(exc).__name__}: {exc}",
                              ErrorClass.CONNECTION) from None

    def parse_playlist(self, url: str) -> PlaylistInfo:
        infos = self._call("reading the playlist", self.client.parseplaylist, url) or []
        if not infos:
            # musicdl answers a missing, private or unreachable playlist with an empty list.
            raise SourceError(f"{self.name}: {url} gave no songs (missing, private, or the platform did not answer; "
                              f"try `runnerd probe {url}`)", ErrorClass.NOT_FOUND)
        tracks = [self._track(info, i) for i, info in enumerate(infos, 1)]
        title = getattr(infos[0], "work_dir", None)
        return PlaylistInfo(self.name, url, None, _playlist_title(title) or url, tracks)

    def search(self, track: Track, *, limit: int = 10) -> list[Track]:
        keyword = " ".join([track.title, *track.artists[:2]])
        infos = self._call("searching", self.client.search, keyword) or []
        return [self._track(info) for info in infos[:limit]]

    def resolve(self, track: Track) -> Resolved:
        url = track.extra.get("download_url")
        if not url:
            raise SourceError(f"{self.name}: no download link for {track.display!r} (needs a VIP account or was "
                              "taken down)", ErrorClass.NOT_FOUND)
        return Resolved(url=url, ext=track.extra.get("ext") or "mp3", headers=track.extra.get("headers") or {},
                        size=track.extra.get("size"))


def _playlist_title(work_dir: str | None) -> str | None:
    """musicdl names a playlist's scratch folder '<YYYY-mm-dd-HH-MM-SS> <playlist name>'."""
    if not work_dir:
        return None
    name = str(work_dir).rstrip("/").split("/")[-1]
    return re.sub(r"^\d{4}(-\d{2}){5}\s+", "", name) or None
