"""Is a downloaded body audio? mutagen must read it and find a length above zero."""
from __future__ import annotations

from pathlib import Path

import mutagen

from catalogsync_ops.errors import ErrorClass, SourceError


def check_audio(path: Path) -> float:
    """Raise invalid_audio unless `path` is audio mutagen can read; returns its length in seconds."""
    try:
        audio = mutagen.File(path)
    except Exception as exc:  # mutagen raises many types for broken files
        raise SourceError(f"{Path(path).name}: not a readable audio file ({exc})", ErrorClass.INVALID_AUDIO) from None
    if audio is None or getattr(audio, "info", None) is None:
        raise SourceError(f"{Path(path).name}: not an audio file (an error page or a truncated body?)",
                          ErrorClass.INVALID_AUDIO)
    length = float(getattr(audio.info, "length", 0) or 0)
    if length <= 0:
        raise SourceError(f"{Path(path).name}: audio of zero length", ErrorClass.INVALID_AUDIO)
    return length
