"""The runner's log lines and the reasons of refusals read in the page's language: a real run's
lines show in Chinese on the logs pages (the catalogue holds every template: test_catalogue.py)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import run_demo_pipeline, runnerd


def test_a_runs_log_lines_show_in_chinese_with_their_codes_translated(home: Path, demo_server, client, web):
    run_demo_pipeline(home, demo_server, DOWNLOAD_SOURCES="demo")
    _, conn = web
    row = conn.execute("SELECT code, params_json, message FROM job_logs"
                       " WHERE message LIKE 'Job 1: complete%'").fetchone()
    assert row["code"] == "Job %s: %s" and row["params_json"] == '[1, "completed_with_errors"]'  # 4 songs not found
    english = client.get("/logs?job=1").get_data(as_text=True)
    assert "Job 1: completed with errors" in english and "Job 1: stage download started with" in english
    client.get("/lang/zh")
    chinese = client.get("/logs?job=1").get_data(as_text=True)
    assert "任务 1：已完成（有错误）" in chinese and "Job 1: completed" not in chinese
    assert re.search(r"：第 1 次尝试失败 \[未找到\]：demo：demo 歌曲 s\d+：http\S+ 返回 404", chinese)
    assert re.search(r"任务 1：阶段 下载 开始，新增 \d+ 个条目", chinese)
    assert "任务 1（完整流程）：已开始" in chinese
    job_page = client.get("/jobs/1").get_data(as_text=True)
    assert "任务 1：已完成（有错误）" in job_page and 'href="/logs?job=1">此任务的全部日志' in job_page


@pytest.mark.slow
def test_why_a_command_was_rejected_reads_in_chinese(home: Path, demo_server, client, web):
    from catalogsync_ops.engine.commands import submit_command

    run_demo_pipeline(home, demo_server, DOWNLOAD_SOURCES="demo")
    _, conn = web
    done = conn.execute("SELECT MIN(id) FROM job_items WHERE status = 'succeeded'").fetchone()[0]
    asked = [submit_command(conn, kind, payload, origin="api")[0] for kind, payload in (
        ("resume_job", {"job_id": 1}), ("pause_job", {"job_id": 1}), ("cancel_job", {"job_id": 1}),
        ("reprioritize_job", {"job_id": 1, "priority": 5}), ("retry_item", {"item_id": done}),
        ("retry_item", {"item_id": 999_999}))]
    assert runnerd(home, "run", "--burst").returncode == 0
    english = [client.get(f"/api/commands/{c}").get_json() for c in asked]
    assert [c["status"] for c in english] == ["rejected"] * len(asked)
    assert all(c["reject_reason_text"] == c["reject_reason"] for c in english)
    client.get("/lang/zh")
    for command in asked:
        shown = client.get(f"/api/commands/{command}").get_json()["reject_reason_text"]
        assert re.search(r"^(任务|条目) \d+", shown) and not re.search(r"[a-z]{3,}", shown), shown
        assert shown.split("：")[0] in client.get(f"/commands/{command}").get_data(as_text=True)


def test_a_reason_is_made_from_its_code_in_each_language_and_an_old_one_stays_as_written():
    from webui.logtext import reason_text

    paused = {"reject_code": "job_already", "reject_params": {"job_id": 3, "status": "pause_requested"},
              "reject_reason": "job 3 is already pause requested"}
    assert reason_text(paused, "zh") == "任务 3 已经是正在暂停状态"
    assert reason_text(paused, "en") == "job 3 is already pause requested"  # words, not the id
    stuck = {"reject_code": "cannot_become", "reject_params": {
        "subject": "items_of_job", "id": 4, "status": "completed_with_errors", "to": "queued",
        "allowed": ["queued", "canceled"]}}
    assert reason_text(stuck, "en") == ("items of job 4 is completed with errors; it cannot become queued (from "
                                        "completed with errors it can become: queued, canceled)")
    assert reason_text(stuck, "zh") == "任务的条目 4 的状态为已完成（有错误），不能变为排队中（可变为：排队中、已取消）"
    # Refused before codes were kept: the text as it was written, in any language.
    old = {"reject_code": None, "reject_reason": "a reason from an earlier release"}
    assert reason_text(old, "zh") == reason_text(old, "en") == "a reason from an earlier release"


def _visible(html: str) -> str:
    from html import unescape

    html = re.sub(r"<(script|style|template)\b.*?</\1>", " ", html, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", html))


@pytest.mark.slow
def test_why_a_song_failed_reads_in_chinese_on_every_page_that_says_it(home: Path, demo_server, client, web):
    """The runner keeps each failure's code and values: a Chinese page words it in Chinese; only
    what came from outside (an address, the platform's own answer, a song's name) stays as it was."""
    from catalogsync_ops.messages import MESSAGES

    # Songs the platform lists but cannot serve; demo2 offers 晴天 (s01) only as a live version.
    demo_server.set_faults(not_found=["s13", "s01"])
    run_demo_pipeline(home, demo_server)  # demo, then demo2: every failed song names both
    _, conn = web
    failed = conn.execute("SELECT id, display_text, last_error, last_error_code FROM job_items"
                          " WHERE status = 'failed' ORDER BY id").fetchall()
    assert failed and {r["last_error_code"] for r in failed} == {"tried_sources"}
    attempts = conn.execute("SELECT error, error_code FROM item_attempts WHERE item_id = ?", (failed[0]["id"],))
    assert all(a["error_code"] for a in attempts)
    english = _visible(client.get("/jobs/1?status=failed").get_data(as_text=True))
    assert failed[0]["last_error"][:60] in english  # English pages say it as the runner wrote it
    # The words of every message a failure can be made of: none may show on a Chinese page.
    ours = {w for template in MESSAGES.values() for w in re.findall(r"(?<![{\w])[a-z]{4,}(?![\w}])", template)}
    outside = {w.lower() for r in failed for w in re.findall(r"[A-Za-z]{4,}", r["display_text"] or "")}
    outside |= {"found", "demo", "error", "available", "this", "song", "platform"}  # the platform's own answer
    client.get("/lang/zh")
    pages = ["/jobs/1?status=failed", "/logs?job=1&level=WARNING", "/", *(f"/items/{r['id']}" for r in failed)]
    for path in pages:
        text = _visible(client.get(path).get_data(as_text=True))
        # Addresses, paths, the platform's JSON answer, names made of parts (download-worker-1).
        text = re.sub(r"https?://\S+|\S*/\S*|\{[^}]*\}|\w+(?:-\w+)+", " ", text)
        shown = sorted({w for w in re.findall(r"[a-z]{4,}", text)} & ours - outside)
        assert not shown, f"{path}: English from the runner on a Chinese page: {shown}: " + " | ".join(
            text[max(0, m.start() - 60):m.end() + 30] for w in shown for m in re.finditer(w, text))
    page = _visible(client.get("/jobs/1?status=failed").get_data(as_text=True))
    sunny = next(r["id"] for r in failed if "晴天" in (r["display_text"] or ""))
    refused = _visible(client.get(f"/items/{sunny}").get_data(as_text=True))
    assert re.search(r"已拒绝:\s+版本：Live 不是要求的版本\s+标题 1.00 · 歌手 1.00 · 专辑不同", refused), (
        refused[-2000:])
    said = re.search(r"\[未找到 · demo2?\] ([^\n]+)", page)
    # "demo：下载 http://…/s13.wav 时服务器返回 404 Not Found；demo2：demo2 没有找到 '…'"
    parts = ("demo：下载 ", "时服务器返回 404", "；demo2：demo2 没有找到")
    assert said and all(part in said.group(1) for part in parts), (
        said.group(0) if said else page[-3000:])
