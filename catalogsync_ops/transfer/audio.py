"""Is a downloaded body the song? mutagen must read it as audio of a length above zero, and
that length must not be a trial clip of a much longer song."""
from __future__ import annotations

from pathlib import Path

from catalogsync_ops.quality import probe


def check_audio(path: Path) -> float:
    """Raise invalid_audio unless `path` is audio mutagen can read; returns its length in seconds."""
    return probe(path).duration_s


# Platforms answer a membership song with a valid 30–60 s preview instead of refusing it.
PREVIEW_SHARE = 0.7  # a file under 70 % of the song's length …
PREVIEW_MIN_GAP_S = 20.0  # … and at least 20 s short of it is a clip, not a different edit


def looks_like_preview(actual_s: float, wanted_s: float | None) -> bool:
    """Whether a file of `actual_s` seconds is a trial clip of a song of `wanted_s` seconds."""
    if not wanted_s or wanted_s <= 0:
        return False
    return actual_s < wanted_s * PREVIEW_SHARE and wanted_s - actual_s >= PREVIEW_MIN_GAP_S
