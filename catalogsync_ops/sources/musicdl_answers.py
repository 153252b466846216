"""Reading what the platforms answer: how each names a song, how it pages a playlist and
declares its size, which hosts are its own, and what a search answer must hold.

A playlist read is complete only when its pages prove it: every page answered, and as many
tracks listed as the platform declares (NetEase `trackCount`, QQ `songnum`, Kuwo `total`).
Songs listed but not returned are unresolved. Nothing here reads musicdl's log messages.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from catalogsync_ops.messages import Said
from catalogsync_ops.sources.musicdl_guard import Call

_ARTIST_SPLIT = re.compile(r"\s*(?:&|＆|、|/|／|,|，|;|；)\s*")
NULL = "NULL"
DROPPED_REASON = "the platform listed it but gave no playable link (a membership or region-locked song, or taken down)"


def _value(value: Any) -> Any:
    """musicdl's 'NULL' (and empty values) as None."""
    if value is None or (isinstance(value, str) and value.strip() in ("", NULL)):
        return None
    return value


@dataclass(frozen=True)
class RawNames:
    """How a platform's own answer (musicdl's `raw_data['search']`) names a song."""

    id_keys: tuple[str, ...]
    title_keys: tuple[str, ...]
    artist_keys: tuple[str, ...]
    album_keys: tuple[tuple, ...]
    upper_ids: bool = False

    def read(self, raw: dict) -> tuple[str | None, tuple[str, ...], str | None]:
        title = next((str(raw[k]) for k in self.title_keys if _value(raw.get(k))), None)
        artists: tuple[str, ...] = ()
        for key in self.artist_keys:
            value = raw.get(key)
            if isinstance(value, list):
                artists = tuple(str(a.get("name")) for a in value if isinstance(a, dict) and _value(a.get("name")))
            elif _value(value):
                artists = tuple(a for a in _ARTIST_SPLIT.split(str(value)) if a)
            if artists:
                break
        album = None
        for path in self.album_keys:
            node = _dig(raw, path)
            if _value(node) and isinstance(node, str):
                album = node
                break
        if title and artists and title.startswith(f"{'、'.join(artists)} - "):
            title = title[len('、'.join(artists)) + 3:]  # Kugou names a song "<artists> - <title>"
        return title, artists, album

    def external_id(self, raw: dict) -> str | None:
        for key in self.id_keys:
            if _value(raw.get(key)):
                return self.normal_id(str(raw[key]))
        return None

    def normal_id(self, value: str) -> str:
        """One spelling of an id (Kugou's hash comes in either case, Kuwo's with a prefix)."""
        value = value.removeprefix("MUSIC_")
        return value.upper() if self.upper_ids else value


RAW_NAMES = {
    "netease": RawNames(("id",), ("name",), ("ar", "artists"), (("al", "name"), ("album", "name"))),
    "kuwo": RawNames(("musicrid", "MUSICRID", "rid", "id"), ("name", "SONGNAME", "songName"), ("artist", "ARTIST"),
                     (("album",), ("ALBUM",))),
    "qq": RawNames(("mid", "songmid", "id"), ("title", "name", "songname"), ("singer",),
                   (("album", "name"), ("albumname",))),
    "migu": RawNames(("contentId",), ("songName", "name"), ("singerList", "singers"),
                     (("album",), ("albums", 0, "name"))),
    "kugou": RawNames(("hash", "FileHash"), ("songname", "SongName", "OriSongName", "name"),
                      ("singerinfo", "singername", "SingerName"),
                      (("albuminfo", "name"), ("album_name",), ("AlbumName",)), upper_ids=True),
}
# musicdl's requests for lyrics: with LYRICS=off, answered in the source host with an empty 204,
# never sent (one request fewer per song to the platform: faster, and politer).
NEEDLESS: dict[str, str] = {
    "kuwo": r"newlyric\.kuwo\.cn/newlyric\.lrc",
    "netease": r"music\.163\.com/(?:weapi|api)/song/lyric",
    "qq": r"c\.y\.qq\.com/lyric/",
    "migu": r"(?:migu\.cn/MIGUM3\.0/strategy/pc/listen/v1\.0|d\.musicapp\.migu\.cn/lrc)",
    "kugou": r"(?:krcs\.kugou\.com/search|lyrics\.kugou\.com/download)",
}
# What a song's link look-up needs from the platform's own listing of it, kept with the song at
# sync time (the link itself expires; these ids do not).
LOOKUP_KEYS: dict[str, tuple[str, ...]] = {
    "migu": ("contentId", "copyrightId", "rateFormats", "newRateFormats", "audioFormats", "songName", "name",
             "singerList", "singers", "album", "albums", "duration"),
    "kugou": ("hash", "FileHash", "name", "songname", "SongName", "singerinfo", "SingerName", "albuminfo",
              "AlbumName", "timelen", "Duration", "duration", "FileName", "filename"),
}



# ---------------------------------------------------------------- proving a playlist complete

# The platform's own hosts (API and CDN): their answers decide whether the platform answered.
# Any other host musicdl reaches is a third-party link service.
OFFICIAL_DOMAINS: dict[str, tuple[str, ...]] = {
    "netease": ("163.com", "126.net", "127.net", "163cn.tv"), "kuwo": ("kuwo.cn",),
    "qq": ("qq.com", "gtimg.cn", "qqmusic.qq.com"), "migu": ("migu.cn",), "kugou": ("kugou.com",),
    "qianqian": ("91q.com", "taihe.com", "baidu.com"), "joox": ("joox.com",), "fivesing": ("kugou.com",),
}


def _dig(node: Any, path: tuple) -> Any:
    for key in path:
        if isinstance(key, int):
            node = node[key] if isinstance(node, list) and len(node) > key else None
        else:
            node = node.get(key) if isinstance(node, dict) else None
    return node


