"""Platform sources (qq, netease, kuwo, migu, kugou, …) through the musicdl library.

musicdl's clients read playlists and search the platforms; this adapter maps what they return
(`SongInfo`) to Tracks, and looks a song's download link up again when its item runs, since
platform links expire. The bytes are fetched by our own downloader (resume, cancel, verify),
with the headers and cookies musicdl's own download would send. Tested range: musicdl 2.14.

What musicdl returns is read as it is, not as it looks: a missing field is the string
"NULL", an unknown size is 0, names have been through `legalizestring` (which drops `/`,
`?` and more: "AC/DC" comes back as "ACDC"), so exact names are taken from the platform's
own answer in `raw_data` where there is one.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from catalogsync_ops.errors import ErrorClass, SourceError
from catalogsync_ops.messages import Said
from catalogsync_ops.quality import claimed_rung
from catalogsync_ops.sources.base import PlaylistInfo, Resolved, Source, Track, Unresolved
from catalogsync_ops.sources.limits import limiter_for
from catalogsync_ops.sources.musicdl_answers import (
    _ARTIST_SPLIT,
    DROPPED_REASON,
    LISTINGS,
    LOOKUP_KEYS,
    NEEDLESS,
    OFFICIAL_DOMAINS,
    RAW_NAMES,
    SEARCH_SHAPES,
    Proof,
    _value,
)
from catalogsync_ops.sources.musicdl_guard import CURRENT_CALL, Call, install_guards
from catalogsync_ops.sources.musicdl_runtime import (
    CLIENTS,
    ENCRYPTED_EXTS,
    CallLog,
    classify,
    client_class,
    compatibility,
    import_utils,
    quiet_stdout,
)
from catalogsync_ops.sources.platforms import platform_for_url

WORK_PREFIX = "catalogsync-musicdl-"
_swept = False


def sweep_work_dirs(folder: Path | None = None) -> list[Path]:
    """Remove the work folders of runners that died (SIGKILL, power cut) before removing their own.

    A work folder is named after the process that made it; folders of processes that no longer
    exist are removed. Returns what was removed.
    """
    removed = []
    for path in Path(folder or tempfile.gettempdir()).glob(f"{WORK_PREFIX}*-*-*"):
        try:
            pid = int(path.name[len(WORK_PREFIX):].split("-")[1])
            os.kill(pid, 0)
        except (ValueError, IndexError):
            continue  # not one of ours
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        except PermissionError:
            continue  # alive, another user's
    return removed


def _sweep_once() -> None:
    global _swept
    if not _swept:
        _swept = True
        sweep_work_dirs()


def make_client(name: str, *, work_dir: str, logger: CallLog, search_size: int = 10) -> Any:
    """A musicdl client for one platform: quiet, its scratch files in `work_dir`, its log ours."""
    cls = client_class(name)
    with quiet_stdout():
        client = cls(search_size_per_source=search_size, disable_print=True, maintain_session=True, work_dir=work_dir,
                     logger_handle=logger)
    # One session for the client's life (so our transport adapter stays mounted). With it, musicdl
    # keeps the link tester it made before the platform's subclass set its download headers and
    # cookies (NetEase's MUSIC_U): make it again, as musicdl does on every request by default.
    class KeptSessionTester(import_utils().AudioLinkTester):
        """musicdl tests every link on a new session, a new TLS handshake per song: keep one."""

        def test(self, url, request_overrides=None, renew_session=True):
            return super().test(url, request_overrides=request_overrides, renew_session=False)

    client.audio_link_tester = KeptSessionTester(headers=dict(client.default_download_headers or {}),
                                                 cookies=dict(client.default_download_cookies or {}))
    return client


def can_parse_playlists(name: str) -> bool:
    """Whether musicdl reads playlists of this platform at all."""
    if name not in CLIENTS:
        return False
    cls = client_class(name)  # first: it imports musicdl the light way
    from musicdl.modules.sources.base import BaseMusicClient

    return cls.parseplaylist is not BaseMusicClient.parseplaylist


class MusicdlSource(Source):
    """One musicdl platform, inside the source host's process (`host_main.py`).

    `link_services` says where song links are looked up: `official` (the platform's own API
    only), `official_first` (third-party link services only for a song the official API gives
    no link for) or `musicdl` (musicdl's own order: third-party services first).
    """

    def __init__(self, name: str, *, timeout: float = 30, rate: float = 4.0, concurrency: int = 2,
                 link_services: str = "official_first", lyrics: bool = True) -> None:
        if name not in CLIENTS:
            raise SourceError(f"musicdl has no source {name!r}; known: {', '.join(CLIENTS)}", ErrorClass.CONFIG)
        if link_services not in LINK_SERVICES:
            raise SourceError(f"unknown link service mode {link_services!r}; known: {', '.join(LINK_SERVICES)}",
                              ErrorClass.CONFIG)
        install_guards(float(timeout))
        missing = compatibility(name, looks_up=name in _ENTRIES)
        if missing:
            raise SourceError(f"{name}: the installed musicdl does not fit this release (missing or changed: "
                              f"{'; '.join(missing)}); install the tested one: pip install "
                              "'catalogsync-ops[musicdl]', then restart runnerd", ErrorClass.INCOMPATIBLE,
                              source=name, details={"missing": missing})
        self.name = name
        self.timeout = float(timeout)
        self.raw_names = RAW_NAMES.get(name)
        self.listing = LISTINGS.get(name)
        self.official = OFFICIAL_DOMAINS.get(name, ())
        self.needless = re.compile(NEEDLESS[name]) if name in NEEDLESS and not lyrics else None
        self.log = CallLog()
        self.tick: Callable[[float], None] | None = None  # the host's deadline follows a call's progress
        _sweep_once()
        self.work_dir = tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{name}-{os.getpid()}-")
        try:
            self.client = make_client(name, work_dir=self.work_dir, logger=self.log)
            self.link_services = link_services
            _route_link_services(self.client, link_services)
        except BaseException:
            shutil.rmtree(self.work_dir, ignore_errors=True)
            raise
        self.limiter = limiter_for(name, rate=rate, concurrency=concurrency)
        self.can_parse = can_parse_playlists(name)
        self.last_call: Call | None = None
        self._lyrics: dict[str, str] = {}  # a look-up's lyrics, until its Resolved takes them
        # musicdl imports two modules the first time it asks whether a link is valid: now, not
        # inside the first look-up (where every worker's first call would wait on that import).
        _ = import_utils().SongInfo(source=name).with_valid_download_url

    def configure(self, *, timeout: float, rate: float, concurrency: int, link_services: str,
                  lyrics: bool = True) -> None:
        """New settings from the runner (each call carries them; the client stays)."""
        self.timeout = float(timeout)
        self.needless = re.compile(NEEDLESS[self.name]) if self.name in NEEDLESS and not lyrics else None
        self.limiter = limiter_for(self.name, rate=rate, concurrency=concurrency)
        if link_services != self.link_services and link_services in LINK_SERVICES:
            self.link_services = link_services
            _route_link_services(self.client, link_services)

    def recognizes(self, url: str) -> bool:
        return platform_for_url(url) == self.name

    # ------------------------------------------------------------ calling musicdl

    def _run(self, what: str, fn: Callable, *args, watch: Callable[[str], bool] | None = None,
             **kwargs) -> tuple[Any, Call]:
        """Call musicdl with stdout quiet, requests bounded and observed; raise classified errors."""
        call = Call(self.timeout, self.limiter, self.official, watch=watch, tick=self.tick, needless=self.needless)
        self.last_call = call
        token = CURRENT_CALL.set(call)
        try:
            with quiet_stdout():
                result = fn(*args, **kwargs)
        except SourceError:
            raise
        except Exception as exc:  # musicdl raises anything; classify() says which kind it was
            raise classify(self.name, what, exc, call) from None
        finally:
            CURRENT_CALL.reset(token)
        if call.silenced is not None:
            raise classify(self.name, what, None, call)
        return result, call

    # ------------------------------------------------------------ reading what musicdl returns

    def _track(self, info: Any, position: int | None = None) -> Track:
        raw = (getattr(info, "raw_data", None) or {}).get("search") or {}
        raw = raw if isinstance(raw, dict) else {}
        title, artists, album = self.raw_names.read(raw) if self.raw_names else (None, (), None)
        identifier = str(_value(getattr(info, "identifier", None)) or "")
        if identifier and self.raw_names is not None:
            identifier = self.raw_names.normal_id(identifier)
        if not identifier:
            raise SourceError(f"{self.name}: musicdl returned a song without an id "
                              f"({getattr(info, 'song_name', '?')!r})", ErrorClass.PARSE)
        title = title or _value(getattr(info, "song_name", None)) or identifier
        if not artists:
            artists = tuple(a for a in _ARTIST_SPLIT.split(str(_value(getattr(info, "singers", None)) or "")) if a)
        album = album or _value(getattr(info, "album", None))
        size = _value(getattr(info, "file_size_bytes", None))
        try:
            size = int(size) if size else None
        except (TypeError, ValueError):
            size = None
        duration = _value(getattr(info, "duration_s", None))
        try:
            duration = float(duration) if duration else None
        except (TypeError, ValueError):
            duration = None
        extra = {"download_url": info.download_url if isinstance(getattr(info, "download_url", None), str) else None,
                 "ext": (str(_value(getattr(info, "ext", None)) or "")).lstrip(".").lower() or None,
                 "size": size or None, "protocol": str(_value(getattr(info, "protocol", None)) or "HTTP").upper(),
                 "service": _service_of(info)}
        # The quality musicdl picked (it asks the platform for its qualities best first): a claim,
        # from the link's format and size over length, or the bitrate musicdl read.
        claimed = claimed_rung(extra["ext"], size, duration, _number(getattr(info, "bitrate", None)))
        if claimed:
            extra["qualities"] = [claimed]
        keep = LOOKUP_KEYS.get(self.name)
        if keep:
            extra["entry"] = {key: raw[key] for key in keep if key in raw}
        return Track(self.name, identifier, str(title), artists, album, duration or None, position,
                     _value(getattr(info, "cover_url", None)), extra=extra)

    def _unresolved(self, entry: dict, details: dict[str, dict]) -> Unresolved:
        external_id = self.raw_names.external_id(entry) if self.raw_names else None
        described = details.get(external_id or "", entry)
        title, artists, _ = self.raw_names.read(described) if self.raw_names else (None, (), None)
        shown = f"{', '.join(artists)} - {title}" if title and artists else title
        return Unresolved(external_id=external_id, title=shown, reason=DROPPED_REASON)

    # ------------------------------------------------------------ the source interface

    def parse_playlist(self, url: str) -> PlaylistInfo:
        if not self.can_parse:
            raise SourceError(f"{self.name}: musicdl cannot read {self.name} playlists; list their songs in an .m3u "
                              "file instead", ErrorClass.UNSUPPORTED, source=self.name)
        listing = self.listing
        watch = listing.watches if listing is not None else None
        try:
            infos, call = self._run(Said("what_reading_playlist"), self.client.parseplaylist, url, watch=watch)
        except SourceError as exc:
            if self.name == "kugou" and exc.error_class is ErrorClass.PARSE and "special/single" in str(exc):
                raise SourceError(f"kugou: {url} is not a playlist link musicdl reads; it takes links like "
                                  "https://www.kugou.com/yy/special/single/6914288.html", ErrorClass.UNSUPPORTED,
                                  source=self.name) from None
            raise
        infos = list(infos or [])
        tracks = [self._track(info, i) for i, info in enumerate(infos, 1)]
        proof = listing.prove(call, [t.external_id for t in tracks]) if listing is not None else Proof(
            None, [], 0, f"{self.name}'s playlist pages are not checked here, so a read can only add songs")
        unresolved = [self._unresolved(entry, proof.details) for entry in proof.unlisted]
        if not tracks and not unresolved:
            if call.all_failed or proof.page_error:
                raise classify(self.name, "reading the playlist", None, call)
            # musicdl answers a missing, private or unreadable playlist with an empty list.
            raise SourceError(f"{self.name}: {url} gave no songs (missing, private, or not a playlist link; "
                              f"try `runnerd probe {url}`)", ErrorClass.NOT_FOUND, source=self.name)
        title = _playlist_title(getattr(infos[0], "work_dir", None)) if infos else None
        return PlaylistInfo(self.name, url, None, title or url, tracks, unresolved=unresolved, declared=proof.declared,
                            missing=proof.missing, partial_reason=proof.reason)

    def search(self, track: Track, *, limit: int = 10) -> list[Track]:
        keyword = " ".join([track.title, *track.artists[:2]])
        shape = SEARCH_SHAPES.get(self.name)
        infos, call = self._run(Said("what_searching", keyword=keyword), self.client.search, keyword,
                                watch=shape.watches if shape is not None else None)
        if not infos and call.all_failed:
            # musicdl hides every error of a search behind an empty list: offline is not "no match".
            raise classify(self.name, Said("what_searching", keyword=keyword), None, call)
        if not infos and shape is not None and not shape.answered(call):
            raise SourceError.coded("platform_unreadable_search", ErrorClass.PARSE, source=self.name,
                                    what=Said("what_searching", keyword=keyword).as_param())
        return [self._track(info) for info in list(infos or [])[:limit]]

    def resolve(self, track: Track, quality: str | None = None) -> Resolved:
        """Look the download link up now (links expire), and refuse what cannot be played."""
        make_entry = _ENTRIES.get(self.name)
        entry = make_entry(track) if make_entry is not None else None
        # A song that can be looked up again never reuses the link read at sync time; one that
        # cannot (a platform without a look-up, or a song synced before its ids were kept) does.
        info = self._lookup(track, entry) if entry is not None else track
        url = info.extra.get("download_url") if info is not None else None
        if info is None or not url:
            raise SourceError.coded("platform_no_link", ErrorClass.NOT_FOUND, source=self.name, song=track.display)
        ext = info.extra.get("ext") or "mp3"
        if ext in ENCRYPTED_EXTS or ext.startswith("qmc"):
            raise SourceError.coded("platform_encrypted", ErrorClass.ENCRYPTED, source=self.name, song=track.display,
                                    ext=ext)
        if info.extra.get("protocol") == "HLS" or ext in ("m3u8", "m3u"):
            raise SourceError.coded("platform_hls", ErrorClass.UNSUPPORTED, source=self.name, song=track.display)
        qualities = info.extra.get("qualities") or [None]
        return Resolved(url=url, ext=ext, headers=self.download_headers(), size=info.extra.get("size"),
                        service=info.extra.get("service"), quality=qualities[0], lyrics=self._lyrics.pop(
                            info.external_id, None))

    def download_headers(self) -> dict[str, str]:
        """What musicdl's own download sends: the client's download headers and cookies."""
        headers = {str(k): str(v) for k, v in (getattr(self.client, "default_download_headers", None) or {}).items()}
        cookies = getattr(self.client, "default_download_cookies", None) or {}
        if isinstance(cookies, dict) and cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        elif isinstance(cookies, str) and cookies:
            headers["Cookie"] = cookies
        return headers

    def _lookup(self, track: Track, entry: dict) -> Track | None:
        """A fresh SongInfo for the track, through the same calls musicdl's playlist reading makes."""
        what = Said("what_looking_up", song=track.display)
        info, call = self._run(what, _lookup, self.client, entry)
        if info is None or not getattr(info, "with_valid_download_url", False):
            if call.failures:
                # No link, and the platform did not answer every request: not "no link", an outage.
                raise classify(self.name, what, None, call)
            return None
        lyric = _value(getattr(info, "lyric", None))
        found = self._track(info, track.track_no)
        if isinstance(lyric, str) and lyric.strip() and lyric.strip() != "NULL":
            # Kept for the link's Resolved only: lyrics never ride in a track (tracks are stored).
            self._lyrics[found.external_id] = lyric
        return found

    def close(self) -> None:
        session = getattr(self.client, "session", None)
        if session is not None and hasattr(session, "close"):
            session.close()
        shutil.rmtree(self.work_dir, ignore_errors=True)


def _number(value: Any) -> float | None:
    """A bitrate musicdl read, in kbit/s (some clients give bit/s); None when it gave none."""
    try:
        number = float(_value(value) or 0)
    except (TypeError, ValueError):
        return None
    if number <= 0:
        return None
    return number / 1000 if number > 10_000 else number


def _with_parse_headers(client: Any) -> None:
    """Set the client up as musicdl's `useparseheaderscookies` decorator does."""
    client.default_headers = client.default_parse_headers
    client.default_cookies = getattr(client, "default_parse_cookies", client.default_cookies)
    if hasattr(client, "enable_parse_curl_cffi"):
        client.enable_curl_cffi = client.enable_parse_curl_cffi
    client._initsession()


def _lookup(client: Any, entry: dict) -> Any:
    """What musicdl's playlist reading does for one track: third-party resolvers, then the official API."""
    _with_parse_headers(client)
    services = getattr(client, "_parsewiththirdpartapis", None)
    flac = services(search_result=entry, request_overrides={}) if services is not None else None
    try:
        info = client._parsewithofficialapiv1(search_result=entry, song_info_flac=flac,
                                              lossless_quality_is_sufficient=True)
    except Exception:  # noqa: BLE001 - as musicdl's playlist reading: a service's link still counts
        if not getattr(flac, "with_valid_download_url", False):
            raise
        return flac
    return info if getattr(info, "with_valid_download_url", False) else flac


# The track as each platform's own answer lists it (the fields musicdl reads), so musicdl need
# not fetch the song's details again before looking its link up.
def _netease_entry(track: Track) -> dict:
    raw = track.external_id
    song_id = int(raw) if raw.isascii() and raw.isdigit() else raw
    return {"id": song_id, "name": track.title, "ar": [{"name": a} for a in track.artists],
            "al": {"name": track.album or "", "picUrl": track.cover_url}, "dt": int((track.duration_s or 0) * 1000)}


def _kuwo_entry(track: Track) -> dict:
    return {"musicrid": f"MUSIC_{track.external_id}", "name": track.title, "artist": "&".join(track.artists),
            "album": track.album or "", "duration": int(track.duration_s or 0)}


def _qq_entry(track: Track) -> dict:
    return {"mid": track.external_id, "title": track.title, "singer": [{"name": a} for a in track.artists],
            "album": {"title": track.album or "", "mid": ""}, "interval": int(track.duration_s or 0)}


# Looking a song's link up again, through the same calls musicdl's playlist reading makes for
# each track (private methods of musicdl 2.14: the tested range is pinned). A platform without
# an entry here reuses the link from the last playlist read.
def _kept_entry(track: Track) -> dict | None:
    """The platform's own listing of the song, kept at sync time (Migu's ids and qualities, Kugou's hash)."""
    entry = track.extra.get("entry")
    return dict(entry) if isinstance(entry, dict) and entry else None


_ENTRIES: dict[str, Callable[[Track], dict | None]] = {"netease": _netease_entry, "kuwo": _kuwo_entry, "qq": _qq_entry,
                                                       "migu": _kept_entry, "kugou": _kept_entry}


def _playlist_title(work_dir: str | None) -> str | None:
    """musicdl names a playlist's scratch folder '<YYYY-mm-dd-HH-MM-SS> <playlist name>'."""
    if not work_dir:
        return None
    name = str(work_dir).rstrip("/").split("/")[-1]
    return re.sub(r"^\d{4}(-\d{2}){5}\s+", "", name) or None



# ---------------------------------------------------------------- where links come from

LINK_SERVICES = ("official", "official_first", "musicdl")
# Third-party link services musicdl knows are its methods named like this (`_parsewithccwuapi`);
# the platform's own API is `_parsewithofficialapiv1`.
_SERVICE_METHOD = re.compile(r"_parsewith(?!officialapi|thirdpartapis)(\w+?)api$")
SERVICE_KEY = "catalogsync_service"


def _service_of(info: Any) -> str | None:
    """Which link service gave this SongInfo its link (None: the platform's own API)."""
    raw = getattr(info, "raw_data", None)
    return raw.get(SERVICE_KEY) if isinstance(raw, dict) else None


def _route_link_services(client: Any, mode: str) -> None:
    """Send the client's link look-ups where `mode` says, and mark each link with its service.

    `official`: third-party services are never asked. `official_first`: they are asked only
    for a song the platform's own API gives no playable link for. `musicdl`: musicdl's own
    order (every third-party service it knows before the platform's API).
    """
    cls = type(client)
    SongInfo = import_utils().SongInfo
    for attr in dir(cls):
        match = _SERVICE_METHOD.fullmatch(attr)
        if match and callable(getattr(cls, attr)) and attr not in vars(client):
            setattr(client, attr, _marking(getattr(client, attr), match.group(1)))
    if not (callable(getattr(cls, "_parsewiththirdpartapis", None))
            and callable(getattr(cls, "_parsewithofficialapiv1", None))):
        return  # a platform whose client has no link services to route
    services = cls._parsewiththirdpartapis.__get__(client)
    official = cls._parsewithofficialapiv1.__get__(client)
    for attr in ("_parsewiththirdpartapis", "_parsewithofficialapiv1"):
        vars(client).pop(attr, None)
    if mode == "musicdl":
        return

    def no_services(search_result=None, request_overrides=None, *args, **kwargs):
        return SongInfo(source=client.source)

    client._parsewiththirdpartapis = no_services
    if mode == "official":
        return

    def official_then_services(*args, **kwargs):
        search_result = kwargs.get("search_result", args[0] if args else None)
        failure = None
        try:
            info = official(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - musicdl raises anything; the services may still answer
            info, failure = None, exc
        if info is not None and getattr(info, "with_valid_download_url", False):
            return info
        fallback = services(search_result=search_result, request_overrides=dict(kwargs.get("request_overrides") or {}))
        if getattr(fallback, "with_valid_download_url", False):
            return fallback
        if failure is not None:
            raise failure
        return info

    client._parsewithofficialapiv1 = official_then_services


def _marking(method: Callable, service: str) -> Callable:
    def marked(*args, **kwargs):
        info = method(*args, **kwargs)
        raw = getattr(info, "raw_data", None)
        if isinstance(raw, dict) and getattr(info, "with_valid_download_url", False):
            raw[SERVICE_KEY] = service
        return info

    return marked
