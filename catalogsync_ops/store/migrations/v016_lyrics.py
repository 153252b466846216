"""Version 16: lyrics beside a song, and the spectrum of a lossless one.

`file_locations.lyrics` says what the file was given (`synced` LRC, `plain` text, `none`: the
platform had none; NULL: not asked); `lyrics_sha256` is the hash of the `.lrc` written beside
it (NULL: none written), which verify checks like the song itself. `spectrum` says whether a
lossless file's sound reaches the top of its band (`full`), stops where a lossy encoder cuts
(`transcoded`, at `cutoff_hz`) or could not be judged (`unknown`); NULL: not looked at.
"""
from __future__ import annotations

NAME = "lyrics"

SQL = """
ALTER TABLE file_locations ADD COLUMN lyrics TEXT;
ALTER TABLE file_locations ADD COLUMN lyrics_sha256 TEXT;
ALTER TABLE file_locations ADD COLUMN spectrum TEXT;
ALTER TABLE file_locations ADD COLUMN cutoff_hz INTEGER;
"""
