"""The downloader against a real loopback server that fails, stalls and cuts bodies short."""
from __future__ import annotations

import shutil
import threading
import time

import pytest
import requests

from catalogsync_ops.demo.server import blob_bytes
from catalogsync_ops.errors import SourceError
from catalogsync_ops.transfer.downloader import (
    PROGRESS_INTERVAL_S,
    Canceled,
    CancelToken,
    download_to,
    fetch,
    part_path_for,
    sha256_file,
)


@pytest.fixture
def session():
    with requests.Session() as s:
        yield s


def audio_url(server, song="s01", ext="mp3", platform="demo"):
    return f"{server.base_url}/{platform}/audio/{song}.{ext}"


def test_download_lands_byte_identical_at_the_final_path(demo_server, session, tmp_path):
    dest = tmp_path / "a" / "song.mp3"
    dest.parent.mkdir()
    result, adopted = download_to(audio_url(demo_server), dest, session=session)
    expected = demo_server.audio("demo", demo_server.platforms["demo"].songs["s01"])
    assert not adopted and dest.read_bytes() == expected and result.size == len(expected)
    assert not part_path_for(dest).exists()


def test_a_body_cut_short_resumes_with_a_range_request_and_ends_identical(demo_server, session, tmp_path):
    size = 3 * 1024 * 1024 + 123
    url = f"{demo_server.base_url}/blob/{size}"
    part = tmp_path / ".blob.part"
    demo_server.set_faults(cut_short_rate=1.0)
    with pytest.raises(SourceError) as info:
        fetch(url, part, session=session)
    assert info.value.error_class == "connection"
    kept = part.stat().st_size
    assert 0 < kept < size
    demo_server.set_faults(cut_short_rate=0.0)
    demo_server.requests.clear()
    result = fetch(url, part, session=session, hash_body=True)
    assert demo_server.requests[-1]["range"] == f"bytes={kept}-"
    assert result.resumed_from == kept and part.read_bytes() == blob_bytes(size)
    # The hash of a resumed body covers the bytes kept from the first attempt too.
    assert result.sha256 == sha256_file(part)


@pytest.mark.parametrize("changed", [False, True], ids=["same file", "file changed on the server"])
def test_a_resume_names_the_file_it_resumes_and_a_changed_file_comes_whole(demo_server, session, tmp_path, changed):
    """Range with If-Range: the server sends the rest only if the file is still the one begun."""
    dest = tmp_path / "song.mp3"
    song = demo_server.platforms["demo"].songs["s01"]
    old, etag = demo_server.audio_and_etag("demo", song)
    demo_server.set_faults(cut_short_rate=1.0)
    with pytest.raises(SourceError):
        download_to(audio_url(demo_server), dest, session=session)
    kept = part_path_for(dest).stat().st_size
    assert 0 < kept < len(old)
    demo_server.set_faults(cut_short_rate=0.0, changed=[song.id] if changed else [])
    new = demo_server.audio("demo", song)
    assert (new != old) == changed and len(new) == len(old)
    demo_server.requests.clear()
    result, _ = download_to(audio_url(demo_server), dest, session=session)
    assert demo_server.requests[-1]["range"] == f"bytes={kept}-" and demo_server.requests[-1]["if_range"] == etag
    assert dest.read_bytes() == new  # never the old head on the new tail
    assert (result.resumed_from, result.restarted) == ((0, True) if changed else (kept, False))


def test_a_server_that_ignores_range_still_yields_a_correct_file(demo_server, session, tmp_path):
    size = 2 * 1024 * 1024
    url = f"{demo_server.base_url}/blob/{size}"
    part = tmp_path / ".blob.part"
    demo_server.set_faults(cut_short_rate=1.0)
    with pytest.raises(SourceError):
        fetch(url, part, session=session)
    demo_server.set_faults(cut_short_rate=0.0, ignore_range=True)
    result = fetch(url, part, session=session)
    assert result.restarted and result.resumed_from == 0
    assert part.read_bytes() == blob_bytes(size)


def test_http_errors_become_error_classes(demo_server, session, tmp_path):
    demo_server.set_faults(not_found=["s01"])
    with pytest.raises(SourceError) as info:
        download_to(audio_url(demo_server), tmp_path / "x.mp3", session=session)
    assert info.value.error_class == "not_found"
    demo_server.set_faults(not_found=[], fail_rate=1.0)
    with pytest.raises(SourceError) as info:
        download_to(audio_url(demo_server), tmp_path / "x.mp3", session=session)
    assert info.value.error_class == "http_5xx" and not (tmp_path / "x.mp3").exists()


