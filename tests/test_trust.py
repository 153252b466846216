"""Inputs from people who should not be trusted, wherever the runner reads them: a job's scope,
a pool name, a playlist, a config reference. Each test here failed before its fix; the runner
never stops for one, it fails that item or that job with the reason and goes on."""
from __future__ import annotations

import json
import tempfile
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import run_demo_pipeline, runnerd, set_env
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from catalogsync_ops.engine.jobs import create_job
from catalogsync_ops.engine.states import JobType
from catalogsync_ops.store.connection import connect, transaction
from catalogsync_ops.store.database import open_database
from runnerd.cli import cli
from runnerd.daemon import Options, Runner

JOB_TYPES = [t.value for t in JobType]


def jobs(home: Path) -> list[dict]:
    with closing(connect(home / "catalogsync.db")) as conn:
        return [dict(r) for r in conn.execute("SELECT id, job_type, status, scope_json FROM job_runs ORDER BY id")]


def stage_events(home: Path, job_id: int) -> list[dict]:
    with closing(connect(home / "catalogsync.db")) as conn:
        return [dict(r) for r in conn.execute("SELECT kind, to_status, message, data_json FROM job_events"
                                              " WHERE job_id = ? AND stage_id IS NOT NULL ORDER BY id", (job_id,))]


@pytest.mark.parametrize("entry", ["75557863725914323419136", "²", "9" * 400, "-1", "0", "١٢", " 12 "])
def test_a_scope_entry_no_playlist_has_fails_nothing_and_the_runner_goes_on(home: Path, demo_server, entry):
    set_env(home, DEMO_BASE_URL=demo_server.base_url, DOWNLOAD_SOURCES="demo")
    demo_server.write_pool_file(home / "input" / "demo.txt")
    odd = runnerd(home, "enqueue", "sync", "--playlist", entry)
    assert odd.returncode == 0, odd.stderr
    assert runnerd(home, "enqueue", "full_pipeline").returncode == 0
    done = runnerd(home, "run", "--burst")
    assert done.returncode == 0, done.stderr[-3000:]
    first, second = jobs(home)
    assert [p.strip() for p in json.loads(first["scope_json"])["playlists"]] == [entry.strip()]
    # An entry that names no playlist is a job with nothing to do, not a crash.
    assert first["status"] == "completed", (first, stage_events(home, first["id"]))
    assert second["status"] in ("completed", "completed_with_errors")  # the demo keeps a few songs unavailable
    with closing(connect(home / "catalogsync.db")) as conn:
        assert conn.execute("SELECT COUNT(*) FROM file_locations").fetchone()[0] > 0


# ---------------------------------------------------------------- whole jobs on random scopes and catalog data

_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
_entry = st.one_of(st.from_regex(r"\A[0-9]{1,40}\Z"), st.sampled_from(["²", "١٢", "-1", "0", "demo", "../x"]),
                   _text, st.integers(), st.floats(allow_nan=True), st.booleans(), st.none(),
                   st.lists(st.integers(), max_size=2))
_scope = st.fixed_dictionaries({}, optional={key: st.one_of(st.lists(_entry, max_size=3), _entry)
                                             for key in ("sources", "pools", "playlists", "songs", "deep", "other")})
_song = st.fixed_dictionaries({
    "platform": st.sampled_from(["demo", "demo2", "netease", "qq", "kuwo", "m3u", "", "x" * 300]),
    "external_id": _text, "title": _text,
    "artists": st.one_of(st.lists(_text, max_size=3).map(json.dumps), _text),
    "album": st.one_of(st.none(), _text),
    "duration_s": st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    "track_no": st.one_of(st.none(), st.integers(-2**63, 2**63 - 1)),
    "cover_url": st.one_of(st.none(), _text, st.just("file:///etc/passwd")),
    "extra_json": st.one_of(st.none(), _text, st.dictionaries(_text, _entry, max_size=3).map(json.dumps)),
})


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # shown as found: shrinking whole runs is slow
@given(scopes=st.lists(st.tuples(st.sampled_from(JOB_TYPES), _scope), min_size=1, max_size=3),
       songs=st.lists(_song, max_size=4), title=_text, url=_text)
@example(scopes=[("sync", {"playlists": ["75557863725914323419136"]}), ("download", {"playlists": ["²"]})],
         songs=[], title="p", url="u")
