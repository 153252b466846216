"""One contract, every source: demo, demo2, m3u over HTTP and from a file, and musicdl's real NetEase,
Kuwo, QQ, Migu and Kugou clients against the emulated platforms (tests/emulator)."""
from __future__ import annotations

from urllib.parse import unquote

import pytest
import requests

from catalogsync_ops.errors import SourceError
from catalogsync_ops.sources import build_source
from catalogsync_ops.sources.platforms import platform_for_url
from catalogsync_ops.transfer.audio import check_audio
from catalogsync_ops.transfer.downloader import download_to


def _demo(server, tmp_path, name="demo", playlist="p1"):
    return build_source(name,
                        settings={"DEMO_BASE_URL": server.base_url}), f"{server.base_url}/{name}/playlist/{playlist}"


def _m3u_http(server, tmp_path):
    return build_source("m3u"), f"{server.base_url}/demo/playlist/p2.m3u8"


def _m3u_file(server, tmp_path):
    """A local playlist with a BOM, CRLF, relative entries and one absolute path."""
    music = tmp_path / "music"
    music.mkdir()
    data = server.audio("demo", server.platforms["demo"].songs["s06"])
    (music / "shape.mp3").write_bytes(data)
    (music / "sub").mkdir()
    (music / "sub" / "晴天.mp3").write_bytes(server.audio("demo", server.platforms["demo"].songs["s01"]))
    absolute = tmp_path / "elsewhere.mp3"
    absolute.write_bytes(data)
    text = ("#EXTM3U\r\n#PLAYLIST:Local mix\r\n#EXTINF:2,Ed Sheeran - Shape of You\r\nshape.mp3\r\n"
            "#EXTINF:3,周杰伦 - 晴天\r\nsub/晴天.mp3\r\n" f"{absolute}\r\n")
    playlist = music / "mix.m3u8"
    playlist.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    return build_source("m3u"), str(playlist)


def _musicdl(name: str, url: str):
    """musicdl's real client for a platform, talking to the emulated platform (tests/emulator)."""
    def factory(server, tmp_path):
        # The emulated platforms answer at once; the timeout only keeps a broken case from hanging.
        # 5 s was once too short on a loaded 2-core machine (a TLS tunnel through the emulator's proxy).
        return build_source(name, settings={"HTTP_TIMEOUT_SECONDS": 20, "PLATFORM_REQUESTS_PER_SECOND": 50}), url
    return factory


FACTORIES = {"demo": _demo, "demo2": lambda s, t: _demo(s, t, "demo2", "q1"), "m3u-http": _m3u_http,
             "m3u-file": _m3u_file,
             "musicdl-kuwo": _musicdl("kuwo", "https://www.kuwo.cn/playlist_detail/3564240358"),
             "musicdl-netease": _musicdl("netease", "https://music.163.com/#/playlist?id=24381616"),
             "musicdl-qq": _musicdl("qq", "https://y.qq.com/n/ryqq/playlist/8052190267"),
             "musicdl-migu": _musicdl("migu", "https://music.migu.cn/v3/music/playlist/228114498"),
             "musicdl-kugou": _musicdl("kugou", "https://www.kugou.com/yy/special/single/6914288.html")}
MISSING = {"musicdl-kuwo": "https://www.kuwo.cn/playlist_detail/1", "musicdl-netease": "https://music.163.com/playlist?id=1",
           "musicdl-qq": "https://y.qq.com/n/ryqq/playlist/1", "musicdl-migu": "https://music.migu.cn/v3/music/playlist/1",
           "musicdl-kugou": "https://www.kugou.com/yy/special/single/1.html"}


# Each case's playlist: (tracks, tracks this source can serve). demo lists two songs only demo2 has.
TRACKS = {"demo": (8, 6), "demo2": (2, 2), "m3u-file": (3, 3), "m3u-http": (4, 4), "musicdl-kuwo": (3, 3),
          "musicdl-netease": (3, 3), "musicdl-qq": (3, 3), "musicdl-migu": (3, 3), "musicdl-kugou": (2, 2)}


@pytest.fixture(params=sorted(FACTORIES))
def source_case(request, demo_server, tmp_path):
    if request.param.startswith("musicdl-"):
        request.getfixturevalue("platforms")
    source, url = FACTORIES[request.param](demo_server, tmp_path)
    yield request.param, source, url
    source.close()


def test_source_recognizes_its_own_playlist_urls(source_case):
    _, source, url = source_case
    assert source.recognizes(url)
    assert platform_for_url(url) == source.name
    assert not source.recognizes("https://example.invalid/nothing")


