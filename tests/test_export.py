"""Playlists for the music player: after a job, each playlist is an M3U8 file in the library's
Playlists folder, read back here by the project's own M3U reader as a player would."""
from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from conftest import run_demo_pipeline, runnerd, set_env

from catalogsync_ops.sources.m3u import M3USource


def playlist_rows(home: Path) -> dict[str, list[tuple[str, str | None]]]:
    """Each playlist's songs in order, with the library file of those that have one."""
    conn = sqlite3.connect(home / "catalogsync.db")
    try:
        out: dict[str, list] = {}
        for title, song, rel in conn.execute(
                "SELECT p.title, s.title, f.rel_path FROM playlists p JOIN playlist_songs ps ON ps.playlist_id = p.id"
                " JOIN songs s ON s.id = ps.song_id LEFT JOIN file_locations f ON f.song_id = s.id"
                " AND f.verified_at IS NOT NULL WHERE ps.removed_at IS NULL ORDER BY p.id, ps.position"):
            out.setdefault(title, []).append((song, rel))
        return out
    finally:
        conn.close()


def test_each_playlist_is_written_in_order_with_the_songs_in_the_library(home: Path, demo_server):
    demo_server.set_faults(not_found=["s13", "m10"])  # 十年 and 千里之外 (both in 华语经典) stay missing
    run_demo_pipeline(home, demo_server)
    folder = home / "library" / "Playlists"
    files = sorted(p.name for p in folder.iterdir())
    assert files == sorted(["华语经典.m3u8", "Road Trip.m3u8", "Mixed bag 混合.m3u8", "Small.m3u8"])
    wanted = playlist_rows(home)
    for title, songs in wanted.items():
        path = folder / f"{title}.m3u8"
        text = path.read_bytes().decode("utf-8")  # UTF-8, no byte-order mark
        assert text.startswith("#EXTM3U\n") and f"#PLAYLIST:{title}\n" in text
        info = M3USource().parse_playlist(str(path))
        assert info.title == title and not info.skipped
        files_listed = [Path(unquote(urlsplit(t.external_id).path)) for t in info.tracks]
        in_library = [rel for _, rel in songs if rel]
        # In playlist order, each entry a relative path that opens the very file in the library.
        assert [p.resolve() for p in files_listed] == [(home / "library" / rel).resolve() for rel in in_library]
        assert all(p.is_file() for p in files_listed)
        assert all(not line.startswith("/") for line in text.splitlines() if line and not line.startswith("#"))
        missing = len(songs) - len(in_library)
        assert (f"# {missing} of {len(songs)} songs are not in the library yet" in text) == bool(missing)
    # Durations and "Artist - Title" as players show them.
    small = (folder / "Small.m3u8").read_text(encoding="utf-8")
    assert small.splitlines()[3:] == ["#EXTINF:3,周杰伦 - 七里香", "../周杰伦/七里香/七里香.wav",
                                      "#EXTINF:2,Ed Sheeran - Shape of You", "../Ed Sheeran/÷/Shape of You.mp3"]
    assert "华语经典" in {t for t, songs in wanted.items() if any(rel is None for _, rel in songs)}


@pytest.mark.slow
def test_a_night_with_nothing_new_changes_no_file_and_a_renamed_playlist_leaves_no_old_file(home: Path, demo_server,
                                                                                            opened):
    run_demo_pipeline(home, demo_server)
    folder = home / "library" / "Playlists"
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    (folder / "mine.m3u8").write_text("#EXTM3U\nsomething.mp3\n", encoding="utf-8")  # the owner's own list
    (folder / ".mine.tmp").write_text("the owner's", encoding="utf-8")  # not ours: left alone
    # What a write cut off by a power cut leaves behind: swept by the next export.
    (folder / ".Small.m3u8.x1y2z3.tmp").write_text("#EXTM3U\n", encoding="utf-8")
    again = runnerd(home, "export-playlists", "--json")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["written"] == [] and summary["unchanged"] == 4 and summary["removed"] == []
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir() if p.name not in ("mine.m3u8", ".mine.tmp")} \
        == stamps
    assert (folder / ".mine.tmp").exists() and not (folder / ".Small.m3u8.x1y2z3.tmp").exists()
    conn = opened(sqlite3.connect(home / "catalogsync.db"))
    with conn:
        conn.execute("UPDATE playlists SET title = 'Small: the best' WHERE title = 'Small'")
    conn.close()
    renamed = json.loads(runnerd(home, "export-playlists", "--json").stdout)
    assert renamed["written"] == ["Small_ the best.m3u8"] and renamed["removed"] == ["Small.m3u8"]
    assert (folder / "mine.m3u8").read_text(encoding="utf-8") == "#EXTM3U\nsomething.mp3\n"


def test_export_can_be_turned_off_or_sent_elsewhere_and_a_folder_it_cannot_write_is_a_clear_error(home: Path,
                                                                                                   demo_server):
    elsewhere = home / "music-server" / "lists"
    run_demo_pipeline(home, demo_server, PLAYLIST_EXPORT_DIR=str(elsewhere))
    assert len(list(elsewhere.glob("*.m3u8"))) == 4 and not (home / "library" / "Playlists").exists()
    entry = next(line for line in (elsewhere / "Small.m3u8").read_text(encoding="utf-8").splitlines()
                 if line and not line.startswith("#"))
    assert entry.startswith("../../library/") and (elsewhere / entry).resolve().is_file()
    set_env(home, PLAYLIST_EXPORT="false", PLAYLIST_EXPORT_DIR="")
    off = runnerd(home, "export-playlists")
    assert off.returncode == 1 and "PLAYLIST_EXPORT is false; pass --to FOLDER" in off.stderr
    blocked = home / "blocked"
    blocked.write_text("a file, not a folder", encoding="utf-8")
    answer = runnerd(home, "export-playlists", "--to", str(blocked / "lists"))
    assert answer.returncode == 1 and "cannot write playlists to" in answer.stderr
    assert os.path.exists(blocked)
