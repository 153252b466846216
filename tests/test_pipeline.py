"""Collect → sync → download → upload, one item at a time, on the demo platform."""
from __future__ import annotations

from pathlib import Path

import pytest

from catalogsync_ops.config.envfile import load_config
from catalogsync_ops.errors import SourceError
from catalogsync_ops.library import catalog
from catalogsync_ops.library.tagging import read_tags
from catalogsync_ops.pipeline import (
    WorkContext,
    collect_pool,
    download_song,
    items_for_stage,
    sync_playlist,
    upload_file,
)
from catalogsync_ops.store.database import open_database
from catalogsync_ops.transfer.storage import build_uploader


@pytest.fixture
def world(home: Path, demo_server):
    env = home / "catalogsync.env"
    env.write_text(env.read_text().replace("DEMO_BASE_URL=http://127.0.0.1:8765",
                                           f"DEMO_BASE_URL={demo_server.base_url}")
                   .replace("DOWNLOAD_SOURCES=demo", "DOWNLOAD_SOURCES=demo,demo2"), encoding="utf-8")
    demo_server.write_pool_file(home / "input" / "demo.txt")
    settings = load_config(env).values
    conn = open_database(settings["DB_PATH"])
    ctx = WorkContext(conn=conn, settings=settings, uploader=build_uploader(settings))
    yield ctx, home, demo_server
    ctx.close()
    conn.close()


def run_stage(ctx, stage, scope=None):
    results = {}
    for spec in items_for_stage(ctx.conn, stage, scope or {}, ctx.settings, ctx.uploader):
        try:
            if stage == "collect":
                results[spec.item_key] = collect_pool(ctx, spec.payload["pool"])
            elif stage == "sync":
                results[spec.item_key] = sync_playlist(ctx, spec.playlist_id)
            elif stage == "download":
                results[spec.item_key] = download_song(ctx, spec.song_id)
            else:
                results[spec.item_key] = upload_file(ctx, spec.file_location_id)
        except SourceError as exc:
            results[spec.item_key] = exc
    return results


def test_the_whole_pipeline_fills_the_library_and_the_mirror(world):
    ctx, home, server = world
    assert len(run_stage(ctx, "collect")) == 1
    synced = run_stage(ctx, "sync")
    assert len(synced) == 4 and all(not isinstance(r, Exception) for r in synced.values())
    downloads = run_stage(ctx, "download")
    failed = {k: v for k, v in downloads.items() if isinstance(v, Exception)}
    assert failed == {}, failed
    assert len(downloads) == 24
    # Songs demo cannot serve came from demo2 through matching.
    fallback = [r for r in downloads.values() if r.source == "demo2"]
    assert {r.details["match"]["title"] for r in fallback} == {
        "田馥甄 - 小幸運", "The Kid LAROI - Stay (feat. Justin Bieber)", "周杰倫, 費玉清 - 千里之外",
        "Eminem - Lose Yourself (From 8 Mile)"}
    sunny = home / "library" / "周杰伦" / "叶惠美" / "晴天.mp3"
    assert read_tags(sunny)["title"] == "晴天" and read_tags(sunny)["album"] == "叶惠美"
    # Tags follow the playlist's names, not the fallback platform's; demo2 offers this one
    # losslessly: a FLAC, tagged in Vorbis comments.
    assert read_tags(home / "library" / "田馥甄" / "我的少女时代" / "小幸运.flac")["title"] == "小幸运"
    uploads = run_stage(ctx, "upload")
    assert len(uploads) == 24 and all(not isinstance(r, Exception) for r in uploads.values())
    files = [p for p in (home / "library").rglob("*") if p.is_file() and p.suffix != ".lrc"]
    assert len(files) == 24
    assert all(p.with_suffix(".lrc").is_file() for p in files)  # each song's lyrics beside it
    for path in files:
        mirrored = home / "mirror" / path.relative_to(home / "library")
        assert mirrored.read_bytes() == path.read_bytes()
    # A second pass finds nothing left to do.
    assert run_stage(ctx, "download") == {} and run_stage(ctx, "upload") == {}


