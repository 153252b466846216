"""The console's front door against clients that should not be trusted: a body too big to
read, sign-ins sent all at once, connections that trickle. Served by waitress as the console
is (webui/cli.py), each test failed before its fix (the runner's side: test_trust.py)."""
from __future__ import annotations

import pytest


def test_a_huge_body_is_refused_before_it_is_read(web):
    """An unauthenticated 300 MiB `POST /login` is answered 413 from its headers: nothing of it
    is read or spooled to a temporary file (waitress alone would take 1 GiB)."""
    import socket

    from conftest import Served

    from webui.cli import WAITRESS_OPTIONS

    served = Served(web[0], **WAITRESS_OPTIONS)
    try:
        with socket.create_connection(("127.0.0.1", int(served.base.rsplit(":", 1)[1])), timeout=5) as sock:
            sock.sendall(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded"
                         b"\r\nContent-Length: 314572800\r\n\r\n" + b"a" * 65536)
            answer = sock.recv(4096)
    finally:
        served.stop()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]




def test_sign_ins_at_once_are_counted_one_after_another(web):
    """Forty wrong passwords sent together from one address: no more are tried than the limit
    (3 here) — the count and the attempt are one write, not a check then a record."""
    import re
    import threading

    import requests
    from conftest import Served

    from webui.cli import WAITRESS_OPTIONS

    served = Served(web[0], **WAITRESS_OPTIONS)
    sessions, tokens = [], []
    try:
        for _ in range(40):
            session = requests.Session()
            page = session.get(served.base + "/login", timeout=10).text
            sessions.append(session)
            tokens.append(re.search(r'name="csrf_token" value="([^"]+)"', page).group(1))
        start = threading.Barrier(40)
        answers: list[int] = []

        def guess(session, token):
            start.wait()
            answers.append(session.post(served.base + "/login", timeout=60, data={
                "username": "admin", "password": "wrong", "csrf_token": token}).status_code)

        threads = [threading.Thread(target=guess, args=pair) for pair in zip(sessions, tokens, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for session in sessions:
            session.close()
        served.stop()
    assert sorted(set(answers)) == [401, 429] and answers.count(401) == 3, answers


@pytest.mark.slow
def test_slow_clients_neither_shut_others_out_nor_keep_their_connections(web):
    """120 connections that trickle their headers (slowloris) made /healthz hang for everyone:
    the console still answers at once, and closes each trickler within its header timeout."""
    import socket
    import time

    import requests
    from conftest import Served

    from webui.cli import CLEANUP_S, HEADERS_S, make_server

    served = Served(web[0], make=lambda app: make_server(app, "127.0.0.1", 0))
    port = int(served.base.rsplit(":", 1)[1])
    slow = []
    try:
        for _ in range(120):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            slow.append(sock)
        started = time.monotonic()
        answer = requests.get(served.base + "/healthz", timeout=5)  # 503 here: no runner runs
        assert answer.status_code in (200, 503) and answer.json() and time.monotonic() - started < 2
        closed: set[int] = set()
        deadline = started + HEADERS_S + 3 * CLEANUP_S
        while len(closed) < len(slow) and time.monotonic() < deadline:
            for n, sock in enumerate(slow):
                if n in closed:
                    continue
                try:
                    sock.sendall(b"X-Trickle: 1\r\n")  # a header line now and then: never finished
                except OSError:
                    closed.add(n)
            time.sleep(1)
        assert len(closed) == len(slow), f"{len(slow) - len(closed)} slow connections still open"
    finally:
        for sock in slow:
            sock.close()
        served.stop()


def test_one_page_at_a_time_yet_a_slow_one_does_not_hold_the_others_back():
    """Views run one at a time (WorkSlots), but a view stuck past PATIENCE_S (a slow query) does
    not keep every other page waiting: a page asked for meanwhile is answered while the slow one
    is still stuck. And two quick views never run together."""
    import threading

    import requests
    from conftest import Served

    from webui.cli import WAITRESS_OPTIONS, WorkSlots

    release, running, most = threading.Event(), [0], [0]
    lock = threading.Lock()

    def app(environ, start_response):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            if environ["PATH_INFO"] == "/stuck":
                release.wait(60)
            else:
                threading.Event().wait(0.005)
        finally:
            with lock:
                running[0] -= 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode()]

    served, stuck = Served(WorkSlots(app), **WAITRESS_OPTIONS), None
    try:
        quick = [threading.Thread(target=requests.get, args=(served.base + "/quick",), kwargs={"timeout": 30})
                 for _ in range(3)]
        for thread in quick:
            thread.start()
        for thread in quick:
            thread.join()
        assert most[0] == 1, f"{most[0]} quick views ran at once"
        stuck = threading.Thread(target=requests.get, args=(served.base + "/stuck",), kwargs={"timeout": 60})
        stuck.start()
        while not running[0]:
            threading.Event().wait(0.01)
        answer = requests.get(served.base + "/quick", timeout=30)
        assert answer.text == "/quick" and not release.is_set(), "the page waited for the stuck one"
    finally:
        release.set()
        if stuck:
            stuck.join(timeout=30)
        served.stop()
