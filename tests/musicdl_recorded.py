"""A musicdl client that answers from generated SongInfo data instead of the internet.

It is a stand-in for musicdl's client (a third-party library), built from musicdl's own
SongInfo class, so MusicdlSource runs unchanged through the source contract tests.
"""
from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).parent / "data" / "musicdl_kuwo.json"


class RecordedMusicdlClient:
    def __init__(self, base_url: str) -> None:
        from musicdl.modules.utils.data import SongInfo

        self.data = json.loads(DATA.read_text(encoding="utf-8"))
        self.base_url = base_url
        self.songs = {}
        for playlist in self.data["playlists"].values():
            for song in playlist["songs"]:
                url = base_url + song["audio"]
                self.songs[song["identifier"]] = SongInfo(
                    source="KuwoMusicClient", identifier=song["identifier"], song_name=song["song_name"],
                    singers=song["singers"], album=song["album"], ext=song["ext"], duration_s=song["duration_s"],
                    download_url=url, download_url_status={"ok": True}, cover_url=song["cover_url"],
                    work_dir=playlist["work_dir"])

    def parseplaylist(self, playlist_url: str, request_overrides: dict | None = None):
        playlist = self.data["playlists"].get(playlist_url)
        if playlist is None:
            return []  # what musicdl answers for a playlist it cannot read
        return [self.songs[s["identifier"]] for s in playlist["songs"]]

    def search(self, keyword: str, **kwargs):
        for key, ids in self.data["search"].items():
            if set(key.split()) <= set(keyword.split()) or set(keyword.split()) <= set(key.split()):
                return [self.songs[i] for i in ids]
        return []
