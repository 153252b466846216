"""What a library file is: its quality read from the file (never from the platform's word),
recorded for each download, read for files recorded before, and shown in coverage, pages and
metrics."""
from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import run_demo_pipeline, runnerd

from catalogsync_ops.demo.audio import flac_bytes, lossless_bytes, mp3_bytes, wav_bytes
from catalogsync_ops.errors import SourceError
from catalogsync_ops.quality import ext_for, judged, probe, shares_text


def _noise(seconds: float, rate: int, channels: int = 2) -> np.ndarray:
    return (np.random.default_rng(7).standard_normal((int(seconds * rate), channels)) * 0.2).astype("float32")


def _encoded(tmp_path: Path, name: str, **how) -> Path:
    """A file made by a real encoder (libsndfile's: LAME, libvorbis, libFLAC)."""
    rate = how.pop("rate", 44_100)
    path = tmp_path / name
    soundfile.write(path, _noise(3, rate), rate, **how)
    return path


# (file, codec, lossless, rung, label): the table written before the code.
CASES = [
    (lambda p: _encoded(p, "a.mp3", format="MP3", bitrate_mode="CONSTANT", compression_level=0.0),
     "mp3", False, "320", "MP3 320k"),
    (lambda p: _encoded(p, "b.mp3", format="MP3", bitrate_mode="CONSTANT", compression_level=0.5),
     "mp3", False, "128", "MP3 160k"),
    (lambda p: _encoded(p, "c.ogg", format="OGG", subtype="VORBIS"), "vorbis", False, "128", None),
    (lambda p: _encoded(p, "d.flac", format="FLAC", subtype="PCM_24", rate=96_000), "flac", True, "lossless",
     "FLAC 24/96"),
    (lambda p: _encoded(p, "e.flac", format="FLAC", subtype="PCM_16"), "flac", True, "lossless", "FLAC 16/44.1"),
    (lambda p: _encoded(p, "f.aiff", format="AIFF", subtype="PCM_16", rate=48_000), "aiff", True, "lossless",
     "AIFF 16/48"),
    # Lossless, but an 8 kHz voice-grade recording: it holds what 128 kbit/s holds, no more.
    (lambda p: _write(p / "g.wav", wav_bytes(2.0)), "wav", True, "128", "WAV 128k"),
    (lambda p: _write(p / "h.mp3", mp3_bytes(2.0)), "mp3", False, "128", "MP3 128k"),
    (lambda p: _write(p / "i.flac", flac_bytes(30.0)), "flac", True, "lossless", "FLAC 16/44.1"),
    # The name says FLAC; the bytes are an MP3. What the file is counts, not what it is called.
    (lambda p: _write(p / "j.flac", mp3_bytes(2.0)), "mp3", False, "128", "MP3 128k"),
]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("make, codec, lossless, rung, label", CASES)
def test_a_file_is_what_its_bytes_say(tmp_path: Path, make, codec, lossless, rung, label):
    quality = probe(make(tmp_path))
    assert (quality.codec, quality.lossless, quality.rung) == (codec, lossless, rung)
    if label:
        assert quality.label == label
    assert quality.duration_s > 1


def test_flac_written_without_an_encoder_decodes_to_its_samples(tmp_path: Path):
    samples = [int(9000 * np.sin(i / 5)) for i in range(4096)]
    path = _write(tmp_path / "x.flac", flac_bytes(1.0, loud=[(3, samples)], channels=1))
    data, rate = soundfile.read(path, dtype="int16")
    assert rate == 44_100 and len(data) == 44_100
    assert data[3 * 4096:4 * 4096].tolist() == samples and not data[:3 * 4096].any()


def test_what_is_not_audio_is_refused_with_its_name(tmp_path: Path):
    with pytest.raises(SourceError) as caught:
        probe(_write(tmp_path / "song.flac", b"<html>sign in to listen</html>"))
    assert caught.value.error_class.value == "invalid_audio" and "song.flac" in str(caught.value)


def test_quality_shares_in_words():
    assert shares_text({"lossless": 62, "320": 30, "128": 8}) == "lossless 62% · 320k 30% · 128k 8%"
    assert shares_text({"unknown": 1, "low": 1}) == "under 128k 50% · not checked yet 50%"
    assert shares_text({}) == ""


