"""What a library file is: its codec, bitrate, sample rate, bit depth, and whether it is lossless,
read from the file itself with mutagen (never from what a platform claimed), and the rung of
the quality ladder it stands on.

The rungs, best first: `lossless` (a lossless codec at CD resolution or better: 44.1 kHz and
16 bits at least), then lossy files by the bitrate they carry: `320`, `256`, `192`, `128`, and
`low` below that. A lossless file of lower resolution (an 8 kHz voice recording as WAV) is
rated by its bitrate like a lossy one: it holds no more than that.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mutagen
from mutagen.mp4 import MP4

from catalogsync_ops import spectrum as spectral
from catalogsync_ops.errors import ErrorClass, SourceError
from catalogsync_ops.spectrum import rung_of_cutoff

RUNGS = ("lossless", "320", "256", "192", "128", "low")
# The least bitrate (kbit/s) that stands on each lossy rung: a VBR file averages a little under
# its nominal figure (LAME V0 ≈ 245, an AAC 256 stream ≈ 250).
_LOSSY_FLOORS = (("320", 300), ("256", 230), ("192", 175), ("128", 120))

# mutagen's class → the codec's short name. An MP4 file says its own codec (AAC or ALAC).
_CODECS = {"MP3": "mp3", "EasyMP3": "mp3", "FLAC": "flac", "OggFLAC": "flac", "WAVE": "wav", "AIFF": "aiff",
           "OggVorbis": "vorbis", "OggOpus": "opus", "OggSpeex": "speex", "OggTheora": "theora",
           "WavPack": "wavpack", "MonkeysAudio": "ape", "TrueAudio": "tta", "EasyTrueAudio": "tta",
           "OptimFROG": "ofr", "ASF": "wma", "DSF": "dsd", "DSDIFF": "dsd", "AAC": "aac", "AC3": "ac3",
           "Musepack": "mpc", "SMF": "midi"}
LOSSLESS_CODECS = frozenset({"flac", "wav", "aiff", "alac", "wavpack", "ape", "tta", "ofr", "dsd"})


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs a probe 5 % of mutagen's time
class Quality:
    """What a file holds, as its headers say."""

    codec: str
    lossless: bool
    duration_s: float
    bitrate_kbps: int | None = None
    sample_rate: int | None = None
    bit_depth: int | None = None
    channels: int | None = None
    spectrum: str | None = None  # full, transcoded or unknown (`spectrum.py`); None: not looked at
    cutoff_hz: int | None = None  # where a transcoded file's sound stops

    @property
    def rung(self) -> str:
        if self.spectrum == "transcoded" and self.cutoff_hz:
            return rung_of_cutoff(self.cutoff_hz)  # a lossless container of a lossy file's sound
        if self.lossless and (self.sample_rate or 0) >= 44_100 and (self.bit_depth or 16) >= 16:
            return "lossless"
        return rung_of_bitrate(self.bitrate_kbps or 0)

    @property
    def label(self) -> str:
        """One line for a page: "FLAC 16/44.1", "MP3 320k", "AAC 256k"."""
        return label(self.codec, self.rung, self.bitrate_kbps, self.sample_rate, self.bit_depth, self.spectrum,
                     self.cutoff_hz)

    def as_row(self) -> dict[str, object]:
        return {"codec": self.codec, "lossless": int(self.lossless), "bitrate_kbps": self.bitrate_kbps,
                "sample_rate": self.sample_rate, "bit_depth": self.bit_depth, "channels": self.channels,
                "duration_s": round(self.duration_s, 3), "quality": self.rung, "spectrum": self.spectrum,
                "cutoff_hz": self.cutoff_hz}


def label(codec: str | None, rung: str | None, kbps: int | None, sample_rate: int | None,
          bit_depth: int | None, spectrum: str | None = None, cutoff_hz: int | None = None) -> str:
    """A file's quality in a few characters, from its recorded columns ("" if never read)."""
    if not codec:
        return ""
    if spectrum == "transcoded":
        return f"{codec.upper()} ≤{(cutoff_hz or 0) / 1000:g} kHz"
    if rung == "lossless":
        return f"{codec.upper()} {bit_depth or 16}/{(sample_rate or 0) / 1000:g}"
    return f"{codec.upper()} {kbps or '?'}k"


# The extensions each codec's files go by, the usual one first.
_EXTS = {"mp3": ("mp3",), "flac": ("flac",), "wav": ("wav", "wave"), "aiff": ("aiff", "aif"), "vorbis": ("ogg", "oga"),
         "opus": ("opus", "ogg"), "aac": ("m4a", "mp4", "aac"), "alac": ("m4a", "mp4"), "ape": ("ape",),
         "wavpack": ("wv",), "tta": ("tta",), "wma": ("wma",)}


def ext_for(codec: str, said: str) -> str:
    """The extension a file of this codec should have: the one it was given when that fits
    (an AIFF may be .aif), else the codec's usual one (MP3 bytes called .flac become .mp3)."""
    fits = _EXTS.get(codec)
    said = said.lower().lstrip(".")
    return said if not fits or said in fits else fits[0]


