"""The dashboard's pictures of the last day: items per minute and MB/s per stage, failed
attempts per error class, drawn as inline SVG from the per-minute activity table."""
from __future__ import annotations

import re
from datetime import timedelta

from conftest import make_running_job

from catalogsync_ops.engine.activity import activity, prune_activity, succeeded_since, transfer_totals
from catalogsync_ops.engine.items import claim_next_item, mark_item_failed, mark_item_succeeded
from catalogsync_ops.store.connection import utcnow


def finish(conn, stage_id, *, at, bytes_done=None, error_class=None):
    claim = claim_next_item(conn, stage_id, runner_instance_id=None)
    if error_class:
        mark_item_failed(conn, claim.item_id, claim.attempt_no, error_class=error_class, error="x", source="demo",
                         retryable=False, now=at)
    else:
        mark_item_succeeded(conn, claim.item_id, claim.attempt_no, bytes_done=bytes_done, now=at)


def a_day_of_work(conn):
    """Downloads and uploads in the last hour, downloads five hours ago, a day-old one, failures."""
    now = utcnow().replace(second=0, microsecond=0)
    _, download = make_running_job(conn, 9, max_attempts=1, job_type="download")
    _, upload = make_running_job(conn, 2, job_type="upload")
    for _ in range(3):
        finish(conn, download, at=now, bytes_done=6_000_000)
    for _ in range(2):
        finish(conn, download, at=now - timedelta(hours=5), bytes_done=3_000_000)
    finish(conn, download, at=now - timedelta(hours=25), bytes_done=50_000_000)  # outside the day
    for _ in range(2):
        finish(conn, upload, at=now, bytes_done=6_000_000)
    finish(conn, download, at=now, error_class="timeout")
    finish(conn, download, at=now - timedelta(hours=5), error_class="timeout")
    finish(conn, download, at=now - timedelta(hours=5), error_class="not_found")
    return now


def test_the_day_counts_items_bytes_and_failures_per_hour_and_stage(web):
    _, conn = web
    now = a_day_of_work(conn)
    day = activity(conn, now=now)
    assert len(day["buckets"]) == 24
    assert day["items"] == {"collect": 0, "sync": 0, "download": 5, "upload": 2}
    assert day["bytes"]["download"] == 3 * 6_000_000 + 2 * 3_000_000 and day["bytes"]["upload"] == 12_000_000
    assert day["failed"] == {"timeout": 2, "not_found": 1}
    current, earlier = day["buckets"][-1], day["buckets"][-6]
    assert current["items"]["download"] == 3 and earlier["items"]["download"] == 2
    assert earlier["failed"] == {"timeout": 1, "not_found": 1} and current["failed"] == {"timeout": 1}
    # The hour holding now has lasted now.minute + 1 minutes: its rate is over those, not 60.
    assert current["minutes"] == now.minute + 1
    assert current["per_minute"]["download"] == 3 / (now.minute + 1)
    assert earlier["per_minute"]["download"] == 2 / 60
    assert earlier["bytes_per_s"]["download"] == 6_000_000 / 3600
    # The housekeeping folds minutes past the previous hour into hours and lifetime totals, then
    # drops hours older than a week: the day's figures, the last hour's and the totals stay.
    totals, last_hour = transfer_totals(conn), succeeded_since(conn, now - timedelta(hours=1))
    assert last_hour == 5 and ("download", "failed", 3, 0) in totals
    assert prune_activity(conn, keep_days=1, now=now) == 1  # the day-old hour
    assert activity(conn, now=now) == day
    assert transfer_totals(conn) == totals  # lifetime: the day-old download still counts
    assert ("download", "succeeded", 6, 74_000_000) in totals
    assert succeeded_since(conn, now - timedelta(hours=1)) == last_hour


def test_the_dashboard_draws_the_day_in_both_languages(client, web):
    _, conn = web
    a_day_of_work(conn)
    html = client.get("/").get_data(as_text=True)
    section = html[html.index('id="activity"'):html.index("</section>", html.index('id="activity"'))]
    assert "Songs downloaded: 5 (24.0 MB)" in section and "uploaded: 2 (12.0 MB)" in section
    assert "Failed attempts: 3" in section
    # An hour's average is called what it is, not a peak.
    assert re.search(r"busiest hour, on average: [\d.]+ items/min<", section) and "peak" not in section
    assert section.count('<svg class="chart"') == 3
    titles = re.findall(r"<title>([^<]*)</title>", section)
    assert len(titles) == 3 * 24
    assert any(re.search(r"UTC \(5 h ago\): download 0\.033 items/min$", t) for t in titles), titles[-8:]
    assert any(re.search(r"UTC \(5 h ago\): timeout 1, not found 1 failed attempts per hour$",
                         t) for t in titles), [t for t in titles if "5 h" in t]
    assert section.count('<rect class="s-download"') == 2 + 2  # two bars in each of the two stage charts
    legend = re.findall(r'<li><i class="([^"]+)"></i>([^<]+)</li>', section)
    assert ("s-download", "download") in legend and ("s-upload", "upload") in legend and ("c0", "timeout") in legend
    assert ("s-collect", "collect") not in legend  # a stage that did nothing is not in the key
    client.get("/lang/zh")
    chinese = client.get("/").get_data(as_text=True)
    section = chinese[chinese.index('id="activity"'):chinese.index("</section>", chinese.index('id="activity"'))]
    assert "最近 24 小时" in section and "已下载歌曲: 5" in section
    assert re.search(r"UTC \(5 小时前\): 下载 0\.033 个/分钟", section)
    assert re.search(r"UTC \(5 小时前\): 超时 1, 未找到 1 次失败/小时", section)
    assert not re.search(r"\b(download|upload|timeout|items/min)\b", re.sub(r'class="[^"]*"', "", section))


def test_an_idle_day_says_so_instead_of_drawing_empty_bars(client):
    html = client.get("/").get_data(as_text=True)
    section = html[html.index('id="activity"'):html.index("</section>", html.index('id="activity"'))]
    assert section.count("Nothing in the last 24 hours.") == 3 and "<svg" not in section


def test_a_song_finished_now_shows_at_once_although_the_charts_are_drawn_once_a_minute(client, web):
    _, conn = web
    a_day_of_work(conn)
    assert "Songs downloaded: 5 (24.0 MB)" in client.get("/").get_data(as_text=True)
    assert "Songs downloaded: 5 (24.0 MB)" in client.get("/").get_data(as_text=True)  # drawn once, shown twice
    _, stage = make_running_job(conn, 1, job_type="download")
    finish(conn, stage, at=utcnow(), bytes_done=1_000_000)
    assert "Songs downloaded: 6 (25.0 MB)" in client.get("/").get_data(as_text=True)
