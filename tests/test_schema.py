"""The database: pragmas, migrations, CHECK constraints, indexes, and where it may live."""
from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalogsync_ops.engine.commands import CommandKind
from catalogsync_ops.engine.states import (
    CommandStatus,
    ItemStatus,
    ItemType,
    JobStatus,
    JobType,
    StageStatus,
    StageType,
    WorkerState,
)
from catalogsync_ops.errors import DatabaseLocationError, ErrorClass, SchemaTooNewError
from catalogsync_ops.library.drift import DriftKind
from catalogsync_ops.store import migrations
from catalogsync_ops.store.connection import check_local_filesystem, connect, filesystem_type, transaction
from catalogsync_ops.store.database import open_database

TABLES = {
    "playlist_pools", "playlists", "pool_playlists", "songs", "playlist_songs", "file_locations",
    "upload_tasks", "job_runs", "job_stages", "job_items", "item_attempts", "job_workers",
    "job_commands", "job_events", "job_logs", "config_revisions", "runner_instances",
}


def test_open_database_creates_every_table(conn):
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert TABLES <= names, TABLES - names


def test_connect_sets_wal_busy_timeout_foreign_keys_and_synchronous(db_path, opened):
    conn = opened(connect(db_path))
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_readonly_connection_cannot_write(db_path, opened):
    reader = opened(connect(db_path, readonly=True))
    with pytest.raises(sqlite3.OperationalError, match="readonly|query_only|attempt to write"):
        reader.execute("INSERT INTO playlist_pools (name, created_at, updated_at) VALUES ('x', 'a', 'a')")


def test_failed_transaction_rolls_back_everything(conn):
    with pytest.raises(RuntimeError):
        with transaction(conn):
            conn.execute("INSERT INTO playlist_pools (name, created_at, updated_at) VALUES ('a', 't', 't')")
            raise RuntimeError("boom")
    assert conn.execute("SELECT COUNT(*) FROM playlist_pools").fetchone()[0] == 0


def test_nested_transaction_failure_rolls_back_only_the_inner_block(conn):
    with transaction(conn):
        conn.execute("INSERT INTO playlist_pools (name, created_at, updated_at) VALUES ('outer', 't', 't')")
        with pytest.raises(RuntimeError):
            with transaction(conn):
                conn.execute("INSERT INTO playlist_pools (name, created_at, updated_at) VALUES ('inner', 't', 't')")
                raise RuntimeError("boom")
    names = [r[0] for r in conn.execute("SELECT name FROM playlist_pools")]
    assert names == ["outer"]


def test_migrations_are_recorded_and_idempotent(db_path, opened):
    conn = opened(open_database(db_path))
    assert migrations.apply_migrations(conn) == []
    rows = conn.execute("SELECT version, name FROM schema_migrations").fetchall()
    assert [tuple(r) for r in rows] == [(m.version, m.name) for m in migrations.MIGRATIONS]


def test_two_processes_migrating_at_once_apply_each_migration_once(tmp_path, opened):
    path = tmp_path / "race.db"
    code = ("import sys; from catalogsync_ops.store.database import open_database; "
            "open_database(sys.argv[1]).close()")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path)], stderr=subprocess.PIPE) for _ in range(4)]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    conn = opened(connect(path))
    try:
        assert conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == len(migrations.MIGRATIONS)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_database_from_a_newer_version_is_refused(conn, db_path):
    with transaction(conn):
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 't')")
    with pytest.raises(SchemaTooNewError, match="upgrade catalogsync-ops"):
        open_database(db_path)


CHECKED = [
    ("job_runs", "status", JobStatus), ("job_runs", "job_type", JobType),
    ("job_stages", "status", StageStatus), ("job_stages", "stage_type", StageType),
    ("job_items", "status", ItemStatus), ("job_items", "item_type", ItemType),
    ("job_items", "last_error_class", ErrorClass), ("job_workers", "state", WorkerState),
    ("job_commands", "status", CommandStatus),
    ("drift", "kind", DriftKind),
]


def test_command_kinds_are_checked_for_their_shape_and_by_the_runner(conn):
    """Which command kinds exist is said by engine/command_specs.py (a new kind needs no
    migration); the table still refuses what could never be a kind."""
    for kind in CommandKind:
        conn.execute("INSERT INTO job_commands (kind, payload_json, status, origin, created_at)"
                     " VALUES (?, '{}', 'pending', 'cli', '2026-01-01T00:00:00Z')", (kind.value,))
    for bad in ("Pause_Job", "pause job", "", "x" * 41, "drop;"):
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute("INSERT INTO job_commands (kind, payload_json, status, origin, created_at)"
                         " VALUES (?, '{}', 'pending', 'cli', '2026-01-01T00:00:00Z')", (bad,))


