"""Real platforms at their edges, through musicdl's own clients in the source host: a playlist
page that fails, link services that stall or answer garbage, an API that trickles past every
timeout, an answer of a shape musicdl cannot read. Nothing may drop a song, stall the runner
or change the runner's own process."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from emulator.proxy import Response
from test_musicdl import KUWO_JAY, playlist_id

from catalogsync_ops.errors import SourceError
from catalogsync_ops.messages import from_stored, render
from catalogsync_ops.pipeline import sync_playlist
from catalogsync_ops.sources import build_source
from catalogsync_ops.sources.host import GRACE_S, shared

KUWO_LONG = "https://www.kuwo.cn/playlist_detail/3564240400"
QUICK = {"PLATFORM_REQUESTS_PER_SECOND": 500, "PLATFORM_MAX_CONCURRENT_REQUESTS": 4}
# Reading and downloading on a busy machine (CI's full run: a 150-song read makes ~450 requests
# through the emulator's proxy): no request of these tests is meant to time out.
READS = {**QUICK, "HTTP_TIMEOUT_SECONDS": 15}


def playlist_row(ctx, pid: int):
    return ctx.conn.execute("SELECT track_count, missing_count, partial_reason FROM playlists WHERE id = ?",
                            (pid,)).fetchone()


PAGE_TWO_FAILURES = {
    "HTTP 500": Response(500, b"internal error", {"Content-Type": "text/plain"}),
    "not JSON": Response(200, b"<html>busy</html>", {"Content-Type": "text/html"}),
    "cut short": Response.json({"code": 200, "data": {"name": "\u5f88\u957f\u7684\u6b4c\u5355", "total": 150,
                                                      "musicList": []}}),
}


@pytest.mark.slow
def test_a_paged_playlist_whose_second_page_fails_keeps_every_song_and_says_partial(ctx, platforms):
    ctx.settings.update(READS)
    pid = playlist_id(ctx, KUWO_LONG, "kuwo")
    whole = sync_playlist(ctx, pid)
    assert whole.details["complete"] and whole.details["songs"] == 150 and whole.details["declared"] == 150
    for why, page_two in PAGE_TWO_FAILURES.items():
        platforms.kuwo.failing_pages[2] = page_two
        partial = sync_playlist(ctx, pid)
        assert not partial.details["complete"], why
        assert partial.details["removed"] == 0 and partial.details["songs"] == 150, (why, partial.details)
        assert partial.details["missing"] == 50, (why, partial.details)
        count, missing, reason = playlist_row(ctx, pid)
        assert (count, missing) == (150, 50) and reason, (why, reason)
        # Kept coded (the console words it in the reader's language), the same on the attempt.
        assert from_stored(reason) == partial.details["partial_reason"] and reason.startswith('{"code"')
        if why == "HTTP 500":
            assert "HTTP 500" in render(**partial.details["partial_reason"])
    platforms.kuwo.failing_pages.clear()
    again = sync_playlist(ctx, pid)
    assert again.details["complete"] and playlist_row(ctx, pid)[1:] == (0, None)


def test_a_partial_read_adds_new_songs_but_never_moves_or_removes(ctx, platforms):
    ctx.settings.update(READS)
    pid = playlist_id(ctx, KUWO_LONG, "kuwo")
    sync_playlist(ctx, pid)
    before = [r[0] for r in ctx.conn.execute("SELECT song_id FROM playlist_songs WHERE playlist_id = ? "
                                             "AND removed_at IS NULL ORDER BY position", (pid,))]
    songs = platforms.kuwo.playlists["3564240400"].songs
    first = songs.pop(0)  # the first song left the playlist, but page 2 fails: the read is partial
    platforms.kuwo.failing_pages[2] = Response(502, b"bad gateway", {"Content-Type": "text/plain"})
    try:
        partial = sync_playlist(ctx, pid)
    finally:
        songs.insert(0, first)
    after = [r[0] for r in ctx.conn.execute("SELECT song_id FROM playlist_songs WHERE playlist_id = ? "
                                            "AND removed_at IS NULL ORDER BY position", (pid,))]
    assert partial.details["removed"] == 0 and after == before


def test_a_stalled_link_service_costs_one_timeout_then_is_left_alone(platforms):
    from emulator.services import KUWO_SERVICES

    stalled = KUWO_SERVICES[0]
    platforms.services.behaviour[stalled] = "none"
    source = build_source("kuwo", settings={"HTTP_TIMEOUT_SECONDS": 2, "PLATFORM_LINK_SERVICES": "musicdl", **QUICK})
    try:
        source.parse_playlist(KUWO_JAY)  # the host is up and the source made: only the call is timed
        platforms.services.behaviour[stalled] = "hung"
        asked = platforms.services.asked(stalled), platforms.services.asked(KUWO_SERVICES[1])
        started = time.monotonic()
        info = source.parse_playlist(KUWO_JAY)
        elapsed = time.monotonic() - started
    finally:
        source.close()
    assert elapsed < 2 + 1, f"took {elapsed:.1f} s with a 2 s timeout"
    assert len(info.tracks) == 3 and info.complete
    # Asked once for the first song; after it stayed silent, not again for the others.
    assert platforms.services.asked(stalled) - asked[0] == 1
    assert platforms.services.asked(KUWO_SERVICES[1]) - asked[1] >= 3  # the next service was asked for each


def test_official_link_services_never_reach_a_third_party(platforms):
    source = build_source("kuwo", settings={"HTTP_TIMEOUT_SECONDS": 3, "PLATFORM_LINK_SERVICES": "official", **QUICK})
    try:
        info = source.parse_playlist(KUWO_JAY)
        source.resolve(info.tracks[0])
    finally:
        source.close()
    assert len(info.tracks) == 3
    assert platforms.services.seen == []


def test_a_song_the_platform_gives_no_link_for_comes_from_a_named_link_service(platforms):
    from emulator.services import KUWO_SERVICES

    # (The first service may still be left alone after another test made it stall: the second answers.)
    platforms.services.behaviour.update({KUWO_SERVICES[0]: "none", KUWO_SERVICES[1]: "link"})
    settings = {"HTTP_TIMEOUT_SECONDS": 3, **QUICK}
    sources = {mode: build_source("kuwo", settings={**settings, "PLATFORM_LINK_SERVICES": mode})
               for mode in ("official", "official_first", "musicdl")}
    song = platforms.kuwo.songs["228908"]
    try:
        track = sources["official"].parse_playlist(KUWO_JAY).tracks[0]
        assert track.external_id == song.id
        assert sources["official_first"].resolve(track).service is None  # the platform's own API answered
        assert platforms.services.seen == []  # official first: no service was asked for it
        song.access = "none"  # the platform no longer gives a link for it
        assert sources["official_first"].resolve(track).service == "haitangw"
        with pytest.raises(SourceError) as info:
            sources["official"].resolve(track)
        assert info.value.error_class == "not_found"
        assert sources["musicdl"].resolve(track).service == "haitangw"
    finally:
        song.access = "full"
        for source in sources.values():
            source.close()


def test_a_stalled_official_api_ends_within_the_timeout(platforms):
    source = build_source("kuwo", settings={"HTTP_TIMEOUT_SECONDS": 2, **QUICK})
    try:
        track = source.parse_playlist(KUWO_JAY).tracks[0]
        platforms.kuwo.mode = "hung"
        started = time.monotonic()
        with pytest.raises(SourceError) as info:
            source.search(track)
        elapsed = time.monotonic() - started
    finally:
        source.close()
    assert info.value.error_class == "timeout", info.value
    assert elapsed < 2 + 1, f"took {elapsed:.1f} s with a 2 s timeout"


@pytest.mark.slow
def test_a_call_that_trickles_past_every_timeout_is_stopped_with_its_process(platforms):
    source = build_source("kuwo", settings={"HTTP_TIMEOUT_SECONDS": 2, **QUICK})
    try:
        source.parse_playlist(KUWO_JAY)  # the host is up
        host = shared()
        before, restarts = host.pid, host.restarts
        platforms.kuwo.trickle_s = 0.5  # a byte every half second: no read ever times out
        started = time.monotonic()
        with pytest.raises(SourceError) as info:
            source.parse_playlist(KUWO_JAY)
        elapsed = time.monotonic() - started
        assert info.value.error_class == "timeout" and "its process was stopped" in str(info.value)
        assert elapsed < 2 + GRACE_S + 2, f"took {elapsed:.1f} s"
        assert host.restarts == restarts + 1
        platforms.kuwo.trickle_s = 0.0
        assert len(source.parse_playlist(KUWO_JAY).tracks) == 3  # a new host answers
        assert host.pid != before
    finally:
        platforms.kuwo.trickle_s = 0.0
        source.close()


def test_a_search_answered_in_an_unknown_shape_is_parse_not_an_empty_result(platforms):
    source = build_source("kuwo", settings={"HTTP_TIMEOUT_SECONDS": 3, **QUICK})
    try:
        track = source.parse_playlist(KUWO_JAY).tracks[0]
        nothing = track.__class__("kuwo", "0", "\u4e0d\u5b58\u5728\u7684\u6b4c\u66f2\u540d", ("\u65e0\u540d\u6c0f",))
        assert source.search(nothing) == []  # a real "no match": the answer had its list, empty
        platforms.kuwo.answers["/search/searchMusicBykeyWord"] = Response.json({"code": 200, "data": {"list": []}})
        with pytest.raises(SourceError) as info:
            source.search(track)
    finally:
        source.close()
    assert info.value.error_class == "parse", info.value


def test_musicdl_never_touches_the_runners_process(platforms):
    """A fresh process (as runnerd is) reads a playlist and searches: musicdl is never imported
    there, and its warning filters, stdout and logging stay as they were."""
    code = textwrap.dedent("""
        import json, logging, sys, warnings
        filters, stdout, handlers = list(warnings.filters), sys.stdout, list(logging.getLogger().handlers)
        from catalogsync_ops.sources import build_source
        source = build_source("netease", settings={"HTTP_TIMEOUT_SECONDS": 3, "PLATFORM_REQUESTS_PER_SECOND": 500})
        tracks = source.parse_playlist("https://music.163.com/#/playlist?id=24381616").tracks
        found = source.search(tracks[0])
        source.close()
        print("runner says hello")
        print(json.dumps({"tracks": len(tracks), "found": len(found),
                          "musicdl": sorted(m for m in sys.modules
                                            if m.split(".")[0] in ("musicdl", "fake_useragent", "rich")),
                          "same": warnings.filters == filters and sys.stdout is stdout
                                  and logging.getLogger().handlers == handlers}))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines[-2] == "runner says hello"
    seen = json.loads(lines[-1])
    assert seen == {"tracks": 3, "found": seen["found"], "musicdl": [], "same": True} and seen["found"] >= 1