def test_a_stalled_server_times_out(demo_server, session, tmp_path):
    demo_server.set_faults(slow_ms=1500)
    with pytest.raises(SourceError) as info:
        download_to(audio_url(demo_server), tmp_path / "x.mp3", session=session, timeout=0.5)
    assert info.value.error_class in ("timeout", "connection")


def test_cancel_stops_at_a_chunk_and_removes_the_temp_file(demo_server, session, tmp_path):
    demo_server.set_faults(slow_ms=20)
    token = CancelToken()
    dest = tmp_path / "big.bin"
    seen = []

    def progress(done, total):
        seen.append(done)
        if done > 256 * 1024:
            token.cancel("cancel")

    with pytest.raises(Canceled):
        download_to(f"{demo_server.base_url}/blob/{8 * 1024 * 1024}", dest, session=session, cancel=token,
                    progress=progress, verify_audio=False, chunk_size=64 * 1024)
    assert not dest.exists() and not part_path_for(dest).exists()
    assert seen and seen[-1] < 8 * 1024 * 1024


def test_an_interrupt_keeps_the_partial_file_for_the_next_attempt(demo_server, session, tmp_path):
    demo_server.set_faults(slow_ms=10)
    token = CancelToken()
    dest = tmp_path / "big.bin"
    timer = threading.Timer(0.3, token.cancel, args=("interrupt",))
    timer.start()
    with pytest.raises(Canceled):
        download_to(f"{demo_server.base_url}/blob/{8 * 1024 * 1024}", dest, session=session, cancel=token,
                    verify_audio=False, chunk_size=64 * 1024)
    assert part_path_for(dest).stat().st_size > 0 and not dest.exists()


def test_not_enough_free_space_fails_as_disk_full_before_writing(demo_server, session, tmp_path):
    dest = tmp_path / "x.mp3"
    with pytest.raises(SourceError) as info:
        download_to(audio_url(demo_server), dest, session=session, min_free_bytes=2**62)
    assert info.value.error_class == "disk_full" and "MIN_FREE_DISK_MB" in str(info.value)
    assert not part_path_for(dest).exists() or part_path_for(dest).stat().st_size == 0


def test_an_error_page_served_as_audio_is_refused(demo_server, session, tmp_path):
    with pytest.raises(SourceError) as info:
        download_to(f"{demo_server.base_url}/demo/playlist/p1", tmp_path / "x.mp3", session=session)
    assert info.value.error_class == "invalid_audio" and not (tmp_path / "x.mp3").exists()


def test_a_complete_file_with_the_recorded_size_and_hash_is_adopted(demo_server, session, tmp_path):
    dest = tmp_path / "x.mp3"
    result, _ = download_to(audio_url(demo_server), dest, session=session)
    demo_server.requests.clear()
    again, adopted = download_to(audio_url(demo_server), dest, session=session, known=(result.size, result.sha256))
    assert adopted and demo_server.requests == []
    assert (again.size, again.sha256, again.resumed_from, again.restarted) == (result.size, result.sha256, 0, False)
    # Without a record, a file already at the path is fetched over, not trusted.
    dest.write_bytes(b"not the song")
    _, adopted = download_to(audio_url(demo_server), dest, session=session)
    assert not adopted and dest.read_bytes() == demo_server.audio("demo", demo_server.platforms["demo"].songs["s01"])


def test_the_size_the_source_announced_must_match(demo_server, session, tmp_path):
    with pytest.raises(SourceError) as info:
        download_to(audio_url(demo_server), tmp_path / "x.mp3", session=session, expected_size=10)
    assert info.value.error_class == "checksum_mismatch"


def _cut(demo_server, session, url, part, size):
    """A first attempt cut off halfway: the part file keeps what came."""
    demo_server.set_faults(cut_short_rate=1.0)
    with pytest.raises(SourceError):
        fetch(url, part, session=session)
    demo_server.set_faults(cut_short_rate=0.0)
    kept = part.stat().st_size
    assert 0 < kept < size
    return kept