def _first(node: Any, paths: tuple[tuple, ...]) -> Any:
    return next((found for path in paths if (found := _dig(node, path)) is not None), None)


@dataclass(frozen=True)
class Proof:
    """What the pages of a playlist proved: the declared count, the entries listed but not
    returned, the songs on pages never read, and why the read is partial (None: complete)."""

    declared: int | None
    unlisted: list[dict]
    missing: int
    reason: str | None
    page_error: str | None = None
    details: dict[str, dict] = field(default_factory=dict)


@dataclass(frozen=True)
class Listing:
    """How a platform pages a playlist: the page endpoint, where a page lists its tracks, where
    the platform declares how many the playlist holds, and (optionally) answers describing the
    listed songs (for the names of those that could not be resolved)."""

    name: str
    pages: str  # regex of the URL path of a page
    entries: tuple[tuple, ...]
    total: tuple[tuple, ...]
    details: str | None = None
    detail_entries: tuple[tuple, ...] = ()

    def watches(self, path: str) -> bool:
        return bool(re.fullmatch(self.pages, path) or (self.details and re.fullmatch(self.details, path)))

    def prove(self, call: Call, returned_ids: list[str]) -> Proof:
        raw_names = RAW_NAMES.get(self.name)
        key = raw_names.external_id if raw_names else (lambda e: str(e.get("id")) if isinstance(e, dict) else None)
        declared, listed, seen, details, unreadable = None, [], set(), {}, 0
        for path, answer in call.pages:
            if self.details and re.fullmatch(self.details, path):
                for entry in _first(answer, self.detail_entries) or []:
                    if isinstance(entry, dict) and key(entry):
                        details[key(entry)] = entry
                continue
            entries = _first(answer, self.entries)
            if not isinstance(entries, list):
                unreadable += 1
                continue
            if declared is None:
                total = _first(answer, self.total)
                try:
                    declared = int(float(total)) if total is not None else None
                except (TypeError, ValueError):
                    declared = None
            for entry in entries:
                ident = key(entry) if isinstance(entry, dict) else None
                if ident and ident not in seen:
                    seen.add(ident)
                    listed.append(entry)
        page_errors = [detail for (_, detail), path in zip(call.failures, call.failed_paths, strict=True)
                       if re.fullmatch(self.pages, path)]
        returned = set(returned_ids)
        unlisted = [entry for entry in listed if key(entry) not in returned]
        missing = max(0, declared - len(listed)) if declared is not None else 0
        reason = None
        if page_errors and declared is not None:
            reason = Said("partial_page_failed", error=page_errors[0], platform=self.name, declared=declared,
                          listed=len(listed))
        elif page_errors:
            reason = Said("partial_page_failed_uncounted", error=page_errors[0], platform=self.name, listed=len(listed))
        elif unreadable:
            reason = Said("partial_unreadable", pages=unreadable)
        elif declared is None and listed:
            reason = Said("partial_uncounted", platform=self.name)
        elif not listed and returned:
            reason = Said("partial_no_page")
        elif missing:
            reason = Said("partial_short", platform=self.name, declared=declared, listed=len(listed))
        return Proof(declared, unlisted, missing, reason, page_errors[0] if page_errors else None, details)


LISTINGS: dict[str, Listing] = {
    "kuwo": Listing("kuwo", r"/newh5app/wapi/api/www/playlist/playListInfo", (("data", "musicList"),),
                    (("data", "total"),)),
    "netease": Listing("netease", r"/api/v6/playlist/detail", (("playlist", "trackIds"),),
                       (("playlist", "trackCount"),), details=r"/api/v3/song/detail", detail_entries=(("songs",),)),
    "migu": Listing("migu", r"/MIGUM3\.0/resource/playlist/song/v2\.0", (("data", "songList"),),
                    (("data", "totalCount"),)),
    "kugou": Listing("kugou", r"/v2/get_other_list_file", (("data", "info"),), (("data", "count"),)),
    "qq": Listing("qq", r"/qzone/fcg-bin/fcg_ucc_getcdinfo_byids_cp\.fcg",
                  (("cdlist", 0, "songlist"), ("cdlist", 0, "list"), ("songlist",)),
                  (("cdlist", 0, "songnum"), ("cdlist", 0, "total_song_num"))),
}


@dataclass(frozen=True)
class SearchShape:
    """Where a platform's search answers and what an answer must hold to be read at all."""

    path: str
    expect: Callable[[Any], bool]

    def watches(self, path: str) -> bool:
        return bool(re.fullmatch(self.path, path))

    def answered(self, call: Call) -> bool:
        """Whether one search answer had the shape musicdl reads (else `[]` means nothing)."""
        return any(self.expect(answer) for path, answer in call.pages if self.watches(path))


SEARCH_SHAPES: dict[str, SearchShape] = {
    "kuwo": SearchShape(r"/search/searchMusicBykeyWord", lambda a: isinstance(_dig(a, ("abslist",)), list)),
    "netease": SearchShape(r"/api/cloudsearch/pc", lambda a: isinstance(_dig(a, ("result",)), dict)),
    "migu": SearchShape(r"/v1\.0/content/search_all\.do", lambda a: isinstance(
        _dig(a, ("songResultData", "result")), list) or isinstance(_dig(a, ("songResultData",)), dict)),
    "kugou": SearchShape(r"/song_search_v2", lambda a: isinstance(_dig(a, ("data", "lists")), list)),
    "qq": SearchShape(r"/cgi-bin/musicu\.fcg", lambda a: isinstance(
        _dig(a, ("music.search.SearchCgiService.DoSearchForQQMusicMobile", "data", "body", "item_song")), list)),
}
