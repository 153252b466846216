"""Tags written into library files, through mutagen: ID3 (MP3, WAV, AIFF), Vorbis comments (FLAC,
Ogg, Opus) and MP4 atoms (M4A): title, artists, album, track, cover and lyrics.

Lyrics are kept as the platform gives them, time-synced LRC when it is: ID3 USLT holds the LRC
text (what most players read) and SYLT the synced lines; Vorbis `LYRICS` and MP4 `©lyr` hold
the LRC text. `lrc_lines` reads LRC into (milliseconds, line)."""
from __future__ import annotations

import re
from pathlib import Path

import mutagen
from mutagen.flac import FLAC, Picture
from mutagen.id3 import APIC, ID3, SYLT, TALB, TIT2, TPE1, TRCK, USLT
from mutagen.mp4 import MP4, MP4Cover

from catalogsync_ops.errors import ErrorClass, SourceError
from catalogsync_ops.sources.base import Track

_LRC_TIME = re.compile(r"\[(\d{1,3}):(\d{1,2})(?:[.:](\d{1,3}))?\]")


def lrc_lines(text: str) -> list[tuple[int, str]]:
    """The timed lines of LRC text, in time order: [(milliseconds, words)]. A line with several
    time tags is sung at each; metadata lines ([ar:…], [offset:…]) and untimed lines are left out."""
    out = []
    for raw in text.splitlines():
        stamps, rest = [], raw.strip()
        while (m := _LRC_TIME.match(rest)):
            fraction = m.group(3) or "0"
            ms = int(fraction) * (10 if len(fraction) == 2 else 100 if len(fraction) == 1 else 1)
            stamps.append(int(m.group(1)) * 60_000 + int(m.group(2)) * 1000 + ms)
            rest = rest[m.end():]
        out += [(stamp, rest.strip()) for stamp in stamps]
    return sorted(out, key=lambda line: line[0])


def write_tags(path: Path, track: Track, *, cover: bytes | None = None, cover_mime: str = "image/jpeg",
               lyrics: str | None = None) -> None:
    """Write title, artists, album, track number, cover and lyrics (those given) into the file in place."""
    audio = mutagen.File(path)
    if audio is None:
        raise SourceError(f"{Path(path).name}: cannot tag a file that is not audio", ErrorClass.INVALID_AUDIO)
    artist = ", ".join(track.artists)
    if isinstance(audio, MP4):
        tags = audio.tags if audio.tags is not None else audio.add_tags() or audio.tags
        tags["\xa9nam"] = [track.title]
        if artist:
            tags["\xa9ART"] = [artist]
        if track.album:
            tags["\xa9alb"] = [track.album]
        if track.track_no:
            tags["trkn"] = [(track.track_no, 0)]
        if cover:
            fmt = MP4Cover.FORMAT_PNG if cover_mime == "image/png" else MP4Cover.FORMAT_JPEG
            tags["covr"] = [MP4Cover(cover, imageformat=fmt)]
        if lyrics:
            tags["\xa9lyr"] = [lyrics]
        audio.save()
        return
    if hasattr(audio, "tags") and (isinstance(audio.tags, ID3) or audio.tags is None) and not isinstance(audio, FLAC) \
            and _uses_id3(audio):
        if audio.tags is None:
            audio.add_tags()
        tags = audio.tags
        tags.setall("TIT2", [TIT2(encoding=3, text=track.title)])
        if artist:
            tags.setall("TPE1", [TPE1(encoding=3, text=artist)])
        if track.album:
            tags.setall("TALB", [TALB(encoding=3, text=track.album)])
        if track.track_no:
            tags.setall("TRCK", [TRCK(encoding=3, text=str(track.track_no))])
        if cover:
            tags.setall("APIC", [APIC(encoding=3, mime=cover_mime, type=3, desc="Cover", data=cover)])
        if lyrics:
            tags.setall("USLT", [USLT(encoding=3, lang="und", desc="", text=lyrics)])
            synced = lrc_lines(lyrics)
            if synced:  # format 2: times in milliseconds; type 1: lyrics
                tags.setall("SYLT", [SYLT(encoding=3, lang="und", format=2, type=1, desc="",
                                          text=[(words, ms) for ms, words in synced])])
        audio.save()
        return
    # Vorbis comments: FLAC, Ogg Vorbis, Opus.
    if audio.tags is None:
        audio.add_tags()
    audio.tags["title"] = [track.title]
    if lyrics:
        audio.tags["lyrics"] = [lyrics]
    if artist:
        audio.tags["artist"] = [artist]
    if track.album:
        audio.tags["album"] = [track.album]
    if track.track_no:
        audio.tags["tracknumber"] = [str(track.track_no)]
    if cover and isinstance(audio, FLAC):
        picture = Picture()
        picture.type, picture.mime, picture.data = 3, cover_mime, cover
        audio.clear_pictures()
        audio.add_picture(picture)
    audio.save()


def _uses_id3(audio) -> bool:
    return type(audio).__name__ in ("MP3", "WAVE", "AIFF", "EasyMP3", "TrueAudio")


def read_tags(path: Path) -> dict[str, str]:
    """Title, artist, album and track of a file, whatever its tag format (for checks and tests)."""
    audio = mutagen.File(path)
    if audio is None or audio.tags is None:
        return {}
    if isinstance(audio, MP4):
        t = audio.tags
        return {"title": (t.get("\xa9nam") or [""])[0], "artist": (t.get("\xa9ART") or [""])[0],
                "album": (t.get("\xa9alb") or [""])[0], "track": str((t.get("trkn") or [(0, 0)])[0][0] or ""),
                "cover": "yes" if t.get("covr") else "", "lyrics": (t.get("\xa9lyr") or [""])[0]}
    if isinstance(audio.tags, ID3):
        t = audio.tags
        get = lambda key: str(t[key].text[0]) if key in t else ""  # noqa: E731
        uslt = t.getall("USLT")
        sylt = t.getall("SYLT")
        return {"title": get("TIT2"), "artist": get("TPE1"), "album": get("TALB"), "track": get("TRCK"),
                "cover": "yes" if t.getall("APIC") else "", "lyrics": uslt[0].text if uslt else "",
                "synced_lines": str(len(sylt[0].text)) if sylt else ""}
    t = audio.tags
    pictures = getattr(audio, "pictures", None)
    return {"title": (t.get("title") or [""])[0], "artist": (t.get("artist") or [""])[0],
            "album": (t.get("album") or [""])[0], "track": (t.get("tracknumber") or [""])[0],
            "cover": "yes" if pictures else "", "lyrics": (t.get("lyrics") or [""])[0]}