def test_whole_jobs_on_random_scopes_and_catalog_data_end_and_the_runner_goes_on(tmp_path: Path, refused_port,
                                                                                  scopes, songs, title, url):
    home = Path(tempfile.mkdtemp(dir=tmp_path)) / "home"
    assert CliRunner().invoke(cli, ["init", "--home", str(home)]).exit_code == 0
    set_env(home, DEMO_BASE_URL=f"http://127.0.0.1:{refused_port}", DOWNLOAD_SOURCES="demo,demo2", MAX_ATTEMPTS=1)
    db = home / "catalogsync.db"
    with closing(open_database(db)) as conn, transaction(conn):
        ts = "2026-01-01T00:00:00Z"
        pool = conn.execute("INSERT INTO playlist_pools (name, origin, created_at, updated_at) VALUES"
                            " (?, 'file', ?, ?) RETURNING id", (title or "p", ts, ts)).fetchone()[0]
        playlist = conn.execute("INSERT INTO playlists (platform, url, title, created_at, updated_at) VALUES"
                                " ('demo', ?, ?, ?, ?) RETURNING id", (url, title, ts, ts)).fetchone()[0]
        conn.execute("INSERT OR IGNORE INTO pool_playlists (pool_id, playlist_id, position) VALUES (?, ?, 0)",
                     (pool, playlist))
        for position, song in enumerate(songs):
            song_id = conn.execute(
                "INSERT OR IGNORE INTO songs (platform, external_id, title, artists, album, duration_s, track_no,"
                " cover_url, extra_json, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " RETURNING id", (*song.values(), ts, ts)).fetchone()
            if song_id:
                conn.execute("INSERT OR IGNORE INTO playlist_songs (playlist_id, song_id, position, added_at)"
                             " VALUES (?, ?, ?, ?)", (playlist, song_id[0], position, ts))
    with closing(connect(db)) as conn:
        for job_type, scope in scopes:  # as someone with the database file could write them, unchecked
            create_job(conn, job_type, scope=scope)
    assert Runner(Options(home / "catalogsync.env", burst=True)).run() == 0
    with closing(connect(db)) as conn:
        left = conn.execute("SELECT id, status FROM job_runs WHERE status NOT IN"
                            " ('completed', 'completed_with_errors', 'failed', 'canceled')").fetchall()
        assert not left, [dict(r) for r in left]


@pytest.mark.parametrize("named", ["ABSOLUTE", "../../secret", "../secret", "input/../../secret", "."])
def test_a_pool_is_only_a_file_input_dir_lists(home: Path, named):
    secret = home.parent / "secret.txt"
    secret.write_text("correct horse battery staple\n", encoding="utf-8")
    named = str(home.parent / "secret") if named == "ABSOLUTE" else named
    assert runnerd(home, "enqueue", "collect", "--pool", named).returncode == 0
    assert runnerd(home, "run", "--burst").returncode == 0
    with closing(connect(home / "catalogsync.db")) as conn:
        said = " ".join(str(v) for row in conn.execute("SELECT * FROM job_events") for v in tuple(row))
        said += " ".join(str(v) for row in conn.execute("SELECT * FROM playlist_pools") for v in tuple(row))
        said += " ".join(str(v) for row in conn.execute("SELECT last_error, last_error_code FROM job_items"
                                                      " WHERE item_type = 'pool'") for v in tuple(row))
        failed = conn.execute("SELECT status, last_error_class FROM job_items WHERE item_type = 'pool'").fetchone()
    assert "battery" not in said
    assert tuple(failed) == ("failed", "not_found")


# ---------------------------------------------------------------- references to secrets

SECRET = "s3cr3t-Zq9"


def test_a_reference_to_a_secret_never_carries_it_out(home: Path, demo_server):
    """`${OBJECT_SECRET_ACCESS_KEY}` in the webhook's URL or the prefix stays as written: the
    webhook, the job's snapshot, the logs and the log file never see the secret."""
    from test_notify import Receiver

    with Receiver() as hook:
        set_env(home, OBJECT_SECRET_ACCESS_KEY=SECRET, OBJECT_PREFIX="${OBJECT_SECRET_ACCESS_KEY}/",
                NOTIFY_WEBHOOK_URL=hook.url + "/${OBJECT_SECRET_ACCESS_KEY}")
        checked = runnerd(home, "config", "check")
        assert "refers to a secret (${OBJECT_SECRET_ACCESS_KEY})" in checked.stdout + checked.stderr
        run_demo_pipeline(home, demo_server)
    assert hook.delivered, "the finished job was notified"
    assert all(SECRET not in c["path"] and SECRET.encode() not in c["body"] for c in hook.calls)
    with closing(connect(home / "catalogsync.db")) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                             " AND name <> 'config_revisions'")]  # the file's own copies
        for table in tables:
            rows = conn.execute(f"SELECT * FROM {table}").fetchall()
            assert not [r for r in rows if SECRET in " ".join(map(str, tuple(r)))], table
    for log in (home / "logs").glob("*"):
        assert SECRET not in log.read_text(encoding="utf-8", errors="replace"), log