def test_a_pool_with_bad_lines_still_collects_and_reports_them(world):
    ctx, home, server = world
    pool = home / "input" / "mixed.txt"
    pool.write_text(f"# mine\n{server.playlist_urls()[0]}\nnot a url\nhttps://example.org/some/page\n\n"
                    f"{server.base_url}/demo/playlist/p2.m3u8\nhttps://www.ximalaya.com/album/123\n"
                    "https://bodian.kuwo.cn/playlist/9\n", encoding="utf-8")
    outcome = collect_pool(ctx, "mixed")
    assert outcome.details["playlists"] == 2
    assert outcome.details["problems"] == [
        "line 3: 'not a url' is not a playlist URL",
        "line 4: no source supports 'https://example.org/some/page' (supported: demo playlists, .m3u/.m3u8 files, "
        "and with the musicdl extra qq, netease, kuwo, migu, kugou, qianqian, joox and fivesing playlists)",
        "line 7: 'https://www.ximalaya.com/album/123' is a link of Ximalaya, an audiobook platform, which is not "
        "supported",
        "line 8: 'https://bodian.kuwo.cn/playlist/9' is a link of Kuwo's Bodian app (musicdl reads it as a platform "
        "of its own), which is not supported"]
    row = ctx.conn.execute("SELECT last_error FROM playlist_pools WHERE name = 'mixed'").fetchone()
    assert "mixed.txt line 3" in row[0]


def test_a_song_removed_from_a_playlist_is_unlinked_not_deleted(world):
    ctx, home, server = world
    run_stage(ctx, "collect")
    run_stage(ctx, "sync", {"playlists": []})
    playlist = ctx.conn.execute("SELECT id FROM playlists WHERE url LIKE '%/p4'").fetchone()[0]
    sync_playlist(ctx, playlist)
    server.platforms["demo"].playlists["p4"] = type(server.platforms["demo"].playlists["p4"])("p4", "Small", ("s06",))
    outcome = sync_playlist(ctx, playlist)
    assert (outcome.details["songs"], outcome.details["removed"]) == (1, 1)
    rows = ctx.conn.execute("SELECT song_id, removed_at FROM playlist_songs WHERE playlist_id = ? ORDER BY position",
                            (playlist,)).fetchall()
    assert len(rows) == 2 and sum(r["removed_at"] is not None for r in rows) == 1
    assert ctx.conn.execute("SELECT COUNT(*) FROM songs WHERE external_id = 's02'").fetchone()[0] == 1


def test_a_missing_song_fails_as_not_found_and_a_decoy_is_never_downloaded(world):
    ctx, home, server = world
    run_stage(ctx, "collect")
    run_stage(ctx, "sync")
    # Under Pressure: demo lost it and demo2's search finds nothing like it.
    song = ctx.conn.execute("SELECT id FROM songs WHERE external_id = 's20'").fetchone()[0]
    server.set_faults(not_found=["s20"])
    with pytest.raises(SourceError) as info:
        download_song(ctx, song)
    assert info.value.error_class == "not_found" and info.value.source == "demo"
    assert [t["error_class"] for t in info.value.details["tried"]] == ["not_found", "not_found"]
    assert info.value.details["tried"][1]["candidates"] == []
    # 晴天 exists on demo2 only as a live version: with demo down for it, matching refuses the decoy.
    sunny = ctx.conn.execute("SELECT id FROM songs WHERE external_id = 's01'").fetchone()[0]
    server.set_faults(not_found=["s01"])
    with pytest.raises(SourceError) as info:
        download_song(ctx, sunny)
    # demo had nothing (not_found), demo2 only candidates it refused: the song fails as no_match,
    # and the attempt keeps each source's candidates and why they lost.
    assert info.value.error_class == "no_match" and info.value.source == "demo2"
    assert "no candidate on demo2 is" in str(info.value) and "version: Live not asked for" in str(info.value)
    tried = {t["source"]: t for t in info.value.details["tried"]}
    assert tried["demo"]["error_class"] == "not_found"
    assert tried["demo2"]["candidates"][0]["refused"] == "version: Live not asked for"
    assert not list((home / "library").rglob("*.mp3"))


