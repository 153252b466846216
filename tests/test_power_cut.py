"""Power cuts on a disk that forgets what was not synced (tools/forgetfs.py, a FUSE passthrough):
first that the disk forgets as a real one does, then that what the product promises survives it,
then a few rounds of the whole harness (tools/power_cut.py; `--rounds 200` by hand)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from catalogsync_ops.fileio import fsync_dir, make_folders
from catalogsync_ops.store.connection import connect, transaction
from catalogsync_ops.transfer.downloader import commit_file

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from power_cut import Disk  # noqa: E402


@pytest.fixture
def disk(tmp_path, monkeypatch):
    monkeypatch.setenv("CATALOGSYNC_ALLOW_FUSEBLK", "1")
    disk = Disk(tmp_path)
    disk.up()
    yield disk
    disk.down()


def cut(disk: Disk) -> Path:
    """Cut the power; the backing folder is then what the disk kept."""
    disk.cut([])
    return disk.backing


def write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def test_the_disk_forgets_what_was_not_synced_and_keeps_what_was(disk):
    m = disk.mount
    (m / "unsynced.txt").write_bytes(b"lost")
    write_synced(m / "synced.txt", b"kept")
    write_synced(m / "renamed.tmp", b"renamed")
    fsync_dir(m)
    (m / "never named.txt").write_bytes(b"gone")  # after the folder's last sync: no name, no data
    os.rename(m / "renamed.tmp", m / "renamed.txt")  # the folder not synced after: the old name comes back
    (m / "folder").mkdir()
    write_synced(m / "folder" / "song.mp3", b"song")  # its folder's entry never synced
    fsync_dir(m / "folder")
    kept = cut(disk)
    assert (kept / "synced.txt").read_bytes() == b"kept"
    assert (kept / "unsynced.txt").read_bytes() == b""  # the name was synced, never the data
    assert not (kept / "never named.txt").exists()
    assert not (kept / "renamed.txt").exists()
    assert (kept / "renamed.tmp").read_bytes() == b"renamed"
    assert not (kept / "folder").exists()  # the new folder's own name was never synced
    assert disk.counts["rename"] == 1


def test_a_rename_between_folders_is_atomic_as_in_a_journal(disk):
    m = disk.mount
    for name in ("a", "b"):
        (m / name).mkdir()
    fsync_dir(m)
    write_synced(m / "a" / "x", b"x")
    fsync_dir(m / "a")
    os.rename(m / "a" / "x", m / "b" / "x")
    fsync_dir(m / "b")  # syncing one end makes both durable: never in both folders, never in neither
    kept = cut(disk)
    assert not (kept / "a" / "x").exists()
    assert (kept / "b" / "x").read_bytes() == b"x"


def test_a_durable_commit_survives_a_cut_with_every_commit_before_it_and_the_next_ordinary_one_does_not(disk):
    db = disk.mount / "x.db"
    conn = connect(db)
    try:
        with transaction(conn):
            conn.execute("CREATE TABLE t (x)")
        with transaction(conn, durable=True):
            conn.execute("INSERT INTO t VALUES ('acknowledged')")
        with transaction(conn):
            conn.execute("INSERT INTO t VALUES ('not yet')")
        with transaction(conn):  # a durable one inside an ordinary one: its WAL fsynced after the commit
            conn.execute("INSERT INTO t VALUES ('around it')")
            with transaction(conn, durable=True):
                conn.execute("INSERT INTO t VALUES ('nested')")
        with transaction(conn):
            conn.execute("INSERT INTO t VALUES ('after')")
        assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 5
        kept = cut(disk)
    finally:
        conn.close()
    conn = connect(kept / "x.db", check_filesystem=False)
    try:
        # What came before the nested durable one survives with it (one WAL); what came after not.
        assert [r[0] for r in conn.execute("SELECT x FROM t")] == ["acknowledged", "not yet", "around it", "nested"]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_a_file_row_written_before_its_rename_outlives_a_cut_that_the_renamed_file_outlives(disk):
    """The row recorded before a download's rename is what the file found after a crash is
    adopted by. Unsynced, a cut kept the renamed file and lost the row: the song was fetched
    again as "Title (2).mp3" beside an orphan nobody adopts."""
    from catalogsync_ops.library import catalog
    from catalogsync_ops.sources.base import Track
    from catalogsync_ops.store.database import open_database

    conn = open_database(disk.mount / "catalogsync.db")
    try:
        song = catalog.upsert_song(conn, Track("demo", "s01", "晴天", ("周杰伦",)))
        dest = disk.mount / "library" / "晴天.mp3"
        make_folders(dest.parent)
        part = dest.with_name(".晴天.mp3.part")
        write_synced(part, b"song")
        catalog.record_file(conn, song, str(disk.mount / "library"), "晴天.mp3", size=4, sha256="x" * 64, fmt="mp3",
                            source="demo", verified=False)
        commit_file(part, dest)
        kept = cut(disk)
    finally:
        conn.close()
    conn = connect(kept / "catalogsync.db", check_filesystem=False)
    try:
        assert (kept / "library" / "晴天.mp3").read_bytes() == b"song"
        assert [tuple(r) for r in conn.execute("SELECT rel_path FROM file_locations")] == [("晴天.mp3",)]
    finally:
        conn.close()


def test_a_command_whose_id_was_printed_outlives_a_cut(disk):
    """`runnerd enqueue` prints the command's id; the harness found it gone after a cut."""
    from catalogsync_ops.engine.commands import submit_command
    from catalogsync_ops.store.database import open_database

    conn = open_database(disk.mount / "catalogsync.db")
    try:
        command_id, _ = submit_command(conn, "enqueue_job", {"job_type": "verify"})
        kept = cut(disk)
    finally:
        conn.close()
    conn = connect(kept / "catalogsync.db", check_filesystem=False)
    try:
        assert conn.execute("SELECT kind FROM job_commands WHERE id = ?", (command_id,)).fetchone()[0] == "enqueue_job"
    finally:
        conn.close()


