"""The wanted list remembers: nights that meet only the songs already missing are quiet, a song
found again is news, and the owner's "stop trying" holds. Through the real runner, night after
night, on the demo platform with songs it does not have."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import runnerd, set_env

from catalogsync_ops.store.connection import connect

pytestmark = pytest.mark.slow


def night(home: Path) -> None:
    """One night as the timer runs it: a full pipeline queued, the runner until the queue is empty."""
    assert runnerd(home, "enqueue", "full_pipeline").returncode == 0
    done = runnerd(home, "run", "--burst")
    assert done.returncode == 0, done.stderr[-2000:]


def read(home: Path, sql: str, *params) -> list[tuple]:
    conn = connect(home / "catalogsync.db")
    try:
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def job_notifications(home: Path) -> list[tuple]:
    return read(home, "SELECT job_id, kind, json_extract(data_json, '$.status') FROM notifications"
                      " WHERE kind IN ('job_finished', 'job_failed') ORDER BY id")


def song_items(home: Path, job_id: int, song: int) -> list[tuple]:
    """The statuses of the job's download items for the song."""
    return read(home, "SELECT status FROM job_items WHERE job_id = ? AND song_id = ? AND item_type = 'song'",
                job_id, song)


def song_id(home: Path, external_id: str) -> int:
    return read(home, "SELECT id FROM songs WHERE external_id = ?", external_id)[0][0]


@pytest.fixture
def nights(home: Path, demo_server):
    set_env(home, DEMO_BASE_URL=demo_server.base_url, DOWNLOAD_SOURCES="demo", RETRY_BACKOFF_SECONDS=0,
            RETRY_BACKOFF_MAX_SECONDS=0, NOTIFY_WEBHOOK_URL="http://127.0.0.1:9/hook")
    demo_server.write_pool_file(home / "input" / "demo.txt")
    return demo_server


def test_three_nights_over_the_same_missing_songs_alert_once_and_a_song_found_again_alerts(home: Path, nights):
    nights.set_faults(not_found=["s05", "s07"])
    for _ in range(3):
        night(home)
    statuses = read(home, "SELECT id, status FROM job_runs ORDER BY id")
    assert statuses == [(1, "completed_with_errors"), (2, "completed"), (3, "completed")]
    assert job_notifications(home) == [(1, "job_finished", "completed_with_errors")]
    missing = {r[0]: r[1:] for r in read(home, "SELECT s.external_id, m.state, m.nights, m.attempts, m.last_error_class"
                                               " FROM missing_songs m JOIN songs s ON s.id = m.song_id")}
    assert missing["s05"] == missing["s07"] == ("missing", 3, 3, "not_found")
    assert {row[1] for row in missing.values()} == {3}  # the demo's own missing songs (a preview, …) likewise
    outcome = json.loads(read(home, "SELECT outcome_json FROM job_runs WHERE id = 3")[0][0])
    assert (outcome["still_missing"], outcome["newly_missing"], outcome["quiet"]) == (len(missing), 0, True)
    # Needs attention says it once, by song, not once per job.
    conn = connect(home / "catalogsync.db")
    try:
        from catalogsync_ops.engine.attention import needs_attention

        todo = [a for a in needs_attention(conn) if a["kind"] != "runner_down"]
    finally:
        conn.close()
    assert [(a["kind"], a.get("missing")) for a in todo] == [("songs_missing", len(missing))]
    # The night says what it met, though it sends nothing.
    finished = read(home, "SELECT message FROM job_events WHERE job_id = 3 AND kind = 'stage_finished'"
                          " AND message LIKE 'stage download%'")
    assert finished == [(f"stage download completed ({len(missing)} still missing)",)]

    nights.set_faults(not_found=["s07"])  # s05 is back on the platform
    night(home)
    assert read(home, "SELECT status FROM job_runs WHERE id = 4") == [("completed",)]
    assert job_notifications(home)[1:] == [(4, "job_finished", "completed")]
    still = {r[0] for r in read(home, "SELECT s.external_id FROM missing_songs m JOIN songs s ON s.id = m.song_id")}
    assert still == set(missing) - {"s05"}
    outcome = json.loads(read(home, "SELECT outcome_json FROM job_runs WHERE id = 4")[0][0])
    assert (outcome["found_again"], outcome["added"], outcome["still_missing"], outcome["quiet"]) \
        == (1, 1, len(still), False)
    night(home)  # nothing new again: quiet
    assert len(job_notifications(home)) == 2


