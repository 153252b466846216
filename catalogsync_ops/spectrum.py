"""Is a lossless file really lossless? A FLAC made from an MP3 holds the MP3's sound: nothing
above the low-pass every lossy encoder applies (LAME: about 17 kHz at 128 kbit/s, 19 kHz at
192, 20 kHz at 320). Real recordings at CD resolution carry sound up to 20–22 kHz, falling off
gently. So: decode a few seconds from the middle of the file, average its spectrum, and look
for a cliff, a fall of more than `CLIFF_DB` within `CLIFF_HZ` above 14 kHz with nothing but the
noise floor above it.

The decoder is libsndfile (`soundfile`) and the arithmetic NumPy: the optional `spectrum`
extra. Without them nothing is judged (`available()` is False) and a file's spectrum stays
unknown, never guessed.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SECONDS = 6.0  # decoded from the middle of the file
WINDOW = 4096
BAND_HZ = 250  # the spectrum is read in bands this wide
CLIFF_DB = 24.0  # a fall this deep …
CLIFF_HZ = 1000  # … within this many Hz is a cliff, not a roll-off
SEARCH_FROM_HZ = 14_000
FULL_BAND_HZ = 20_500  # a cliff above this is a CD's own edge, not an encoder's
MIN_RANGE_DB = 30.0  # less than this between the sound and the floor: nothing was cut
PASSBAND_DB = 12.0  # a band within this of the middle's level still carries the sound


@dataclass(frozen=True)
class Verdict:
    """`full` (sound to the top of the band), `transcoded` (a cliff at `cutoff_hz`) or
    `unknown` (too quiet, too short, or the decoder cannot read it: `reason`)."""

    state: str
    cutoff_hz: int | None = None
    reason: str | None = None


def available() -> bool:
    try:
        import numpy  # noqa: F401
        import soundfile  # noqa: F401
    except (ImportError, OSError):  # OSError: soundfile without its libsndfile
        return False
    return True


def rung_of_cutoff(cutoff_hz: int) -> str:
    """The lossy rung a cut at this frequency roughly betrays (encoders low-pass at about 20 kHz
    for 320 kbit/s, 19.5 for 256, 18.5 for 192, 16–17.5 for 128; a guess, never better than the
    file's sound)."""
    for rung, at_least in (("320", 19_900), ("256", 19_200), ("192", 18_000), ("128", 15_500)):
        if cutoff_hz >= at_least:
            return rung
    return "low"


def check(path: str | Path) -> Verdict:
    """Judge a file's spectrum (see the module's words)."""
    if not available():
        return Verdict("unknown", reason="the spectrum extra (soundfile, numpy) is not installed")
    import numpy as np
    import soundfile

    try:
        with soundfile.SoundFile(str(path)) as audio:
            rate, frames = audio.samplerate, audio.frames
            want = int(SECONDS * rate)
            audio.seek(max(0, frames // 2 - want // 2))
            data = audio.read(min(want, frames), dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile's errors are RuntimeError or its own; none may stop a download
        return Verdict("unknown", reason=f"cannot decode it: {exc}")
    if rate < 44_100:
        return Verdict("unknown", reason=f"{rate} Hz is below CD resolution")
    mono = data.mean(axis=1)
    loud = mono[np.abs(mono) > 1e-6]  # silence says nothing about the band
    if len(loud) < WINDOW * 4:
        return Verdict("unknown", reason="too little sound to judge")
    hops = range(0, len(loud) - WINDOW, WINDOW // 2)
    window = np.hanning(WINDOW)
    power = np.zeros(WINDOW // 2 + 1)
    for start in hops:
        power += np.abs(np.fft.rfft(loud[start:start + WINDOW] * window)) ** 2
    freqs = np.fft.rfftfreq(WINDOW, 1 / rate)
    top = min(rate / 2, 22_050)
    edges = np.arange(0, top + 1, BAND_HZ)
    bands = np.array([power[(freqs >= lo) & (freqs < lo + BAND_HZ)].mean() for lo in edges[:-1]])
    level = 10 * np.log10(bands + 1e-20)
    reference = np.median(level[(edges[:-1] >= 1000) & (edges[:-1] < 8000)])
    floor = np.median(level[edges[:-1] >= top - 1000])
    if reference - floor < MIN_RANGE_DB:
        return Verdict("full")  # sound as loud at the top as in the middle: nothing was cut
    steps = CLIFF_HZ // BAND_HZ
    passband = reference - PASSBAND_DB
    for i, lo in enumerate(edges[:-1]):
        if lo < SEARCH_FROM_HZ or i + steps >= len(level):
            continue
        if level[i] >= passband and level[i] - level[i + steps] >= CLIFF_DB and level[i + steps:].max() - floor < 10:
            # The cut is at the top of the last band still in the passband.
            last = i + int(np.nonzero(level[i:i + steps] >= passband)[0].max())
            cutoff = int(edges[last] + BAND_HZ)
            return Verdict("transcoded", cutoff_hz=cutoff) if cutoff < FULL_BAND_HZ else Verdict("full")
    return Verdict("full")
