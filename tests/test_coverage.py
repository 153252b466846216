"""Is my library complete? The coverage the runner counts after each job, per playlist and in
total, through `runnerd coverage`, `runnerd missing` and the console."""
from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from pathlib import Path

import pytest
from conftest import run_demo_pipeline, runnerd


@pytest.mark.slow
def test_coverage_per_playlist_and_in_total_with_failures_by_class(home: Path, demo_server, opened):
    demo_server.set_faults(not_found=["s13", "m10"])  # 十年 and 千里之外 (华语经典) cannot be fetched
    run_demo_pipeline(home, demo_server)
    rows = json.loads(runnerd(home, "coverage", "--json").stdout)
    total, by_title = rows[0], {r["playlist"]: r for r in rows[1:]}
    conn = opened(sqlite3.connect(home / "catalogsync.db"))
    distinct = conn.execute("SELECT COUNT(DISTINCT song_id) FROM playlist_songs WHERE removed_at IS NULL").fetchone()[0]
    conn.close()
    assert total["playlist"] == "all playlists" and total["wanted"] == distinct
    assert total["failed"] == 2 and total["failed_by_class"] == {"not_found": 2}
    assert total["in_library"] == total["backed_up"] == distinct - 2 and total["untried"] == 0
    classic = by_title["华语经典"]
    assert (classic["wanted"], classic["in_library"], classic["backed_up"], classic["failed"]) == (8, 6, 6, 2)
    assert by_title["Small"] == {**by_title["Small"], "wanted": 2, "in_library": 2, "failed": 0, "untried": 0}
    text = runnerd(home, "coverage").stdout
    assert "华语经典: 6/8 in the library (75%), 6 backed up, 2 failed (not_found 2), 0 not yet tried" in text
    one = json.loads(runnerd(home, "coverage", "--playlist", str(classic["playlist_id"]), "--json").stdout)
    assert one["wanted"] == 8
    gone = runnerd(home, "coverage", "--playlist", "999")
    assert gone.returncode == 1 and "playlist 999 does not exist" in gone.stderr


def test_missing_songs_as_csv_for_excel_and_as_json(home: Path, demo_server, tmp_path: Path):
    demo_server.set_faults(not_found=["s13", "m10"])
    run_demo_pipeline(home, demo_server)
    out = tmp_path / "missing.csv"
    assert runnerd(home, "missing", "--format", "csv", "-o", str(out)).returncode == 0
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # the byte-order mark Excel needs to read UTF-8
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert sorted(r["title"] for r in rows) == ["十年", "千里之外"]
    assert {r["state"] for r in rows} == {"failed"} and {r["error_class"] for r in rows} == {"not_found"}
    assert all(r["playlist"] == "华语经典" and r["error"] for r in rows)
    listed = json.loads(runnerd(home, "missing", "--format", "json").stdout)
    assert [(r["title"], r["position"]) for r in listed] == [(r["title"], int(r["position"])) for r in rows]
    assert "2 songs missing" in runnerd(home, "missing").stdout
    # Read from the wanted list: missing since the night it failed, after how many attempts.
    assert {(r["wanted"], r["nights"]) for r in listed} == {("missing", 1)}
    assert all(r["missing_since"] and r["attempts"] >= 1 for r in listed)

    # A year on, history retention has forgotten the job's items: the songs are still missing,
    # with their reason, not "not yet tried".
    conn = sqlite3.connect(home / "catalogsync.db")
    conn.execute("UPDATE job_runs SET finished_at = '2020-01-01T00:00:00.000000Z'")
    conn.commit()
    conn.close()
    from catalogsync_ops.engine import retention
    from catalogsync_ops.library.coverage import refresh_coverage
    from catalogsync_ops.store.database import open_database

    conn = open_database(home / "catalogsync.db")
    settings = {"HISTORY_RETENTION_DAYS": 90, "HISTORY_DETAIL_DAYS": 7, "COMMAND_RETENTION_DAYS": 30,
                "LOG_RETENTION_DAYS": 30, "LOG_RETENTION_ROWS": 1000}
    while any(n for key, n in retention.prune_step(conn, settings).items() if key != "held_ms"):
        pass
    assert conn.execute("SELECT COUNT(*) FROM job_items").fetchone()[0] == 0
    refresh_coverage(conn, str(home / "library"))
    conn.close()
    later = json.loads(runnerd(home, "missing", "--format", "json").stdout)
    assert [(r["title"], r["state"], r["error_class"], r["wanted"]) for r in later] == \
        [(r["title"], "failed", "not_found", "missing") for r in listed]


