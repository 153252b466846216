"""What the console reads, and in which words: every page and its JSON twin through the same
queries, and English pages that name each state in words."""
from __future__ import annotations

import re
from html import unescape
from pathlib import Path

from conftest import page_csrf, run_demo_pipeline, runnerd

from catalogsync_ops.store.connection import transaction


def test_english_pages_show_words_never_a_state_id(client, home: Path, demo_server):
    """A run that ends with errors, a retry, a pause and a rejected command: every page in
    English names each state, event and error class in words ("completed with errors"), never
    by its id ("completed_with_errors")."""
    from webui.i18n import CODES

    demo_server.set_faults(not_found=["s13"])
    run_demo_pipeline(home, demo_server)
    for data in ({"kind": "retry_failed_items", "job_id": "1"}, {"kind": "pause_job", "job_id": "1"},
                 {"kind": "enqueue_job", "job_type": "verify"}):
        client.post("/commands", data={**data, "csrf_token": page_csrf(client)})
    assert runnerd(home, "run", "--burst").returncode == 0
    ids = sorted(code for code in CODES if "_" in code)
    item = next(iter(client.get("/api/jobs/1/items?status=failed").get_json()["items"]), {"id": 1})["id"]
    for path in ("/", "/jobs", "/jobs/1", "/jobs/1?status=failed", f"/items/{item}", "/commands/1",
                 "/commands/2", "/logs", "/playlists", "/playlists/1", "/songs", "/drift"):
        page = client.get(path)
        assert page.status_code == 200, path
        html = re.sub(r"<(script|style|template)\b.*?</\1>", " ", page.get_data(as_text=True), flags=re.S)
        text = unescape(re.sub(r"<[^>]+>", " ", html))
        # (A setting's value is what its owner typed: 'job_finished' in quotes, or on /config, is theirs.)
        shown = [code for code in ids if re.search(rf"(?<![\w/.'-]){code}(?![\w/.'-])", text)]
        assert not shown, f"{path} shows {shown}: " + " | ".join(
            text[max(0, m.start() - 80):m.end() + 20] for code in shown for m in re.finditer(code, text))


def test_the_logs_page_and_api_logs_answer_from_one_query_with_the_same_filters(client, web):
    _, conn = web
    with transaction(conn):
        for job, level, message in ((None, "INFO", "runnerd starting"), (1, "INFO", "Job 1: started"),
                                    (2, "WARNING", "Job 2: a source is slow"), (2, "ERROR", "Job 2: disk full"),
                                    (1, "ERROR", "Job 1: stage failed")):
            conn.execute("INSERT INTO job_logs (job_id, level, logger, message, created_at)"
                         " VALUES (?, ?, 'runnerd', ?, '2026-01-01T00:00:00Z')", (job, level, message))

    def api(query: str) -> list[str]:
        return [r["message"] for r in client.get(f"/api/logs?{query}").get_json()["logs"]]

    assert api("job=2") == ["Job 2: disk full", "Job 2: a source is slow"]
    assert api("job=1&level=ERROR") == ["Job 1: stage failed"]
    assert api("level=WARNING") == ["Job 1: stage failed", "Job 2: disk full", "Job 2: a source is slow"]
    assert api("q=disk") == ["Job 2: disk full"]
    page = client.get("/logs?job=2&level=WARNING").get_data(as_text=True)
    assert "Job 2: disk full" in page and "Job 2: a source is slow" in page and "Job 1:" not in page
