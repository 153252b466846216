"""The quality probe: what reading each library file's quality costs the runner.

Makes --files audio files (default 1,000) in a temporary folder, a mix of what libraries hold:
MP3s at 320 and 128 kbit/s, FLAC at 16/44.1 and 24/96, Ogg Vorbis and WAV (made by libsndfile's
encoders when `soundfile` is installed, else by the demo platform's own writers), then reads
them in this process, on this thread, as the runner does:

- **ours**: `catalogsync_ops.quality.probe` on every file (what a download and a check run);
- **baseline**: a bare loop of `mutagen.File(path)` and the same attributes of `.info` (the
  least any quality reading can do with mutagen).

Rounds alternate (baseline, ours, baseline, ours, …) so both meet the same page cache and load;
the best round of each is compared. Bar: ours >= 90 % of the baseline's speed.

Then the spectrum check (`catalogsync_ops/spectrum.py`: a few seconds decoded, an FFT), which
runs only on files that claim to be lossless: its cost per file, beside the probe's.

Usage: python bench/quality_probe.py [--files 1000] [--rounds 11]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import mutagen  # noqa: E402

from catalogsync_ops.demo.audio import flac_bytes, mp3_bytes, wav_bytes  # noqa: E402
from catalogsync_ops.quality import probe  # noqa: E402

BAR = 0.90


def templates(folder: Path) -> list[Path]:
    """One file of each kind, the longer of them a song's length."""
    made = []
    try:
        import numpy as np
        import soundfile
    except ImportError:
        soundfile = None
    if soundfile is not None:
        noise = (np.random.default_rng(1).standard_normal((44_100 * 30, 2)) * 0.2).astype("float32")
        for name, how in (("a320.mp3", {"format": "MP3", "bitrate_mode": "CONSTANT", "compression_level": 0.0}),
                          ("a128.mp3", {"format": "MP3", "bitrate_mode": "CONSTANT", "compression_level": 0.6}),
                          ("a.ogg", {"format": "OGG", "subtype": "VORBIS"}),
                          ("a16.flac", {"format": "FLAC", "subtype": "PCM_16"})):
            soundfile.write(folder / name, noise, 44_100, **how)
            made.append(folder / name)
        soundfile.write(folder / "a24.flac", noise[:20_000], 96_000, format="FLAC", subtype="PCM_24")
        made.append(folder / "a24.flac")
    else:
        for name, data in (("a128.mp3", mp3_bytes(200.0)), ("a16.flac", flac_bytes(200.0))):
            (folder / name).write_bytes(data)
            made.append(folder / name)
    (folder / "a.wav").write_bytes(wav_bytes(5.0))
    made.append(folder / "a.wav")
    return made


def bare(paths: list[Path]) -> int:
    """The least a quality reading does: mutagen parses the file; the figures are read off it."""
    n = 0
    for path in paths:
        info = mutagen.File(path).info
        n += bool((info.length, getattr(info, "bitrate", 0), getattr(info, "sample_rate", 0),
                   getattr(info, "bits_per_sample", 0), getattr(info, "channels", 0)))
    return n


def ours(paths: list[Path]) -> int:
    return sum(bool(probe(path).rung) for path in paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="csync-quality-"))
    try:
        (folder / "kinds").mkdir()
        kinds = templates(folder / "kinds")
        library = folder / "library"
        library.mkdir()
        paths = []
        for n in range(args.files):
            source = kinds[n % len(kinds)]
            path = library / f"{n:05d}{source.suffix}"
            shutil.copyfile(source, path)
            paths.append(path)
        size = sum(p.stat().st_size for p in paths)
        print(f"{args.files:,} files ({', '.join(k.name for k in kinds)}), {size / 2**20:,.0f} MiB")
        best = {"baseline": float("inf"), "ours": float("inf")}
        for _ in range(args.rounds):
            for name, fn in (("baseline", bare), ("ours", ours)):
                start = time.perf_counter()
                assert fn(paths) == len(paths)
                best[name] = min(best[name], time.perf_counter() - start)
        ratio = best["baseline"] / best["ours"]
        print(f"bare mutagen loop: {best['baseline'] * 1000:,.0f} ms ({1e6 * best['baseline'] / len(paths):,.0f} µs"
              " a file)")
        print(f"quality probe:     {best['ours'] * 1000:,.0f} ms ({1e6 * best['ours'] / len(paths):,.0f} µs a file)")
        print(f"probe speed / bare loop's: {ratio:.0%} (bar >= {BAR:.0%}) {'met' if ratio >= BAR else 'NOT met'}")
        from catalogsync_ops import spectrum

        lossless = [p for p in paths if p.suffix in (".flac", ".wav")][:200]
        if not spectrum.available():
            print("spectrum check: not measured (the spectrum extra, soundfile and numpy, is not installed)")
        elif lossless:
            start = time.perf_counter()
            verdicts = [spectrum.check(p).state for p in lossless]
            each = (time.perf_counter() - start) / len(lossless)
            print(f"spectrum check: {each * 1000:,.1f} ms a lossless file ({len(lossless)} files:"
                  f" {', '.join(f'{v} {verdicts.count(v)}' for v in sorted(set(verdicts)))}),"
                  f" {each / (best['ours'] / len(paths)):,.0f}x the probe's cost")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