def test_a_value_made_by_a_reference_is_named_as_written_in_a_message(home: Path, monkeypatch):
    monkeypatch.setenv("CATALOGSYNC_TRUST_VALUE", "hunter2")
    set_env(home, WEB_PORT="${CATALOGSYNC_TRUST_VALUE}", LIBRARY_DIR="${OBJECT_SECRET_ACCESS_KEY}")
    checked = runnerd(home, "config", "check")
    said = checked.stdout + checked.stderr
    assert checked.returncode != 0 and "${CATALOGSYNC_TRUST_VALUE}" in said and "hunter2" not in said, said


def test_only_the_bucket_credential_takes_a_secret_from_the_environment(monkeypatch):
    from catalogsync_ops.config.envfile import parse_env_text

    monkeypatch.setenv("S3_SECRET_FROM_ENV", "from-env")
    parsed = parse_env_text("OBJECT_SECRET_ACCESS_KEY=${S3_SECRET_FROM_ENV}\n"
                            "NOTIFY_WEBHOOK_URL=http://127.0.0.1/${S3_SECRET_FROM_ENV}\n"
                            "OBJECT_ACCESS_KEY_ID=${HOME:-x}\n")
    assert parsed.values["OBJECT_SECRET_ACCESS_KEY"] == "from-env"
    assert parsed.values["NOTIFY_WEBHOOK_URL"] == "http://127.0.0.1/${S3_SECRET_FROM_ENV}"
    assert parsed.values["OBJECT_ACCESS_KEY_ID"] not in ("", "${HOME:-x}")  # a plain reference still works


