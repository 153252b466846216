"""Is my library complete? The coverage the runner counts after each job, per playlist and in
total, through `runnerd coverage`, `runnerd missing` and the console."""
from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

from conftest import runnerd, set_env


def run_pipeline(home: Path, demo_server) -> None:
    set_env(home, DEMO_BASE_URL=demo_server.base_url, DOWNLOAD_SOURCES="demo,demo2")
    demo_server.write_pool_file(home / "input" / "demo.txt")
    assert runnerd(home, "enqueue", "full_pipeline").returncode == 0
    done = runnerd(home, "run", "--burst")
    assert done.returncode == 0, done.stderr[-2000:]


def test_coverage_per_playlist_and_in_total_with_failures_by_class(home: Path, demo_server):
    demo_server.set_faults(not_found=["s13", "m10"])  # 十年 and 千里之外 (华语经典) cannot be fetched
    run_pipeline(home, demo_server)
    rows = json.loads(runnerd(home, "coverage", "--json").stdout)
    total, by_title = rows[0], {r["playlist"]: r for r in rows[1:]}
    conn = sqlite3.connect(home / "catalogsync.db")
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
    run_pipeline(home, demo_server)
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


def test_a_song_fetched_by_a_retry_leaves_the_missing_list(home: Path, demo_server):
    demo_server.set_faults(not_found=["s13"])
    run_pipeline(home, demo_server)
    assert json.loads(runnerd(home, "coverage", "--json").stdout)[0]["failed"] == 1
    demo_server.set_faults(not_found=[])
    assert runnerd(home, "retry-failed", "1").returncode == 0
    assert runnerd(home, "run", "--burst").returncode == 0
    total = json.loads(runnerd(home, "coverage", "--json").stdout)[0]
    assert total["failed"] == 0 and total["in_library"] == total["wanted"]
    assert json.loads(runnerd(home, "missing", "--format", "json").stdout) == []
