"""`m3u`: standard M3U/M3U8 playlists from a local path or an http(s) URL.

`#EXTM3U`, `#EXTINF:<seconds>,<Artist> - <Title>`, `#PLAYLIST:<title>`; entries may be
absolute URLs, absolute paths, or relative to the playlist. UTF-8 with or without a BOM, LF
or CRLF. Entries are downloaded as they are: no search, no matching.
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import url2pathname

import requests

from catalogsync_ops.errors import ErrorClass, SourceError
from catalogsync_ops.sources.base import PlaylistInfo, Resolved, Source, Track
from catalogsync_ops.transfer.http import error_class_for_exception, error_class_for_status, new_session

SUFFIXES = (".m3u", ".m3u8")


def _is_url(text: str) -> bool:
    return urlsplit(text).scheme in ("http", "https", "file")


class M3USource(Source):
    name = "m3u"
    can_search = False

    def __init__(self, *, session: requests.Session | None = None, timeout: float = 30) -> None:
        self.session = session or new_session()
        self.timeout = timeout

    def recognizes(self, url: str) -> bool:
        path = urlsplit(url).path if _is_url(url) else url
        return path.lower().endswith(SUFFIXES)

    def _read(self, location: str) -> tuple[str, str]:
        """Return (text, base) where base is what relative entries resolve against."""
        parts = urlsplit(location)
        if parts.scheme in ("http", "https"):
            try:
                response = self.session.get(location, timeout=self.timeout)
            except requests.RequestException as exc:
                raise SourceError(f"m3u: {location} did not answer ({exc})", error_class_for_exception(exc)) from None
            if response.status_code >= 400:
                raise SourceError(f"m3u: {location} answered {response.status_code} {response.reason}",
                                  error_class_for_status(response.status_code))
            return response.content.decode("utf-8-sig", errors="replace"), location
        path = Path(url2pathname(parts.path)) if parts.scheme == "file" else Path(location).expanduser()
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise SourceError(f"m3u: no playlist file at {str(path)!r}", ErrorClass.NOT_FOUND) from None
        except OSError as exc:
            raise SourceError(f"m3u: cannot read {str(path)!r}: {exc}", ErrorClass.INTERNAL) from None
        return data.decode("utf-8-sig", errors="replace"), path.resolve().as_uri()

    def parse_playlist(self, url: str) -> PlaylistInfo:
        text, base = self._read(url)
        title = Path(unquote(urlsplit(base).path)).stem
        tracks: list[Track] = []
        pending: tuple[float | None, str] | None = None
        for raw in text.splitlines():
            line = raw.strip()
            if not line:
                continue
            if line.startswith("#"):
                if line.upper().startswith("#EXTINF:"):
                    seconds, _, label = line[8:].partition(",")
                    try:
                        duration = float(seconds.split()[0]) if seconds.strip() else None
                    except ValueError:
                        duration = None
                    pending = (duration if duration and duration > 0 else None, label.strip())
                elif line.upper().startswith("#PLAYLIST:"):
                    title = line[10:].strip() or title
                continue
            entry = line if _is_url(line) else (Path(line).as_uri() if os.path.isabs(line) else urljoin(base, line))
            duration, label = pending or (None, "")
            pending = None
            artist, sep, name = label.partition(" - ")
            if not sep:
                artist, name = "", label
            name = name.strip() or Path(unquote(urlsplit(entry).path)).stem
            artists = tuple(a.strip() for a in artist.split(",") if a.strip())
            tracks.append(Track(self.name, entry, name, artists, None, duration, len(tracks) + 1))
        if not tracks and "#EXTM3U" not in text.upper():
            raise SourceError(f"m3u: {url} has no entries and no #EXTM3U header; is it a playlist?", ErrorClass.UNSUPPORTED)
        return PlaylistInfo(self.name, url, None, title, tracks)

    def resolve(self, track: Track) -> Resolved:
        suffix = Path(unquote(urlsplit(track.external_id).path)).suffix.lstrip(".").lower()
        return Resolved(url=track.external_id, ext=suffix or "mp3")

    def close(self) -> None:
        self.session.close()
