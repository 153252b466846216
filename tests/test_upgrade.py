"""Upgrades on the demo platform, end to end through `runnerd run --burst`: a song first found at
128 kbit/s is replaced when a lossless copy appears on another source, and the library, its
lyrics, the playlists' M3U8 files, the mirror and verify follow; a transcoded "FLAC" or a copy
no better than ours is refused and the old file stays; a song at the top rung is never touched."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from conftest import run_demo_pipeline, runnerd, set_env

from catalogsync_ops.library.tagging import read_tags

pytestmark = pytest.mark.slow


def _file(home: Path, title: str) -> dict:
    conn = sqlite3.connect(home / "catalogsync.db")
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute("SELECT f.* FROM file_locations f JOIN songs s ON s.id = f.song_id WHERE s.title = ?",
                            (title,)).fetchall()
    finally:
        conn.close()
    assert len(rows) == 1, f"{title}: {len(rows)} file rows"
    return dict(rows[0])


def _upgrade(home: Path, *args: str) -> dict:
    assert runnerd(home, "enqueue", "upgrade", *args).returncode == 0
    done = runnerd(home, "run", "--burst")
    assert done.returncode == 0, done.stderr[-2000:]
    jobs = json.loads(runnerd(home, "jobs", "--json").stdout)
    return next(j for j in jobs if j["job_type"] == "upgrade")


def _items(home: Path, job_id: int) -> dict[str, dict]:
    conn = sqlite3.connect(home / "catalogsync.db")
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute("SELECT i.display_text, i.status, a.outcome, a.details_json, a.error"
                            " FROM job_items i LEFT JOIN item_attempts a ON a.item_id = i.id"
                            " WHERE i.job_id = ? AND i.item_type = 'upgrade'"
                            " ORDER BY a.id", (job_id,)).fetchall()
    finally:
        conn.close()
    return {Path(r["display_text"]).stem: {**dict(r), "details": json.loads(r["details_json"] or "{}")} for r in rows}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_lossless_copy_that_appears_elsewhere_replaces_the_128k_file_and_everything_follows(home, demo_server):
    run_demo_pipeline(home, demo_server)
    before = _file(home, "晴天")
    assert (before["quality"], Path(before["rel_path"]).suffix, before["source"]) == ("128", ".mp3", "demo")
    old = home / "library" / before["rel_path"]
    assert (home / "mirror" / before["rel_path"]).is_file()
    kept = {t: _file(home, t) for t in ("Bohemian Rhapsody", "Shape of You")}  # lossless; 320, the best on offer
    # A lossless copy of 晴天 appears on the other source.
    sunny = demo_server.platforms["demo"].songs["s01"]
    demo_server.platforms["demo2"].songs["m01"] = dataclasses.replace(sunny, id="m01", offers=(("lossless", "real"),),
                                                                      seed=501)
    job = _upgrade(home)
    assert job["status"] == "completed", job
    after = _file(home, "晴天")
    new = home / "library" / after["rel_path"]
    assert (after["quality"], new.suffix, after["source"], after["codec"]) == ("lossless", ".flac", "demo2", "flac")
    assert new.is_file() and _sha(new) == after["sha256"] and not old.exists()
    assert new.with_name(old.stem + ".lrc").is_file()  # the lyrics beside it, named as the song
    assert read_tags(new).get("title") == "晴天" and read_tags(new).get("lyrics")
    # The backup follows: the new file is there, the old one removed only after it.
    assert _sha(home / "mirror" / after["rel_path"]) == after["sha256"]
    assert not (home / "mirror" / before["rel_path"]).exists()
    # So do the playlists' files.
    exported = "".join(p.read_text(encoding="utf-8") for p in (home / "library" / "Playlists").glob("*.m3u8"))
    assert after["rel_path"] in exported and before["rel_path"] not in exported
    # Never a downgrade, nor a needless download: the lossless file and the 320 one stay as they were.
    for title, row in kept.items():
        now = _file(home, title)
        assert (now["rel_path"], now["sha256"]) == (row["rel_path"], row["sha256"]), title
    items = _items(home, job["id"])
    assert items["Shape of You"]["status"] == "skipped"  # 320 is all anyone offers
    assert "Bohemian Rhapsody" not in items  # at the top rung: not even asked about
    # A deep verify finds the library and the mirror as recorded.
    assert runnerd(home, "enqueue", "verify", "--deep").returncode == 0
    assert runnerd(home, "run", "--burst").returncode == 0
    assert json.loads(runnerd(home, "drift", "--json").stdout)["drift"] == []


@pytest.mark.parametrize("kind, says", [
    ("transcoded", "a lossy file's sound in a lossless container, refused as an upgrade"),
    ("mislabeled", "no better than the 128 file we have"),
])
def test_a_copy_that_only_claims_to_be_better_is_refused_and_the_old_file_stays(home, demo_server, kind, says):
    run_demo_pipeline(home, demo_server)
    before = _file(home, "后来")
    assert before["quality"] == "128"
    demo_server.offer("demo", "s03", "lossless", kind)  # a "FLAC": an MP3's sound, or the MP3 itself
    job = _upgrade(home, "--song", str(before["song_id"]))
    after = _file(home, "后来")
    assert (after["rel_path"], after["sha256"], after["quality"]) == (before["rel_path"], before["sha256"], "128")
    assert _sha(home / "library" / before["rel_path"]) == before["sha256"]
    assert not [p for p in (home / "library").rglob("后来.*") if p.suffix not in (".mp3", ".lrc")]
    item = _items(home, job["id"])["后来"]
    assert item["status"] == "skipped", item
    assert says in json.dumps(item["details"], ensure_ascii=False)


def test_the_nightly_run_queues_an_upgrade_which_asks_again_only_after_the_recheck_days(home, demo_server):
    run_demo_pipeline(home, demo_server, UPGRADE_AFTER_PIPELINE="true", OBJECT_BACKEND_NAME="none")
    jobs = json.loads(runnerd(home, "jobs", "--json").stdout)
    upgrades = [j for j in jobs if j["job_type"] == "upgrade"]
    assert len(upgrades) == 1 and upgrades[0]["status"] == "completed", jobs
    asked = len(_items(home, upgrades[0]["id"]))
    assert asked >= 3  # the songs below lossless
    # The next night: nothing new on offer, and every song was asked about today.
    assert runnerd(home, "enqueue", "full_pipeline").returncode == 0
    assert runnerd(home, "run", "--burst").returncode == 0
    upgrades = [j for j in json.loads(runnerd(home, "jobs", "--json").stdout) if j["job_type"] == "upgrade"]
    assert len(upgrades) == 2 and not _items(home, upgrades[0]["id"] if upgrades[0]["id"] > upgrades[1]["id"]
                                              else upgrades[1]["id"])
    set_env(home, UPGRADE_RECHECK_DAYS="0")  # 0: every song below the top, every time
    job = _upgrade(home)
    assert len(_items(home, job["id"])) == asked


def test_the_wanted_page_lists_the_songs_below_the_quality_asked_for_and_looks_for_better_copies_of_those_ticked(
        home, demo_server, client):
    import re

    from conftest import csrf_from

    run_demo_pipeline(home, demo_server)
    sunny = _file(home, "晴天")
    page = client.get("/wanted").get_data(as_text=True)
    section = page[page.index('id="below"'):page.index("</table>", page.index('id="below"'))]
    rows = re.findall(r'<tr data-song="(\d+)">.*?<td>[^<]*? - ([^<]+?) <small>.*?data-rung="(\w*)">([^<]*)</td>',
                      section, re.S)
    by_title = {title: (int(song), rung, shown) for song, title, rung, shown in rows}
    # 晴天 is a 128 kbit/s MP3; Bohemian Rhapsody is lossless, the top of the default ladder: not listed.
    assert by_title["晴天"][:2] == (sunny["song_id"], "128") and "MP3" in by_title["晴天"][2]
    assert "Bohemian Rhapsody" not in by_title
    assert all(rung != "lossless" for _, rung, _ in by_title.values())
    # The API says the same.
    api = client.get("/api/wanted/below").get_json()
    assert {s["title"]: s["quality"] for s in api["songs"]}["晴天"] == "128" and api["next_after"] is None
    assert "Bohemian Rhapsody" not in {s["title"] for s in api["songs"]}
    # Ticked and asked: an upgrade of that song only, which finds the lossless copy now on demo2.
    demo_server.platforms["demo2"].songs["m01"] = dataclasses.replace(
        demo_server.platforms["demo"].songs["s01"], id="m01", offers=(("lossless", "real"),), seed=501)
    form = {"csrf_token": csrf_from(page), "nonce": re.search(r'name="nonce" value="([^"]+)"', page).group(1),
            "back": "/wanted", "job_type": "upgrade", "kind": "enqueue_job", "songs": [str(sunny["song_id"])]}
    assert client.post("/commands", data=form).status_code == 302
    done = runnerd(home, "run", "--burst")
    assert done.returncode == 0, done.stderr[-2000:]
    job = next(j for j in json.loads(runnerd(home, "jobs", "--json").stdout) if j["job_type"] == "upgrade")
    assert job["status"] == "completed", job
    assert [item["display_text"] for item in _items(home, job["id"]).values()] == [sunny["rel_path"]]  # that one only
    assert _file(home, "晴天")["quality"] == "lossless"
    again = client.get("/wanted").get_data(as_text=True)
    assert f'data-song="{sunny["song_id"]}"' not in again[again.find('id="below"'):]
