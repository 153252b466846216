"""Version 15: what each library file is. `file_locations` gains the quality read from the file
itself (codec, lossless or not, bitrate, sample rate, bit depth, channels, real duration, and
the ladder rung: lossless, 320, 256, 192, 128, low) and when it was read; `coverage` gains the
count of songs on each rung. Files recorded before stay NULL until a check reads them.
"""
from __future__ import annotations

NAME = "quality"

SQL = """
ALTER TABLE file_locations ADD COLUMN codec TEXT;
ALTER TABLE file_locations ADD COLUMN lossless INTEGER;
ALTER TABLE file_locations ADD COLUMN bitrate_kbps INTEGER;
ALTER TABLE file_locations ADD COLUMN sample_rate INTEGER;
ALTER TABLE file_locations ADD COLUMN bit_depth INTEGER;
ALTER TABLE file_locations ADD COLUMN channels INTEGER;
ALTER TABLE file_locations ADD COLUMN duration_s REAL;
ALTER TABLE file_locations ADD COLUMN quality TEXT;
ALTER TABLE file_locations ADD COLUMN probed_at TEXT;
ALTER TABLE coverage ADD COLUMN quality_json TEXT NOT NULL DEFAULT '{}';
"""
