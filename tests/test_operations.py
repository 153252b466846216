"""Running it for months: upgrades with a backup first, backup and restore, boot-up tasks."""
from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import run_demo_pipeline, runnerd

from catalogsync_ops.engine.activity import fold_minutes
from catalogsync_ops.engine.jobs import create_job
from catalogsync_ops.store import migrations
from catalogsync_ops.store.connection import connect, transaction
from catalogsync_ops.store.database import open_database
from catalogsync_ops.store.migrations import (
    v001_initial,
    v005_platforms,
    v006_hardening,
    v007_activity,
    v008_verify,
    v009_platform_edges,
    v010_command_specs,
)
from webui.auth import create_token, set_password


def narrow_checks(conn: sqlite3.Connection, widened) -> None:
    """Put CHECK lists a migration widened back as they were (inside a transaction)."""
    version = conn.execute("PRAGMA schema_version").fetchone()[0]
    conn.execute("PRAGMA writable_schema = ON")
    for table, old, new in widened:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        conn.execute("UPDATE sqlite_master SET sql = ? WHERE name = ?", (sql.replace(new, old), table))
    conn.execute(f"PRAGMA schema_version = {version + 1}")
    conn.execute("PRAGMA writable_schema = OFF")


def undo_v18(conn: sqlite3.Connection) -> None:
    """Back to schema v17 (inside a transaction): a trigger for each of the hours, the lifetime
    totals and the minutes' successes, which hold what the minutes counted."""
    from catalogsync_ops.store.migrations import v003_throughput, v004_notifications  # noqa: PLC0415

    conn.execute("CREATE TABLE throughput_minutes (minute TEXT PRIMARY KEY, items INTEGER NOT NULL DEFAULT 0)"
                 " WITHOUT ROWID")
    conn.execute("INSERT INTO throughput_minutes SELECT minute, SUM(items) FROM activity_minutes"
                 " WHERE outcome = 'succeeded' GROUP BY minute")
    fold_minutes(conn, now=datetime(9999, 1, 1, tzinfo=UTC))
    conn.execute("DROP TRIGGER item_attempts_ended")
    conn.execute("DROP TABLE activity_minutes")
    for sql, name in ((v003_throughput.SQL, "job_items_throughput"), (v004_notifications.SQL, "item_attempts_totals"),
                      (v007_activity.SQL, "item_attempts_activity")):
        conn.execute(re.search(rf"CREATE TRIGGER {name}.*?END;", sql, re.S).group(0))


def undo_v17(conn: sqlite3.Connection) -> None:
    """Back to schema v16 (inside a transaction): no upgrades."""
    from catalogsync_ops.store.migrations.v017_upgrades import WIDENED
    from catalogsync_ops.store.migrations.widen import widen_checks

    widen_checks(conn, [(table, new, old) for table, old, new in WIDENED])
    conn.execute("DROP TABLE retired_objects")
    conn.execute("ALTER TABLE file_locations DROP COLUMN upgrade_checked_at")


def undo_v16(conn: sqlite3.Connection) -> None:
    """Back to schema v15 (inside a transaction): no lyrics recorded."""
    conn.execute("ALTER TABLE file_locations DROP COLUMN lyrics")
    conn.execute("ALTER TABLE file_locations DROP COLUMN lyrics_sha256")
    conn.execute("ALTER TABLE file_locations DROP COLUMN spectrum")
    conn.execute("ALTER TABLE file_locations DROP COLUMN cutoff_hz")


def undo_v15(conn: sqlite3.Connection) -> None:
    """Back to schema v14 (inside a transaction): no file quality recorded."""
    for column in ("codec", "lossless", "bitrate_kbps", "sample_rate", "bit_depth", "channels", "duration_s",
                   "quality", "probed_at"):
        conn.execute(f"ALTER TABLE file_locations DROP COLUMN {column}")
    conn.execute("ALTER TABLE coverage DROP COLUMN quality_json")


def undo_v14(conn: sqlite3.Connection) -> None:
    """Back to schema v13 (inside a transaction): history pruned in one step."""
    conn.execute("DROP INDEX job_runs_trimmable_idx")
    conn.execute("ALTER TABLE job_runs DROP COLUMN trimmed_at")


