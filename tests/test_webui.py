"""The web console: login, CSRF, commands from forms and the API, and the real channel."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from conftest import PASSWORD, Served, csrf_from, login, page_csrf

from catalogsync_ops.engine.commands import submit_command
from catalogsync_ops.engine.items import claim_next_item, mark_item_failed
from catalogsync_ops.engine.jobs import create_job, start_job
from catalogsync_ops.engine.records import ItemSpec
from catalogsync_ops.engine.stages import add_items, start_stage
from catalogsync_ops.library.catalog import upsert_playlist
from catalogsync_ops.store.connection import transaction
from catalogsync_ops.store.database import open_database
from webui import create_app
from webui.auth import create_token, new_setup_token


def test_pages_redirect_to_login_and_the_api_answers_401(web):
    app, _ = web
    anonymous = app.test_client()
    for path in ("/", "/jobs", "/jobs/1", "/items/1"):
        response = anonymous.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path
    for path in ("/api/status", "/api/jobs", "/api/commands/1"):
        assert anonymous.get(path).status_code == 401, path
    assert anonymous.post("/api/commands", json={"kind": "pause_runner"}).status_code == 401
    # Uptime monitors need no login; with no runner up the answer is 503 and says so.
    for path in ("/healthz", "/api/healthz"):
        health = anonymous.get(path)
        assert health.status_code == 503 and health.json["database"] == "ok" and health.json["runner"] == "never"


def test_wrong_password_is_refused_and_repeated_failures_are_rate_limited(web):
    app, _ = web
    client = app.test_client()
    for _ in range(3):
        assert login(client, "nope").status_code == 401
    assert login(client).status_code == 429  # even the right password waits now


def test_a_spoofed_x_forwarded_for_gains_nothing(web):
    app, _ = web
    client = app.test_client()
    for i in range(3):
        assert login(client, "nope", headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code == 401
    assert login(client, headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 429
    assert client.get("/", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 302


def test_first_run_setup_needs_the_one_time_link(home: Path, opened):
    db = home / "catalogsync.db"
    conn = opened(open_database(db))
    app = create_app({"DB_PATH": db})
    client = app.test_client()
    assert client.get("/login").status_code == 503
    token = new_setup_token(conn)
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", token)  # 24 random bytes
    assert client.get("/setup?token=wrong").status_code == 403
    page = client.get(f"/setup?token={token}")
    assert page.status_code == 200
    response = client.post("/setup", data={"token": token, "username": "me", "password": "longenough",
                                           "password2": "longenough",
                                           "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 302 and client.get("/").status_code == 200
    assert app.test_client().get(f"/setup?token={token}").status_code == 302  # used up


def test_every_state_changing_route_refuses_a_missing_or_cross_site_csrf(client):
    token = page_csrf(client)
    for path, data in (("/commands", {"kind": "pause_runner"}), ("/logout", {}),
                       ("/config", {"mode": "text", "content": "A=1", "action": "apply"})):
        assert client.post(path, data=data).status_code == 400, path
        assert client.post(path, data={**data, "csrf_token": "forged"}).status_code == 400, path
        assert client.post(path, data={**data, "csrf_token": token},
                           headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403, path
    assert client.post("/api/commands", json={"kind": "pause_runner"}).status_code == 400


def test_a_form_creates_one_command_even_when_posted_twice(client, web):
    _, conn = web
    form = {"kind": "enqueue_job", "job_type": "sync", "sources": "demo", "nonce": "n-1",
            "back": "/jobs", "csrf_token": page_csrf(client)}
    first = client.post("/commands", data=form)
    second = client.post("/commands", data=form)
    assert first.status_code == 302 and first.headers["Location"] == "/jobs?command=1"
    assert second.headers["Location"] == "/jobs?command=1"
    rows = conn.execute("SELECT kind, payload_json, origin, requested_by FROM job_commands").fetchall()
    assert [tuple(r) for r in rows] == [("enqueue_job", '{"job_type": "sync", "priority": 0, "scope": {"sources": '
                                                        '["demo"]}}',
                                         "web", "admin")]
    said = client.get("/jobs?command=1").get_data(as_text=True)
    assert "Command 1: <span class=\"state\" data-state=\"pending\">pending</span>" in said


def test_a_malformed_command_is_refused_with_the_reason(client):
    response = client.post("/commands", data={"kind": "pause_job", "job_id": "x", "csrf_token": page_csrf(client)})
    assert response.status_code == 400 and "must be a whole number" in response.get_data(as_text=True)


def test_api_tokens_post_commands_without_a_session_or_csrf(web):
    app, conn = web
    token = create_token(conn, "home-assistant")
    api = app.test_client()
    response = api.post("/api/commands", json={"kind": "pause_runner", "payload": {"reason": "film"}},
                        headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 202 and response.json["status"] == "pending"
    shown = api.get(f"/api/commands/{response.json['id']}", headers={"Authorization": f"Bearer {token}"}).json
    assert shown["origin"] == "api" and shown["requested_by"] == "token:home-assistant"
    assert api.get("/api/status", headers={"Authorization": "Bearer cs_wrong"}).status_code == 401


def test_job_page_shows_failures_and_offers_retry(client, web):
    _, conn = web
    job_id = create_job(conn, "download")
    stage_id = conn.execute("SELECT id FROM job_stages WHERE job_id = ?", (job_id,)).fetchone()[0]
    add_items(conn, stage_id, [ItemSpec("song:1", "song", display_text="周杰伦 - 晴天")], max_attempts=1)
    start_job(conn, job_id)
    start_stage(conn, stage_id)
    claim = claim_next_item(conn, stage_id, runner_instance_id=None)
    mark_item_failed(conn, claim.item_id, claim.attempt_no, error_class="not_found", error="404 from demo",
                     source="demo")
    html = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "周杰伦 - 晴天" in html and "[not found · demo] 404 from demo" in html
    assert 'data-action="retry_item"' in html and 'data-action="retry_failed_items"' in html
    item_html = client.get(f"/items/{claim.item_id}").get_data(as_text=True)
    assert "[not found] 404 from demo" in item_html
    # The API has the page's filters, read through the same query.
    for query, found in (("error_class=not_found", [claim.item_id]), ("error_class=timeout", []),
                         ("source=demo", [claim.item_id]), ("source=qq", []), ("stage=download", [claim.item_id])):
        listed = client.get(f"/api/jobs/{job_id}/items?{query}").get_json()["items"]
        assert [i["id"] for i in listed] == found, query
    assert client.get(f"/api/jobs/{job_id}/items?stage=upload").get_json()["items"] == []  # no such stage
    assert client.get(f"/api/jobs/{job_id}/items?error_class=bogus").status_code == 400


def test_security_headers_and_no_secret_in_any_page(client, web, home: Path):
    app, conn = web
    env = home / "catalogsync.env"
    env.write_text(env.read_text() + "OBJECT_SECRET_ACCESS_KEY=sup3r-s3cret\n", encoding="utf-8")
    from catalogsync_ops.config.revisions import record_if_changed

    record_if_changed(conn, env)  # the secret is now in a revision too
    # One of everything a page can be about, so each page renders in full (none answers 404).
    command_id, _ = submit_command(conn, "enqueue_job", {"job_type": "sync"})
    job_id = create_job(conn, "sync")
    stage_id = conn.execute("SELECT id FROM job_stages WHERE job_id = ?", (job_id,)).fetchone()[0]
    add_items(conn, stage_id, [ItemSpec("k")], max_attempts=3)
    item_id = conn.execute("SELECT id FROM job_items").fetchone()[0]
    playlist_id = upsert_playlist(conn, "demo", "http://127.0.0.1/demo/playlist/p1")
    revision = conn.execute("SELECT MAX(id) FROM config_revisions").fetchone()[0]
    ids = {"job_id": job_id, "item_id": item_id, "command_id": command_id, "revision_id": revision, "code": "en",
           "playlist_id": playlist_id, "form": "csv"}
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and rule.endpoint not in ("static", "events.events", "i18n.switch"):
            paths.append(re.sub(r"<(?:int:)?(\w+)>", lambda m: str(ids[m.group(1)]),
                                rule.rule.replace("<any(csv, json):form>", "<form>")))
    assert len(paths) >= 20
    for path in paths:
        response = client.get(path)
        # (/healthz answers 503 here: no runner is up.)
        # /setup sends a signed-in user on; /healthz answers 503: no runner is up.
        expected = 302 if path == "/setup" else 503 if path.endswith("healthz") else 200
        assert response.status_code == expected, (path, response.status_code)
        assert "sup3r-s3cret" not in response.get_data(as_text=True), path
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    cookie = client.get_cookie("catalogsync_session")
    assert cookie.http_only and cookie.same_site == "Lax"


@pytest.fixture
def served(web):
    app, _ = web
    served = Served(app, threads=4)
    yield served.base
    served.stop()


def test_the_real_channel_post_over_http_runner_applies_read_back_over_http(served, home: Path, demo_server):
    env = home / "catalogsync.env"
    env.write_text(env.read_text().replace("DEMO_BASE_URL=http://127.0.0.1:8765",
                                           f"DEMO_BASE_URL={demo_server.base_url}")
                   .replace("DOWNLOAD_SOURCES=demo", "DOWNLOAD_SOURCES=demo,demo2"), encoding="utf-8")
    demo_server.write_pool_file(home / "input" / "demo.txt")
    with requests.Session() as browser:
        page = browser.get(f"{served}/login")
        browser.post(f"{served}/login", data={"username": "admin", "password": PASSWORD,
                                             "csrf_token": csrf_from(page.text)})
        token = csrf_from(browser.get(f"{served}/jobs").text)
        response = browser.post(f"{served}/commands", data={"kind": "enqueue_job", "job_type": "full_pipeline",
                                                           "csrf_token": token, "back": "/jobs"}, allow_redirects=False)
        assert response.status_code == 302
        command_id = int(response.headers["Location"].rsplit("=", 1)[1])
        assert browser.get(f"{served}/api/commands/{command_id}").json()["status"] == "pending"
        run = subprocess.run([sys.executable, "-m", "runnerd", "run", "--burst"], capture_output=True, text=True,
                             env={**os.environ, "CATALOGSYNC_ENV_FILE": str(env)}, timeout=120)
        assert run.returncode == 0, run.stderr[-2000:]
        command = browser.get(f"{served}/api/commands/{command_id}").json()
        assert command["status"] == "applied"
        job = browser.get(f"{served}/api/jobs/{command['result']['job_id']}").json()
        assert job["status"] == "completed"
        assert [s["done"] for s in job["stages"]] == [1, 4, 24, 24]
        dashboard = browser.get(f"{served}/").text
        assert "runner: " not in dashboard and "Nothing is running." in dashboard


def config_form(client) -> dict:
    html = client.get("/config").get_data(as_text=True)
    form = dict(re.findall(r'<input name="([A-Z_]+)" value="([^"]*)"', html))
    for key, options in re.findall(r'<select name="([A-Z_]+)">(.*?)</select>', html):
        form[key] = re.search(r"<option selected>([^<]*)</option>", options).group(1)
    return {**form, "csrf_token": csrf_from(html), "mode": "form"}


def test_config_check_shows_the_diff_and_errors_without_writing(client, home: Path):
    env = home / "catalogsync.env"
    before = env.read_bytes()
    form = {**config_form(client), "DOWNLOAD_WORKERS": "5", "action": "check"}
    html = client.post("/config", data=form).get_data(as_text=True)
    assert "-DOWNLOAD_WORKERS=3" in html and "+DOWNLOAD_WORKERS=5" in html
    bad = client.post("/config", data={**form, "WEB_PORT": "eighty"}).get_data(as_text=True)
    assert "WEB_PORT: &#39;eighty&#39; is not a whole number" in bad
    assert client.post("/config", data={**form, "WEB_PORT": "eighty", "action": "apply"}).status_code == 200
    assert env.read_bytes() == before


def test_config_page_says_when_the_file_on_disk_is_invalid_and_keeps_the_typed_note(client, home: Path):
    env = home / "catalogsync.env"
    html = client.get("/config").get_data(as_text=True)
    assert 'id="config-on-disk-invalid"' not in html
    form = {**config_form(client), "DOWNLOAD_WORKERS": "4", "action": "check", "note": "faster nights"}
    checked = client.post("/config", data=form).get_data(as_text=True)
    assert 'value="faster nights"' in checked  # the note survives Check changes, ready for Apply
    env.write_text(env.read_text() + "DOWNLOAD_WORKERS=lots\n", encoding="utf-8")  # a hand edit gone wrong
    html = client.get("/config").get_data(as_text=True)
    assert 'id="config-on-disk-invalid"' in html
    assert "the runner keeps the last valid config" in html
    assert "DOWNLOAD_WORKERS: &#39;lots&#39; is not a whole number" in html


def test_config_apply_and_rollback_go_through_the_runner(client, web, home: Path):
    _, conn = web
    env = home / "catalogsync.env"
    env.write_text(env.read_text() + "OBJECT_SECRET_ACCESS_KEY=sup3r-s3cret\n", encoding="utf-8")
    form = config_form(client)
    assert form["OBJECT_SECRET_ACCESS_KEY"] == "********"
    response = client.post("/config", data={**form, "UPLOAD_WORKERS": "4", "action": "apply", "note": "more"})
    assert response.status_code == 302 and "command=" in response.headers["Location"]
    run = subprocess.run([sys.executable, "-m", "runnerd", "run", "--burst"], capture_output=True, text=True,
                         env={**os.environ, "CATALOGSYNC_ENV_FILE": str(env)}, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    text = env.read_text()
    assert "UPLOAD_WORKERS=4" in text and "OBJECT_SECRET_ACCESS_KEY=sup3r-s3cret" in text
    html = client.get("/config").get_data(as_text=True)
    assert "sup3r-s3cret" not in html and ">more<" in html
    first = conn.execute("SELECT id FROM config_revisions WHERE source = 'init'").fetchone()[0]
    diff = client.get(f"/config/revisions/{first}").get_data(as_text=True)
    assert "+UPLOAD_WORKERS=4" in diff and "sup3r-s3cret" not in diff
    token = csrf_from(html)
    client.post("/commands", data={"kind": "rollback_config", "revision_id": first, "csrf_token": token})
    run = subprocess.run([sys.executable, "-m", "runnerd", "run", "--burst"], capture_output=True, text=True,
                         env={**os.environ, "CATALOGSYNC_ENV_FILE": str(env)}, timeout=120)
    assert run.returncode == 0
    assert "UPLOAD_WORKERS=2" in env.read_text()
    sources = [r[0] for r in conn.execute("SELECT source FROM config_revisions ORDER BY id")]
    assert sources[-1] == "rollback" and "ui" in sources


def test_catalog_pages_after_a_pipeline_show_coverage_workers_songs_and_logs(client, home: Path, demo_server):
    env = home / "catalogsync.env"
    env.write_text(env.read_text().replace("DEMO_BASE_URL=http://127.0.0.1:8765",
                                           f"DEMO_BASE_URL={demo_server.base_url}")
                   .replace("DOWNLOAD_SOURCES=demo", "DOWNLOAD_SOURCES=demo,demo2"), encoding="utf-8")
    demo_server.write_pool_file(home / "input" / "demo.txt")
    (home / "input" / "broken.txt").write_text("not a url\n", encoding="utf-8")
    client.post("/commands", data={"kind": "enqueue_job", "job_type": "full_pipeline", "csrf_token": page_csrf(client)})
    run = subprocess.run([sys.executable, "-m", "runnerd", "run", "--burst"], capture_output=True, text=True,
                         env={**os.environ, "CATALOGSYNC_ENV_FILE": str(env)}, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    playlists = client.get("/playlists").get_data(as_text=True)
    assert "华语经典" in playlists and "broken.txt line 1" in playlists
    # Songs, in the library (100 %), backed up, failed, not yet tried: the runner's counts.
    assert re.search(r"华语经典</a></td><td>demo</td><td>8</td>\s*<td class=\"coverage\">.*?<small>100%</small></td>"
                     r"\s*<td>8</td><td>0</td><td>0</td>", playlists)
    songs = client.get("/songs?q=晴天").get_data(as_text=True)
    assert "周杰伦/叶惠美/晴天.mp3" in songs and "local:uploaded" in songs and "worker-1" in songs
    logs = client.get("/logs?q=completed").get_data(as_text=True)
    assert "Job 1: completed" in logs
    assert "Job 1: completed" not in client.get("/logs?level=ERROR").get_data(as_text=True)


def test_openapi_document_matches_the_api_routes(web, client):
    app, _ = web
    document = client.get("/api/openapi.json").json
    documented = set()
    for path, methods in document["paths"].items():
        for method in methods:
            documented.add((method.upper(), re.sub(r"\{(\w+)\}", r"<\1>", path)))
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<(?:int:)?(\w+)>", r"<\1>", rule.rule)
            routed |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == routed


def test_api_mirrors_the_pages_and_never_shows_secrets(client, home: Path):
    env = home / "catalogsync.env"
    env.write_text(env.read_text() + "OBJECT_SECRET_ACCESS_KEY=sup3r-s3cret\n", encoding="utf-8")
    for path in ("/api/workers", "/api/playlists", "/api/logs", "/api/config", "/api/config/revisions", "/api/jobs"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "sup3r-s3cret" not in response.get_data(as_text=True), path
    assert "OBJECT_SECRET_ACCESS_KEY=********" in client.get("/api/config").json["content"]


def test_queued_jobs_can_be_reprioritised_from_the_jobs_page(client, web):
    _, conn = web
    first = create_job(conn, "sync")
    create_job(conn, "collect")
    html = client.get("/jobs").get_data(as_text=True)
    assert 'id="queue"' in html
    response = client.post("/commands", data={"kind": "reprioritize_job", "job_id": first, "priority": 5,
                                              "csrf_token": csrf_from(html), "back": "/jobs"})
    assert response.status_code == 302
    row = conn.execute("SELECT kind, payload_json FROM job_commands").fetchone()
    assert tuple(row) == ("reprioritize_job", f'{{"job_id": {first}, "priority": 5}}')


def test_pages_speak_chinese_to_a_chinese_browser_and_switch_back(client):
    html = client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert ">概览</a>" in html and ">当前任务</h2>" in html and 'lang="zh-Hans"' in html
    client.get("/lang/en?back=/")
    html = client.get("/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert ">Dashboard</a>" in html and ">Active job</h2>" in html
    client.get("/lang/zh?back=/")
    missing = client.get("/jobs/999")
    assert missing.status_code == 404 and "任务 999 不存在" in missing.get_data(as_text=True)


def test_every_setting_is_explained_in_chinese_on_the_config_page(client):
    html = client.get("/config", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "音乐库磁盘剩余空间低于此值" in html and "<legend>通知</legend>" in html
    # (The file's own comments, shown as text, stay as written.)
    assert "<small>Downloads fail as disk_full" not in html


def test_failed_items_filter_by_error_class_and_source(client, web):
    _, conn = web
    job_id = create_job(conn, "download")
    stage_id = conn.execute("SELECT id FROM job_stages WHERE job_id = ?", (job_id,)).fetchone()[0]
    add_items(conn, stage_id, [ItemSpec(f"song:{i}", "song", display_text=f"song {i}") for i in range(3)],
              max_attempts=1)
    start_job(conn, job_id)
    start_stage(conn, stage_id)
    for error_class, source in (("timeout", "demo"), ("no_match", "demo2"), ("timeout", "demo2")):
        claim = claim_next_item(conn, stage_id, runner_instance_id=None)
        mark_item_failed(conn, claim.item_id, claim.attempt_no, error_class=error_class, error="x", source=source,
                         retryable=False)
    by_class = client.get(f"/jobs/{job_id}?status=failed&error_class=timeout").get_data(as_text=True)
    assert by_class.count('<tr data-item=') == 2
    by_source = client.get(f"/jobs/{job_id}?status=failed&source=demo2").get_data(as_text=True)
    listed = by_source[by_source.index('<table id="items">'):by_source.index("</table>", by_source.index('id="items"'))]
    assert listed.count('<tr data-item=') == 2 and "song 1" in listed and "song 0" not in listed
    assert 'name="source" value="demo2"' in by_source  # "retry failed from demo2" is offered


def test_tokens_are_created_listed_and_revoked_from_the_command_line(home: Path, web):
    app, _ = web
    env = {**os.environ, "CATALOGSYNC_ENV_FILE": str(home / "catalogsync.env")}
    cli = [sys.executable, "-m", "webui"]
    token = subprocess.run([*cli, "create-token", "nas-script"], env=env, capture_output=True, text=True,
                           check=True).stdout.strip()
    api = app.test_client()
    assert api.get("/api/status", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    listing = subprocess.run([*cli, "tokens"], env=env, capture_output=True, text=True, check=True).stdout
    assert "nas-script" in listing and token not in listing
    token_id = listing.split()[0]
    assert subprocess.run([*cli, "revoke-token", token_id], env=env, capture_output=True, text=True).returncode == 0
    assert api.get("/api/status", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    pw = subprocess.run([*cli, "set-password", "second"], env=env, input="short\n", capture_output=True, text=True)
    assert pw.returncode == 1 and "at least 8 characters" in pw.stderr


def test_account_page_creates_a_token_once_revokes_it_and_changes_the_password(web):
    app, conn = web
    client = app.test_client()
    assert login(client).status_code == 302
    html = client.get("/account").get_data(as_text=True)
    nonce = re.search(r'name="nonce" value="([^"]+)"', html).group(1)
    assert len(nonce) == 16  # 12 random bytes: a form cannot be guessed into being sent twice
    form = {"csrf_token": csrf_from(html), "nonce": nonce, "name": "home-assistant " + "x" * 100}
    created = client.post("/account/tokens", data=form)
    assert created.status_code == 200
    token = re.search(r'<pre id="new-token">([^<]+)</pre>', created.get_data(as_text=True)).group(1)
    # 32 random bytes (256 bits) after the "cs_" that says what it is; a name is kept to 80 characters.
    assert re.fullmatch(r"cs_[A-Za-z0-9_-]{43}", token)
    assert conn.execute("SELECT name FROM api_tokens").fetchone()[0] == ("home-assistant " + "x" * 100)[:80]
    assert f'<strong>{("home-assistant " + "x" * 100)[:80]}</strong>' in created.get_data(as_text=True)
    api = app.test_client()
    assert api.get("/api/status", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    # The same form sent again (a reload) makes no second token.
    again = client.post("/account/tokens", data=form)
    assert again.status_code == 409 and "already sent" in again.get_data(as_text=True)
    assert conn.execute("SELECT COUNT(*) FROM api_tokens").fetchone()[0] == 1
    listing = client.get("/account").get_data(as_text=True)
    assert "home-assistant" in listing and token not in listing
    assert ">never<" not in listing  # the token was used just now
    token_id = conn.execute("SELECT id FROM api_tokens").fetchone()[0]
    client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": form["csrf_token"]})
    assert api.get("/api/status", headers={"Authorization": f"Bearer {token}"}).status_code == 401

    wrong = client.post("/account/password", data={"csrf_token": form["csrf_token"], "current": "nope",
                                                   "password": "a new long secret", "password2": "a new long secret"})
    assert wrong.status_code == 400 and "current password is wrong" in wrong.get_data(as_text=True)
    changed = client.post("/account/password", data={"csrf_token": form["csrf_token"], "current": PASSWORD,
                                                     "password": "a new long secret", "password2": "a new long secret"})
    assert changed.status_code == 200 and "Password changed." in changed.get_data(as_text=True)
    fresh = app.test_client()
    assert login(fresh, PASSWORD).status_code == 401
    assert login(fresh, "a new long secret").status_code == 302


def test_kept_connections_hold_no_snapshot_between_requests_and_close_when_the_server_stops(home: Path, web):
    """`catalogsync-web serve` keeps each thread's connection between requests. The WAL must
    still be checkpointed to the end while they are kept (no read snapshot is held), and the
    connections close when the server stops."""
    import sqlite3

    _, conn = web
    make_job = create_job(conn, "download")
    app = create_app({"DB_PATH": home / "catalogsync.db", "ENV_PATH": home / "catalogsync.env",
                      "REUSE_CONNECTIONS_S": 3600})
    served = Served(app, threads=4)
    pool = app.extensions["catalogsync_connections"]
    try:
        session = requests.Session()
        page = session.get(f"{served.base}/login")
        session.post(f"{served.base}/login", data={"username": "admin", "password": PASSWORD,
                                                  "csrf_token": csrf_from(page.text)})
        for _ in range(5):
            for path in ("/", "/jobs", f"/jobs/{make_job}", "/playlists", "/logs", "/api/status", "/metrics"):
                assert session.get(served.base + path).status_code == 200, path
        kept = len(pool.every)
        assert 1 <= kept <= 4  # one per server thread, not one per request
        with transaction(conn):
            conn.execute("UPDATE job_runs SET note = 'written after the pages were read' WHERE id = ?", (make_job,))
        busy, log_frames, checkpointed = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0 and log_frames == checkpointed == 0, (busy, log_frames, checkpointed)
        # A transaction a view left open would be rolled back at its request's end, not carried on.
        held = next(iter(pool.every))
        assert not held.in_transaction
    finally:
        served.stop()
    assert not pool.every
    with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
        held.execute("SELECT 1")


@pytest.mark.parametrize("sql", [
    "UPDATE job_runs SET status = 'completed'",
    "DELETE FROM job_items",
    "INSERT INTO job_events (kind, created_at) VALUES ('job_finished', 't')",
    "UPDATE file_locations SET verified_at = NULL",
    "INSERT INTO config_revisions (source, status, content, created_at) VALUES ('ui', 'applied', '', 't')",
    "DELETE FROM drift",
    "CREATE TABLE shadow (a)",
    "DROP TABLE job_logs",
    "CREATE TRIGGER sneak AFTER INSERT ON job_commands BEGIN DELETE FROM job_runs; END",
])
def test_the_consoles_connection_refuses_to_write_anything_but_commands_and_its_accounts(web, sql):
    """A structural guarantee: whatever a view does, its connection cannot change the queue,
    the catalog, the config history or the schema (SQLite's authorizer says no first)."""
    import sqlite3

    from webui.context import get_db

    app, _ = web
    with app.app_context():
        conn = get_db()
        with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
            conn.execute(sql)
        # What the console does write still goes through.
        with transaction(conn):
            conn.execute("INSERT INTO job_commands (kind, payload_json, status, origin, created_at)"
                         " VALUES ('resume_runner', '{}', 'pending', 'web', 't')")
            conn.execute("INSERT INTO login_attempts (remote_addr, succeeded, created_at) VALUES ('127.0.0.1', 1, 't')")