def test_a_song_marked_unavailable_is_not_tried_again_until_it_is_wanted(home: Path, nights):
    nights.set_faults(not_found=["s05"])
    night(home)
    s05 = song_id(home, "s05")
    marked = runnerd(home, "wanted", "mark-unavailable", str(s05))
    assert marked.returncode == 0, marked.stderr
    night(home)  # the runner applies the mark first, then the night leaves the song alone
    assert song_items(home, 2, s05) == []
    assert read(home, "SELECT status FROM job_runs WHERE id = 2") == [("completed",)]
    assert read(home, "SELECT state, marked_by, recheck_after FROM missing_songs WHERE song_id = ?", s05) \
        == [("unavailable", "owner", None)]
    listed = runnerd(home, "wanted", "list", "--state", "unavailable")
    assert f"{s05}  unavailable (by you)" in listed.stdout and "1 unavailable" in listed.stdout

    nights.set_faults(not_found=[])
    assert runnerd(home, "wanted", "mark-wanted", str(s05)).returncode == 0
    night(home)
    assert song_items(home, 3, s05) == [("succeeded",)]
    assert read(home, "SELECT COUNT(*) FROM missing_songs WHERE song_id = ?", s05) == [(0,)]
    assert [n[0] for n in job_notifications(home)] == [1, 3]  # newly missing, then found again


def test_a_song_gone_for_good_night_after_night_is_given_up_and_rechecked_later(home: Path, nights):
    set_env(home, WANTED_GIVE_UP_NIGHTS=2, WANTED_RECHECK_DAYS=30)
    nights.set_faults(not_found=["s05"])
    night(home)
    night(home)
    s05 = song_id(home, "s05")
    state, marked_by, recheck = read(home, "SELECT state, marked_by, recheck_after FROM missing_songs"
                                           " WHERE song_id = ?", s05)[0]
    assert (state, marked_by) == ("unavailable", "auto") and recheck > read(home, "SELECT MAX(finished_at)"
                                                                                  " FROM job_runs")[0][0]
    outcome = json.loads(read(home, "SELECT outcome_json FROM job_runs WHERE id = 2")[0][0])
    given_up = read(home, "SELECT COUNT(*) FROM missing_songs WHERE state = 'unavailable' AND marked_by = 'auto'")
    assert outcome["given_up"] == given_up[0][0] >= 1  # s05, and the demo's own songs gone for good
    night(home)
    assert song_items(home, 3, s05) == []
    # Asked for by name, it is tried at once (and is still gone: it stays unavailable).
    assert runnerd(home, "enqueue", "download", "--song", str(s05)).returncode == 0
    assert runnerd(home, "run", "--burst").returncode == 0
    assert song_items(home, 4, s05) == [("failed",)]
    assert read(home, "SELECT state, marked_by FROM missing_songs WHERE song_id = ?", s05) == [("unavailable", "auto")]
    # Its recheck comes: tried again, and found.
    conn = connect(home / "catalogsync.db")
    with conn:
        conn.execute("UPDATE missing_songs SET recheck_after = '2000-01-01T00:00:00.000000Z'")
    conn.close()
    nights.set_faults(not_found=[])
    night(home)
    assert song_items(home, 5, s05) == [("succeeded",)]
    assert read(home, "SELECT COUNT(*) FROM missing_songs WHERE song_id = ?", s05) == [(0,)]