def undo_v13(conn: sqlite3.Connection) -> None:
    """Back to schema v12 (inside a transaction): no history pruned; items counted down on every delete."""
    for index in ("job_runs_prunable_idx", "job_commands_settled_idx", "notifications_created_idx",
                  "login_attempts_created_idx"):
        conn.execute(f"DROP INDEX {index}")
    conn.execute("ALTER TABLE job_runs DROP COLUMN pruned_at")
    conn.execute("DROP TRIGGER job_items_count_delete")
    conn.execute(re.search(r"CREATE TRIGGER job_items_count_delete.*?END;", v001_initial.SQL, re.S).group(0))


def undo_v12(conn: sqlite3.Connection) -> None:
    """Back to schema v11 (inside a transaction): no wanted-list memory; every finished job notifies."""
    conn.execute("DROP TABLE missing_songs")
    conn.execute("DROP TRIGGER job_runs_notify")
    conn.execute(re.search(r"CREATE TRIGGER job_runs_notify.*?END;", v006_hardening.SQL, re.S).group(0))
    conn.execute("ALTER TABLE job_runs DROP COLUMN outcome_json")


def undo_v11(conn: sqlite3.Connection) -> None:
    """Back to schema v10 (inside a transaction): failures kept as text only."""
    for table, columns in (("job_items", ("last_error_code", "last_error_params_json")),
                           ("item_attempts", ("error_code", "error_params_json")),
                           ("source_health", ("last_error_code", "last_error_params_json"))):
        for column in columns:
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


def undo_v10(conn: sqlite3.Connection) -> None:
    """Back to schema v9 (inside a transaction): the kinds listed again, as v1, v5 and v8 wrote them."""
    for column in ("reject_code", "reject_params_json"):
        conn.execute(f"ALTER TABLE job_commands DROP COLUMN {column}")
    for column in ("detail_code", "detail_params_json"):
        conn.execute(f"ALTER TABLE drift DROP COLUMN {column}")
    listed = re.search(r"kind IN \([^)]*\)", v001_initial.SQL).group(0)
    for _, old, new in [(None, *v005_platforms.WIDENED["job_commands"])] + [
            w for w in v008_verify.WIDENED if w[0] == "job_commands"]:
        listed = listed.replace(old, new)
    narrow_checks(conn, [("job_commands", listed, v010_command_specs.KIND_SHAPE)])


def undo_v9(conn: sqlite3.Connection) -> None:
    """Back to schema v8 (inside a transaction)."""
    conn.execute("DROP TABLE link_service_stats")
    for column in ("missing_count", "partial_reason"):
        conn.execute(f"ALTER TABLE playlists DROP COLUMN {column}")
    narrow_checks(conn, v009_platform_edges.WIDENED)


def undo_v8(conn: sqlite3.Connection) -> None:
    """Back to schema v7 (inside a transaction)."""
    conn.execute("DROP TABLE drift")
    narrow_checks(conn, v008_verify.WIDENED)


def undo_v7(conn: sqlite3.Connection) -> None:
    """Back to schema v6 (inside a transaction)."""
    conn.execute("DROP TRIGGER item_attempts_activity")
    conn.execute("DROP TABLE activity_hours")
    conn.execute("DROP TABLE coverage")
    conn.execute("DROP INDEX job_items_song_idx")
    for column in ("code", "params_json"):
        conn.execute(f"ALTER TABLE job_logs DROP COLUMN {column}")
    conn.execute("ALTER TABLE file_locations DROP COLUMN mtime_ns")


def undo_v6(conn: sqlite3.Connection) -> None:
    """Back to schema v5 (inside a transaction)."""
    conn.execute("DROP INDEX login_attempts_username_idx")
    conn.execute("DROP INDEX notifications_job_idx")
    conn.execute("DROP INDEX job_logs_item_idx")
    for table, column in (("web_users", "session_generation"), ("login_attempts", "username"),
                          ("api_tokens", "scope"), ("runner_state", "degraded_reason"),
                          ("runner_state", "degraded_since")):
        conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


