"""Sign-in, setup, tokens and forms: the limits a person meets (lengths, windows, statuses)."""
from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from conftest import PASSWORD, csrf_from, login

from catalogsync_ops.store.database import open_database
from webui import create_app
from webui.auth import create_token, new_setup_token


def test_setup_wants_eight_characters_and_the_same_password_twice(home: Path, opened):
    db = home / "catalogsync.db"
    conn = opened(open_database(db))
    client = create_app({"DB_PATH": db}).test_client()
    token = new_setup_token(conn)
    page = client.get(f"/setup?token={token}").get_data(as_text=True)

    def post(password: str, again: str | None = None):
        return client.post("/setup", data={"token": token, "username": "me", "password": password,
                                           "password2": password if again is None else again,
                                           "csrf_token": csrf_from(page)})

    short = post("1234567")
    assert short.status_code == 400 and "at least 8 characters" in short.get_data(as_text=True)
    differ = post("12345678", "12345679")
    assert differ.status_code == 400 and "The two passwords differ." in differ.get_data(as_text=True)
    assert post("12345678").status_code == 302  # exactly eight will do


def test_a_password_change_with_two_different_new_passwords_is_refused(client):
    html = client.get("/account").get_data(as_text=True)
    answer = client.post("/account/password", data={"csrf_token": csrf_from(html), "current": PASSWORD,
                                                    "password": "a new long secret", "password2": "another one"})
    assert answer.status_code == 400 and "The two passwords differ." in answer.get_data(as_text=True)


def test_failed_sign_ins_count_for_fifteen_minutes_and_a_long_user_name_is_cut(web):
    from catalogsync_ops.store.connection import iso, utcnow

    app, conn = web
    for minutes, throttled in ((15.5, False), (14.5, True)):
        conn.execute("DELETE FROM login_attempts")
        for _ in range(3):  # LOGIN_LIMIT failures from this address, `minutes` ago
            conn.execute("INSERT INTO login_attempts (remote_addr, username, succeeded, created_at)"
                         " VALUES ('127.0.0.1', 'admin', 0, ?)", (iso(utcnow() - timedelta(minutes=minutes)),))
        answer = login(app.test_client())
        assert (answer.status_code == 429) == throttled, minutes
    conn.execute("DELETE FROM login_attempts")
    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"username": "u" * 300, "password": "x", "csrf_token": token})
    assert conn.execute("SELECT LENGTH(username) FROM login_attempts").fetchone()[0] == 200


def test_the_account_forms_refuse_a_short_password_a_nameless_token_and_an_unknown_scope(client, web):
    _, conn = web
    html = client.get("/account").get_data(as_text=True)
    csrf = csrf_from(html)
    short = client.post("/account/password", data={"csrf_token": csrf, "current": PASSWORD, "password": "short",
                                                   "password2": "short"})
    assert short.status_code == 400 and "at least 8 characters" in short.get_data(as_text=True)
    for form, says in (({"name": " "}, "Give the token a name"), ({"name": "ha", "scope": "root"}, "Choose what")):
        nonce = re.search(r'name="nonce" value="([^"]+)"', client.get("/account").get_data(as_text=True)).group(1)
        answer = client.post("/account/tokens", data={"csrf_token": csrf, "nonce": nonce, **form})
        assert answer.status_code == 400 and says in answer.get_data(as_text=True)
    assert conn.execute("SELECT COUNT(*) FROM api_tokens").fetchone()[0] == 0


def test_a_setup_link_lasts_a_day(home: Path, opened):
    from catalogsync_ops.store.connection import iso, utcnow

    db = home / "catalogsync.db"
    conn = opened(open_database(db))
    client = create_app({"DB_PATH": db}).test_client()
    token = new_setup_token(conn)
    for hours, status in ((23.5, 200), (24.5, 403)):
        conn.execute("UPDATE web_settings SET updated_at = ? WHERE key = 'setup_token'",
                     (iso(utcnow() - timedelta(hours=hours)),))
        assert client.get(f"/setup?token={token}").status_code == status, hours


def test_sign_ins_behind_a_trusted_proxy_count_for_the_address_it_saw_and_csrf_tokens_are_long(home: Path, web):
    _, conn = web
    app = create_app({"DB_PATH": home / "catalogsync.db", "TESTING": True, "TRUSTED_PROXIES": ("127.0.0.1",)})
    client = app.test_client()
    page = client.get("/login")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and re.fullmatch(r"[A-Za-z0-9_-]{43}", csrf_from(html))  # 32 random bytes
    client.post("/login", data={"username": "admin", "password": "wrong", "csrf_token": csrf_from(html)},
                headers={"X-Forwarded-For": "203.0.113.9, 198.51.100.7"})  # the proxy added the last one
    assert conn.execute("SELECT remote_addr FROM login_attempts").fetchone()[0] == "198.51.100.7"


def test_a_token_records_its_use_at_most_once_a_minute(web):
    from catalogsync_ops.store.connection import iso, utcnow

    app, conn = web
    token = create_token(conn, "ha", "read")
    api = app.test_client()

    def use_and_read():
        assert api.get("/api/status", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        return conn.execute("SELECT last_used_at FROM api_tokens").fetchone()[0]

    first = use_and_read()
    assert first is not None and use_and_read() == first  # a second use within the minute writes nothing
    ninety_s_ago = iso(utcnow() - timedelta(seconds=90))
    conn.execute("UPDATE api_tokens SET last_used_at = ?", (ninety_s_ago,))
    assert use_and_read() != ninety_s_ago