@pytest.mark.slow
def test_a_song_fetched_by_a_retry_leaves_the_missing_list(home: Path, demo_server):
    demo_server.set_faults(not_found=["s13"])
    run_demo_pipeline(home, demo_server)
    assert json.loads(runnerd(home, "coverage", "--json").stdout)[0]["failed"] == 1
    demo_server.set_faults(not_found=[])
    assert runnerd(home, "retry-failed", "1").returncode == 0
    assert runnerd(home, "run", "--burst").returncode == 0
    total = json.loads(runnerd(home, "coverage", "--json").stdout)[0]
    assert total["failed"] == 0 and total["in_library"] == total["wanted"]
    assert json.loads(runnerd(home, "missing", "--format", "json").stdout) == []


def test_the_console_shows_coverage_a_playlist_song_by_song_and_the_missing_lists(home: Path, demo_server, client,
                                                                                  opened):
    demo_server.set_faults(not_found=["s13", "m10"])
    run_demo_pipeline(home, demo_server)
    conn = opened(sqlite3.connect(home / "catalogsync.db"))
    classic = conn.execute("SELECT id FROM playlists WHERE title = '华语经典'").fetchone()[0]
    failed_item = conn.execute("SELECT MAX(id) FROM job_items WHERE status = 'failed' AND display_text LIKE '%十年%'"
                               ).fetchone()[0]
    conn.close()
    listing = client.get("/playlists").get_data(as_text=True)
    assert "22 of 24 songs in the library (92%)" in listing
    assert f'href="/playlists/{classic}">华语经典</a>' in listing
    page = client.get(f"/playlists/{classic}").get_data(as_text=True)
    assert "6 of 8 songs in the library (75%)" in page and "failed 2 (not found 2)" in page
    rows = re.findall(r'<tr data-song="\d+"><td>(\d+)</td><td>([^<]+)</td>.*?data-state="(\w+)"', page, re.S)
    assert [int(r[0]) for r in rows] == list(range(1, 9))  # every song, in playlist order
    assert sorted(r[1] for r in rows if r[2] == "failed") == ["周杰伦, 费玉清 - 千里之外", "陈奕迅 - 十年"]
    assert {r[2] for r in rows if r[2] != "failed"} == {"backed_up"}
    assert f'href="/items/{failed_item}">attempts</a>' in page
    csv_answer = client.get(f"/playlists/{classic}/missing.csv")
    assert csv_answer.headers["Content-Disposition"] == f'attachment; filename="missing-{classic}.csv"'
    assert csv_answer.data.startswith(b"\xef\xbb\xbf") and "十年".encode() in csv_answer.data
    assert len(client.get("/playlists/missing.json").get_json()) == 2
    assert client.get("/playlists/999/missing.csv").status_code == 404
    assert client.get("/playlists/999").status_code == 404
    dashboard = client.get("/").get_data(as_text=True)
    assert "22 of 24 songs in the library (92%)" in dashboard
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'catalogsync_library_songs{state="failed"} 2' in metrics
    assert 'catalogsync_library_songs_failed{error_class="not_found"} 2' in metrics
    client.get("/lang/zh")
    chinese = client.get(f"/playlists/{classic}").get_data(as_text=True)
    assert "8 首歌曲中已入库 6 首" in chinese and "已备份" in chinese and "未找到" in chinese


def test_each_file_is_recorded_with_the_modification_time_it_was_put_in_place_with(home: Path, demo_server, opened):
    run_demo_pipeline(home, demo_server)
    conn = opened(sqlite3.connect(home / "catalogsync.db"))
    rows = conn.execute("SELECT library_root, rel_path, mtime_ns FROM file_locations").fetchall()
    conn.close()
    assert len(rows) >= 20
    assert all(mtime == (Path(root) / rel).stat().st_mtime_ns for root, rel, mtime in rows)


def test_counting_finds_each_songs_latest_download_and_files_by_index_steps_per_song(conn):
    """With months of history (a million job items), counting must look up a song's latest
    download with one step in job_items_song_idx; an `id IN (latest per song)` list made SQLite
    seek the whole list for every wanted row, and a count that took a second took hours."""
    from catalogsync_ops.library.coverage import _SONG_STATES

    for playlist, params in (("", {"root": "/library"}),
                             ("AND ps.playlist_id = :playlist_id", {"root": "/library", "playlist_id": 7})):
        plan = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN SELECT * FROM (" + _SONG_STATES.format(playlist=playlist)
                                           + ")", params)]
        assert "SEARCH l USING INTEGER PRIMARY KEY (rowid=?) LEFT-JOIN" in plan, plan
        assert "SEARCH j USING INDEX job_items_song_idx (song_id=?)" in plan, plan
        # ... and finds a wanted song's files by the song, not by reading every file of the library.
        assert "SEARCH f USING INDEX file_locations_song_idx (song_id=?)" in plan, plan
        assert not [step for step in plan if "id=? AND rowid=?" in step], plan