@pytest.mark.slow
def test_every_download_records_its_quality_and_a_check_reads_older_files(home: Path, demo_server, run_cli):
    run_demo_pipeline(home, demo_server)
    db = home / "catalogsync.db"
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT rel_path, codec, lossless, bitrate_kbps, sample_rate, quality, probed_at"
                        " FROM file_locations").fetchall()
    assert rows and all(r[5] and r[6] for r in rows)
    by_ext = {Path(r[0]).suffix: r for r in rows}
    assert by_ext[".mp3"][1:6] == ("mp3", 0, 128, 44_100, "128")
    assert by_ext[".wav"][1:6] == ("wav", 1, 128, 8_000, "128")  # lossless, at voice resolution
    total = json.loads(runnerd(home, "coverage", "--json").stdout)[0]
    assert total["quality"] == {"lossless": 2, "320": 1, "128": total["in_library"] - 3}
    assert "quality: lossless 8% · 320k 4% · 128k 88%" in runnerd(home, "coverage").stdout

    # A library recorded before qualities were: coverage says so until a check reads the files.
    with conn:
        conn.execute("UPDATE file_locations SET codec = NULL, quality = NULL, probed_at = NULL")
    conn.close()
    assert runnerd(home, "enqueue", "download").returncode == 0  # a job: the counts are refreshed
    assert runnerd(home, "run", "--burst").returncode == 0
    assert "quality: not checked yet 100%" in runnerd(home, "coverage").stdout
    assert runnerd(home, "enqueue", "verify").returncode == 0
    assert runnerd(home, "run", "--burst").returncode == 0
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM file_locations WHERE probed_at IS NULL").fetchone()[0] == 0
    conn.close()
    assert "quality: lossless 8% · 320k 4% · 128k 88%" in runnerd(home, "coverage").stdout

    # A file mutagen cannot read, recorded as it is: read once, its quality unknown, and not read
    # again by every later check (a weekly verify of a big library would read them all each time).
    import hashlib
    import os

    conn = sqlite3.connect(db)
    file_id, rel = conn.execute("SELECT id, rel_path FROM file_locations WHERE rel_path LIKE '%.mp3'"
                                " ORDER BY id LIMIT 1").fetchone()
    odd = home / "library" / rel
    odd.write_bytes(b"\x00" * 4096)
    with conn:
        conn.execute("UPDATE file_locations SET size_bytes = 4096, sha256 = ?, mtime_ns = ?, codec = NULL,"
                     " quality = NULL, probed_at = NULL WHERE id = ?",
                     (hashlib.sha256(odd.read_bytes()).hexdigest(), os.stat(odd).st_mtime_ns, file_id))
    read_at = []
    for _ in range(2):
        assert runnerd(home, "enqueue", "verify").returncode == 0
        assert runnerd(home, "run", "--burst").returncode == 0
        read_at.append(conn.execute("SELECT probed_at, quality FROM file_locations WHERE id = ?",
                                    (file_id,)).fetchone())
    conn.close()
    assert read_at[0][0] is not None and read_at[0][1] is None and read_at[1] == read_at[0]
    assert json.loads(runnerd(home, "drift", "--json").stdout)["counts"] == {}