def test_a_musicdl_that_renamed_what_the_adapter_uses_makes_the_source_incompatible_and_its_work_wait(
        ctx, platforms, tmp_path, monkeypatch):
    import musicdl

    from catalogsync_ops.engine import breakers
    from catalogsync_ops.errors import Deferred
    from runnerd.cli.sources import format_health

    changed = tmp_path / "site"
    shutil.copytree(Path(musicdl.__file__).parent, changed / "musicdl")
    module = changed / "musicdl" / "modules" / "sources" / "kuwo.py"
    module.write_text(module.read_text(encoding="utf-8").replace("_parsewithofficialapiv1", "_parsewithofficialapi"),
                      encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(changed), os.environ.get("PYTHONPATH")])))
    pid = playlist_id(ctx, KUWO_JAY, "kuwo")
    with pytest.raises(Deferred) as info:
        sync_playlist(ctx, pid)
    assert "KuwoMusicClient._parsewithofficialapiv1" in str(info.value) and "incompatible" in str(info.value)
    health = {row["source"]: row for row in breakers.health(ctx.conn)}
    assert health["kuwo"]["state"] == "incompatible" and health["kuwo"]["failures"] == 0
    assert "INCOMPATIBLE" in next(line for line in format_health(list(health.values())) if line.startswith("kuwo"))
    from catalogsync_ops.engine.attention import describe, needs_attention

    [needed] = [a for a in needs_attention(ctx.conn) if a.get("source") == "kuwo"]
    assert needed["kind"] == "source_incompatible" and "command" not in needed  # closing its breaker would not help
    assert "pip install 'catalogsync-ops[musicdl]'" in describe(needed)
    # The next playlist meets the closed source at once and waits too; nothing was failed or removed.
    with pytest.raises(Deferred):
        sync_playlist(ctx, pid)
    assert ctx.conn.execute("SELECT last_error FROM playlists WHERE id = ?", (pid,)).fetchone()[0] is None
    # A runner start checks again; with the fitting musicdl back, the probe closes it.
    monkeypatch.delenv("PYTHONPATH")
    breakers.recover_lost_probes(ctx.conn)
    assert sync_playlist(ctx, pid).details["songs"] == 3
    assert breakers.check(ctx.conn, "kuwo").state == "closed"