@pytest.mark.parametrize("shape", ["${", "${X:", "${X:-", "$${", "'${", "${}"])
def test_an_env_file_of_references_parses_in_time_linear_in_its_size(shape):
    """256 KiB of `${` froze the runner's loop for minutes (python-dotenv's expansion is
    quadratic); a file of the largest size allowed is now read at once."""
    import time

    from catalogsync_ops.config.envfile import MAX_ENV_BYTES, parse_env_text

    text = "A=" + shape * ((MAX_ENV_BYTES - 8) // len(shape)) + "\n"
    started = time.thread_time()  # this thread's CPU: a busy machine stretches the wall clock, not the work
    parse_env_text(text)
    assert time.thread_time() - started < 2.0


# ---------------------------------------------------------------- a spreadsheet runs nothing


@pytest.mark.parametrize("title", ['=HYPERLINK("http://127.0.0.1/x","click")', "@SUM(A1:A9)", "+1+1", "-2+3",
                                   "\t=1", "\r=1", "＝1+1", "=cmd|' /C calc'!A0"])
def test_a_missing_list_cell_a_spreadsheet_would_run_is_written_as_text(title):
    import csv
    import io

    from catalogsync_ops.library.coverage import MISSING_COLUMNS, missing_csv

    row = {c: title for c in MISSING_COLUMNS} | {"position": 3, "nights": 2, "attempts": 1}
    read = next(csv.DictReader(io.StringIO(missing_csv([row]).lstrip("\ufeff"))))
    assert read["title"] == "'" + title and read["artists"] == "'" + title
    assert read["position"] == "3"  # numbers stay numbers


# ---------------------------------------------------------------- what a playlist may name


def test_a_remote_playlist_names_only_network_audio(tmp_path: Path):
    """A remote M3U listing `file:///dev/zero` or a path on this NAS grew a part file to 400 MiB
    (and could copy any local audio file into the library): such lines are skipped, with why."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from catalogsync_ops.sources.m3u import M3USource

    body = (b"#EXTM3U\nfile:///dev/zero\nfile:///home/someone/private.mp3\n/etc/passwd.mp3\nsong.mp3\n"
            b"http://127.0.0.1:9/other.mp3\n")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/lists/"
    try:
        info = M3USource().parse_playlist(base + "night.m3u")
    finally:
        server.shutdown()
        server.server_close()
    assert [t.external_id for t in info.tracks] == [f"{base[:-7]}/etc/passwd.mp3", base + "song.mp3",
                                                    "http://127.0.0.1:9/other.mp3"]
    assert [(u.title, "cannot name files on this NAS" in u.reason) for u in info.skipped] == [
        ("file:///dev/zero", True), ("file:///home/someone/private.mp3", True)]


@pytest.mark.parametrize("named", ["/dev/null", "FIFO", "FOLDER"])
def test_a_local_copy_reads_regular_files_only_and_leaves_no_part(tmp_path: Path, named):
    """(/dev/null, not /dev/zero: a copy that followed a device would end, not fill the disk.)
    A pipe gets a writer that says a little and leaves, so a copy that waited on it ends too."""
    import os
    import threading
    import time

    import requests

    from catalogsync_ops.errors import SourceError
    from catalogsync_ops.transfer.downloader import fetch

    source = {"FIFO": tmp_path / "pipe.mp3", "FOLDER": tmp_path / "folder.mp3"}.get(named, Path(named))
    if named == "FIFO":
        os.mkfifo(source)

        def writer():  # waits up to 1 s for a reader, says a little, leaves
            deadline = time.monotonic() + 1
            while time.monotonic() < deadline:
                try:
                    fd = os.open(source, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:  # ENXIO: no reader yet
                    time.sleep(0.01)
                    continue
                try:
                    os.write(fd, b"ID3 a little")
                except OSError:
                    pass
                os.close(fd)
                return

        talker = threading.Thread(target=writer)
        talker.start()
    elif named == "FOLDER":
        source.mkdir()
    part = tmp_path / "library" / ".x.mp3.part"
    with requests.Session() as session, pytest.raises(SourceError) as refused:
        fetch(source.as_uri(), part, session=session)
    if named == "FIFO":
        talker.join()
    assert refused.value.code == "not_a_regular_file" and "regular file" in str(refused.value)
    assert not part.exists()


def test_a_local_copy_checks_the_space_it_fills_as_it_goes(small_disk, tmp_path: Path):
    """A file that grows while it is copied (or a size the stat got wrong) meets the free-space
    floor as it is written, not after the disk is full."""
    from catalogsync_ops.errors import SourceError
    from catalogsync_ops.transfer.downloader import fetch

    disk = small_disk("lib", "40M")
    big = tmp_path / "big.mp3"
    big.write_bytes(b"\0" * 30 * 2**20)
    import requests

    with requests.Session() as session, pytest.raises(SourceError) as refused:
        fetch(big.as_uri(), disk / ".big.mp3.part", session=session, min_free_bytes=20 * 2**20)
    assert refused.value.error_class == "disk_full"
    assert not (disk / ".big.mp3.part").exists()


# ---------------------------------------------------------------- links planted in the library


def test_a_link_planted_in_the_library_is_never_written_through(home: Path, demo_server, tmp_path: Path):
    """A folder of the layout that is a link out of LIBRARY_DIR, and part files that are links
    to files outside: no download writes there; each song fails with the link to remove."""
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.mp3"
    victim.write_bytes(b"the owner's")
    library = home / "library"
    library.mkdir(exist_ok=True)
    (library / "music").symlink_to(outside, target_is_directory=True)
    for title in ("晴天", "七里香", "后来", "光年之外"):  # the part files of a flat layout
        for ext in ("mp3", "flac", "wav"):
            (library / f".{title}.{ext}.part").symlink_to(victim)
    run_demo_pipeline(home, demo_server, DOWNLOAD_LAYOUT="music/{artist}/{title}.{ext}")
    assert sorted(p.name for p in outside.iterdir()) == ["victim.mp3"]
    with closing(connect(home / "catalogsync.db")) as conn:
        said = " ".join(r[0] for r in conn.execute("SELECT last_error FROM job_items WHERE item_type = 'song'"
                                                   " AND status = 'failed'"))
        assert "is outside LIBRARY_DIR" in said and "remove the link" in said, said
    set_env(home, DOWNLOAD_LAYOUT="{title}.{ext}")
    assert runnerd(home, "enqueue", "download").returncode == 0
    assert runnerd(home, "run", "--burst").returncode == 0
    assert victim.read_bytes() == b"the owner's"
    with closing(connect(home / "catalogsync.db")) as conn:
        said = " ".join(r[0] or "" for r in conn.execute("SELECT last_error FROM job_items WHERE item_type = 'song'"
                                                         " AND job_id = (SELECT MAX(id) FROM job_runs)"))
    assert "is a symbolic link where the product writes its own file" in said, said


# ---------------------------------------------------------------- the owner's own files


def test_an_export_never_writes_over_a_playlist_file_that_is_not_ours(home: Path, demo_server, tmp_path: Path):
    folder = home / "library" / "Playlists"
    folder.mkdir(parents=True)
    mine = folder / "small.M3U8"  # the owner's, named as a synced playlist is (a case-blind share too)
    mine.write_text("#EXTM3U\n../my/favourite.flac\n", encoding="utf-8")
    outside = tmp_path / "elsewhere.m3u8"
    outside.write_text("kept\n", encoding="utf-8")
    (folder / "Road Trip.m3u8").symlink_to(outside)
    run_demo_pipeline(home, demo_server)
    assert mine.read_text(encoding="utf-8") == "#EXTM3U\n../my/favourite.flac\n"
    assert outside.read_text(encoding="utf-8") == "kept\n"
    listed = sorted(p.name for p in folder.iterdir())
    assert any(n.startswith("Small (") for n in listed) and any(n.startswith("Road Trip (") for n in listed), listed
    said = runnerd(home, "export-playlists")
    assert "small.M3U8 is not ours" in said.stdout and "Road Trip.m3u8 is not ours" in said.stdout, said.stdout


def test_a_huge_pool_line_or_title_makes_no_huge_page(home: Path, demo_server, client):
    """A 5 MB line in a pool file became a 20 MB job page: the line is refused by its length, and
    any item's name is kept to a few hundred characters."""
    set_env(home, DEMO_BASE_URL=demo_server.base_url, DOWNLOAD_SOURCES="demo")
    demo_server.write_pool_file(home / "input" / "demo.txt")
    with open(home / "input" / "demo.txt", "a", encoding="utf-8") as pool:
        pool.write(demo_server.base_url + "/demo/playlist/" + "9" * 5_000_000 + "\n")
    (home / "input" / ("x" * 200 + ".txt")).write_text("", encoding="utf-8")
    assert runnerd(home, "enqueue", "full_pipeline").returncode == 0
    assert runnerd(home, "run", "--burst").returncode == 0
    page = client.get("/jobs/1")
    assert page.status_code == 200 and len(page.get_data()) < 300_000, len(page.get_data())
    items = client.get("/jobs/1/items?stage=collect")
    assert len(items.get_data()) < 300_000
    with closing(connect(home / "catalogsync.db")) as conn:
        longest = conn.execute("SELECT MAX(LENGTH(display_text)) FROM job_items").fetchone()[0]
        errors = conn.execute("SELECT MAX(LENGTH(last_error)) FROM playlist_pools").fetchone()[0]
    assert longest <= 300 and errors < 2000


@pytest.mark.parametrize("high", [bytes(range(0x80, 0x100)), "周杰伦 - 晴天".encode("gb18030"),
                                  "Кино - Группа крови".encode("cp1251")])
def test_a_playlist_of_a_megabyte_of_high_bytes_decodes_at_once(tmp_path: Path, high):
    """1 MiB of lines of high bytes took 13.6 s to decode (every code page scored on all of
    it); the code page is judged on a sample and the file read once."""
    import time

    from catalogsync_ops.sources.m3u import M3USource, decode_playlist

    path = tmp_path / "long.m3u"
    line = high + b".mp3\r\n"
    path.write_bytes(line * (2**20 // len(line)))
    started = time.thread_time()  # this thread's CPU: a busy machine stretches the wall clock, not the work
    decode_playlist(path.read_bytes(), exists=lambda text: 0.0)
    assert time.thread_time() - started < 1.5  # ~0.2 s; it was many seconds
    info = M3USource().parse_playlist(str(path))  # and then every line is read, once
    assert len(info.tracks) + len(info.skipped) == 2**20 // len(line)


def test_a_job_whose_stage_could_not_be_made_says_why_in_the_readers_language(home: Path, client):
    with closing(connect(home / "catalogsync.db")) as conn:
        create_job(conn, "download", scope={"songs": ["abc"]})  # as the database file could hold it
    assert runnerd(home, "run", "--burst").returncode == 0
    assert jobs(home)[0]["status"] == "failed"
    english = client.get("/jobs/1").get_data(as_text=True)
    assert "stage download could not make its items: ValueError" in english
    client.get("/lang/zh")
    chinese = client.get("/jobs/1").get_data(as_text=True)
    events = chinese[chinese.index('class="events"'):].split("</ul>")[0]
    assert "阶段 下载 无法生成其条目：ValueError" in events and "could not make its items" not in events, events
    # The runner's log line says it too, from the same code: no English in the log section.
    assert "任务 1：阶段 下载 无法生成其条目：ValueError" in chinese, chinese[chinese.index("log"):][:3000]
    assert "could not make its items" not in chinese