def test_what_a_notification_tells_is_on_disk_before_it_is_sent(disk):
    """A notification is counted durably before it goes out, and with that count every commit
    before it (what it tells: a job finished). A cut right after the webhook heard it loses
    neither; the notification itself may be sent again, never its news taken back."""
    import requests
    from power_cut import Inbox

    from catalogsync_ops.engine import notify
    from catalogsync_ops.store.database import open_database

    inbox = Inbox()
    conn = open_database(disk.mount / "catalogsync.db")
    session = requests.Session()
    try:
        with transaction(conn):  # the news, committed as the runner commits most things: unsynced
            conn.execute("INSERT INTO web_settings (key, value, updated_at) VALUES ('news', 'job 7 finished', 't')")
        notify.enqueue(conn, "test", "news-7")
        settings = {"NOTIFY_WEBHOOK_URL": inbox.url, "NOTIFY_EVENTS": ("test",), "NOTIFY_FORMAT": "json"}
        assert notify.deliver_due(conn, settings, session) == 1 and len(inbox.received) == 1
        kept = cut(disk)
    finally:
        session.close()
        conn.close()
        inbox.shutdown()
        inbox.server_close()
    conn = connect(kept / "catalogsync.db", check_filesystem=False)
    try:
        assert conn.execute("SELECT value FROM web_settings WHERE key = 'news'").fetchone()[0] == "job 7 finished"
        assert conn.execute("SELECT attempts FROM notifications").fetchone()[0] == 1
    finally:
        conn.close()


def test_a_file_committed_into_new_folders_survives_with_its_folders(disk):
    """commit_file syncs the file's folder; make_folders syncs each new folder into its parent.
    With a plain mkdir -p the song was gone after the cut, its row still there."""
    library = disk.mount / "library"
    make_folders(library)
    for folders, maker in (("durable/Artist/Album", make_folders),
                           ("plain/Artist/Album", lambda p: p.mkdir(parents=True))):
        dest = library / folders / "song.mp3"
        maker(dest.parent)
        part = dest.with_name(".song.mp3.part")
        write_synced(part, b"whole song")
        commit_file(part, dest)
    kept = cut(disk)
    assert (kept / "library" / "durable" / "Artist" / "Album" / "song.mp3").read_bytes() == b"whole song"
    assert not (kept / "library" / "plain" / "Artist").exists()


@pytest.mark.slow
def test_a_few_rounds_of_power_cuts_lose_nothing_acknowledged():
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "power_cut.py"), "--rounds", "4", "--seed", "7"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "4 power cuts" in done.stdout
    assert "jobs at the end {'completed'" in done.stdout
