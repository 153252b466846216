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
