"""Generated audio: short, valid, taggable MP3 and WAV files, deterministic per song."""
from __future__ import annotations

import io
import math
import struct
import wave

# One MPEG-1 Layer III frame: 128 kbit/s, 44.1 kHz, mono, no CRC, no padding. A frame whose
# side information is all zero decodes as silence, so the file is valid without an encoder.
_MP3_HEADER = bytes([0xFF, 0xFB, 0x90, 0xC0])
_MP3_FRAME_LEN = 144 * 128_000 // 44_100  # 417 bytes
_MP3_FRAME_SECONDS = 1152 / 44_100


def mp3_bytes(seconds: float, seed: int = 0) -> bytes:
    """A silent MP3 of about `seconds`; `seed` varies the (ignored) ancillary bytes so files differ."""
    frames = max(4, round(seconds / _MP3_FRAME_SECONDS))
    out = bytearray()
    for i in range(frames):
        body = bytearray(_MP3_FRAME_LEN - 4)
        # The last bytes of a frame are ancillary data when the side info says no main data.
        body[-4:] = struct.pack(">I", (seed * 1_000_003 + i) & 0xFFFFFFFF)
        out += _MP3_HEADER + body
    return bytes(out)


def wav_bytes(seconds: float, seed: int = 0, rate: int = 8000) -> bytes:
    """A mono 16-bit sine tone of `seconds`, its pitch chosen by `seed`."""
    freq = 220.0 * (2 ** ((seed % 24) / 12))
    n = int(seconds * rate)
    samples = b"".join(struct.pack("<h", int(9000 * math.sin(2 * math.pi * freq * i / rate))) for i in range(n))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples)
    return buffer.getvalue()


def audio_bytes(ext: str, seconds: float, seed: int) -> bytes:
    """Audio of the given extension (mp3 or wav)."""
    if ext == "mp3":
        return mp3_bytes(seconds, seed)
    if ext == "wav":
        return wav_bytes(seconds, seed)
    raise ValueError(f"the demo platform makes mp3 and wav, not {ext!r}")