def test_a_server_answering_a_range_with_the_wrong_bytes_is_refused_not_stitched(demo_server, session, tmp_path):
    size = 2 * 1024 * 1024
    url = f"{demo_server.base_url}/blob/{size}"
    part = tmp_path / ".blob.part"
    kept = _cut(demo_server, session, url, part, size)
    demo_server.set_faults(wrong_range=True)  # 206, but from byte 0
    with pytest.raises(SourceError) as info:
        fetch(url, part, session=session)
    assert info.value.error_class == "http_5xx" and "wrong range" in str(info.value)
    assert part.stat().st_size == kept  # what was kept is untouched


def test_a_resume_works_when_the_server_does_not_say_the_size(demo_server, session, tmp_path):
    size = 2 * 1024 * 1024 + 5
    url = f"{demo_server.base_url}/blob/{size}"
    part = tmp_path / ".blob.part"
    kept = _cut(demo_server, session, url, part, size)
    demo_server.set_faults(hide_total=True)  # "Content-Range: bytes N-M/*", a chunked body
    seen = []
    result = fetch(url, part, session=session, progress=lambda done, total: seen.append((done, total)))
    assert result.resumed_from == kept and result.size == size and part.read_bytes() == blob_bytes(size)
    assert seen[-1] == (size, None)


def test_a_part_file_as_long_as_the_file_starts_over(demo_server, session, tmp_path):
    """The server answers 416 (nothing left to send): the download starts again, it does not guess."""
    size = 300_000
    url = f"{demo_server.base_url}/blob/{size}"
    part = tmp_path / ".blob.part"
    fetch(url, part, session=session)
    part.write_bytes(part.read_bytes() + b"extra")  # longer than the file: 416
    demo_server.requests.clear()
    result = fetch(url, part, session=session)
    assert [r["range"] for r in demo_server.requests] == [f"bytes={size + 5}-", None]
    assert result.size == size and part.read_bytes() == blob_bytes(size)


