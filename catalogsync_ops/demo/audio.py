"""Generated audio: short, valid, taggable MP3, WAV and FLAC files, deterministic per song."""
from __future__ import annotations

import io
import math
import random
import struct
import wave

# MPEG-1 Layer III frames at 44.1 kHz, mono, no CRC, no padding. A frame whose side information
# is all zero decodes as silence, so the file is valid without an encoder.
_MP3_BITRATE_INDEX = {128: 0b1001, 160: 0b1010, 192: 0b1011, 256: 0b1101, 320: 0b1110}
_MP3_FRAME_SECONDS = 1152 / 44_100


def mp3_bytes(seconds: float, seed: int = 0, kbps: int = 128) -> bytes:
    """A silent MP3 of about `seconds` at `kbps` (128, 160, 192, 256 or 320); `seed` varies the
    (ignored) ancillary bytes so files differ."""
    header = bytes([0xFF, 0xFB, _MP3_BITRATE_INDEX[kbps] << 4, 0xC0])
    frame_len = 144 * kbps * 1000 // 44_100
    frames = max(4, round(seconds / _MP3_FRAME_SECONDS))
    out = bytearray()
    for i in range(frames):
        body = bytearray(frame_len - 4)
        # The last bytes of a frame are ancillary data when the side info says no main data.
        body[-4:] = struct.pack(">I", (seed * 1_000_003 + i) & 0xFFFFFFFF)
        out += header + body
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


# ---------------------------------------------------------------- FLAC, without an encoder
#
# A FLAC stream whose frames use the two subframe kinds that need no prediction: CONSTANT (a
# block of one value: silence costs a few bytes a block) and VERBATIM (the samples as they are).
# Every decoder reads them; mutagen reads the stream info like any other FLAC's.

_FLAC_BLOCK = 4096
_FLAC_RATE_CODES = {44_100: 0b1001, 48_000: 0b1010, 96_000: 0b1011, 192_000: 0b1100}
_FLAC_DEPTH_CODES = {16: 0b100, 24: 0b110}


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _crc16_table() -> list[int]:
    table = []
    for n in range(256):
        crc = n << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        table.append(crc)
    return table


_CRC16 = _crc16_table()


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[(crc >> 8) ^ byte]
    return crc


def _utf8_number(n: int) -> bytes:
    """A frame number as FLAC writes it: UTF-8's scheme, extended to 36 bits."""
    if n < 0x80:
        return bytes([n])
    for length in range(2, 8):
        if n < 1 << (5 * length + 1):
            break
    out = [0x80 | ((n >> (6 * i)) & 0x3F) for i in range(length - 1)][::-1]
    return bytes([((0xFF << (8 - length)) & 0xFF) | (n >> (6 * (length - 1)))] + out)


