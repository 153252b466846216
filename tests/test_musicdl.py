"""The real platforms through musicdl's own client code, against the emulated platforms
(tests/emulator): headers the CDN demands, sizes it does not say, links that expire, trial
clips, encrypted files, tracks that cannot be resolved, platforms that hang or are gone."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import runnerd
from test_pipeline import run_stage
from test_runnerd import wait_for

from catalogsync_ops.errors import SourceError
from catalogsync_ops.library import catalog
from catalogsync_ops.library.tagging import read_tags
from catalogsync_ops.pipeline import WorkContext, download_song, sync_playlist
from catalogsync_ops.sources import build_source
from catalogsync_ops.store.database import open_database

FAST = {"PLATFORM_REQUESTS_PER_SECOND": 50}  # the emulator does not mind; tests/test_limits.py checks the pacing
NETEASE_HOT = "https://music.163.com/#/playlist?id=24381616"
NETEASE_VIP = "https://music.163.com/#/playlist?id=7001"
KUWO_JAY = "https://www.kuwo.cn/playlist_detail/3564240358"
QQ_HUAYU = "https://y.qq.com/n/ryqq/playlist/8052190267"


def playlist_id(ctx, url: str, platform: str) -> int:
    return catalog.upsert_playlist(ctx.conn, platform, url)


def synced_song(ctx, url: str, external_id: str) -> int:
    """Sync a NetEase playlist and return the catalog id of one of its songs."""
    sync_playlist(ctx, playlist_id(ctx, url, "netease"))
    return ctx.conn.execute("SELECT id FROM songs WHERE external_id = ?", (external_id,)).fetchone()[0]


def collect_and_sync(ctx, *urls: str) -> dict:
    """Put the playlists in a pool, collect it and sync them: the sync outcomes by item key."""
    (Path(ctx.settings["INPUT_DIR"]) / "platforms.txt").write_text("\n".join(urls) + "\n", encoding="utf-8")
    run_stage(ctx, "collect")
    return run_stage(ctx, "sync")


def test_names_come_back_exactly_as_the_platform_wrote_them(platforms):
    source = build_source("netease", settings={"HTTP_TIMEOUT_SECONDS": 3, **FAST})
    try:
        tracks = source.parse_playlist(NETEASE_HOT).tracks
    finally:
        source.close()
    acdc = next(t for t in tracks if t.external_id == "574566207")
    # musicdl's own SongInfo says 'ACDC Back' and 'ACDC' (legalizestring drops / and ?).
    assert (acdc.title, acdc.artists, acdc.album) == ("AC/DC Back?", ("AC/DC",), "Back in Black")
    assert all(t.album != "NULL" and "NULL" not in t.artists for t in tracks)


def test_a_download_sends_the_cookies_and_headers_musicdl_keeps_on_the_client(ctx, platforms):
    synced = list(collect_and_sync(ctx, NETEASE_HOT, KUWO_JAY).values())
    assert not [r for r in synced if isinstance(r, Exception)], synced
    assert [(r.details["songs"], r.details["complete"]) for r in synced] == [(3, True), (3, True)]
    results = run_stage(ctx, "download")
    failed = {k: v for k, v in results.items() if isinstance(v, Exception)}
    assert not failed, failed
    # The CDNs refuse requests without NetEase's MUSIC_U cookie or a browser User-Agent: none was refused.
    assert platforms.netease.cdn.refusals == [] and platforms.kuwo.cdn.refusals == []
    assert len(platforms.netease.cdn.downloads) == 3 and len(platforms.kuwo.cdn.downloads) == 3
    files = list((Path(ctx.settings["LIBRARY_DIR"])).rglob("*.mp3"))
    assert len(files) == 6
    acdc = next(f for f in files if "Back" in f.name)
    assert read_tags(acdc)["artist"] == "AC/DC"


def test_a_size_the_platform_does_not_say_is_unknown_not_zero(ctx, platforms):
    platforms.netease.cdn.head_without_length = True  # musicdl's link tester then reports 0 bytes
    platforms.netease.cdn.no_length_every = 1  # and the body comes without Content-Length
    collect_and_sync(ctx, NETEASE_HOT)
    results = run_stage(ctx, "download")
    assert not [v for v in results.values() if isinstance(v, Exception)], results
    assert len(platforms.netease.cdn.downloads) == 3


def test_an_expired_link_is_looked_up_again_before_the_source_counts_as_failed(ctx, platforms):
    song = synced_song(ctx, NETEASE_HOT, "186016")
    platforms.netease.cdn.expire_next = 1  # the link looked up first has already expired
    outcome = download_song(ctx, song)
    assert outcome.source == "netease" and "relooked_up" in outcome.details
    assert [why for _, why in platforms.netease.cdn.refusals] == ["expired"]


def test_the_link_stored_at_sync_time_is_never_reused(ctx, platforms):
    collect_and_sync(ctx, NETEASE_HOT)
    for (old,) in ctx.conn.execute("SELECT extra_json FROM songs").fetchall():
        token = json.loads(old)["download_url"].split("/")[4]
        platforms.netease.cdn.used.add(token)  # every link handed out at sync time is spent
    results = run_stage(ctx, "download")
    assert not [v for v in results.values() if isinstance(v, Exception)], results
    assert platforms.netease.cdn.refusals == []


def test_an_incomplete_listing_keeps_membership_and_lists_what_it_could_not_resolve(ctx, platforms):
    pid = playlist_id(ctx, NETEASE_VIP, "netease")
    platforms.netease.playlists["7001"].songs[2].access = "full"  # first sync: every entry resolves
    try:
        first = sync_playlist(ctx, pid)
    finally:
        platforms.netease.playlists["7001"].songs[2].access = "none"
    assert first.details["complete"] and first.details["songs"] == 5
    second = sync_playlist(ctx, pid)  # now one entry cannot be resolved: musicdl drops it
    assert not second.details["complete"] and second.details["unresolved"] == 1
    assert second.details["removed"] == 0 and second.details["songs"] == 5
    listed = [r["external_id"] for r in catalog.unresolved_entries(ctx.conn, pid)]
    assert listed == ["7103"]
    row = ctx.conn.execute("SELECT unresolved_count, track_count FROM playlists WHERE id = ?", (pid,)).fetchone()
    assert tuple(row) == (1, 5)


def test_a_trial_clip_never_lands_in_the_library_the_next_source_serves_the_song(ctx, platforms):
    vip = synced_song(ctx, NETEASE_VIP, "7102")
    outcome = download_song(ctx, vip)
    assert outcome.source == "kuwo"  # NetEase gave a 30 s clip of a 200 s song; Kuwo has it whole
    path = Path(ctx.settings["LIBRARY_DIR"]) / outcome.details["path"]
    from catalogsync_ops.transfer.audio import check_audio

    assert check_audio(path) > 150
    assert not list(Path(ctx.settings["LIBRARY_DIR"]).rglob("*.part"))


def test_a_trial_clip_with_no_other_source_fails_as_preview(ctx, platforms):
    ctx.settings["DOWNLOAD_SOURCES"] = ("netease",)
    vip = synced_song(ctx, NETEASE_VIP, "7102")
    with pytest.raises(SourceError) as info:
        download_song(ctx, vip)
    assert info.value.error_class == "preview" and "clip" in str(info.value)
    assert not list(Path(ctx.settings["LIBRARY_DIR"]).rglob("*.mp3"))


def test_an_encrypted_container_is_refused_as_encrypted(ctx, platforms):
    ctx.settings["DOWNLOAD_SOURCES"] = ("netease",)
    locked = synced_song(ctx, NETEASE_VIP, "7104")
    with pytest.raises(SourceError) as info:
        download_song(ctx, locked)
    assert info.value.error_class == "encrypted" and "mflac" in str(info.value)


def test_a_hung_platform_fails_within_the_timeout_as_timeout(platforms):
    source = build_source("netease", settings={"HTTP_TIMEOUT_SECONDS": 2, **FAST})
    source.parse_playlist(NETEASE_HOT)  # the source host is up (its start is not the platform's time)
    platforms.netease.mode = "hung"
    started = time.monotonic()
    try:
        with pytest.raises(SourceError) as info:
            source.parse_playlist(NETEASE_HOT)
    finally:
        source.close()
    elapsed = time.monotonic() - started
    assert info.value.error_class == "timeout", info.value
    assert elapsed < 2 + 1, f"took {elapsed:.1f} s with a 2 s timeout"


def test_a_search_that_could_not_reach_the_platform_is_not_an_empty_result(platforms):
    source = build_source("kuwo", settings={"HTTP_TIMEOUT_SECONDS": 2, **FAST})
    try:
        track = source.parse_playlist(KUWO_JAY).tracks[0]
        assert track.external_id in [t.external_id for t in source.search(track)]
        platforms.kuwo.mode = "down"
        with pytest.raises(SourceError) as info:
            source.search(track)
    finally:
        source.close()
    assert info.value.error_class == "connection" and info.value.source == "kuwo"
    assert str(info.value).count("kuwo") == 1 or str(info.value).startswith("kuwo: ")


def test_musicdl_prints_nothing_and_leaves_no_work_folder(platforms, capfd, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the source host's temp folder: this test's own
    source = build_source("netease", settings={"HTTP_TIMEOUT_SECONDS": 3, **FAST})
    source.parse_playlist(NETEASE_HOT)
    assert len(list(tmp_path.glob("catalogsync-musicdl-*"))) == 1
    source.search(source.parse_playlist(NETEASE_HOT).tracks[0])
    source.close()
    wait_for(lambda: not list(tmp_path.glob("catalogsync-musicdl-*")), timeout=10)
    out, _ = capfd.readouterr()
    assert out == ""


def test_work_folders_of_a_runner_that_was_killed_are_removed_by_the_next_one(tmp_path):
    from catalogsync_ops.sources.musicdl_source import sweep_work_dirs

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = tmp_path / f"catalogsync-musicdl-kuwo-{dead.stdout.strip()}-abc"
    left.mkdir()
    (left / "search_results.pkl").write_bytes(b"x")
    mine = tmp_path / f"catalogsync-musicdl-kuwo-{os.getpid()}-def"
    mine.mkdir()
    assert sweep_work_dirs(tmp_path) == [left]
    assert not left.exists() and mine.exists()


def test_probe_json_is_nothing_but_json(musicdl_home: Path, platforms):
    env = {**os.environ, "CATALOGSYNC_ENV_FILE": str(musicdl_home / "catalogsync.env")}
    result = subprocess.run([sys.executable, "-m", "runnerd", "probe", NETEASE_HOT, "--download-sources", "kuwo",
                             "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["platform"] == "netease" and len(report["tracks"]) == 3
    first = report["tracks"][0]["matches"]["kuwo"]
    assert first["accepted"] is True and first["ms"] >= 0
    assert first["candidates"][0]["title"] == "周杰伦 - 晴天" and first["candidates"][0]["why"]


def test_probe_says_what_failed_in_json_and_in_its_exit_code(musicdl_home: Path, platforms):
    env = {**os.environ, "CATALOGSYNC_ENV_FILE": str(musicdl_home / "catalogsync.env")}

    def probe(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "runnerd", "probe", *args, "--json"], env=env,
                              capture_output=True, text=True, timeout=120)

    platforms.kuwo.mode = "down"
    fallback_down = probe(NETEASE_HOT, "--download-sources", "kuwo")
    assert fallback_down.returncode == 5, fallback_down.stderr[-2000:]
    report = json.loads(fallback_down.stdout)
    assert {t["matches"]["kuwo"]["error_class"] for t in report["tracks"]} == {"connection"}
    platforms.netease.mode = "down"
    unreadable = probe(NETEASE_HOT)
    assert unreadable.returncode == 1
    assert json.loads(unreadable.stdout)["error_class"] == "connection"
    unknown = probe("https://example.org/list")
    assert unknown.returncode == 1 and json.loads(unknown.stdout)["error_class"] == "unsupported"


def test_an_unwritable_home_does_not_stop_musicdl(tmp_path: Path, platforms):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # nothing can be made below a file, not even by root
    env = {k: v for k, v in os.environ.items() if k != "XDG_STATE_HOME"}
    env["HOME"] = str(blocker / "home")
    code = ("from catalogsync_ops.sources import build_source; s = build_source('kuwo'); "
            f"print(len(s.parse_playlist({KUWO_JAY!r}).tracks)); s.close()")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "is not writable" in result.stderr and "Environment=HOME=" in result.stderr
    assert result.stdout.strip().splitlines()[-1] == "3"



@pytest.mark.slow
def test_the_whole_pipeline_runs_on_emulated_platforms_through_runnerd(musicdl_home: Path, platforms, tmp_path,
                                                                     monkeypatch, opened):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # where runnerd's musicdl clients make their work folders
    (musicdl_home / "input" / "platforms.txt").write_text(f"{NETEASE_HOT}\n{KUWO_JAY}\n{NETEASE_VIP}\n{QQ_HUAYU}\n",
                                                           encoding="utf-8")
    assert runnerd(musicdl_home, "enqueue", "full_pipeline").returncode == 0
    done = runnerd(musicdl_home, "run", "--burst", timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    conn = opened(open_database(musicdl_home / "catalogsync.db"))
    try:
        job = conn.execute("SELECT status FROM job_runs").fetchone()[0]
        failed = dict(conn.execute("SELECT display_text, last_error_class FROM job_items"
                                   " WHERE status = 'failed'").fetchall())
        unresolved = conn.execute("SELECT external_id FROM playlist_unresolved").fetchall()
    finally:
        conn.close()
    # 3 + 3 + 5 + 4 listed; the same title on two platforms is two songs; the VIP clip comes
    # whole from Kuwo; the encrypted one fails as encrypted; the dropped ones are listed.
    assert job == "completed_with_errors"
    assert list(failed.values()) == ["encrypted"], failed
    assert sorted(r[0] for r in unresolved) == ["000xdZuV2LcQ19", "7103"]
    library = sorted(p.relative_to(musicdl_home / "library") for p in (musicdl_home / "library").rglob("*.mp3"))
    mirror = sorted(p.relative_to(musicdl_home / "mirror") for p in (musicdl_home / "mirror").rglob("*.mp3"))
    assert len(library) == 12 and mirror == library
    # Each CDN refuses requests without the platform's cookie, User-Agent or Referer: none was refused.
    assert [platforms.netease.cdn.refusals, platforms.kuwo.cdn.refusals, platforms.qq.cdn.refusals] == [[], [], []]
    assert len(platforms.qq.cdn.downloads) == 3
    assert not list(scratch.glob("catalogsync-musicdl-*"))


def test_two_songs_that_want_one_path_at_the_same_time_get_two_files(ctx, platforms):
    collect_and_sync(ctx, NETEASE_HOT, KUWO_JAY)  # 晴天 by 周杰伦 on 叶惠美, once on each platform
    both = [r[0] for r in ctx.conn.execute("SELECT id FROM songs WHERE title = '晴天' ORDER BY id")]
    assert len(both) == 2
    cdns = (platforms.netease.cdn, platforms.kuwo.cdn)
    for cdn in cdns:
        cdn.gate.clear()  # bodies wait: both downloads are in flight at once
    barrier = threading.Barrier(2)
    outcomes: dict[int, object] = {}

    def download(song_id: int) -> None:
        conn = open_database(ctx.settings["DB_PATH"])
        work = WorkContext(conn=conn, settings=ctx.settings)
        try:
            barrier.wait()
            outcomes[song_id] = download_song(work, song_id)
        except Exception as exc:  # recorded for the assertion below
            outcomes[song_id] = exc
        finally:
            work.close()
            conn.close()

    threads = [threading.Thread(target=download, args=(song_id,)) for song_id in both]
    for thread in threads:
        thread.start()
    wait_for(lambda: sum(cdn.in_flight for cdn in cdns) == 2)
    for cdn in cdns:
        cdn.gate.set()
    for thread in threads:
        thread.join(timeout=60)
    paths = sorted(outcomes[s].details["path"] for s in both)
    assert paths == ["周杰伦/叶惠美/晴天 (2).mp3", "周杰伦/叶惠美/晴天.mp3"], outcomes
    files = sorted(p.name for p in (Path(ctx.settings["LIBRARY_DIR"]) / "周杰伦" / "叶惠美").iterdir())
    assert files == ["晴天 (2).lrc", "晴天 (2).mp3", "晴天.lrc", "晴天.mp3"]  # each song's lyrics beside it


@pytest.fixture
def lossless_on_netease(platforms):
    """孤勇者 held losslessly on NetEase too: its top levels serve a FLAC (for this test only)."""
    song = platforms.netease.songs["1901371647"]
    song.lossless = True
    yield song
    song.lossless = False


def test_the_quality_and_lyrics_musicdl_reports_reach_the_library(ctx, platforms, lossless_on_netease):
    synced = list(collect_and_sync(ctx, NETEASE_HOT, KUWO_JAY, QQ_HUAYU).values())
    assert not [r for r in synced if isinstance(r, Exception)], synced
    results = run_stage(ctx, "download")
    assert not [r for r in results.values() if isinstance(r, Exception)]
    library = Path(ctx.settings["LIBRARY_DIR"])
    rows = ctx.conn.execute("SELECT s.platform, s.title, f.rel_path, f.quality, f.lyrics, f.lyrics_sha256"
                            " FROM file_locations f JOIN songs s ON s.id = f.song_id").fetchall()
    assert {r["platform"] for r in rows} == {"netease", "kuwo", "qq"} and len(rows) == 9
    for row in rows:
        song = library / row["rel_path"]
        sidecar = song.with_suffix(".lrc").read_text(encoding="utf-8")
        # What each platform's lyrics endpoint answered, as musicdl decoded it (Kuwo's word-timed,
        # zipped and XORed lyrics included), embedded and beside the song.
        assert row["lyrics"] == "synced" and read_tags(song)["lyrics"] == sidecar, dict(row)
        if row["platform"] == "kuwo":
            assert sidecar.startswith("[ti:") and f"]{row['title']}" in sidecar
        else:
            assert sidecar.startswith("[00:00.00]emulated")
    # The quality musicdl chose (it asks NetEase for its levels best first) is the claim; what the
    # file is was read from it: the lossless one is a FLAC at CD resolution, the rest 128 kbit/s MP3s.
    outcomes = [o for o in results.values() if not isinstance(o, Exception)]
    claims = sorted((o.details["claimed"], o.details["rung"], o.details["path"].rsplit(".", 1)[-1]) for o in outcomes)
    assert claims == [("128", "128", "mp3")] * 8 + [("lossless", "lossless", "flac")]
    by_title = {(r["platform"], r["title"]): r["quality"] for r in rows}
    assert by_title[("netease", "孤勇者")] == "lossless"
    assert sorted(by_title.values()) == ["128"] * 8 + ["lossless"]


@pytest.mark.parametrize("platform, url, external_id", [
    ("netease", NETEASE_HOT, "1901371647"),  # 孤勇者
    ("qq", QQ_HUAYU, "003OUlho2HcRHC"),  # 晴天
])
def test_an_upgrade_through_musicdl_replaces_the_mp3_when_the_platform_starts_offering_lossless(
        ctx, platforms, platform, url, external_id):
    """The song's own platform is asked again (not what the playlist said when it was read): it
    now holds the song losslessly, musicdl asks for its qualities best first, the FLAC is read
    to be lossless and takes the MP3's place, its lyrics with it."""
    from catalogsync_ops.pipeline.upgrade import upgrade_song

    sync_playlist(ctx, playlist_id(ctx, url, platform))
    song_id = ctx.conn.execute("SELECT id FROM songs WHERE external_id = ?", (external_id,)).fetchone()[0]
    first = download_song(ctx, song_id)
    assert first.details["rung"] == "128" and first.details["path"].endswith(".mp3")
    library = Path(ctx.settings["LIBRARY_DIR"])
    song = getattr(platforms, platform).songs[external_id]
    song.lossless = True
    try:
        upgraded = upgrade_song(ctx, song_id)
    finally:
        song.lossless = False
    assert (upgraded.details["rung"], upgraded.details["upgraded_from"]) == ("lossless", "128"), upgraded.details
    new = library / upgraded.details["path"]
    assert new.suffix == ".flac" and not (library / first.details["path"]).exists()
    assert read_tags(new)["lyrics"] == new.with_suffix(".lrc").read_text(encoding="utf-8")
    rows = ctx.conn.execute("SELECT rel_path, quality FROM file_locations WHERE song_id = ?", (song_id,)).fetchall()
    assert [tuple(r) for r in rows] == [(upgraded.details["path"], "lossless")]
    # Asked again with nothing better on offer: the lossless file is at the top and not looked at.
    assert upgrade_song(ctx, song_id).skipped == "already lossless"
