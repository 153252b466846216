"""catalogsync.env: parsing like python-dotenv, validation with lines, masking, revisions."""
from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest
from dotenv import dotenv_values

from catalogsync_ops.config.envfile import check_text, load_config, mask_text, parse_env_text, unmask_text
from catalogsync_ops.config.reference import render_config_table, render_env_example
from catalogsync_ops.config.revisions import (
    apply_config_text,
    diff_revisions,
    list_revisions,
    record_if_changed,
    record_revision,
    rollback_to,
)
from catalogsync_ops.config.settings import MASK, SETTINGS
from catalogsync_ops.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent

TRICKY = (
    "# a comment\n"
    "\n"
    "export DOWNLOAD_WORKERS = 4\n"
    "OBJECT_PREFIX='music/ with space'\n"
    'OBJECT_REGION="eu-west-1"   # inline comment\n'
    "  MAX_ATTEMPTS=5\n"
    "DOWNLOAD_WORKERS=6\n"
    "OBJECT_BUCKET=\n"
    'MY_NOTE="line one\\nline two"\n'
    "DOWNLOAD_LAYOUT={artist}/{title}.{ext}\n"
)


@pytest.mark.parametrize("variant", ["lf", "crlf", "bom", "bom+crlf"])
def test_env_text_parses_exactly_as_python_dotenv_does(tmp_path, variant):
    text = TRICKY.replace("\n", "\r\n") if "crlf" in variant else TRICKY
    data = (b"\xef\xbb\xbf" if "bom" in variant else b"") + text.encode("utf-8")
    path = tmp_path / "catalogsync.env"
    path.write_bytes(data)
    ours = parse_env_text(data.decode("utf-8-sig")).values
    assert ours == dict(dotenv_values(path))
    assert ours["DOWNLOAD_WORKERS"] == "6" and ours["OBJECT_PREFIX"] == "music/ with space"
    assert ours["OBJECT_REGION"] == "eu-west-1" and ours["MAX_ATTEMPTS"] == "5"


def test_duplicate_keys_last_wins_and_are_flagged_with_both_lines(tmp_path):
    config, problems = check_text(TRICKY, tmp_path)
    assert config["DOWNLOAD_WORKERS"] == 6
    [dup] = [p for p in problems if p.key == "DOWNLOAD_WORKERS"]
    assert dup.severity == "warning" and dup.line == 7 and "line 3" in dup.message


def test_unknown_key_is_kept_and_flagged(tmp_path):
    config, problems = check_text(TRICKY + "DOWNLOAD_WORKER=3\n", tmp_path)
    assert config is not None and config.unknown["DOWNLOAD_WORKER"] == "3"
    [warning] = [p for p in problems if p.key == "DOWNLOAD_WORKER"]
    assert warning.severity == "warning" and warning.line == 11
    assert "DOWNLOAD_WORKERS" in warning.message  # the near miss is suggested


@pytest.mark.parametrize("line,needle", [
    ("DOWNLOAD_WORKERS=lots", "'lots' is not a whole number"),
    ("DOWNLOAD_WORKERS=0", "below the minimum 1"),
    ("WEB_PORT=70000", "above the maximum 65535"),
    ("OBJECT_BACKEND_NAME=ftp", "choose one of: s3, local, none"),
    ("DOWNLOAD_SOURCES=qq,spotify", "unknown source 'spotify'; known sources: demo"),
    ("DOWNLOAD_SOURCES=qq,qq", "listed twice"),
    ("AUTO_RESUME_AFTER_RECOVERY=maybe", "is not true or false"),
    ("DOWNLOAD_LAYOUT={artist}/{name}.{ext}", "unknown field {name}"),
    ("DOWNLOAD_LAYOUT={artist}/{title}", "must end with .{ext}"),
    ("DOWNLOAD_LAYOUT=../{title}.{ext}", "stay inside LIBRARY_DIR"),
    ("OBJECT_ENDPOINT=s3.example.com", "is not an http(s) URL"),
    ("WEB_HOST=not a host", "is not an IP address or host name"),
    ("this is not a setting", "expected KEY=value"),
])
def test_an_invalid_value_is_reported_with_its_line_and_what_is_allowed(tmp_path, line, needle):
    text = "# header\nMAX_ATTEMPTS=3\n" + line + "\n"
    config, problems = check_text(text, tmp_path)
    assert config is None
    errors = [p for p in problems if p.severity == "error"]
    assert len(errors) == 1, errors
    assert errors[0].line == 3 and needle in errors[0].message, errors[0]