def test_progress_ends_on_the_total_and_the_hash_is_given_only_when_asked(demo_server, session, tmp_path):
    size = 3 * 1024 * 1024
    url = f"{demo_server.base_url}/blob/{size}"
    seen = []
    result = fetch(url, tmp_path / ".a.part", session=session, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (size, size) and result.sha256 is None
    hashed = fetch(url, tmp_path / ".b.part", session=session, hash_body=True)
    assert hashed.sha256 == sha256_file(tmp_path / ".b.part")
    # A file on this machine (an M3U entry) is copied the same way.
    local = []
    copied = fetch((tmp_path / ".b.part").as_uri(), tmp_path / ".c.part", session=session,
                   progress=lambda d, t: local.append((d, t)))
    assert local[-1] == (size, size) and copied.sha256 is None and copied.size == size
    assert (copied.resumed_from, copied.restarted) == (0, False)
    with pytest.raises(SourceError) as info:
        fetch((tmp_path / "gone.mp3").as_uri(), tmp_path / ".d.part", session=session)
    assert info.value.error_class == "not_found" and "gone.mp3" in str(info.value)


def test_progress_is_reported_a_few_times_a_second_not_for_every_read(demo_server, session, tmp_path):
    demo_server.set_faults(slow_ms=40)  # 64 KiB every 40 ms: 3 MiB take about two seconds
    seen = []
    started = time.monotonic()
    fetch(f"{demo_server.base_url}/blob/{3 * 1024 * 1024}", tmp_path / ".a.part", session=session,
          progress=lambda d, t: seen.append(time.monotonic()))
    took = time.monotonic() - started
    # Every PROGRESS_INTERVAL_S (0.25 s), plus the last: not once per 64 KiB read (48 of them).
    assert took / 0.5 <= len(seen) <= took / PROGRESS_INTERVAL_S + 2, (len(seen), took)  # at least twice a second
    gaps = [b - a for a, b in zip(seen, seen[1:-1], strict=False)]
    assert all(gap >= PROGRESS_INTERVAL_S * 0.9 for gap in gaps), gaps


def test_free_space_is_checked_for_what_remains_and_the_message_says_how_much(demo_server, session, tmp_path,
                                                                            small_disk):
    disk = small_disk("dl", "4m")
    size = 3 * 1024 * 1024
    url = f"{demo_server.base_url}/blob/{size}"
    part = disk / ".blob.part"
    kept = _cut(demo_server, session, url, part, size)
    free = shutil.disk_usage(disk).free
    # What is left to fetch fits, with 64 KiB to spare; the whole file would not.
    need = size - kept
    assert need + 64 * 1024 <= free < size
    result = fetch(url, part, session=session, min_free_bytes=free - need - 64 * 1024)
    assert result.resumed_from == kept and part.read_bytes() == blob_bytes(size)
    part.unlink()
    free_mib = shutil.disk_usage(disk).free // 2**20  # a tmpfs of our own: nothing else writes to it
    with pytest.raises(SourceError) as info:
        fetch(url, part, session=session, min_free_bytes=1024 * 1024)
    assert info.value.error_class == "disk_full"
    said = (f"only {free_mib} MiB free in {str(disk)!r}, {size // 2**20} MiB needed and MIN_FREE_DISK_MB=1 "
            "must stay free")
    assert said in str(info.value)


def test_a_disk_that_fills_while_writing_fails_as_disk_full_and_leaves_no_part(demo_server, session, small_disk):
    disk = small_disk("full", "1m")
    dest = disk / "big.bin"
    with pytest.raises(SourceError) as info:  # the size is not known beforehand, so no check could refuse it
        demo_server.set_faults(hide_total=True)
        download_to(f"{demo_server.base_url}/blob/{3 * 1024 * 1024}", dest, session=session, verify_audio=False)
    assert info.value.error_class == "disk_full" and "is full" in str(info.value)
    assert not part_path_for(dest).exists() and not dest.exists()


def test_a_part_file_left_by_another_link_is_started_over(demo_server, session, tmp_path):
    """The sidecar names the link the bytes came from: another link's bytes are not resumed."""
    size = 2 * 1024 * 1024
    part = tmp_path / "deep" / "er" / ".blob.part"  # folders made as needed
    _cut(demo_server, session, f"{demo_server.base_url}/blob/{size}", part, size)
    demo_server.requests.clear()
    other = f"{demo_server.base_url}/blob/{size + 1}"
    result = fetch(other, part, session=session)
    assert demo_server.requests[-1]["range"] is None and not result.restarted
    assert part.read_bytes() == blob_bytes(size + 1)


def test_a_server_that_refuses_the_connection_fails_as_connection(session, tmp_path, refused_port):
    with pytest.raises(SourceError) as info:
        fetch(f"http://127.0.0.1:{refused_port}/x.mp3", tmp_path / ".x.part", session=session)
    assert info.value.error_class == "connection" and str(refused_port) in str(info.value)


@pytest.mark.parametrize("sidecar", ["missing", "garbled"])
def test_a_part_file_whose_sidecar_is_missing_or_garbled_is_started_over(demo_server, session, tmp_path, sidecar):
    size = 2 * 1024 * 1024
    url = f"{demo_server.base_url}/blob/{size}"
    part = tmp_path / ".blob.part"
    _cut(demo_server, session, url, part, size)
    meta = part.with_name(part.name + ".json")
    meta.unlink() if sidecar == "missing" else meta.write_text("{not json", encoding="utf-8")
    demo_server.requests.clear()
    fetch(url, part, session=session)
    assert demo_server.requests[-1]["range"] is None and part.read_bytes() == blob_bytes(size)


@pytest.mark.parametrize("status,error_class", [(400, "http_4xx"), (401, "auth"), (429, "rate_limited"),
                                                (500, "http_5xx")])
def test_an_error_status_is_never_saved_as_the_file(demo_server, session, tmp_path, status, error_class):
    dest = tmp_path / "x.mp3"
    with pytest.raises(SourceError) as info:
        download_to(f"{demo_server.base_url}/status/{status}", dest, session=session, verify_audio=False)
    assert info.value.error_class == error_class and str(status) in str(info.value)
    assert not dest.exists() and not part_path_for(dest).exists()


def test_a_local_file_is_copied_into_place(tmp_path, session):
    """An M3U entry on this machine: copied, checked and moved into place like a download."""
    source = tmp_path / "music" / "song.bin"
    source.parent.mkdir()
    source.write_bytes(blob_bytes(300_000))
    dest = tmp_path / "library" / "song.bin"
    dest.parent.mkdir()
    result, adopted = download_to(source.as_uri(), dest, session=session, verify_audio=False)
    assert not adopted and dest.read_bytes() == blob_bytes(300_000) and result.sha256 == sha256_file(dest)
    assert not part_path_for(dest).exists()
