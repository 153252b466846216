"""Verify and repair through the real runner: the library on disk and its backup (moto's S3
server and a mirror folder) against the catalog, what drifted, and mending it."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import uuid
from contextlib import closing
from pathlib import Path

import boto3
import pytest
from conftest import run_demo_pipeline, runnerd, set_env, wait_for
from markupsafe import escape

from catalogsync_ops.engine.commands import submit_command
from catalogsync_ops.engine.jobs import create_job
from catalogsync_ops.fileio import sha256_file
from catalogsync_ops.library import catalog
from catalogsync_ops.pipeline import stage_workers
from catalogsync_ops.sources.base import Track
from catalogsync_ops.store.connection import connect, transaction
from catalogsync_ops.store.database import open_database

S3_CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


def db(home: Path):
    return closing(connect(home / "catalogsync.db"))


def drift_of(home: Path, *extra: str) -> dict:
    result = runnerd(home, "drift", "--json", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def verify(home: Path, *flags: str) -> int:
    assert runnerd(home, "enqueue", "verify", *flags).returncode == 0
    done = runnerd(home, "run", "--burst", timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    with db(home) as conn:
        job = conn.execute("SELECT id, status FROM job_runs WHERE job_type = 'verify' ORDER BY id DESC").fetchone()
    assert job["status"] == "completed", job["status"]
    return job["id"]


class Backup:
    """Where the runner uploads: moto's S3 server (a bucket of its own) or a mirror folder."""

    def __init__(self, kind: str, home: Path, endpoint: str | None) -> None:
        self.kind = kind
        self.home = home
        if kind == "s3":
            self.bucket = f"verify-{uuid.uuid4().hex[:8]}"
            self.client = boto3.client("s3", endpoint_url=endpoint, **S3_CREDS)
            self.client.create_bucket(Bucket=self.bucket)
            self.env = {"OBJECT_BACKEND_NAME": "s3", "OBJECT_BUCKET": self.bucket, "OBJECT_ENDPOINT": endpoint,
                        "OBJECT_ACCESS_KEY_ID": "testing", "OBJECT_SECRET_ACCESS_KEY": "testing",
                        "OBJECT_PREFIX": "music"}
        else:
            self.env = {"OBJECT_BACKEND_NAME": "local", "OBJECT_PREFIX": "music"}

    def keys(self) -> set[str]:
        if self.kind == "s3":
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
            return {o["Key"] for page in pages for o in page.get("Contents", ())}
        mirror = self.home / "mirror"
        return {p.relative_to(mirror).as_posix() for p in mirror.rglob("*") if p.is_file()}

    def get(self, key: str) -> bytes:
        if self.kind == "s3":
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return (self.home / "mirror" / key).read_bytes()

    def put(self, key: str, body: bytes) -> None:
        if self.kind == "s3":
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body)
        else:
            (self.home / "mirror" / key).parent.mkdir(parents=True, exist_ok=True)
            (self.home / "mirror" / key).write_bytes(body)

    def delete(self, key: str) -> None:
        if self.kind == "s3":
            self.client.delete_object(Bucket=self.bucket, Key=key)
        else:
            (self.home / "mirror" / key).unlink()


@pytest.fixture(params=["s3", "mirror"])
def backup(request, home: Path, moto_endpoint):
    return Backup(request.param, home, moto_endpoint if request.param == "s3" else None)


def uploaded_files(home: Path) -> list:
    with db(home) as conn:
        return conn.execute(
            "SELECT f.id, f.song_id, f.rel_path, f.sha256, f.size_bytes, u.object_key FROM file_locations f"
            " JOIN upload_tasks u ON u.file_location_id = f.id WHERE u.status = 'uploaded'"
            " AND u.object_key NOT LIKE '%.lrc' ORDER BY f.id").fetchall()  # the songs, not their lyrics