MIGU_HUAYU = "https://music.migu.cn/v3/music/playlist/228114498"
MIGU_LONG = "https://music.migu.cn/v3/music/playlist/228114499"
KUGOU_HOT = "https://www.kugou.com/yy/special/single/6914288.html"


def test_a_migu_playlist_in_pages_of_50_whose_last_page_fails_is_partial(ctx, platforms):
    ctx.settings.update(READS)
    pid = playlist_id(ctx, MIGU_LONG, "migu")
    whole = sync_playlist(ctx, pid)
    assert whole.details["complete"] and whole.details["songs"] == 120 and whole.details["declared"] == 120
    platforms.migu.failing_pages[3] = Response(503, b"busy", {"Content-Type": "text/plain"})
    partial = sync_playlist(ctx, pid)
    assert not partial.details["complete"] and partial.details["missing"] == 20
    assert partial.details["removed"] == 0 and partial.details["songs"] == 120
    assert "HTTP 503" in playlist_row(ctx, pid)[2]


def test_a_kugou_playlist_whose_gateway_pages_it_and_fails_a_page_is_partial(ctx, platforms):
    ctx.settings.update(READS)
    platforms.kugou.page_cap = 1  # the gateway gives one song a page, whatever musicdl asks for
    pid = playlist_id(ctx, KUGOU_HOT, "kugou")
    whole = sync_playlist(ctx, pid)
    assert whole.details["songs"] == 2 and whole.details["declared"] == 3 and whole.details["unresolved"] == 1
    platforms.kugou.failing_pages[2] = Response(500, b"gateway error", {"Content-Type": "text/plain"})
    partial = sync_playlist(ctx, pid)
    assert not partial.details["complete"] and partial.details["removed"] == 0 and partial.details["songs"] == 2
    assert partial.details["missing"] == 2 and "HTTP 500" in playlist_row(ctx, pid)[2]


