"""The source interface: parse a playlist URL into tracks, search a track, resolve a download.

A source is a plain class; every source that can run offline passes the same contract tests
(`tests/test_sources_contract.py`). Errors carry an `ErrorClass` so failures group and retry
by kind.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from catalogsync_ops.errors import ErrorClass, SourceError


@dataclass(frozen=True)
class Track:
    """A song as one platform describes it."""

    platform: str
    external_id: str
    title: str
    artists: tuple[str, ...] = ()
    album: str | None = None
    duration_s: float | None = None
    track_no: int | None = None
    cover_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def artist_text(self) -> str:
        return ", ".join(self.artists)

    @property
    def display(self) -> str:
        return f"{self.artist_text} - {self.title}" if self.artists else self.title


@dataclass(frozen=True)
class Unresolved:
    """An entry the platform listed in a playlist but could not resolve into a track."""

    external_id: str | None
    title: str | None
    reason: str
    position: int | None = None


@dataclass(frozen=True)
class PlaylistInfo:
    """A playlist and its tracks, in playlist order.

    `unresolved` lists entries the platform listed but could not resolve: such a listing is
    incomplete, and an incomplete listing may add songs to a playlist but never remove any.
    `skipped` lists entries that are not songs (a cover image or a broken line of a playlist
    file): shown beside the unresolved ones, they never held a song, so the listing stays
    complete. `encoding` is the text encoding a playlist file was read with.
    """

    platform: str
    url: str
    external_id: str | None
    title: str
    tracks: list[Track]
    unresolved: list[Unresolved] = field(default_factory=list)
    skipped: list[Unresolved] = field(default_factory=list)
    encoding: str | None = None
    declared: int | None = None
    missing: int = 0
    partial_reason: str | None = None

    @property
    def complete(self) -> bool:
        return not self.unresolved and not self.missing and self.partial_reason is None


@dataclass(frozen=True)
class Resolved:
    """Where to fetch a track's bytes: our own downloader does the fetching."""

    url: str
    ext: str
    headers: dict[str, str] = field(default_factory=dict)
    size: int | None = None
    service: str | None = None  # the third-party link service that gave the link (None: the platform)
    quality: str | None = None  # the rung the platform says this link is (checked after download)
    lyrics: str | None = None  # lyrics the look-up gave with the link (LRC when time-synced)


class Source:
    """Base class of every source; subclasses set `name` and override what they support."""

    name = "base"
    can_parse = True
    can_search = True
    can_download = True

    def recognizes(self, url: str) -> bool:
        """Whether a playlist URL belongs to this source."""
        return False

    def parse_playlist(self, url: str) -> PlaylistInfo:
        """Fetch a playlist and its tracks."""
        raise SourceError(f"source {self.name!r} cannot read playlists", ErrorClass.UNSUPPORTED)

    def search(self, track: Track, *, limit: int = 10) -> list[Track]:
        """Candidates for a track on this source, best first as the platform ranks them."""
        raise SourceError(f"source {self.name!r} cannot search", ErrorClass.UNSUPPORTED)

    def qualities(self, track: Track) -> tuple[str, ...]:
        """The rungs of the quality ladder (`catalogsync_ops/quality.py`) this source offers the
        track at, best first, as the platform claims them; () when the platform does not say
        (then `resolve` without a quality gives what it has). By default what the listing or
        search put in the track's `extra["qualities"]`."""
        return tuple(track.extra.get("qualities") or ())

    def lyrics(self, track: Track) -> str | None:
        """The track's lyrics as the platform gives them (time-synced LRC when it has them), or
        None when it has none. A failure here never fails a download: raise SourceError."""
        return None

    def resolve(self, track: Track, quality: str | None = None) -> Resolved:
        """The download URL of a track of this source, at one of the rungs `qualities` named."""
        raise SourceError(f"source {self.name!r} cannot download", ErrorClass.UNSUPPORTED)

    def close(self) -> None:
        """Release connections."""