@pytest.mark.slow
def test_pages_and_metrics_show_each_files_quality(home: Path, demo_server, web):
    run_demo_pipeline(home, demo_server)
    app, conn = web
    client = app.test_client()
    from conftest import login

    assert login(client).status_code == 302
    playlist = conn.execute("SELECT id FROM playlists WHERE title = '华语经典'").fetchone()[0]
    page = client.get(f"/playlists/{playlist}").get_data(as_text=True)
    assert 'id="quality-shares"' in page and "128k 88%" in page and "lossless 12%" in page
    assert page.count("MP3 128k") >= 4 and "WAV 128k" in page
    found = client.get("/songs?q=晴天").get_data(as_text=True)
    assert "MP3 128k" in found
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'catalogsync_library_songs_quality{quality="128"}' in metrics
    zh = client.get(f"/playlists/{playlist}", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "音质" in zh


def _files(home: Path) -> dict[str, tuple]:
    """Each file in the library by song title: (extension, source, rung, codec)."""
    conn = sqlite3.connect(home / "catalogsync.db")
    try:
        return {title: (Path(rel).suffix, source, rung, codec) for title, rel, source, rung, codec in conn.execute(
            "SELECT s.title, f.rel_path, f.source, f.quality, f.codec FROM file_locations f"
            " JOIN songs s ON s.id = f.song_id")}
    finally:
        conn.close()


@pytest.mark.slow
def test_the_best_rung_on_offer_is_taken_and_recorded_as_what_the_file_is(home: Path, demo_server):
    # A "lossless" copy that is the song's 128 kbit/s MP3 under a .flac name.
    demo_server.offer("demo", "s07", "lossless", "mislabeled")
    run_demo_pipeline(home, demo_server)
    files = _files(home)
    assert files["Don't Stop Me Now"] == (".mp3", "demo", "128", "mp3")  # named by what it is
    assert not list((home / "library").rglob("Don't Stop Me Now.flac"))
    assert files["Bohemian Rhapsody"] == (".flac", "demo", "lossless", "flac")  # lossless, 320 and 128 on offer
    assert files["Shape of You"] == (".mp3", "demo", "320", "mp3")
    assert files["小幸运"] == (".flac", "demo2", "lossless", "flac")  # only demo2 has it, losslessly
    assert files["晴天"] == (".mp3", "demo", "128", "mp3")
    total = json.loads(runnerd(home, "coverage", "--json").stdout)[0]
    assert total["quality"]["lossless"] == 2 and total["quality"]["320"] == 1


@pytest.mark.slow
def test_a_song_offered_only_below_the_ladder_stays_missing_and_says_why(home: Path, demo_server):
    # A platform that calls a 128 kbit/s MP3 "320": the file is read, found wanting, not kept.
    demo_server.offer("demo", "s03", "320", "mislabeled")
    run_demo_pipeline(home, demo_server, DOWNLOAD_QUALITY="lossless,320", DOWNLOAD_SOURCES="demo")
    files = _files(home)
    assert files["Bohemian Rhapsody"][2] == "lossless" and files["Shape of You"][2] == "320"
    assert "晴天" not in files and "后来" not in files
    missing = {r["title"]: r for r in json.loads(runnerd(home, "missing", "--format", "json").stdout)}
    assert missing["晴天"]["error_class"] == "not_found"
    assert "offers it only at 128, below the least DOWNLOAD_QUALITY accepts (320)" in missing["晴天"]["error"]
    assert "gave MP3 128k, below the least DOWNLOAD_QUALITY accepts (320)" in missing["后来"]["error"]
    assert not list((home / "library").rglob("后来.*"))  # nothing left behind


@pytest.mark.slow
@pytest.mark.parametrize("ask_all", [False, True])
def test_asking_every_source_finds_the_better_copy_elsewhere(home: Path, demo_server, ask_all: bool):
    demo2 = demo_server.platforms["demo2"]
    sunny = demo_server.platforms["demo"].songs["s01"]
    demo2.songs["m01"] = dataclasses.replace(sunny, id="m01", offers=(("lossless", "real"),), seed=501)
    run_demo_pipeline(home, demo_server, DOWNLOAD_QUALITY_ASK_ALL=str(ask_all).lower())
    files = _files(home)
    assert files["晴天"] == ((".flac", "demo2", "lossless", "flac") if ask_all else (".mp3", "demo", "128", "mp3"))
    # Lossless on its own platform already: nobody else is asked, or needed.
    assert files["Bohemian Rhapsody"][1:3] == ("demo", "lossless")


@pytest.mark.parametrize("value, says", [
    ("320,lossless", "list the rungs best first, e.g. lossless,320"),
    ("lossless,flac", "unknown rung 'flac'; the rungs, best first: lossless, 320, 256, 192, 128, low"),
    ("320,320", "rung '320' is listed twice"),
    (" , ", "name at least one rung"),
])
def test_a_ladder_that_cannot_be_climbed_is_refused_and_changes_nothing(home: Path, run_cli, value: str, says: str):
    before = (home / "catalogsync.env").read_text(encoding="utf-8")
    refused = run_cli("config", "set", "DOWNLOAD_QUALITY", value)
    assert refused.exit_code == 1 and says in refused.output
    assert (home / "catalogsync.env").read_text(encoding="utf-8") == before
    assert run_cli("config", "set", "DOWNLOAD_QUALITY", "lossless,320").exit_code == 0
    assert "DOWNLOAD_QUALITY=lossless,320" in (home / "catalogsync.env").read_text(encoding="utf-8")


def _transcode(tmp_path: Path, level: float, name: str) -> Path:
    """What some uploads are: an MP3 (LAME, at `level`) decoded and saved as a FLAC."""
    mp3 = _encoded(tmp_path, f"{name}.mp3", format="MP3", bitrate_mode="CONSTANT", compression_level=level)
    data, rate = soundfile.read(mp3, dtype="float32")
    flac = tmp_path / f"{name}.flac"
    soundfile.write(flac, data, rate, format="FLAC", subtype="PCM_16")
    return flac


def _pink(tmp_path: Path) -> Path:
    """Sound that falls off as music does (1/f), to the top of the band: no cliff."""
    white = np.random.default_rng(3).standard_normal(44_100 * 4)
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(len(white), 1 / 44_100)
    spectrum[1:] /= np.sqrt(freqs[1:] / 100)
    pink = np.fft.irfft(spectrum)
    path = tmp_path / "pink.flac"
    soundfile.write(path, np.stack([pink, pink], 1) / np.abs(pink).max() * 0.5, 44_100, format="FLAC",
                    subtype="PCM_16")
    return path


@pytest.mark.parametrize("make, spectrum, rung", [
    (lambda p: _encoded(p, "real.flac", format="FLAC", subtype="PCM_16"), "full", "lossless"),
    (_pink, "full", "lossless"),
    (lambda p: _write(p / "demo.flac", lossless_bytes(20.0, 3)), "full", "lossless"),
    (lambda p: _transcode(p, 0.0, "from320"), "transcoded", "320"),
    (lambda p: _transcode(p, 0.6, "from128"), "transcoded", "128"),
    (lambda p: _write(p / "fake.flac", lossless_bytes(20.0, 3, cutoff_hz=16_000)), "transcoded", "128"),
    # Silence is no evidence either way.
    (lambda p: _write(p / "quiet.flac", flac_bytes(20.0)), "unknown", "lossless"),
])
def test_a_lossless_file_made_from_a_lossy_one_is_transcoded(tmp_path: Path, make, spectrum, rung):
    quality = judged(path := make(tmp_path), probe(path))
    assert (quality.spectrum, quality.rung) == (spectrum, rung)
    assert (quality.cutoff_hz is not None) == (spectrum == "transcoded")
    if spectrum == "transcoded":
        assert 15_000 <= quality.cutoff_hz <= 20_500 and quality.label.startswith("FLAC ≤")


@pytest.mark.slow
def test_a_transcoded_flac_is_recorded_as_such_and_refused_when_lossless_is_asked_for(home: Path, demo_server, web):
    demo_server.offer("demo", "s03", "lossless", "transcoded")  # 后来: a "FLAC" that is an MP3's sound
    run_demo_pipeline(home, demo_server, OBJECT_BACKEND_NAME="none")
    files = _files(home)
    assert files["后来"] == (".flac", "demo", "128", "flac")
    conn = sqlite3.connect(home / "catalogsync.db")
    assert conn.execute("SELECT spectrum, cutoff_hz FROM file_locations WHERE rel_path LIKE '%后来.flac'"
                        ).fetchone() == ("transcoded", 16_000)
    conn.close()
    total = json.loads(runnerd(home, "coverage", "--json").stdout)[0]
    assert total["quality"]["transcoded"] == 1 and total["quality"]["lossless"] == 2
    app, db = web
    client = app.test_client()
    from conftest import login

    assert login(client).status_code == 302
    playlist = db.execute("SELECT id FROM playlists WHERE title = '华语经典'").fetchone()[0]
    page = client.get(f"/playlists/{playlist}").get_data(as_text=True)
    assert "FLAC ≤16 kHz" in page and "transcoded 12%" in page


@pytest.mark.slow
def test_a_transcoded_flac_is_not_kept_when_only_lossless_will_do(home: Path, demo_server):
    demo_server.offer("demo", "s03", "lossless", "transcoded")
    run_demo_pipeline(home, demo_server, OBJECT_BACKEND_NAME="none", DOWNLOAD_QUALITY="lossless",
                      DOWNLOAD_SOURCES="demo")
    missing = {r["title"]: r for r in json.loads(runnerd(home, "missing", "--format", "json").stdout)}
    assert "gave FLAC ≤16 kHz, below the least DOWNLOAD_QUALITY accepts (lossless)" in missing["后来"]["error"]
    assert _files(home)["Bohemian Rhapsody"][2] == "lossless"


@pytest.mark.parametrize("codec, said, named", [
    ("mp3", "flac", "mp3"), ("flac", "FLAC", "flac"), ("aiff", "aif", "aif"), ("aac", "mp4", "mp4"),
    ("alac", "flac", "m4a"), ("vorbis", "mp3", "ogg"), ("opus", "ogg", "ogg"), ("midi", "mid", "mid"),
])
def test_a_file_is_named_by_what_it_is(codec: str, said: str, named: str):
    assert ext_for(codec, said) == named