def test_migu_and_kugou_songs_reach_the_library_through_their_signed_and_scrambled_apis(ctx, platforms):
    from catalogsync_ops.pipeline import download_song

    ctx.settings.update(READS)
    platforms.migu.redirect_only.add("600902000010")  # its link comes by listenSong.do's redirect
    for url, platform in ((MIGU_HUAYU, "migu"), (KUGOU_HOT, "kugou")):
        outcome = sync_playlist(ctx, playlist_id(ctx, url, platform))
        # The song the platform gives no link for is listed as unresolved: never a silent drop.
        assert outcome.details["unresolved"] == 1 and outcome.details["removed"] == 0
    songs = ctx.conn.execute("SELECT id, platform, title FROM songs WHERE platform IN ('migu', 'kugou')"
                             " ORDER BY id").fetchall()
    assert [(r["platform"], r["title"]) for r in songs] == [
        ("migu", "\u6674\u5929"), ("migu", "\u540e\u6765"), ("migu", "AC/DC Back?"),
        ("kugou", "\u6674\u5929"), ("kugou", "\u7a3b\u9999")]
    for song in songs:
        outcome = download_song(ctx, song["id"])
        assert outcome.source == song["platform"], outcome
    assert platforms.kugou.refused_signatures == []  # every signature musicdl made was the real one
    assert platforms.migu.cdn.refusals == [] and platforms.kugou.cdn.refusals == []
    assert len(platforms.migu.cdn.downloads) == 3 and len(platforms.kugou.cdn.downloads) == 2
    files = sorted(p.name for p in Path(ctx.settings["LIBRARY_DIR"]).rglob("*.mp3"))
    assert len(files) == 5, files