def test_a_file_renamed_before_a_crash_is_adopted_not_downloaded_again(world):
    ctx, home, server = world
    run_stage(ctx, "collect")
    run_stage(ctx, "sync")
    song = ctx.conn.execute("SELECT id FROM songs WHERE external_id = 's06'").fetchone()[0]
    first = download_song(ctx, song)
    # As if the runner died after the rename but before the item was committed.
    ctx.conn.execute("UPDATE file_locations SET verified_at = NULL")
    server.requests.clear()
    again = download_song(ctx, song)
    assert again.details["adopted"] and server.requests == []
    assert again.details["path"] == first.details["path"]


def test_two_songs_that_want_the_same_path_get_distinct_files(world):
    ctx, home, server = world
    from catalogsync_ops.sources.base import Track

    a = catalog.upsert_song(ctx.conn, Track("demo", "s06", "Same", ("Artist",), "Album"))
    b = catalog.upsert_song(ctx.conn, Track("demo", "s07", "Same", ("Artist",), "Album"))
    paths = {download_song(ctx, a).details["path"], download_song(ctx, b).details["path"]}
    assert paths == {"Artist/Album/Same.mp3", "Artist/Album/Same (2).mp3"}


def test_adopting_a_file_clears_the_leftovers_of_the_attempt_that_died(world):
    ctx, home, server = world
    run_stage(ctx, "collect")
    run_stage(ctx, "sync")
    song = ctx.conn.execute("SELECT id FROM songs WHERE external_id = 's06'").fetchone()[0]
    first = download_song(ctx, song)
    dest = home / "library" / first.details["path"]
    # As if the runner died right after the rename: a sidecar is left, the item not committed.
    sidecar = dest.with_name(f".{dest.name}.part.json")
    sidecar.write_text("{}", encoding="utf-8")
    ctx.conn.execute("UPDATE file_locations SET verified_at = NULL")
    assert download_song(ctx, song).details["adopted"]
    assert not sidecar.exists()


def test_a_gbk_playlist_file_with_junk_lines_syncs_downloads_and_still_unlinks_what_left(world, tmp_path):
    ctx, home, server = world
    music = tmp_path / "Music"
    (music / "周杰伦").mkdir(parents=True)
    for sid, name in (("s01", "晴天"), ("s21", "稻香")):
        (music / "周杰伦" / f"{name}.mp3").write_bytes(server.audio("demo", server.platforms["demo"].songs[sid]))
    playlist = music / "华语.m3u"

    def save(*entries):
        lines = ["#EXTM3U", "#EXTIMG:cover", "folder.jpg", "ftp://nas/x.mp3"]
        for name in entries:
            lines += [f"#EXTINF:3,周杰伦 - {name}", f"周杰伦\\{name}.mp3"]
        playlist.write_bytes("\r\n".join(lines).encode("gbk"))

    save("晴天", "稻香")
    pid = catalog.upsert_playlist(ctx.conn, "m3u", str(playlist))
    outcome = sync_playlist(ctx, pid)
    assert outcome.details["encoding"] == "gb18030" and outcome.details["complete"]
    assert [e["id"] for e in outcome.details["skipped_entries"]] == ["line 3", "line 4"]
    songs = [r[0] for r in ctx.conn.execute("SELECT song_id FROM playlist_songs WHERE playlist_id = ?"
                                            " ORDER BY position", (pid,))]
    downloaded = download_song(ctx, songs[0])
    assert read_tags(home / "library" / downloaded.details["path"])["title"] == "晴天"
    save("晴天")  # 稻香 taken out of the list: it leaves the playlist although junk lines remain
    outcome = sync_playlist(ctx, pid)
    assert (outcome.details["songs"], outcome.details["removed"]) == (1, 1)
    reasons = [u["reason"] for u in catalog.unresolved_entries(ctx.conn, pid)]
    assert len(reasons) == 2 and "image" in reasons[0] and "ftp://" in reasons[1]