def undo_v5(conn: sqlite3.Connection) -> None:
    """Back to schema v4, as the previous release left it (inside a transaction)."""
    for table in ("playlist_unresolved", "source_health", "source_stats"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("ALTER TABLE playlists DROP COLUMN unresolved_count")
    version = conn.execute("PRAGMA schema_version").fetchone()[0]
    conn.execute("PRAGMA writable_schema = ON")
    for table, (old, new) in v005_platforms.WIDENED.items():
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        conn.execute("UPDATE sqlite_master SET sql = ? WHERE name = ?", (sql.replace(new, old), table))
    conn.execute(f"PRAGMA schema_version = {version + 1}")
    conn.execute("PRAGMA writable_schema = OFF")


def table_counts(conn: sqlite3.Connection) -> dict[str, int]:
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                                        "'sqlite_%'")]
    return {name: conn.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0] for name in names}


def make_old_database_with_data(home: Path, demo_server, version: int) -> Path:
    """A database as an earlier release left it (schema v4 to v8), a row in every table."""
    run_demo_pipeline(home, demo_server)
    db = home / "catalogsync.db"
    conn = open_database(db)
    set_password(conn, "admin", "correct horse battery")
    create_token(conn, "script")
    with transaction(conn):
        conn.execute("INSERT INTO login_attempts (remote_addr, succeeded, created_at) VALUES ('127.0.0.1', 1, 't')")
        conn.execute("INSERT INTO web_settings (key, value, updated_at) VALUES ('note', 'x', 't')")
        conn.execute("INSERT INTO playlist_unresolved (playlist_id, external_id, title, reason, seen_at)"
                     " SELECT MIN(id), '7103', 'gone', 'no playable link', 't' FROM playlists")
        conn.execute("INSERT INTO drift (kind, place, path, first_seen_at, last_seen_at)"
                     " VALUES ('orphan', 'library', 'stray.mp3', 't', 't')")
        # Back to that schema: undo what later versions added, as it never had it.
        undo_v18(conn)
        undo_v17(conn)
        undo_v16(conn)
        undo_v15(conn)
        undo_v14(conn)
        undo_v13(conn)
        undo_v12(conn)
        undo_v11(conn)
        undo_v10(conn)
        undo_v9(conn)
        if version <= 7:
            undo_v8(conn)
        if version <= 6:
            undo_v7(conn)
        if version <= 5:
            undo_v6(conn)
        if version == 4:
            undo_v5(conn)
        conn.execute("DELETE FROM schema_migrations WHERE version > ?", (version,))
    empty = [name for name, n in table_counts(conn).items() if n == 0]
    conn.close()
    assert not empty, f"tables without data: {empty}"
    return db


