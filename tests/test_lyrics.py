"""Lyrics a player shows: time-synced LRC from the source, embedded in every container's tags
and written beside the song as an .lrc with the same name; checked by verify, put back by a
repair, and never written over an .lrc the owner put there."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import mutagen
import numpy as np
import pytest
import soundfile
from conftest import run_demo_pipeline, runnerd

from catalogsync_ops.demo.audio import flac_bytes, mp3_bytes, wav_bytes
from catalogsync_ops.library.tagging import lrc_lines, read_tags, write_tags
from catalogsync_ops.sources.base import Track

LRC = "[ti:晴天]\n[ar:周杰伦]\n[00:01.50]故事的小黄花\n[00:03.2][00:10.05]从出生那年就飘着\n"
SONG = Track("demo", "s01", "晴天", ("周杰伦",), "叶惠美", 269.0, 1)


def test_lrc_is_read_as_timed_lines_in_time_order():
    assert lrc_lines(LRC) == [(1500, "故事的小黄花"), (3200, "从出生那年就飘着"), (10050, "从出生那年就飘着")]
    assert lrc_lines("just words, no times\n[offset:+100]") == []


def _file(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"song.{kind}"
    if kind == "mp3":
        path.write_bytes(mp3_bytes(2.0))
    elif kind == "wav":
        path.write_bytes(wav_bytes(2.0))
    elif kind == "flac":
        path.write_bytes(flac_bytes(2.0))
    else:  # Ogg Vorbis, made by libvorbis
        soundfile.write(path, np.zeros((44_100, 2), dtype="float32"), 44_100, format="OGG", subtype="VORBIS")
    return path


@pytest.mark.parametrize("kind", ["mp3", "wav", "flac", "ogg"])
def test_every_container_carries_complete_tags_read_back_by_mutagen(tmp_path: Path, kind: str):
    path = _file(tmp_path, kind)
    write_tags(path, SONG, cover=b"\xff\xd8\xff\xe0 a jpeg", lyrics=LRC)
    tags = read_tags(path)
    assert (tags["title"], tags["artist"], tags["album"], tags["track"]) == ("晴天", "周杰伦", "叶惠美", "1")
    assert tags["lyrics"] == LRC
    audio = mutagen.File(path)
    if kind in ("mp3", "wav"):  # ID3: the LRC text in USLT, the timed lines in SYLT
        assert audio.tags.getall("USLT")[0].text == LRC
        assert audio.tags.getall("SYLT")[0].text == [("故事的小黄花", 1500), ("从出生那年就飘着", 3200),
                                                     ("从出生那年就飘着", 10050)]
        assert audio.tags.getall("APIC")
    else:  # Vorbis comments
        assert audio.tags["LYRICS"] == [LRC]
    if kind == "flac":
        assert audio.pictures and tags["cover"] == "yes"


def _rows(home: Path) -> dict[str, sqlite3.Row]:
    conn = sqlite3.connect(home / "catalogsync.db")
    conn.row_factory = sqlite3.Row
    try:
        return {r["title"]: r for r in conn.execute(
            "SELECT s.title, s.external_id, f.* FROM file_locations f JOIN songs s ON s.id = f.song_id")}
    finally:
        conn.close()


@pytest.mark.slow
def test_lyrics_are_embedded_and_beside_every_song_and_verify_and_repair_keep_them(home: Path, demo_server):
    library = home / "library"
    # The owner's own lyrics for one song, there before the song: kept as they are.
    own = library / "周杰伦" / "叶惠美" / "晴天.lrc"
    own.parent.mkdir(parents=True)
    own.write_text("[00:00.00]my own timing\n", encoding="utf-8")
    run_demo_pipeline(home, demo_server, OBJECT_BACKEND_NAME="none")
    rows = _rows(home)
    songs = demo_server.platforms["demo"].songs
    for title, row in rows.items():
        song = library / row["rel_path"]
        sidecar = song.with_suffix(".lrc")
        assert row["lyrics"] == "synced", title
        # The lyrics are the platform's that gave the song (demo2 writes 小幸運 in traditional characters).
        platform = demo_server.platforms[row["source"]]
        assert read_tags(song)["lyrics"] in {s.lrc() for s in platform.songs.values()}, title
        if title == "晴天":
            assert sidecar.read_text(encoding="utf-8") == "[00:00.00]my own timing\n"
            assert row["lyrics_sha256"] is None  # not ours: not recorded, never checked as ours
            continue
        assert sidecar.is_file() and row["lyrics_sha256"], title
        if row["source"] == "demo":
            assert sidecar.read_text(encoding="utf-8") == songs[row["external_id"]].lrc()

    # An .lrc deleted and one edited: a fast verify sees the missing one, a deep one the edit.
    first, second = [r for t, r in sorted(rows.items()) if t != "晴天" and r["source"] == "demo"][:2]
    (library / first["rel_path"]).with_suffix(".lrc").unlink()
    (library / second["rel_path"]).with_suffix(".lrc").write_text("[00:00.00]edited\n", encoding="utf-8")
    assert runnerd(home, "enqueue", "verify", "--deep").returncode == 0
    assert runnerd(home, "run", "--burst").returncode == 0
    drift = json.loads(runnerd(home, "drift", "--json").stdout)
    paths = {(r["kind"], r["path"]) for r in drift["drift"]}
    assert ("file_missing", first["rel_path"].rsplit(".", 1)[0] + ".lrc") in paths
    assert ("file_changed", second["rel_path"].rsplit(".", 1)[0] + ".lrc") in paths
    assert not any(p.endswith("晴天.lrc") for _, p in paths)
    # The repair puts them back from the lyrics embedded in the songs, songs untouched.
    assert runnerd(home, "repair").returncode == 0
    assert runnerd(home, "run", "--burst").returncode == 0
    for row in (first, second):
        assert (library / row["rel_path"]).with_suffix(".lrc").read_text(encoding="utf-8") == \
            songs[row["external_id"]].lrc()
    assert runnerd(home, "enqueue", "verify", "--deep").returncode == 0
    assert runnerd(home, "run", "--burst").returncode == 0
    assert json.loads(runnerd(home, "drift", "--json").stdout)["counts"] == {}


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["off", "sidecar", "embed"])
def test_the_lyrics_setting_decides_where_they_go(home: Path, demo_server, mode: str):
    run_demo_pipeline(home, demo_server, OBJECT_BACKEND_NAME="none", LYRICS=mode)
    row = _rows(home)["后来"]
    song = home / "library" / row["rel_path"]
    assert song.with_suffix(".lrc").exists() == (mode == "sidecar")
    assert bool(read_tags(song)["lyrics"]) == (mode == "embed")
    assert row["lyrics"] == (None if mode == "off" else "synced")


@pytest.mark.slow
def test_the_lyrics_are_backed_up_beside_their_song_and_verify_and_repair_keep_them_there(home: Path, demo_server):
    run_demo_pipeline(home, demo_server, OBJECT_BACKEND_NAME="local")
    library, mirror = home / "library", home / "mirror"
    rows = _rows(home)
    for title, row in rows.items():
        lrc = (library / row["rel_path"]).with_suffix(".lrc")
        assert (mirror / row["rel_path"]).with_suffix(".lrc").read_bytes() == lrc.read_bytes(), title
    # One lost from the backup: verify names it, a repair uploads it again (and only it).
    row = rows["后来"]
    gone = (mirror / row["rel_path"]).with_suffix(".lrc")
    gone.unlink()
    assert runnerd(home, "enqueue", "verify").returncode == 0
    assert runnerd(home, "run", "--burst").returncode == 0
    drift = json.loads(runnerd(home, "drift", "--json").stdout)
    assert [(r["kind"], r["path"]) for r in drift["drift"]] == [("object_missing", gone.relative_to(mirror).as_posix())]
    assert runnerd(home, "repair").returncode == 0
    assert runnerd(home, "run", "--burst").returncode == 0
    assert gone.read_bytes() == (library / row["rel_path"]).with_suffix(".lrc").read_bytes()
    # A night after: nothing left to upload.
    assert runnerd(home, "enqueue", "upload").returncode == 0
    assert runnerd(home, "run", "--burst").returncode == 0
    conn = sqlite3.connect(home / "catalogsync.db")
    try:
        last = conn.execute("SELECT id FROM job_runs ORDER BY id DESC LIMIT 1").fetchone()[0]
        assert conn.execute("SELECT COUNT(*) FROM job_items WHERE job_id = ?", (last,)).fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM upload_tasks WHERE status != 'uploaded'").fetchone()[0] == 0
    finally:
        conn.close()


@pytest.mark.slow
def test_lyrics_an_interrupted_attempt_left_are_taken_as_ours(home: Path, demo_server):
    # A power cut after the .lrc was written and before the song was recorded: the same lyrics
    # are there when the song is fetched again. They are ours (recorded, checked, backed up);
    # different words beside it would be the owner's and stay unrecorded (see above).
    song = demo_server.platforms["demo"].songs["s03"]
    left = home / "library" / "刘若英" / "我等你" / "后来.lrc"
    left.parent.mkdir(parents=True)
    left.write_text(song.lrc(), encoding="utf-8")
    run_demo_pipeline(home, demo_server, OBJECT_BACKEND_NAME="local")
    row = _rows(home)["后来"]
    assert row["lyrics_sha256"] and (home / "mirror" / "刘若英" / "我等你" / "后来.lrc").read_text(
        encoding="utf-8") == song.lrc()