def test_s3_backend_needs_a_bucket(tmp_path):
    config, problems = check_text("OBJECT_BACKEND_NAME=s3\n", tmp_path)
    assert config is None and "OBJECT_BUCKET is required" in problems[0].message


def test_relative_paths_resolve_against_the_env_file_folder(tmp_path):
    (tmp_path / "catalogsync.env").write_text("LIBRARY_DIR=music\n", encoding="utf-8")
    config = load_config(tmp_path / "catalogsync.env")
    assert config["LIBRARY_DIR"] == tmp_path / "music"
    assert config["DB_PATH"] == tmp_path / "catalogsync.db"


def test_load_config_lists_every_error(tmp_path):
    (tmp_path / "catalogsync.env").write_text("WEB_PORT=x\nMAX_ATTEMPTS=0\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "catalogsync.env")
    assert "2 error(s)" in str(info.value) and "line 1" in str(info.value) and "line 2" in str(info.value)


def test_missing_env_file_says_how_to_create_one(tmp_path):
    with pytest.raises(ConfigError, match="runnerd init --home"):
        load_config(tmp_path / "nope.env")


SECRET_ENV = "OBJECT_BACKEND_NAME=s3\nOBJECT_BUCKET=b\nOBJECT_SECRET_ACCESS_KEY='t0p s3cret'\n"


def test_secrets_are_masked_in_text_and_snapshots(tmp_path):
    masked = mask_text(SECRET_ENV)
    assert "t0p s3cret" not in masked and f"OBJECT_SECRET_ACCESS_KEY={MASK}" in masked
    config, _ = check_text(SECRET_ENV, tmp_path)
    assert config.snapshot()["OBJECT_SECRET_ACCESS_KEY"] == MASK
    assert "t0p s3cret" not in repr(config.snapshot())


def test_submitting_the_mask_keeps_the_saved_secret():
    edited = mask_text(SECRET_ENV).replace("OBJECT_BUCKET=b", "OBJECT_BUCKET=new-bucket")
    restored = parse_env_text(unmask_text(edited, SECRET_ENV)).values
    assert restored["OBJECT_SECRET_ACCESS_KEY"] == "t0p s3cret" and restored["OBJECT_BUCKET"] == "new-bucket"


def test_submitting_a_mask_with_nothing_saved_is_an_error():
    with pytest.raises(ConfigError, match="type the value"):
        unmask_text(f"OBJECT_SECRET_ACCESS_KEY={MASK}\n", "")


@pytest.fixture
def env(tmp_path, conn):
    path = tmp_path / "catalogsync.env"
    path.write_text(SECRET_ENV, encoding="utf-8")
    path.chmod(0o640)
    record_revision(conn, path, SECRET_ENV, source="init")
    return path


def test_applying_an_invalid_revision_leaves_the_file_byte_for_byte(conn, env):
    before = env.read_bytes()
    mtime = env.stat().st_mtime_ns
    with pytest.raises(ConfigError, match="line 2: WEB_PORT"):
        apply_config_text(conn, env, "OBJECT_BACKEND_NAME=local\nWEB_PORT=eighty\n", source="ui")
    assert env.read_bytes() == before and env.stat().st_mtime_ns == mtime
    assert [r["source"] for r in list_revisions(conn)] == ["init"]
    assert not [p for p in env.parent.iterdir() if p.name.endswith(".tmp")]


def test_apply_writes_atomically_keeps_the_mode_and_records_a_revision(conn, env):
    revision_id, config = apply_config_text(conn, env, mask_text(SECRET_ENV) + "DOWNLOAD_WORKERS=5\n",
                                            source="ui", note="more workers")
    assert config["DOWNLOAD_WORKERS"] == 5
    assert stat.S_IMODE(env.stat().st_mode) == 0o640
    assert "t0p s3cret" in env.read_text()  # the masked secret was put back
    rev = list_revisions(conn)[0]
    assert (rev["id"], rev["source"], rev["status"], rev["note"]) == (revision_id, "ui", "applied", "more workers")


def test_rollback_restores_an_earlier_content_as_a_new_revision(conn, env):
    first = list_revisions(conn)[0]["id"]
    apply_config_text(conn, env, SECRET_ENV + "UPLOAD_WORKERS=7\n", source="ui")
    revision_id, _ = rollback_to(conn, env, first)
    assert env.read_text() == SECRET_ENV
    rev = list_revisions(conn)[0]
    assert rev["id"] == revision_id and rev["source"] == "rollback" and rev["rollback_of"] == first


def test_diff_is_unified_and_never_shows_a_secret(conn, env):
    first = list_revisions(conn)[0]["id"]
    env.write_text(SECRET_ENV.replace("t0p s3cret", "n3w s3cret") + "UPLOAD_WORKERS=7\n", encoding="utf-8")
    diff = diff_revisions(conn, first, None, env)
    assert "+UPLOAD_WORKERS=7" in diff and "--- revision" in diff
    assert "s3cret" not in diff


def test_an_outside_edit_is_recorded_once_and_an_invalid_one_is_marked_invalid(conn, env):
    assert record_if_changed(conn, env) is None  # unchanged since the init revision
    env.write_text(SECRET_ENV + "WEB_PORT=nope\n", encoding="utf-8")
    revision_id = record_if_changed(conn, env)
    assert revision_id is not None and record_if_changed(conn, env) is None
    rev = list_revisions(conn)[0]
    assert (rev["source"], rev["status"]) == ("external", "invalid") and "WEB_PORT" in rev["problems_json"]


def test_env_example_and_readme_table_match_the_schema():
    example = (ROOT / "deploy" / "catalogsync.env.example").read_text(encoding="utf-8")
    assert example == render_env_example(), "run: python tools/gen_docs.py"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert render_config_table() in readme, "run: python tools/gen_docs.py"
    for setting in SETTINGS:
        assert f"`{setting.key}`" in readme and f"\n{setting.key}=" in example


def test_the_env_example_validates_with_defaults(tmp_path):
    config, problems = check_text(render_env_example(), tmp_path)
    assert config is not None, problems
    assert not problems


def test_set_values_rewrites_the_last_line_of_a_key_and_appends_new_keys():
    from catalogsync_ops.config.envfile import set_values

    text = "# mine\nMAX_ATTEMPTS=3\nexport MAX_ATTEMPTS=4 # later\r\nWEB_PORT=8421\n"
    out = set_values(text, {"MAX_ATTEMPTS": "6", "OBJECT_PREFIX": "music/ lib"})
    assert out == "# mine\nMAX_ATTEMPTS=3\nexport MAX_ATTEMPTS=6\r\nWEB_PORT=8421\nOBJECT_PREFIX='music/ lib'\n"
    assert parse_env_text(out).values["MAX_ATTEMPTS"] == "6"


def test_the_env_watcher_stops_without_an_error_while_the_file_is_being_written(tmp_path: Path):
    """Stopping watchdog's inotify emitter with an event in flight made it log an ERROR at every
    other runner stop; a stop while an editor writes says nothing."""
    import logging
    import threading

    from runnerd.watch import EnvWatcher

    said: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(f"{record.levelname} {record.getMessage()}")

    keep = Keep(logging.WARNING)
    logging.getLogger("watchdog").addHandler(keep)
    env = tmp_path / "catalogsync.env"
    env.write_text("A=1\n", encoding="utf-8")
    noticed = 0
    try:
        for _ in range(30):
            watcher = EnvWatcher(env)
            watcher.start()
            stop = threading.Event()

            def write(stop: threading.Event = stop) -> None:
                while not stop.is_set():
                    with env.open("a", encoding="utf-8") as handle:
                        handle.write("# an editor at work\n")

            writer = threading.Thread(target=write)
            writer.start()
            time.sleep(0.01)
            watcher.stop()
            stop.set()
            writer.join()
            noticed += watcher.changed.is_set()
    finally:
        logging.getLogger("watchdog").removeHandler(keep)
    assert said == [] and noticed  # and it was watching