def test_a_setting_that_names_a_retired_audiobook_platform_says_why(home):
    from conftest import set_env

    from catalogsync_ops.config.envfile import load_config
    from catalogsync_ops.errors import ConfigError

    set_env(home, DOWNLOAD_SOURCES="kuwo,ximalaya")
    with pytest.raises(ConfigError) as info:
        load_config(home / "catalogsync.env")
    text = str(info.value) + " ".join(str(p) for p in info.value.problems)
    assert "'ximalaya' is no longer offered" in text and "episodes" in text and "remove it" in text


@pytest.mark.parametrize("lyrics", ["off", "both"])
def test_lyrics_are_asked_for_only_when_the_library_keeps_them(platforms, lyrics: str):
    """musicdl asks each platform for every song's lyrics; with LYRICS=off the source host
    answers those requests itself: one request fewer per song to the platform."""
    source = build_source("kuwo", settings={"HTTP_TIMEOUT_SECONDS": 3, **QUICK, "LYRICS": lyrics})
    try:
        tracks = source.parse_playlist(KUWO_JAY).tracks
        resolved = source.resolve(tracks[0])
    finally:
        source.close()
    hosts = [r.host for r in platforms.emulator.requests]
    assert len(tracks) == 3 and "mobi.kuwo.cn" in hosts
    assert ("newlyric.kuwo.cn" in hosts) == (lyrics != "off")
    assert bool(resolved.lyrics) == (lyrics != "off")


def test_what_link_services_did_is_counted_in_the_sources_health(ctx, platforms):
    from emulator.services import KUWO_SERVICES

    from catalogsync_ops.engine import breakers
    from runnerd.cli.sources import format_health

    ctx.settings.update({**QUICK, "PLATFORM_LINK_SERVICES": "musicdl"})
    platforms.services.behaviour.update({KUWO_SERVICES[1]: "none", KUWO_SERVICES[2]: "garbage"})
    sync_playlist(ctx, playlist_id(ctx, KUWO_JAY, "kuwo"))
    [kuwo] = [row for row in breakers.health(ctx.conn) if row["source"] == "kuwo"]
    services = kuwo["link_services"]
    # Each of the three songs asked the services musicdl knows, in its order (the first may be
    # left alone for a while after another test made it stall: then it is counted as failed).
    assert services[KUWO_SERVICES[1]] == {"asked": 3, "answered": 3, "failed": 0, "silent": 0}
    assert services[KUWO_SERVICES[2]] == {"asked": 3, "answered": 3, "failed": 0, "silent": 0}
    assert sum(services[KUWO_SERVICES[0]].values()) > 0
    assert any("link service musicapi.haitangw.net: asked 3" in line for line in format_health([kuwo]))


