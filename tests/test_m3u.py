"""M3U playlists as people save them: code pages, line ends, Windows paths, the extended tags
media players write, and the odd broken line — each read from a real file we write here, in the
form Windows Media Player, foobar2000, VLC, Navidrome and Jellyfin save."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from catalogsync_ops.errors import SourceError
from catalogsync_ops.sources import build_source


@pytest.fixture
def music(tmp_path: Path) -> Path:
    """A music folder with a few audio files (their bytes do not matter for reading a list)."""
    root = tmp_path / "Music"
    for rel in ("周杰伦/叶惠美/晴天.mp3", "周杰倫/七里香.flac", "陈奕迅/十年.mp3", "米津玄師/Lemon.mp3",
                "Beyoncé/Halo.mp3",
                "Sigur Rós/Hoppípolla.mp3", "01. 晴天.mp3", "周杰伦 - 稻香.flac", "folder.jpg", "notes.txt"):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"ID3")
    return root


def read(path: Path):
    source = build_source("m3u")
    try:
        return source.parse_playlist(str(path))
    finally:
        source.close()


def summary(info) -> list[tuple]:
    return [(t.title, t.artists, t.duration_s) for t in info.tracks]


def local_path(track) -> str:
    return unquote(urlsplit(track.external_id).path)


def write(path: Path, text: str, encoding: str, *, bom: bytes = b"") -> Path:
    path.write_bytes(bom + text.encode(encoding))
    return path


def test_windows_media_player_gbk_crlf_backslashes(music: Path):
    text = ("#EXTM3U\r\n#EXTINF:269,周杰伦 - 晴天\r\n周杰伦\\叶惠美\\晴天.mp3\r\n"
            "#EXTINF:205,陈奕迅 - 十年\r\n陈奕迅\\十年.mp3\r\n")
    info = read(write(music / "华语.m3u", text, "gbk"))
    assert summary(info) == [("晴天", ("周杰伦",), 269.0), ("十年", ("陈奕迅",), 205.0)]
    assert local_path(info.tracks[0]).endswith("/Music/周杰伦/叶惠美/晴天.mp3")
    assert info.encoding == "gb18030" and info.title == "华语" and not info.skipped


def test_a_short_gbk_list_of_bare_paths_is_not_read_as_big5(music: Path):
    info = read(write(music / "短.m3u", "晴天.mp3\r\n", "gbk"))
    assert [t.title for t in info.tracks] == ["晴天"] and info.encoding == "gb18030"


def test_big5_from_a_traditional_chinese_windows(music: Path):
    text = "#EXTM3U\r\n#EXTINF:299,周杰倫 - 七里香\r\n周杰倫\\七里香.flac\r\n"
    info = read(write(music / "七里香.m3u", text, "big5"))
    assert summary(info) == [("七里香", ("周杰倫",), 299.0)] and info.encoding == "big5"


def test_shift_jis_from_a_japanese_windows(music: Path):
    text = "#EXTM3U\r\n#EXTINF:255,米津玄師 - Lemon\r\n米津玄師\\Lemon.mp3\r\n"
    info = read(write(music / "jp.m3u", text, "shift_jis"))
    assert summary(info) == [("Lemon", ("米津玄師",), 255.0)] and info.encoding == "shift_jis"


def test_cp1252_from_a_western_windows(music: Path):
    text = ("#EXTM3U\r\n#EXTINF:261,Beyoncé - Halo\r\nBeyoncé\\Halo.mp3\r\n"
            "#EXTINF:270,Sigur Rós - Hoppípolla\r\nSigur Rós\\Hoppípolla.mp3\r\n")
    info = read(write(music / "west.m3u", text, "cp1252"))
    assert summary(info) == [("Halo", ("Beyoncé",), 261.0), ("Hoppípolla", ("Sigur Rós",), 270.0)]
    assert info.encoding == "cp1252"


def test_cp1251_is_not_read_as_accented_latin(music: Path):
    text = "#EXTM3U\r\n#EXTINF:285,Кино - Группа крови\r\nКино\\Группа крови.mp3\r\n"
    info = read(write(music / "ru.m3u", text, "cp1251"))
    assert summary(info) == [("Группа крови", ("Кино",), 285.0)] and info.encoding == "cp1251"


def test_the_files_a_list_names_decide_between_code_pages_alike(music: Path):
    """EUC-KR and GBK bytes read as each other's everyday characters; a list saved beside its
    music is read the way that finds its files."""
    song = music / "아이유" / "밤편지.mp3"
    song.parent.mkdir()
    song.write_bytes(b"ID3")
    text = "#EXTM3U\r\n#EXTINF:253,아이유 - 밤편지\r\n아이유\\밤편지.mp3\r\n"
    info = read(write(music / "kr.m3u", text, "euc_kr"))
    assert summary(info) == [("밤편지", ("아이유",), 253.0)] and info.encoding in ("euc_kr", "cp949")


@pytest.mark.parametrize("encoding,bom", [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe"),
                                          ("utf-16-be", b"\xfe\xff")])
def test_unicode_with_and_without_a_byte_order_mark(music: Path, encoding, bom):
    text = "#EXTM3U\n#EXTINF:269,周杰伦 - 晴天\n周杰伦/叶惠美/晴天.mp3\n"
    info = read(write(music / "u.m3u8", text, encoding, bom=bom))
    assert summary(info) == [("晴天", ("周杰伦",), 269.0)]
    assert info.encoding.startswith("utf")


def test_foobar2000_paths_only_titles_from_file_names(music: Path):
    text = "01. 晴天.mp3\r\n周杰伦 - 稻香.flac\r\n..\\Music\\陈奕迅\\十年.mp3\r\n"
    info = read(write(music / "foobar.m3u8", text, "utf-8", bom=b"\xef\xbb\xbf"))
    assert summary(info) == [("晴天", (), None), ("稻香", ("周杰伦",), None), ("十年", (), None)]
    assert local_path(info.tracks[2]).endswith("/Music/陈奕迅/十年.mp3")


def test_navidrome_and_jellyfin_exports_with_absolute_paths(music: Path):
    song = music / "周杰伦" / "叶惠美" / "晴天.mp3"
    text = (f"#EXTM3U\n#PLAYLIST:华语经典\n#EXTINF:269,周杰伦 - 晴天\n{song}\n"
            f"#EXTINF:205,陈奕迅 - 十年\n{music / '陈奕迅' / '十年.mp3'}\n")
    info = read(write(music.parent / "export.m3u", text, "utf-8"))
    assert info.title == "华语经典"
    assert summary(info) == [("晴天", ("周杰伦",), 269.0), ("十年", ("陈奕迅",), 205.0)]
    assert local_path(info.tracks[0]) == str(song)


def test_vlc_file_uris_and_options(music: Path):
    song = (music / "周杰伦" / "叶惠美" / "晴天.mp3").as_uri()
    text = f"#EXTM3U\n#EXTINF:269,周杰伦 - 晴天\n#EXTVLCOPT:network-caching=1000\n{song}\n"
    info = read(write(music / "vlc.m3u8", text, "utf-8"))
    assert summary(info) == [("晴天", ("周杰伦",), 269.0)]
    assert local_path(info.tracks[0]).endswith("/周杰伦/叶惠美/晴天.mp3")


def test_extended_tags_are_applied_and_the_cover_image_is_not_a_track(music: Path):
    text = ("#EXTM3U\n#PLAYLIST:Album night\n#EXTALB:叶惠美\n#EXTART:周杰伦\n#EXTGRP:Mandopop\n"
            "#EXTIMG:front cover\nfolder.jpg\n#EXTINF:269,晴天\n周杰伦/叶惠美/晴天.mp3\n"
            "#EXTINF:-1 tvg-name=\"x\" group-title=\"y\",陈奕迅 - 十年\n陈奕迅/十年.mp3\n")
    info = read(write(music / "tags.m3u8", text, "utf-8"))
    assert info.title == "Album night"
    assert summary(info) == [("晴天", ("周杰伦",), 269.0), ("十年", ("陈奕迅",), None)]
    assert [t.album for t in info.tracks] == ["叶惠美", "叶惠美"]
    assert info.tracks[0].extra.get("group") == "Mandopop"
    assert [(s.position, s.title) for s in info.skipped] == [(7, "folder.jpg")]
    assert "image" in info.skipped[0].reason


def test_each_bad_line_is_a_problem_of_its_own_and_the_rest_works(music: Path):
    lines = ["#EXTM3U", "#EXTINF:269,周杰伦 - 晴天", "周杰伦/叶惠美/晴天.mp3", "http://[::1", "ftp://nas.local/music/a.mp3",
             "smb://nas/music/b.mp3", "bad\x00line.mp3", "notes.txt", "C:\\Users\\me\\Music\\c.mp3", "other.m3u",
             "#EXTINF:205,陈奕迅 - 十年", "陈奕迅/十年.mp3"]
    info = read(write(music / "mixed.m3u8", "\n".join(lines) + "\n", "utf-8"))
    assert summary(info) == [("晴天", ("周杰伦",), 269.0), ("十年", ("陈奕迅",), 205.0)]
    problems = {s.position: s.reason for s in info.skipped}
    assert sorted(problems) == [4, 5, 6, 7, 8, 9, 10]
    assert "not a valid URL" in problems[4]
    assert "ftp://" in problems[5] and "http" in problems[5]
    assert "smb://" in problems[6]
    assert "NUL" in problems[7]
    assert "not audio" in problems[8]
    assert "Windows" in problems[9]
    assert "playlist" in problems[10]
    assert info.complete  # lines that are not songs never hold songs back from leaving the playlist


def test_a_file_that_is_not_a_playlist_says_so(music: Path):
    (music / "photo.m3u").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(SourceError) as info:
        read(music / "photo.m3u")
    assert info.value.error_class == "unsupported"