@pytest.mark.parametrize("version", [4, 5, 6, 7, 8])
def test_an_upgrade_keeps_every_row_and_takes_a_backup_first(home: Path, demo_server, version, opened):
    db = make_old_database_with_data(home, demo_server, version)
    before = table_counts(opened(connect(db)))
    conn = opened(open_database(db))  # what runnerd and the console do on start
    latest = migrations.LATEST_VERSION
    assert migrations.current_version(conn) == latest
    after = table_counts(conn)
    assert after.pop("schema_migrations") == before.pop("schema_migrations") + latest - version
    # v18 folds the last hour's successes per minute into the attempts' minutes (counted anew).
    per_minute = before.pop("throughput_minutes")
    assert per_minute and "throughput_minutes" not in after
    assert {name: after[name] for name in before} == before
    # v7 counted the last day's attempts into the charts' table: the pipeline above shows.
    stages = {r[0] for r in conn.execute("SELECT stage_type FROM activity_hours WHERE outcome = 'succeeded'")}
    assert stages == {"collect", "sync", "download", "upload"}
    backups = list((home / "backups").glob(f"before-v{latest}-from-v{version}-*.db"))
    assert len(backups) == 1
    saved = opened(sqlite3.connect(backups[0]))
    assert saved.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] == version
    assert table_counts(saved) == {**before, "throughput_minutes": per_minute, "schema_migrations": version}
    assert saved.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
    saved.close()
    # v5 widened the error classes in place: the upgraded file is whole and takes the new ones.
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with transaction(conn):
        conn.execute("UPDATE job_items SET last_error_class = 'preview' WHERE id = (SELECT MIN(id) FROM job_items)")
        conn.execute("UPDATE item_attempts SET error_class = 'encrypted'"
                     " WHERE id = (SELECT MIN(id) FROM item_attempts)")
    # v8 widened the job, stage, item and command kinds in place: a verify job can be written.
    with transaction(conn):
        conn.execute("INSERT INTO job_commands (kind, status, created_at) VALUES ('repair_drift', 'applied', 't')")
    verify_job = create_job(conn, "verify")
    # v9: a partial read and an incompatible source can be written.
    with transaction(conn):
        conn.execute("UPDATE playlists SET missing_count = 50, partial_reason = 'a page failed'")
        conn.execute("INSERT INTO source_health (source, state, updated_at) VALUES ('kuwo', 'incompatible', 't')")
        conn.execute("UPDATE item_attempts SET error_class = 'incompatible' WHERE id = (SELECT MIN(id) FROM "
                     "item_attempts)")
    assert conn.execute("SELECT stage_type FROM job_stages WHERE job_id = ?", (verify_job,)).fetchone()[0] == "verify"
    # v6: the token made before has every right, as it had; the user's sessions start a generation.
    # v11: a failure's code and values can be kept; the rows from before have none (their text stays).
    assert conn.execute("SELECT COUNT(*) FROM job_items WHERE last_error_code IS NOT NULL").fetchone()[0] == 0
    with transaction(conn):
        conn.execute("UPDATE item_attempts SET error_code = 'no_source_can', error_params_json = '{}'"
                     " WHERE id = (SELECT MIN(id) FROM item_attempts)")
    assert conn.execute("SELECT scope FROM api_tokens").fetchone()[0] == "admin"
    assert conn.execute("SELECT session_generation FROM web_users").fetchone()[0] == 0
    conn.close()
    # Opening it again is not an upgrade: no second backup.
    open_database(db).close()
    assert len(list((home / "backups").glob("before-v*.db"))) == 1


@pytest.mark.slow
def test_backup_and_restore_round_trip_and_restore_refuses_while_the_runner_runs(home: Path, demo_server, tmp_path,
                                                                                 opened):
    run_demo_pipeline(home, demo_server)
    single = runnerd(home, "backup", str(tmp_path / "one-file.db"))
    assert single.returncode == 0 and (tmp_path / "one-file.db").is_file()
    (tmp_path / "nightly").mkdir()
    result = runnerd(home, "backup", str(tmp_path / "nightly"))
    assert result.returncode == 0, result.stderr
    copy = next((tmp_path / "nightly").glob("catalogsync-*.db"))
    assert "Backed up" in result.stdout and str(copy) in result.stdout
    original = table_counts(opened(connect(home / "catalogsync.db")))
    saved = opened(sqlite3.connect(copy))
    assert table_counts(saved) == original
    assert saved.execute("SELECT COUNT(*) FROM config_revisions").fetchone()[0] >= 1

    # Later changes, then a restore brings the backup's state back.
    assert runnerd(home, "enqueue", "sync").returncode == 0
    commands = "SELECT COUNT(*) FROM job_commands"
    assert opened(connect(home / "catalogsync.db")).execute(commands).fetchone()[0] == original["job_commands"] + 1

    daemon = subprocess.Popen([sys.executable, "-m", "runnerd", "run"], stderr=subprocess.DEVNULL,
                              env={**os.environ, "CATALOGSYNC_ENV_FILE": str(home / "catalogsync.env")})
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and runnerd(home, "status").returncode != 0:
            time.sleep(0.2)
        refused = runnerd(home, "restore", "--yes", str(copy))
        assert refused.returncode != 0 and "stop runnerd before restoring" in refused.stderr
        # A boot-up task starting a second runner exits cleanly.
        second = runnerd(home, "run", "--if-not-running")
        assert second.returncode == 0 and "already running" in second.stderr
        assert runnerd(home, "run").returncode == 2
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)

    restored = runnerd(home, "restore", "--yes", str(copy))
    assert restored.returncode == 0, restored.stderr
    conn = opened(connect(home / "catalogsync.db"))
    assert conn.execute(commands).fetchone()[0] == original["job_commands"]
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    safety = list((home / "backups").glob("before-restore-*.db"))
    # The database as it was before the restore (with the later command, which the runner applied).
    assert len(safety) == 1
    assert opened(sqlite3.connect(safety[0])).execute(commands).fetchone()[0] == original["job_commands"] + 1