LOSSLESS_EXTS = frozenset({"flac", "wav", "aiff", "aif", "alac", "ape", "wv", "tta", "dsf", "dff"})


def rung_of_bitrate(kbps: float) -> str:
    """The lossy rung a bitrate stands on."""
    return next((name for name, floor in _LOSSY_FLOORS if kbps >= floor), "low")


def claimed_rung(ext: str | None, size: int | None = None, duration_s: float | None = None,
                 kbps: float | None = None) -> str | None:
    """The rung a platform's answer claims, from what it says of the link (its extension, its
    size over its length, or a bitrate): lossless for a lossless format. None when it says
    too little. A claim only: the file is read after download."""
    if ext and ext.lower().lstrip(".") in LOSSLESS_EXTS:
        return "lossless"
    if not kbps and size and duration_s:
        kbps = size * 8 / duration_s / 1000
    return rung_of_bitrate(kbps) if kbps else None


def rung_rank(rung: str | None) -> int:
    """0 for the best rung; an unknown or missing rung ranks below every known one."""
    return RUNGS.index(rung) if rung in RUNGS else len(RUNGS)


def probe(path: str | Path) -> Quality:
    """Read what a file is; raise invalid_audio unless mutagen reads it as audio of some length."""
    try:
        audio = mutagen.File(path)
    except Exception as exc:  # mutagen raises many types for broken files
        # mutagen leans on the name: MP3 bytes called .flac fail as a FLAC. Ask the bytes alone.
        audio = _by_content(path)
        if audio is None:
            raise SourceError.coded("audio_unreadable", ErrorClass.INVALID_AUDIO, name=Path(path).name,
                                    reason=str(exc)) from None
    info = getattr(audio, "info", None) if audio is not None else None
    if info is None:
        raise SourceError.coded("audio_not_audio", ErrorClass.INVALID_AUDIO, name=Path(path).name)
    length = float(getattr(info, "length", 0) or 0)
    if length <= 0:
        raise SourceError.coded("audio_empty", ErrorClass.INVALID_AUDIO, name=Path(path).name)
    kind = type(audio).__name__
    if isinstance(audio, MP4):
        raw = str(getattr(info, "codec", "") or "")
        codec = "alac" if raw == "alac" else "aac" if raw.startswith("mp4a") else raw or "mp4"
    else:
        codec = _CODECS.get(kind, kind.lower())
    bits = getattr(info, "bitrate", 0) or 0
    if not bits:  # Opus and some others leave it out: the file's size over its length says it
        try:
            bits = Path(path).stat().st_size * 8 / length
        except OSError:
            bits = 0
    depth = getattr(info, "bits_per_sample", None) or None
    return Quality(codec=codec, lossless=codec in LOSSLESS_CODECS, duration_s=length,
                   bitrate_kbps=round(bits / 1000) or None, sample_rate=getattr(info, "sample_rate", None) or None,
                   bit_depth=depth if codec in LOSSLESS_CODECS else None,
                   channels=getattr(info, "channels", None) or None)


RUNG_LABELS = {"lossless": "lossless", "transcoded": "transcoded", "320": "320k", "256": "256k", "192": "192k",
               "128": "128k", "low": "under 128k", "unknown": "not checked yet"}


def shares(counts: dict[str, int]) -> list[tuple[str, int, float]]:
    """(rung, songs, percent) best rung first, from a coverage row's quality counts; rungs
    without a song are left out, transcoded "lossless" files follow the lossless ones, and files
    not read yet come last as `unknown`."""
    total = sum(counts.values())
    order = ["lossless", "transcoded", *RUNGS[1:], "unknown", *sorted(set(counts) - {*RUNGS, "transcoded", "unknown"})]
    return [(rung, counts[rung], 100 * counts[rung] / total) for rung in order if counts.get(rung)]


def shares_text(counts: dict[str, int]) -> str:
    """"lossless 62% · 320k 30% · 128k 8%" for the command line; empty with no song in the library."""
    return " · ".join(f"{RUNG_LABELS.get(rung, rung)} {pct:.0f}%" for rung, _, pct in shares(counts))


class _Nameless:
    """A file mutagen must judge by its bytes: it has no name to go by."""

    def __init__(self, handle) -> None:
        self.read, self.seek, self.tell = handle.read, handle.seek, handle.tell


def _by_content(path: str | Path):
    try:
        with open(path, "rb") as handle:
            return mutagen.File(_Nameless(handle))
    except Exception:
        return None


def judged(path: str | Path, quality: Quality) -> Quality:
    """The quality with its spectrum looked at, for a file that claims to be lossless: a FLAC
    whose sound stops where a lossy encoder cuts is `transcoded`, on the rung that cut betrays.
    Other files are returned as they are (their headers say all)."""
    if quality.rung != "lossless":
        return quality
    verdict = spectral.check(path)
    quality.spectrum, quality.cutoff_hz = verdict.state, verdict.cutoff_hz
    return quality
