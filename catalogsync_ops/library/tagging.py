"""Tags written into library files, through mutagen: ID3 (MP3, WAV, AIFF), Vorbis comments (FLAC,
Ogg, Opus) and MP4 atoms (M4A)."""
from __future__ import annotations

from pathlib import Path

import mutagen
from mutagen.flac import FLAC, Picture
from mutagen.id3 import APIC, ID3, TALB, TIT2, TPE1, TRCK
from mutagen.mp4 import MP4, MP4Cover

from catalogsync_ops.errors import ErrorClass, SourceError
from catalogsync_ops.sources.base import Track


def write_tags(path: Path, track: Track, *, cover: bytes | None = None, cover_mime: str = "image/jpeg") -> None:
    """Write title, artists, album, track number and cover (if given) into the file in place."""
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
        audio.save()
        return
    # Vorbis comments: FLAC, Ogg Vorbis, Opus.
    if audio.tags is None:
        audio.add_tags()
    audio.tags["title"] = [track.title]
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
                "album": (t.get("\xa9alb") or [""])[0], "track": str((t.get("trkn") or [(0, 0)])[0][0] or "")}
    if isinstance(audio.tags, ID3):
        t = audio.tags
        get = lambda key: str(t[key].text[0]) if key in t else ""  # noqa: E731
        return {"title": get("TIT2"), "artist": get("TPE1"), "album": get("TALB"), "track": get("TRCK"),
                "cover": "yes" if t.getall("APIC") else ""}
    t = audio.tags
    return {"title": (t.get("title") or [""])[0], "artist": (t.get("artist") or [""])[0],
            "album": (t.get("album") or [""])[0], "track": (t.get("tracknumber") or [""])[0]}