class _Bits:
    def __init__(self) -> None:
        self.value, self.count = 0, 0

    def put(self, value: int, bits: int) -> None:
        self.value = (self.value << bits) | (value & ((1 << bits) - 1))
        self.count += bits

    def bytes(self) -> bytes:
        pad = -self.count % 8
        return (self.value << pad).to_bytes((self.count + pad) // 8, "big")


def flac_bytes(seconds: float, seed: int = 0, *, rate: int = 44_100, depth: int = 16, channels: int = 2,
               loud: list[tuple[int, list[int]]] | None = None) -> bytes:
    """A FLAC stream of `seconds`: silence, except the blocks given in `loud` as
    (block number, one channel's samples, copied to every channel). `seed` goes into a
    comment-free padding byte so files of two songs differ."""
    total = max(1, int(seconds * rate))
    blocks = -(-total // _FLAC_BLOCK)
    loud_blocks = dict(loud or ())
    frames = []
    for number in range(blocks):
        size = min(_FLAC_BLOCK, total - number * _FLAC_BLOCK)
        head = _Bits()
        head.put(0b11111111111110, 14)
        head.put(0, 2)  # reserved; fixed block size
        head.put(0b1100 if size == _FLAC_BLOCK else 0b0111, 4)
        head.put(_FLAC_RATE_CODES.get(rate, 0), 4)
        head.put(channels - 1, 4)  # independent channels
        head.put(_FLAC_DEPTH_CODES.get(depth, 0), 3)
        head.put(0, 1)
        header = head.bytes() + _utf8_number(number)
        if size != _FLAC_BLOCK:
            header += (size - 1).to_bytes(2, "big")
        header += bytes([_crc8(header)])
        body = _Bits()
        samples = loud_blocks.get(number)
        for _ in range(channels):
            if samples is None:
                body.put(0, 8)  # CONSTANT subframe, no wasted bits …
                body.put(0, depth)  # … of value 0
            else:
                body.put(0b00000010, 8)  # VERBATIM subframe
                for i in range(size):
                    body.put(samples[i] if i < len(samples) else 0, depth)
        frame = header + body.bytes()
        frames.append(frame + _crc16(frame).to_bytes(2, "big"))
    info = _Bits()
    info.put(_FLAC_BLOCK, 16)
    info.put(_FLAC_BLOCK, 16)
    info.put(min(len(f) for f in frames), 24)
    info.put(max(len(f) for f in frames), 24)
    info.put(rate, 20)
    info.put(channels - 1, 3)
    info.put(depth - 1, 5)
    info.put(total, 36)
    streaminfo = info.bytes() + bytes(16)  # no MD5 of the audio (allowed: all zero means unknown)
    padding = bytes([seed & 0xFF]) + bytes(3)
    return (b"fLaC" + bytes([0x00]) + len(streaminfo).to_bytes(3, "big") + streaminfo
            + bytes([0x80 | 1]) + len(padding).to_bytes(3, "big") + padding + b"".join(frames))


def _low_pass(samples: list[float], cutoff_hz: float, rate: int, taps: int = 63) -> list[float]:
    """What a lossy encoder's filter leaves: nothing above `cutoff_hz`. With NumPy (the test
    extra) a brick wall in the frequency domain, as steep as an MP3 encoder's; without it a
    windowed-sinc FIR (Blackman window), gentler."""
    try:
        import numpy as np
    except ImportError:
        np = None
    if np is not None:
        spectrum = np.fft.rfft(np.array(samples))
        spectrum[np.fft.rfftfreq(len(samples), 1 / rate) >= cutoff_hz] = 0
        return np.fft.irfft(spectrum, len(samples)).tolist()
    fc, mid = cutoff_hz / rate, (taps - 1) / 2
    kernel = []
    for n in range(taps):
        x = n - mid
        sinc = 2 * fc if x == 0 else math.sin(2 * math.pi * fc * x) / (math.pi * x)
        window = 0.42 - 0.5 * math.cos(2 * math.pi * n / (taps - 1)) + 0.08 * math.cos(4 * math.pi * n / (taps - 1))
        kernel.append(sinc * window)
    total = sum(kernel)
    kernel = [k / total for k in kernel]
    padded = [0.0] * (taps - 1) + samples
    return [sum(k * padded[i + j] for j, k in enumerate(kernel)) for i in range(len(samples))]


def lossless_bytes(seconds: float, seed: int = 0, *, cutoff_hz: float | None = None, rate: int = 44_100,
                   depth: int = 16) -> bytes:
    """A FLAC at CD resolution: silence, with a few blocks of full-band noise in the middle (what
    music holds up to 20 kHz and more). `cutoff_hz` low-passes that noise first, as a lossy
    encoder would: a "lossless" file made from an MP3."""
    blocks = -(-max(1, int(seconds * rate)) // _FLAC_BLOCK)
    rng = random.Random(seed)
    peak = (1 << (depth - 1)) - 1
    loud = []
    numbers = range(max(0, blocks // 2 - 4), min(blocks, blocks // 2 + 4))
    noise = [rng.gauss(0, 0.18) for _ in range(_FLAC_BLOCK * len(numbers))]
    if cutoff_hz:
        noise = _low_pass(noise, cutoff_hz, rate)  # the whole stretch at once: no edges between blocks
    for i, number in enumerate(numbers):
        block = noise[i * _FLAC_BLOCK:(i + 1) * _FLAC_BLOCK]
        loud.append((number, [max(-peak, min(peak, round(v * peak))) for v in block]))
    return flac_bytes(seconds, seed, rate=rate, depth=depth, loud=loud)