@pytest.mark.parametrize("table,column,enum", CHECKED, ids=lambda v: getattr(v, "__name__", v))
def test_check_constraints_accept_every_enum_value_and_nothing_else(conn, table, column, enum: type[StrEnum]):
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    match = re.search(rf"\b{column} IN \(([^)]*)\)", sql)
    assert match, f"{table}.{column} has no CHECK constraint"
    allowed = set(re.findall(r"'([a-z0-9_]+)'", match.group(1)))
    # Every value the code can write must pass the database's CHECK: a new enum value needs a migration.
    assert allowed == {m.value for m in enum}, f"{table}.{column}: add a migration for the changed enum"


def test_check_constraint_rejects_an_unknown_status(conn):
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        conn.execute("INSERT INTO job_runs (job_type, status, created_at, updated_at) "
                     "VALUES ('download', 'exploded', 't', 't')")


def test_claim_query_uses_the_claim_index(conn):
    from catalogsync_ops.engine.items import _CLAIM_UPDATE

    plan = " ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + _CLAIM_UPDATE, (1, 1, "z", "z", 1, "z", 64)))
    assert "job_items_claim_idx" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:40 / /volume1 rw,relatime shared:2 - btrfs /dev/md2 rw
41 22 0:41 / /mnt/music rw,relatime shared:3 - nfs4 nas:/music rw
42 22 0:42 / /mnt/smb\\040share rw,relatime shared:4 - cifs //nas/share rw
43 22 0:43 / /mnt/cloud rw,relatime shared:5 - fuse.rclone remote: rw
44 22 0:44 / /mnt/cluster rw,relatime shared:6 - gfs2 /dev/sdc rw
45 22 0:45 / /mnt/ocfs rw,relatime shared:7 - ocfs2 /dev/sdd rw
46 22 0:46 / /mnt/bee rw,relatime shared:8 - beegfs beegfs_nodev rw
47 22 0:47 / /mnt/odd\\011name\\134x rw,relatime shared:9 - nfs nas:/odd rw
48 22 8:33 / /volumeUSB1/usbshare rw,relatime shared:10 - fuseblk /dev/sdq1 rw
"""


@pytest.mark.parametrize("path,fstype", [
    ("/volume1/catalogsync/catalogsync.db", "btrfs"),
    ("/mnt/music/catalogsync.db", "nfs4"),
    ("/mnt/smb share/db/catalogsync.db", "cifs"),
    ("/mnt/cloud/x.db", "fuse.rclone"),
    ("/home/x.db", "ext4"),
])
def test_filesystem_type_reads_the_longest_matching_mount(path, fstype):
    assert filesystem_type(path, MOUNTINFO) == fstype


@pytest.mark.parametrize("path", ["/mnt/music/c.db", "/mnt/smb share/c.db", "/mnt/cloud/c.db", "/mnt/cluster/c.db",
                                  "/mnt/ocfs/c.db", "/mnt/bee/c.db", "/mnt/odd\tname\\x/c.db"])
def test_database_on_a_network_share_is_refused_with_the_reason(path):
    with pytest.raises(DatabaseLocationError, match="local disk") as info:
        check_local_filesystem(path, MOUNTINFO)
    assert "WAL" in str(info.value)


def test_database_on_a_local_volume_is_accepted():
    check_local_filesystem("/volume1/catalogsync/catalogsync.db", MOUNTINFO)


def test_a_local_ntfs_usb_disk_is_refused_with_the_reason_and_the_override(monkeypatch):
    path = "/volumeUSB1/usbshare/catalogsync.db"
    monkeypatch.delenv("CATALOGSYNC_ALLOW_FUSEBLK", raising=False)
    with pytest.raises(DatabaseLocationError) as info:
        check_local_filesystem(path, MOUNTINFO)
    assert "NTFS or exFAT" in str(info.value) and "CATALOGSYNC_ALLOW_FUSEBLK=1" in str(info.value)
    monkeypatch.setenv("CATALOGSYNC_ALLOW_FUSEBLK", "1")
    check_local_filesystem(path, MOUNTINFO)  # the owner took the risk
    with pytest.raises(DatabaseLocationError):
        check_local_filesystem("/mnt/music/c.db", MOUNTINFO)  # a network share is never allowed


@given(st.datetimes(min_value=datetime(1001, 1, 1), max_value=datetime(9998, 12, 31),
                    timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=8)),
                                               timezone(timedelta(hours=-5, minutes=-30))])))
def test_a_stored_time_is_fixed_width_utc_that_sorts_as_the_time_and_reads_back(moment):
    from catalogsync_ops.store.connection import iso, parse_iso

    text = iso(moment)
    utc = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    assert text == utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ") and len(text) == 27
    assert parse_iso(text) == utc