def test_restore_refuses_a_file_that_is_not_a_backup(home: Path, tmp_path, opened):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    result = runnerd(home, "restore", "--yes", str(junk))
    assert result.returncode != 0 and "not a catalogsync database" in result.stderr
    assert opened(connect(home / "catalogsync.db")).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_metrics_parse_and_match_the_database_and_healthz_names_a_down_runner(home: Path, demo_server, opened):
    from prometheus_client.parser import text_string_to_metric_families

    from webui import create_app

    run_demo_pipeline(home, demo_server)
    db = home / "catalogsync.db"
    conn = opened(open_database(db))
    token = create_token(conn, "prometheus")
    app = create_app({"DB_PATH": db, "ENV_PATH": home / "catalogsync.env"})
    client = app.test_client()
    assert client.get("/metrics").status_code == 401  # never public
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and answer.content_type.startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(answer.get_data(as_text=True))}
    items = {(s.labels["stage"], s.labels["status"]): s.value for s in families["catalogsync_items"].samples}
    truth = conn.execute("SELECT s.stage_type, i.status, COUNT(*) FROM job_items i JOIN job_stages s"
                         " ON s.id = i.stage_id GROUP BY 1, 2").fetchall()
    assert truth and all(items[(stage, status)] == n for stage, status, n in truth)
    assert sum(items.values()) == conn.execute("SELECT COUNT(*) FROM job_items").fetchone()[0]
    # prometheus_client drops the _total suffix from counter family names.
    sent = {s.labels["stage"]: s.value for s in families["catalogsync_transferred_bytes"].samples}
    attempts = dict(conn.execute("SELECT s.stage_type, SUM(a.bytes_done) FROM item_attempts a JOIN job_items i"
                                 " ON i.id = a.item_id JOIN job_stages s ON s.id = i.stage_id GROUP BY 1").fetchall())
    assert sent["download"] == attempts["download"] > 0 and sent["upload"] == attempts["upload"] > 0
    assert families["catalogsync_runner_up"].samples[0].value == 0
    assert families["catalogsync_database_bytes"].samples[0].value == db.stat().st_size
    # A source whose musicdl does not fit shows as such, one state at a time.
    from catalogsync_ops.engine import breakers

    breakers.mark_incompatible(conn, "kuwo", "kuwo: missing KuwoMusicClient._parsewithofficialapiv1")
    families = {f.name: f for f in text_string_to_metric_families(
        client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).get_data(as_text=True))}
    states = {s.labels["state"]: s.value for s in families["catalogsync_source_state"].samples
              if s.labels["source"] == "kuwo"}
    assert states == {"closed": 0, "open": 0, "half_open": 0, "incompatible": 1}
    assert [s.value for s in families["catalogsync_source_up"].samples if s.labels["source"] == "kuwo"] == [0]

    down = client.get("/healthz")
    assert down.status_code == 503 and down.json["database"] == "ok" and down.json["runner"] == "stopped"
    assert "runnerd run" in down.json["hint"]
    daemon = subprocess.Popen([sys.executable, "-m", "runnerd", "run"], stderr=subprocess.DEVNULL,
                              env={**os.environ, "CATALOGSYNC_ENV_FILE": str(home / "catalogsync.env")})
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and client.get("/healthz").status_code != 200:
            time.sleep(0.2)
        up = client.get("/healthz")
        assert up.status_code == 200 and up.json["runner"] == "up"
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
