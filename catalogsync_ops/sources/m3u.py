"""`m3u`: M3U/M3U8 playlists from a local path or an http(s) URL, as media players save them.

Text: UTF-8 (with or without a BOM) or UTF-16 with a BOM is read as such; otherwise the code
page the file was saved in (Windows saves `.m3u` in the system's: GBK, Big5, Shift-JIS,
cp1252, …) is detected with charset-normalizer, and GB18030 is preferred for Chinese text that
reads as plain Chinese in it (a short GBK list is easily mistaken for Big5). Line ends LF, CRLF
or CR. `PlaylistInfo.encoding` says what was used.

Tags: `#EXTINF:<seconds> [attributes],<Artist> - <Title>`, `#PLAYLIST:<title>`, `#EXTALB:`
(album) and `#EXTART:` (artist) for the entries that follow, `#EXTGRP:` (kept as the track's
group), `#EXTIMG:` (the next entry is a cover image, not a track). Without `#EXTINF` a title
(and artist, from "Artist - Title") comes from the file name, track numbers dropped.

Entries: http(s) and file URLs, absolute paths, and paths relative to the playlist with `/` or
`\\`. Each line that cannot be a song — an image or other non-audio file, another playlist, a
scheme other than http(s)/file, a Windows drive path, a broken URL, a NUL byte — is skipped and
listed with its line number and the reason; the rest of the playlist is read. Such lines never
held a song, so they do not make the listing incomplete. Entries are downloaded as they are: no
search, no matching.
"""
from __future__ import annotations

import codecs
import os
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import url2pathname

import requests

from catalogsync_ops.errors import ErrorClass, SourceError
from catalogsync_ops.sources.base import PlaylistInfo, Resolved, Source, Track, Unresolved
from catalogsync_ops.transfer.http import error_class_for_exception, error_class_for_status, new_session

SUFFIXES = (".m3u", ".m3u8")
AUDIO = frozenset({"mp3", "flac", "m4a", "aac", "ogg", "oga", "opus", "wav", "wma", "ape", "alac", "aiff", "aif",
                   "wv", "mpc", "dsf", "dff", "mp4", "m4b", "mka", "webm", "tta", "ac3", "dts", "amr", "mp2"})
IMAGES = frozenset({"jpg", "jpeg", "png", "gif", "webp", "bmp", "tif", "tiff"})
MAX_BYTES = 20 * 2**20  # a playlist of 100k songs is ~10 MB
SAMPLE_BYTES = 64 * 1024  # what the code page of a list that is not UTF-8 is judged on
_TRACK_NO = re.compile(r"^\s*\d{1,3}\s*(?:[.\-_)]\s*|\s+)(?=\S)")
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
PREFERRED = ("gb18030", "big5", "shift_jis", "cp1252", "euc_kr", "cp1251", "cp1250")


def _is_url(text: str) -> bool:
    return urlsplit(text).scheme in ("http", "https", "file")


@lru_cache(maxsize=65536)
def _common(char: str) -> bool:
    """Whether a character is among the everyday ones of some script: the first level of GB2312,
    Big5 or JIS X 0208, kana, the Hangul of KS X 1001, CJK and full-width punctuation, Latin or
    Cyrillic letters. A wrong decoding of CJK bytes lands mostly on rare characters."""
    if char.isascii() or "\u3000" <= char <= "\u30ff" or "\uff00" <= char <= "\uffef":
        return True
    if char.isalpha() and (ord(char) < 0x250 or 0x400 <= ord(char) < 0x530):
        return True
    for codec, low, high in (("gb2312", 0xA1, 0xD7), ("big5", 0xA1, 0xC6), ("shift_jis", 0x81, 0x98),
                             ("euc_kr", 0xA1, 0xC8)):
        try:
            if low <= char.encode(codec)[0] <= high:
                return True
        except UnicodeEncodeError:
            continue
    return False


_WORD = re.compile(r"[^\W\d_]+")