def test_with_two_source_host_processes_two_workers_look_links_up_at_once(platforms):
    settings = {"HTTP_TIMEOUT_SECONDS": 3, "SOURCE_HOST_PROCESSES": 2, **QUICK}
    first, second = build_source("kuwo", settings=settings), build_source("kuwo", settings=settings)
    host = shared()
    try:
        tracks = first.parse_playlist(KUWO_JAY).tracks
        second.resolve(tracks[0])
        assert host.size == 2 and len(set(host.pids)) == 2  # each worker's source on a process of its own
    finally:
        first.close()
        second.close()
        host.resize(1)
    one = build_source("kuwo", settings={**settings, "SOURCE_HOST_PROCESSES": 1})
    try:
        assert len(one.parse_playlist(KUWO_JAY).tracks) == 3 and host.size == 1
    finally:
        one.close()


@pytest.mark.slow
def test_a_worker_looks_the_next_songs_link_up_while_it_downloads_the_current_one(musicdl_home, platforms):
    """One download worker, three Kuwo songs, the CDN holding every download until let go: while
    the second song is held, the third's link has already been looked up; and no link is looked
    up twice (the one looked up ahead is the one downloaded)."""
    from conftest import runnerd, set_env
    from test_runnerd import wait_for

    set_env(musicdl_home, DOWNLOAD_WORKERS=1, DOWNLOAD_SOURCES="kuwo", OBJECT_BACKEND_NAME="none",
            PLATFORM_REQUESTS_PER_SECOND=500, HTTP_TIMEOUT_SECONDS=10)  # a held download waits
    (musicdl_home / "input" / "kuwo.txt").write_text(f"{KUWO_JAY}\n", encoding="utf-8")
    for job in ("collect", "sync"):
        assert runnerd(musicdl_home, "enqueue", job).returncode == 0
    synced = runnerd(musicdl_home, "run", "--burst", timeout=300)
    assert synced.returncode == 0, synced.stderr[-2000:]
    cdn = platforms.kuwo.cdn
    links_before = len(cdn.tokens)
    assert runnerd(musicdl_home, "enqueue", "download").returncode == 0
    cdn.gate.clear()
    proc = subprocess.Popen([sys.executable, "-m", "runnerd", "--env-file", str(musicdl_home / "catalogsync.env"),
                             "run", "--burst"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for song in (1, 2):
            # This song's download, held at the gate (the one before it done).
            wait_for(lambda song=song: len(cdn.downloads) == song and cdn.in_flight == 1, timeout=60)
            if song == 2:
                # The third song's link was looked up before the second song's download ends.
                wait_for(lambda: len(cdn.tokens) - links_before == 3, timeout=6,  # < HTTP_TIMEOUT_SECONDS
                         what="the third song's link looked up while the second song downloads")
                assert len(cdn.downloads) == 2
            time.sleep(0.2)  # it waits at the gate
            cdn.gate.set()  # lets the waiting one go (the next one finds the gate closed)
            cdn.gate.clear()
        cdn.gate.set()
        _, err = proc.communicate(timeout=120)
    finally:
        cdn.gate.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-2000:]
    assert len(cdn.downloads) == 3 and cdn.refusals == []
    assert len(cdn.tokens) - links_before == 3  # one look-up a song: the one ahead was used


def test_the_songs_of_one_album_ask_for_its_cover_once_and_each_file_carries_it(ctx, platforms):
    from mutagen.id3 import ID3

    from catalogsync_ops.pipeline import download_song

    ctx.settings.update(READS)
    sync_playlist(ctx, playlist_id(ctx, KUWO_LONG, "kuwo"))
    songs = [r[0] for r in ctx.conn.execute("SELECT id FROM songs WHERE platform = 'kuwo' AND album = ?"
                                            " ORDER BY id LIMIT 4", ("\u957f\u4e13\u8f91",))]
    assert len(songs) == 4
    for song_id in songs:
        assert download_song(ctx, song_id).source == "kuwo"
    assert len(platforms.kuwo.covers) == 1  # one album, one picture, asked for once
    files = sorted(Path(ctx.settings["LIBRARY_DIR"]).rglob("*.mp3"))
    assert len(files) == 4
    for path in files:
        assert ID3(path).getall("APIC"), f"{path.name} has no cover"