def test_parse_playlist_returns_ordered_distinct_tracks(source_case):
    _, source, url = source_case
    playlist = source.parse_playlist(url)
    assert playlist.platform == source.name and playlist.title
    assert len(playlist.tracks) == TRACKS[source_case[0]][0]
    ids = [t.external_id for t in playlist.tracks]
    assert len(set(ids)) == len(ids)
    assert all(t.title and t.platform == source.name for t in playlist.tracks)


def test_every_track_resolves_to_audio_our_downloader_can_fetch(source_case, tmp_path):
    name, source, url = source_case
    playlist = source.parse_playlist(url)
    with requests.Session() as session:
        fetched = 0
        for track in playlist.tracks:
            try:
                resolved = source.resolve(track)
            except SourceError as exc:
                assert exc.error_class == "not_found"  # demo lists songs only demo2 can serve
                continue
            dest = tmp_path / "out" / f"{fetched}.{resolved.ext}"
            dest.parent.mkdir(exist_ok=True)
            result, _ = download_to(resolved.url, dest, session=session, headers=resolved.headers)
            assert check_audio(dest) > 0 and (resolved.size is None or resolved.size == result.size)
            fetched += 1
    assert fetched == TRACKS[name][1]


SEARCHABLE = sorted(n for n in FACTORIES if not n.startswith("m3u-"))


@pytest.mark.parametrize("source_case", SEARCHABLE, indirect=True)
def test_search_finds_a_track_by_its_title_and_artists(source_case):
    _, source, url = source_case
    assert source.can_search
    track = source.parse_playlist(url).tracks[0]
    assert track.external_id in [t.external_id for t in source.search(track)]


@pytest.mark.parametrize("source_case", sorted(set(FACTORIES) - set(SEARCHABLE)), indirect=True)
def test_a_source_that_cannot_search_refuses_as_unsupported(source_case):
    """An M3U file lists files, it has no catalog: the pipeline must hear so, not get nothing."""
    _, source, url = source_case
    assert not source.can_search
    with pytest.raises(SourceError) as info:
        source.search(source.parse_playlist(url).tracks[0])
    assert info.value.error_class == "unsupported"


def test_a_playlist_that_does_not_exist_fails_as_not_found(source_case, demo_server, tmp_path):
    name, source, url = source_case
    missing = {**MISSING, "demo": f"{demo_server.base_url}/demo/playlist/nope",
               "demo2": f"{demo_server.base_url}/demo2/playlist/nope",
               "m3u-http": f"{demo_server.base_url}/demo/playlist/nope.m3u8",
               "m3u-file": str(tmp_path / "nope.m3u")}[name]
    with pytest.raises(SourceError) as info:
        source.parse_playlist(missing)
    assert info.value.error_class == "not_found"


@pytest.mark.parametrize("name", sorted(set(FACTORIES) - {"m3u-file"}))  # a local file has no server
def test_an_unreachable_server_fails_as_a_connection_error(name, demo_server, tmp_path, request, refused_port):
    if name.startswith("musicdl-"):
        world = request.getfixturevalue("platforms")
        source, url = FACTORIES[name](demo_server, tmp_path)
        getattr(world, name.removeprefix("musicdl-")).mode = "down"
        dead = url
    else:
        source, url = FACTORIES[name](demo_server, tmp_path)
        dead = url.replace(url.split("/")[2], f"127.0.0.1:{refused_port}")
    try:
        with pytest.raises(SourceError) as info:
            source.parse_playlist(dead)
        assert info.value.error_class == "connection", info.value
    finally:
        source.close()


def test_m3u_reads_extinf_artist_title_duration_and_relative_entries(demo_server, tmp_path):
    source, url = _m3u_file(demo_server, tmp_path)
    playlist = source.parse_playlist(url)
    assert playlist.title == "Local mix"
    first, second, third = playlist.tracks
    assert (first.title, first.artists, first.duration_s) == ("Shape of You", ("Ed Sheeran",), 2.0)
    assert (second.title, second.artists) == ("晴天", ("周杰伦",))
    assert unquote(second.external_id).endswith("/music/sub/晴天.mp3")
    assert third.title == "elsewhere" and third.artists == ()


def test_unknown_and_musicdl_sources_say_what_to_do():
    with pytest.raises(SourceError, match="unknown source 'spotify'"):
        build_source("spotify")
    assert platform_for_url("https://y.qq.com/n/ryqq/playlist/8052190267") == "qq"
    assert platform_for_url("https://music.163.com/#/playlist?id=24381616") == "netease"
    assert platform_for_url("ftp://nowhere/list") is None