def _plausible(text: str) -> float:
    """How much a decoding reads like real text (0–1): the share of everyday characters among
    the non-ASCII ones, less the share of Latin words made mostly of accented letters (Cyrillic
    or Greek read in a Western code page: "Êèíî" for "Кино")."""
    wide = [c for c in text if ord(c) > 127]
    if not wide:
        return 1.0
    words = [w for w in _WORD.findall(text) if all(ord(c) < 0x250 for c in w) and any(ord(c) > 127 for c in w)]
    accented = sum(1 for w in words if sum(ord(c) > 127 for c in w) > len(w) / 2)
    return sum(map(_common, wide)) / len(wide) - (accented / len(words) if words else 0.0)


def _binary(data: bytes) -> bool:
    head = data[:65536]
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 13))
    return controls > 0.05 * max(1, len(head))


def _utf16_without_bom(data: bytes) -> str | None:
    head = data[:4096]
    if len(head) < 4 or len(head) % 2:
        return None
    if head[1::2].count(0) > 0.9 * (len(head) // 2):
        return "utf-16-le"
    if head[0::2].count(0) > 0.9 * (len(head) // 2):
        return "utf-16-be"
    return None


def decode_playlist(data: bytes, exists: Callable[[str], float] | None = None) -> tuple[str, str]:
    """The playlist's text and the encoding it was read with (see the module's docstring).

    `exists(text)`, for a playlist file on disk, gives the share of its entries found on disk
    when read that way: the strongest sign of the right code page for a list saved beside the
    music it names.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace"), encoding.replace("-sig", "")
    wide = _utf16_without_bom(data)
    if wide:
        return data.decode(wide, errors="replace"), wide
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if _binary(data):
        raise ValueError("binary data")
    from charset_normalizer import from_bytes

    # The code page is judged on the first SAMPLE_BYTES (whole lines): a long list of a megabyte
    # of high bytes took seconds per candidate; the one chosen then reads the whole file.
    sample = data if len(data) <= SAMPLE_BYTES else data[:data.rfind(b"\n", 0, SAMPLE_BYTES) + 1 or SAMPLE_BYTES]
    found: dict[str, str] = {}
    for codec in PREFERRED:  # the code pages .m3u files are saved in, most common first
        try:
            found[codec] = sample.decode(codec)
        except UnicodeDecodeError:
            continue
    for match in from_bytes(sample):
        found.setdefault(match.encoding, str(match))
    if not found:
        return data.decode("gb18030", errors="replace"), "gb18030"
    order = {name: i for i, name in enumerate(found)}
    # Entries found on disk first, then everyday characters, then the most common code page.
    scored = {name: (exists(text) if exists else 0.0, round(_plausible(text), 2), -order[name])
              for name, text in found.items()}
    for name in sorted(scored, key=scored.__getitem__, reverse=True):
        try:
            return data.decode(name), name
        except (UnicodeDecodeError, LookupError):
            continue  # the rest of the file does not read this way
    name = max(scored, key=scored.__getitem__)
    return data.decode(name, errors="replace"), name


def _split_label(label: str) -> tuple[tuple[str, ...], str]:
    artist, sep, name = label.partition(" - ")
    if not sep:
        return (), label.strip()
    return tuple(a.strip() for a in artist.split(",") if a.strip()), name.strip()


def _from_file_name(entry: str) -> tuple[tuple[str, ...], str]:
    stem = PurePosixPath(unquote(urlsplit(entry).path)).stem
    artists, title = _split_label(_TRACK_NO.sub("", stem))
    return artists, title or stem


class M3USource(Source):
    name = "m3u"
    can_search = False

    def __init__(self, *, session: requests.Session | None = None, timeout: float = 30) -> None:
        self.session = session or new_session()
        self.timeout = timeout

    def recognizes(self, url: str) -> bool:
        path = urlsplit(url).path if _is_url(url) else url
        return path.lower().endswith(SUFFIXES)

    def _read(self, location: str) -> tuple[bytes, str]:
        """Return (bytes, base) where base is what relative entries resolve against."""
        parts = urlsplit(location)
        if parts.scheme in ("http", "https"):
            try:
                response = self.session.get(location, timeout=self.timeout)
            except requests.RequestException as exc:
                raise SourceError(f"m3u: {location} did not answer ({exc})", error_class_for_exception(exc)) from None
            if response.status_code >= 400:
                raise SourceError(f"m3u: {location} answered {response.status_code} {response.reason}",
                                  error_class_for_status(response.status_code))
            return response.content[:MAX_BYTES + 1], location
        path = Path(url2pathname(parts.path)) if parts.scheme == "file" else Path(location).expanduser()
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_BYTES + 1)
        except FileNotFoundError:
            raise SourceError(f"m3u: no playlist file at {str(path)!r}", ErrorClass.NOT_FOUND) from None
        except IsADirectoryError:
            raise SourceError(f"m3u: {str(path)!r} is a folder, not a playlist file", ErrorClass.CONFIG) from None
        except OSError as exc:
            raise SourceError(f"m3u: cannot read {str(path)!r}: {exc}", ErrorClass.INTERNAL) from None
        return data, path.resolve().as_uri()

    def parse_playlist(self, url: str) -> PlaylistInfo:
        data, base = self._read(url)
        if len(data) > MAX_BYTES:
            raise SourceError(f"m3u: {url} is larger than {MAX_BYTES // 2**20} MB; is it a playlist?",
                              ErrorClass.UNSUPPORTED)
        local = urlsplit(base).scheme == "file"
        try:
            text, encoding = decode_playlist(data, exists=(lambda t: _read_lines(base,
                                                                                 t).found_share()) if local else None)
        except ValueError:
            raise SourceError(f"m3u: {url} is not text (binary data); is it a playlist?",
                              ErrorClass.UNSUPPORTED) from None
        reader = _read_lines(base, text)
        if not reader.tracks and not reader.skipped and "#EXTM3U" not in text.upper():
            raise SourceError(f"m3u: {url} has no entries and no #EXTM3U header; is it a playlist?",
                              ErrorClass.UNSUPPORTED)
        return PlaylistInfo(self.name, url, None, reader.title, reader.tracks, skipped=reader.skipped,
                            encoding=encoding)

    def resolve(self, track: Track, quality: str | None = None) -> Resolved:
        suffix = Path(unquote(urlsplit(track.external_id).path)).suffix.lstrip(".").lower()
        return Resolved(url=track.external_id, ext=suffix or "mp3")

    def close(self) -> None:
        self.session.close()


def _read_lines(base: str, text: str) -> _Reader:
    reader = _Reader(base, Path(unquote(urlsplit(base).path)).stem)
    for number, raw in enumerate(text.splitlines(), 1):
        reader.line(number, raw.strip())
    return reader


class _Reader:
    """The state of reading one playlist, line by line."""

    def __init__(self, base: str, title: str) -> None:
        self.base, self.title = base, title
        # A playlist read from the network names only what is on the network: never a file here.
        self.remote = urlsplit(base).scheme in ("http", "https")
        self.tracks: list[Track] = []
        self.skipped: list[Unresolved] = []
        self.pending: tuple[float | None, str] | None = None  # the #EXTINF of the next entry
        self.album: str | None = None
        self.artist: str | None = None
        self.group: str | None = None
        self.image_next = False

    def found_share(self) -> float:
        """The share of local entries that exist on disk (at most 200 looked at)."""
        local = [t.external_id for t in self.tracks if t.external_id.startswith("file:")][:200]
        if not local:
            return 0.0
        return sum(1 for e in local if os.path.exists(url2pathname(urlsplit(e).path))) / len(local)

    def skip(self, number: int, line: str, reason: str) -> None:
        self.skipped.append(Unresolved(f"line {number}", line.replace("\x00", "\\0")[:300], reason, number))
        self.pending = None

    def line(self, number: int, line: str) -> None:
        if not line:
            return
        if line.startswith("#"):
            self.tag(line)
            return
        if self.image_next:
            self.image_next = False
            self.skip(number, line, "the cover image of the playlist (#EXTIMG), not audio: skipped")
            return
        entry, problem = self.entry(line)
        if problem:
            self.skip(number, line, problem)
            return
        duration, label = self.pending or (None, "")
        self.pending = None
        artists, title = _split_label(label) if label else _from_file_name(entry)
        if not artists and self.artist:
            artists = (self.artist,)
        extra: dict[str, Any] = {"group": self.group} if self.group else {}
        self.tracks.append(Track("m3u", entry, title or _from_file_name(entry)[1], artists, self.album, duration,
                                 len(self.tracks) + 1, extra=extra))

    def tag(self, line: str) -> None:
        name, _, value = line.partition(":")
        name, value = name.upper(), value.strip()
        if name == "#EXTINF":
            seconds, label = _extinf(value)
            self.pending = (seconds, label)
        elif name == "#PLAYLIST" and value:
            self.title = value
        elif name == "#EXTALB":
            self.album = value or None
        elif name == "#EXTART":
            self.artist = value or None
        elif name == "#EXTGRP":
            self.group = value or None
        elif name == "#EXTIMG":
            self.image_next = True

    def entry(self, line: str) -> tuple[str, str | None]:
        """The entry as a URL, or why the line cannot be one."""
        if "\x00" in line:
            return "", "contains a NUL byte (a damaged line): skipped"
        if _DRIVE.match(line) or line.startswith("\\\\"):
            return "", ("a Windows path, which does not exist on this NAS: save the playlist with paths relative "
                        "to the playlist file, or copy it from the NAS's own music folder")
        try:
            parts = urlsplit(line)
            scheme = parts.scheme.lower()
            if scheme and len(scheme) > 1 and scheme not in ("http", "https", "file"):
                return "", f"{scheme}:// entries cannot be downloaded (only http(s) URLs and files): skipped"
            if scheme in ("http", "https"):
                if not parts.hostname:
                    return "", "not a valid URL (no host): skipped"
                parts.port  # noqa: B018 -- raises on a bad port
                entry = line
            elif scheme == "file" and self.remote:
                return "", ("a playlist fetched from the network cannot name files on this NAS (only http(s) "
                            "URLs): skipped")
            elif scheme == "file":
                entry = line
            elif os.path.isabs(line) and not self.remote:
                entry = Path(line).as_uri()
            else:
                entry = urljoin(self.base, line.replace("\\", "/"))
        except ValueError as exc:
            return "", f"not a valid URL ({exc}): skipped"
        ext = PurePosixPath(unquote(urlsplit(entry).path)).suffix.lstrip(".").lower()
        if ext in ("m3u", "m3u8", "pls", "xspf", "wpl", "cue"):
            return "", "another playlist inside this one is not followed: add it to a pool file of its own"
        if ext in IMAGES:
            return "", "an image, not audio: skipped"
        if ext and ext not in AUDIO and not (scheme in ("http", "https") and (len(ext) > 5 or not ext.isalnum())):
            return "", f"not audio (.{ext}): skipped"
        return entry, None


def _extinf(value: str) -> tuple[float | None, str]:
    """`269,Artist - Title` or `-1 tvg-name="x" group-title="y",Artist - Title`."""
    match = re.match(r'^\s*(-?\d+(?:\.\d+)?)?((?:\s+[\w-]+="[^"]*")*)\s*,(.*)$', value)
    if not match:
        head, _, label = value.partition(",")
        return None, label.strip()
    try:
        seconds = float(match.group(1)) if match.group(1) else None
    except ValueError:
        seconds = None
    return (seconds if seconds and seconds > 0 else None), match.group(3).strip()