@pytest.mark.slow
def test_verify_reports_exactly_the_four_drifts_and_repair_mends_three_and_leaves_the_orphan(
        home: Path, demo_server, backup: Backup):
    run_demo_pipeline(home, demo_server, MIN_FREE_DISK_MB=0, **backup.env)
    library = home / "library"
    files = uploaded_files(home)
    songs = lambda keys: {k for k in keys if not k.endswith(".lrc")}  # noqa: E731
    assert len(files) == 24 and len(songs(backup.keys())) == 24
    assert len(backup.keys()) == 48  # each song's lyrics backed up beside it
    gone, changed, unbacked = files[0], files[1], files[2]
    (library / gone["rel_path"]).unlink()
    with open(library / changed["rel_path"], "ab") as handle:
        handle.write(b"a tag editor was here")
    backup.delete(unbacked["object_key"])
    orphan = library / "Someone Else" / "Their Album" / "Bonus Track.FLAC"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"fLaC not ours")
    # What a NAS keeps beside the music is none of the catalog's business, and no drift:
    (library / "@eaDir" / "x.mp3").parent.mkdir()
    (library / "@eaDir" / "x.mp3").write_bytes(b"synology thumbnail cache")
    (library / "Someone Else" / "cover.jpg").write_bytes(b"jpeg")
    (library / "Someone Else" / "._Bonus Track.mp3").write_bytes(b"macOS AppleDouble beside a copied song")
    (library / ".Trash-1000" / "files" / "old.mp3").parent.mkdir(parents=True)
    (library / ".Trash-1000" / "files" / "old.mp3").write_bytes(b"a desktop's trash")

    verify(home)
    found = drift_of(home)
    kinds = {row["kind"]: row["path"] for row in found["drift"]}
    assert found["counts"] == {"file_missing": 1, "file_changed": 1, "object_missing": 1, "orphan": 1}
    assert kinds == {"file_missing": gone["rel_path"], "file_changed": changed["rel_path"],
                     "object_missing": unbacked["object_key"], "orphan": "Someone Else/Their Album/Bonus Track.FLAC"}
    assert all(row["status"] == "open" for row in found["drift"])
    song_of = {row["path"]: row["song_id"] for row in found["drift"]}  # each file's drift names its song
    assert (song_of[gone["rel_path"]], song_of[changed["rel_path"]]) == (gone["song_id"], changed["song_id"])
    # A second verify finds the same four (one row each, seen again), not eight.
    verify(home)
    assert drift_of(home)["counts"] == found["counts"]

    refused = runnerd(home, "repair", "--kind", "orphan")
    assert refused.returncode != 0 and "orphan" in refused.stderr
    queued = runnerd(home, "repair", "--json")
    assert queued.returncode == 0, queued.stderr
    assert runnerd(home, "run", "--burst", timeout=300).returncode == 0
    with db(home) as conn:
        command = conn.execute("SELECT status, result_json FROM job_commands WHERE id = ?",
                               (json.loads(queued.stdout)["command_id"],)).fetchone()
        assert command["status"] == "applied"
        result = json.loads(command["result_json"])
        assert result["drifts"] == 3
        repair = conn.execute("SELECT job_type, status FROM job_runs WHERE id = ?", (result["job_id"],)).fetchone()
    assert tuple(repair) == ("repair", "completed")

    # The missing file is back, the changed one is the song again (the changed copy kept aside),
    # the object is back, and the orphan is where it was, untouched.
    assert sha256_file(library / gone["rel_path"]) == gone["sha256"]
    assert sha256_file(library / changed["rel_path"]) == changed["sha256"]
    kept = list((library / ".catalogsync" / "kept").rglob("*"))
    assert [p.read_bytes().endswith(b"a tag editor was here") for p in kept if p.is_file()] == [True]
    assert unbacked["object_key"] in backup.keys() and len(songs(backup.keys())) == 24
    assert orphan.read_bytes() == b"fLaC not ours"
    after = drift_of(home)
    assert after["counts"] == {"orphan": 1}
    mended = drift_of(home, "--all")["drift"]
    assert sorted(r["status"] for r in mended) == ["open", "resolved", "resolved", "resolved"]
    verify(home)
    assert drift_of(home)["counts"] == {"orphan": 1}
    nothing = runnerd(home, "repair")  # nothing left that a repair can mend
    assert nothing.returncode != 0 and "no open drift to repair" in nothing.stderr