def _seed_missing(conn) -> tuple[int, int]:
    """Two songs the library could not get: one missing, one the owner gave up on."""
    from catalogsync_ops.store.connection import iso, transaction

    ts = iso()
    with transaction(conn):
        ids = []
        for ext, title in (("w1", "Lost <Song>"), ("w2", "Gone Song")):
            ids.append(conn.execute(
                "INSERT INTO songs (platform, external_id, title, artists, album, created_at, updated_at)"
                " VALUES ('demo', ?, ?, '[\"Artist\"]', 'Album', ?, ?)", (ext, title, ts, ts)).lastrowid)
        conn.execute("INSERT INTO missing_songs (song_id, state, since, nights, attempts, last_error_class, last_error,"
                     " last_source, updated_at) VALUES (?, 'missing', ?, 2, 6, 'not_found', 'not on demo', 'demo', ?)",
                     (ids[0], ts, ts))
        conn.execute("INSERT INTO missing_songs (song_id, state, since, marked_by, updated_at)"
                     " VALUES (?, 'unavailable', ?, 'owner', ?)", (ids[1], ts, ts))
    return ids[0], ids[1]


def test_the_wanted_page_lists_filters_and_acts_on_the_songs_ticked(web, client):
    from conftest import csrf_from

    _, conn = web
    lost, gone = _seed_missing(conn)
    page = client.get("/wanted").get_data(as_text=True)
    assert "Lost &lt;Song&gt;" in page and "Gone Song" in page and "(by you)" in page
    assert "missing (1)" in page and "unavailable (1)" in page
    only = client.get("/wanted?state=unavailable").get_data(as_text=True)
    assert "Gone Song" in only and "Lost &lt;Song&gt;" not in only
    assert client.get("/wanted?state=lost").status_code == 400
    api = client.get("/api/wanted?state=missing").get_json()
    assert [s["song_id"] for s in api["songs"]] == [lost] and api["counts"] == {"missing": 1, "unavailable": 1}
    assert api["songs"][0]["artists"] == "Artist" and api["songs"][0]["last_error_class"] == "not_found"

    form = {"csrf_token": csrf_from(page), "nonce": "n1", "back": "/wanted?state=missing", "job_type": "download",
            "songs": [str(lost), str(gone)]}
    for kind in ("mark_unavailable", "mark_unavailable", "enqueue_job"):  # the same post twice is one command
        answer = client.post("/commands", data={**form, "kind": kind})
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/wanted?state=missing&command=")
    rows = conn.execute("SELECT kind, payload_json FROM job_commands ORDER BY id").fetchall()
    assert [(r[0], json.loads(r[1])) for r in rows] == [
        ("mark_unavailable", {"song_ids": [lost, gone]}),
        ("enqueue_job", {"job_type": "download", "scope": {"songs": [lost, gone]}, "priority": 0})]

    client.set_cookie("lang", "zh-Hans")
    chinese = client.get("/wanted").get_data(as_text=True)
    assert "缺失 (1)" in chinese and "不可用 (1)" in chinese and "由你标记" in chinese
    assert ">missing<" not in chinese and ">unavailable<" not in chinese


def test_a_form_on_a_filtered_job_page_brings_the_person_back_to_the_same_filter(web, client):
    from catalogsync_ops.engine.jobs import create_job

    _, conn = web
    job_id = create_job(conn, "download")
    page = client.get(f"/jobs/{job_id}?status=failed&stage=download&command=7").get_data(as_text=True)
    backs = set(re.findall(r'name="back" value="([^"]+)"', page))
    assert backs == {f"/jobs/{job_id}?status=failed&amp;stage=download"}  # not the bare job, no old banner
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post("/commands", data={"csrf_token": csrf, "kind": "cancel_job", "job_id": job_id,
                                            "back": f"/jobs/{job_id}?status=failed&stage=download"})
    assert answer.headers["Location"].startswith(f"/jobs/{job_id}?status=failed&stage=download&command=")


def test_the_library_card_says_nothing_is_counted_yet_instead_of_0_of_0(web, client):
    from catalogsync_ops.store.connection import iso

    _, conn = web
    with conn:
        conn.execute("INSERT INTO coverage (playlist_id, wanted, in_library, backed_up, failed, untried, unresolved,"
                     " failed_json, updated_at) VALUES (0, 0, 0, 0, 0, 0, 0, '{}', ?)", (iso(),))
    page = client.get("/").get_data(as_text=True)
    card = page[page.index('id="library"'):]
    assert "0 of 0 songs" not in page and "No wanted songs yet" in card
