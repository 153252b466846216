"""Version 16: lyrics beside a song. `file_locations.lyrics` says what the file was given
(`synced` LRC, `plain` text, `none`: the platform had none; NULL: not asked), and
`lyrics_sha256` the hash of the `.lrc` written beside it (NULL: none written), which verify
checks like the song itself.
"""
from __future__ import annotations

NAME = "lyrics"

SQL = """
ALTER TABLE file_locations ADD COLUMN lyrics TEXT;
ALTER TABLE file_locations ADD COLUMN lyrics_sha256 TEXT;
"""