@pytest.mark.slow
def test_fast_verify_compares_size_and_time_and_deep_verify_reads_every_byte(home: Path, demo_server):
    run_demo_pipeline(home, demo_server, MIN_FREE_DISK_MB=0, OBJECT_BACKEND_NAME="none")
    library = home / "library"
    with db(home) as conn:
        rows = conn.execute("SELECT id, rel_path, mtime_ns FROM file_locations ORDER BY id").fetchall()
    touched, silent = library / rows[0]["rel_path"], library / rows[1]["rel_path"]
    # A tool touched one file (same bytes, a new time): hashed, found the same, its time recorded.
    os.utime(touched, ns=(rows[0]["mtime_ns"] + 10**9, rows[0]["mtime_ns"] + 10**9))
    # One byte of another changed, same size, its time put back: only a deep verify can tell.
    data = bytearray(silent.read_bytes())
    data[-1] ^= 0xFF
    silent.write_bytes(bytes(data))
    os.utime(silent, ns=(rows[1]["mtime_ns"], rows[1]["mtime_ns"]))

    job = verify(home)
    assert drift_of(home)["counts"] == {}
    with db(home) as conn:
        assert conn.execute("SELECT mtime_ns FROM file_locations WHERE id = ?", (rows[0]["id"],)).fetchone()[0] \
            == rows[0]["mtime_ns"] + 10**9
        details = [json.loads(r[0]) for r in conn.execute(
            "SELECT a.details_json FROM item_attempts a JOIN job_items i ON i.id = a.item_id WHERE i.job_id = ?"
            " AND i.item_key LIKE 'verify:files:%'", (job,))]
    assert sum(d.get("hashed", 0) for d in details) == 1  # the touched file only
    verify(home, "--deep")
    found = drift_of(home)
    assert found["counts"] == {"file_changed": 1}
    assert found["drift"][0]["path"] == rows[1]["rel_path"]


@pytest.mark.slow
def test_verify_refuses_to_call_everything_missing_when_the_library_volume_is_gone(home: Path, demo_server):
    run_demo_pipeline(home, demo_server, MIN_FREE_DISK_MB=0, OBJECT_BACKEND_NAME="none")
    library = home / "library"
    library.rename(home / "library-unmounted")
    library.mkdir()  # an empty mount point, as an unmounted USB disk leaves it
    assert runnerd(home, "enqueue", "verify").returncode == 0
    assert runnerd(home, "run", "--burst", timeout=300).returncode == 0
    with db(home) as conn:
        status = conn.execute("SELECT status FROM job_runs WHERE job_type = 'verify'").fetchone()[0]
        error = conn.execute("SELECT last_error FROM job_items WHERE item_key LIKE 'verify:files:%'").fetchone()[0]
    assert status == "completed_with_errors"  # the files could not be checked; the orphan walk found none
    assert "no audio file at all" in error and "mounted" in error
    assert drift_of(home)["counts"] == {}


def make_library(home: Path, n: int, size: int) -> list[str]:
    """n songs with a verified file each (size bytes), written straight into the catalog, as
    read once by a check already (their bytes are random: mutagen takes 9 ms to give up on each)."""
    library = home / "library"
    body = os.urandom(size)
    digest = hashlib.sha256(body).hexdigest()
    paths, file_ids = [], []
    with db(home) as conn, transaction(conn):  # one commit, not three per song
        for i in range(n):
            rel = f"Artist {i // 100}/Album/{i:05d}.mp3"
            path = library / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
            song = catalog.upsert_song(conn, Track(platform="demo", external_id=str(i), title=f"Song {i}",
                                                   artists=("Artist",)))
            file_id = catalog.record_file(conn, song, str(library), rel, size=size, sha256=digest, fmt="mp3",
                                          source="demo", verified=False)
            catalog.mark_file_verified(conn, file_id, mtime_ns=path.stat().st_mtime_ns)
            paths.append(rel)
            file_ids.append(file_id)
        catalog.record_qualities(conn, [(file_id, None) for file_id in file_ids])
    return paths


@pytest.mark.slow
def test_a_sigkill_during_verify_resumes_it_and_checks_each_part_once(home: Path):
    set_env(home, OBJECT_BACKEND_NAME="none", VERIFY_WORKERS=1, MIN_FREE_DISK_MB=0, AUTO_RESUME_AFTER_RECOVERY="true")
    paths = make_library(home, 2000, 256 * 1024)  # deep: 10 parts of 200 files
    (home / "library" / paths[1234]).unlink()
    assert runnerd(home, "enqueue", "verify", "--deep").returncode == 0
    env = {**os.environ, "CATALOGSYNC_ENV_FILE": str(home / "catalogsync.env")}
    daemon = subprocess.Popen([sys.executable, "-m", "runnerd", "run"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        def parts_done():
            with db(home) as conn:
                return conn.execute("SELECT COUNT(*) FROM job_items WHERE status = 'succeeded'").fetchone()[0] >= 3

        wait_for(parts_done, timeout=120, interval=0.01, what="three parts checked")
        daemon.send_signal(signal.SIGKILL)
    finally:
        daemon.wait(30)
    with db(home) as conn:
        done_before = {r[0] for r in conn.execute("SELECT id FROM job_items WHERE status = 'succeeded'")}
        total = conn.execute("SELECT COUNT(*) FROM job_items").fetchone()[0]
    assert total == 11 and 3 <= len(done_before) < total  # 10 parts of files and the orphan walk
    # The next runner recovers the job and goes on with it (AUTO_RESUME_AFTER_RECOVERY=true).
    assert runnerd(home, "run", "--burst", timeout=300).returncode == 0
    with db(home) as conn:
        assert conn.execute("SELECT status FROM job_runs WHERE id = 1").fetchone()[0] == "completed"
        attempts = dict(conn.execute("SELECT item_id, COUNT(*) FROM item_attempts GROUP BY item_id").fetchall())
    assert all(attempts[item] == 1 for item in done_before)  # a part checked before the kill is not checked again
    found = drift_of(home)
    assert found["counts"] == {"file_missing": 1}
    assert found["drift"][0]["path"] == paths[1234]


@pytest.mark.slow
def test_the_drift_page_starts_a_verify_lists_what_it_found_and_queues_a_repair_of_one_file(
        home: Path, demo_server, client, web):
    from conftest import csrf_from

    run_demo_pipeline(home, demo_server, MIN_FREE_DISK_MB=0)
    _, conn = web
    page = client.get("/drift").get_data(as_text=True)
    assert "No verify has run yet." in page
    token = csrf_from(page)
    posted = client.post("/commands", data={"csrf_token": token, "kind": "enqueue_job", "job_type": "verify",
                                            "deep": "1", "back": "/drift", "nonce": "n1"})
    assert posted.status_code == 302
    assert json.loads(conn.execute("SELECT payload_json FROM job_commands ORDER BY id DESC").fetchone()[0]) == \
        {"job_type": "verify", "scope": {}, "priority": 0, "deep": True}
    files = uploaded_files(home)
    for row in files[:2]:
        (home / "library" / row["rel_path"]).unlink()
    assert runnerd(home, "run", "--burst", timeout=300).returncode == 0
    assert conn.execute("SELECT scope_json FROM job_runs WHERE job_type = 'verify'").fetchone()[0] == '{"deep": true}'

    page = client.get("/drift").get_data(as_text=True)
    assert page.count("data-drift=") == 2 and str(escape(files[0]["rel_path"])) in page and "(deep)" in page
    dashboard = client.get("/").get_data(as_text=True)
    assert "A verify found files that changed or went missing:" in dashboard
    assert "missing from the library 2" in dashboard
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'catalogsync_library_drift{kind="file_missing"} 2' in metrics
    assert 'catalogsync_library_drift{kind="orphan"} 0' in metrics
    first = conn.execute("SELECT id FROM drift WHERE path = ?", (files[0]["rel_path"],)).fetchone()[0]
    client.post("/commands", data={"csrf_token": token, "kind": "repair_drift", "drift_ids": str(first),
                                   "back": "/drift", "nonce": "n2"})
    assert json.loads(conn.execute("SELECT payload_json FROM job_commands ORDER BY id DESC").fetchone()[0]) == \
        {"drift_ids": [first]}
    assert runnerd(home, "run", "--burst", timeout=300).returncode == 0
    assert (home / "library" / files[0]["rel_path"]).is_file()
    assert not (home / "library" / files[1]["rel_path"]).exists()  # only the one asked for
    client.get("/lang/zh")
    chinese = client.get("/drift").get_data(as_text=True)
    assert "资料库中缺失" in chinese and "未解决" in chinese and ">file_missing<" not in chinese
    assert "磁盘上没有" in chinese and "not on disk" not in chinese


@pytest.mark.slow
def test_a_verify_pauses_after_the_part_in_hand_and_resumes_without_checking_a_part_twice(home: Path):
    set_env(home, OBJECT_BACKEND_NAME="none", VERIFY_WORKERS=1, MIN_FREE_DISK_MB=0)
    make_library(home, 1200, 1024 * 1024)  # deep: 6 parts of 200 files, 200 MiB each
    assert runnerd(home, "enqueue", "verify", "--deep").returncode == 0
    env = {**os.environ, "CATALOGSYNC_ENV_FILE": str(home / "catalogsync.env")}
    daemon = subprocess.Popen([sys.executable, "-m", "runnerd", "run"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)

    def count(sql: str) -> int:
        with db(home) as conn:
            return conn.execute(sql).fetchone()[0]

    try:
        wait_for(lambda: count("SELECT COUNT(*) FROM job_items WHERE status = 'succeeded'") >= 1, timeout=120,
                 interval=0.01, what="a part checked")
        with db(home) as conn:  # at once (a CLI process takes longer to start than a part takes)
            submit_command(conn, "pause_job", {"job_id": 1}, origin="cli")
        wait_for(lambda: count("SELECT COUNT(*) FROM job_runs WHERE id = 1 AND status = 'paused'"), timeout=60,
                 what="the verify paused")
        assert count("SELECT COUNT(*) FROM job_items WHERE status = 'running'") == 0  # the part in hand finished
        done = count("SELECT COUNT(*) FROM job_items WHERE status = 'succeeded'")
        assert 1 <= done < 7
        assert runnerd(home, "resume", "1", "--wait").returncode == 0
        wait_for(lambda: count("SELECT COUNT(*) FROM job_runs WHERE id = 1 AND status = 'completed'"), timeout=120,
                 what="the verify completed")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)
    assert count("SELECT COUNT(*) FROM item_attempts") == 7  # six parts and the orphan walk, each once
    assert drift_of(home)["counts"] == {}


def test_a_repair_that_could_not_mend_a_file_says_why_on_the_drift_page(home: Path, demo_server, web):
    run_demo_pipeline(home, demo_server, DOWNLOAD_SOURCES="demo", RETRY_BACKOFF_SECONDS=0,
                      RETRY_BACKOFF_MAX_SECONDS=0)
    with db(home) as conn:
        gone = conn.execute("SELECT f.rel_path, s.external_id FROM file_locations f JOIN songs s ON s.id = f.song_id"
                            " WHERE s.platform = 'demo' ORDER BY f.id LIMIT 1").fetchone()
    (home / "library" / gone["rel_path"]).unlink()
    demo_server.set_faults(not_found=[gone["external_id"]])  # taken down since: the repair cannot fetch it
    verify(home)
    assert runnerd(home, "repair").returncode == 0
    assert runnerd(home, "run", "--burst", timeout=300).returncode == 0
    from conftest import login

    app, _ = web
    client = app.test_client()
    assert login(client).status_code == 302
    page = client.get("/drift").get_data(as_text=True)
    row = page[page.index(str(escape(gone["rel_path"]))):]
    row = row[:row.index("</tr>")]
    assert "The repair did not mend it: [not found]" in row and "Job 3" in row


def store_details(home: Path, job: int) -> dict:
    """What a verify job's backup part counted."""
    with db(home) as conn:
        return json.loads(conn.execute(
            "SELECT a.details_json FROM item_attempts a JOIN job_items i ON i.id = a.item_id WHERE i.job_id = ?"
            " AND i.item_key = 'verify:store'", (job,)).fetchone()[0])


@pytest.mark.slow
def test_verify_names_each_way_a_backup_differs_from_what_was_uploaded(home: Path, demo_server, backup: Backup):
    run_demo_pipeline(home, demo_server, MIN_FREE_DISK_MB=0, **backup.env)
    files = uploaded_files(home)
    backup.put("music/Not Ours/stray.mp3", b"put there by hand")
    job = verify(home)  # all there as uploaded, and one object more: counted, not drift
    assert drift_of(home)["counts"] == {}
    assert store_details(home, job)["not_in_catalog"] == 1

    resized, rewritten, gone = (files[i]["object_key"] for i in range(3))
    backup.put(resized, b"shorter than any song")
    body = backup.get(rewritten)  # the same size, other bytes: a bucket's ETag tells; a mirror's listing cannot
    backup.put(rewritten, bytes(b ^ 0xFF for b in body[:64]) + body[64:])
    backup.delete(gone)
    backup.put("music/Not Ours/stray2.mp3", b"and another")
    # Another library (an older LIBRARY_DIR) uploaded to the same backup once: its uploads are not
    # this library's to check, even when they are gone.
    with db(home) as conn, transaction(conn):
        task = conn.execute("SELECT * FROM upload_tasks WHERE id = 1").fetchone()
        conn.execute("INSERT INTO file_locations (song_id, library_root, rel_path, size_bytes, sha256, format, source,"
                     " verified_at, created_at, updated_at) SELECT song_id, '/volume2/old-music', rel_path, size_bytes,"
                     " sha256, format, source, verified_at, created_at, updated_at FROM file_locations WHERE id = ?",
                     (task["file_location_id"],))
        conn.execute("INSERT INTO upload_tasks (file_location_id, backend, bucket, object_key, status, size_bytes,"
                     " uploaded_at, created_at, updated_at) VALUES (last_insert_rowid(), ?, ?, 'music/old/gone.mp3',"
                     " 'uploaded', 5, ?, ?, ?)", (task["backend"], task["bucket"], task["created_at"],
                                                   task["created_at"], task["created_at"]))

    job = verify(home)
    found = {row["path"]: row for row in drift_of(home)["drift"]}
    expected = {resized: "drift_object_size_differs", gone: "drift_not_in_backup"}
    if backup.kind == "s3":
        expected[rewritten] = "drift_etag_differs"
    assert {path: row["detail_code"] for path, row in found.items()} == expected
    assert json.loads(found[resized]["detail_params_json"]) == {"uploaded": files[0]["size_bytes"], "listed": 21}
    songs = {f["object_key"]: f["song_id"] for f in files}
    assert all(row["song_id"] == songs[path] for path, row in found.items())  # each drift names its song
    details = store_details(home, job)
    assert details["not_in_catalog"] == 2 and details["listed"] == len(backup.keys())
    assert details["checked"] == len(files) * 2  # each song and its lyrics
    if backup.kind == "mirror":
        verify(home, "--deep")  # reads every mirror file: the rewritten one is found now
        found = {row["path"]: row["detail_code"] for row in drift_of(home)["drift"]}
        assert found == {**expected, rewritten: "drift_object_content_differs"}


@pytest.mark.parametrize(("backend", "deep", "setting", "workers"), [
    ("local", False, 4, 2),  # the library's parts on one thread, the mirror's listing waited for on the other
    ("s3", False, 4, 2),
    ("none", False, 4, 1),  # nothing to wait for: one thread, as two would only take turns
    ("local", False, 1, 1),  # never more than the setting
    ("local", True, 4, 4),  # hashing lets the others run: the setting
])
def test_a_fast_verify_runs_its_backup_part_beside_the_library_on_at_most_two_workers(
        tmp_path: Path, backend: str, deep: bool, setting: int, workers: int):
    conn = open_database(tmp_path / "catalogsync.db")
    try:
        job = create_job(conn, "verify", scope={"deep": True} if deep else {})
        config = {"VERIFY_WORKERS": setting, "OBJECT_BACKEND_NAME": backend}
        assert stage_workers(conn, config, job, "verify") == workers
    finally:
        conn.close()
