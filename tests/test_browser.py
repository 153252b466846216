"""The console in headless Chromium, against waitress and a real runnerd on the demo platform."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import wait_for
from helpers.browser import PASSWORD, SHOTS, Console, launch
from playwright.sync_api import expect, sync_playwright

pytestmark = pytest.mark.browser  # headless Chromium: -m "not browser" leaves these out


@pytest.fixture
def console(home: Path, demo_server):
    console = Console(home, demo_server)
    console.start_runner()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.set_default_timeout(20_000)
        yield {"page": page, "base": console.base, "console": console, "server": demo_server, "shots": SHOTS,
               "home": home}
        browser.close()
    console.stop()


def test_a_person_runs_pauses_retries_and_reconfigures_from_the_browser(console):
    page, base, server, shots = console["page"], console["base"], console["server"], console["shots"]
    job_status = console["console"].job_status
    server.set_faults(slow_ms=250, not_found=["s13"])  # slow enough to watch; one song fails (十年)
    page.goto(f"{base}/")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#runner")).to_contain_text("Up")
    page.screenshot(path=str(shots / "dashboard-idle.png"), full_page=True)

    # Start a full pipeline from the jobs page; the banner follows the command to "applied".
    page.goto(f"{base}/jobs")
    page.select_option("#new-job select[name=job_type]", "full_pipeline")
    page.click("#new-job button[type=submit]")
    expect(page.locator("#command-banner .state")).to_have_text("applied")
    # In words, and the list shows the new job without a reload by hand.
    expect(page.locator("#command-banner .detail")).to_have_text("Job 1 queued")
    expect(page.locator("#job-list tr[data-job='1']")).to_be_visible(timeout=10_000)
    page.screenshot(path=str(shots / "jobs.png"), full_page=True)

    # The dashboard's download bar moves without a reload.
    page.goto(f"{base}/")
    download_bar = page.locator("tr[data-stage=download] progress")
    expect(download_bar).to_be_visible()
    wait_for(lambda: float(download_bar.get_attribute("value") or 0) > 0, timeout=30)
    first = float(download_bar.get_attribute("value"))
    wait_for(lambda: float(download_bar.get_attribute("value")) > first, timeout=30)
    page.screenshot(path=str(shots / "dashboard-running.png"), full_page=True)

    # Soft pause and resume from the job page.
    page.goto(f"{base}/jobs/1")
    page.click("button[data-action=pause_job]")
    expect(page.locator("#command-banner .state")).to_have_text("applied")
    wait_for(lambda: job_status(1) == "paused")
    page.goto(f"{base}/jobs/1")
    expect(page.locator("#job .status").first).to_have_text("paused")
    page.screenshot(path=str(shots / "job-paused.png"), full_page=True)
    server.set_faults(slow_ms=0, not_found=["s13"])
    page.click("button[data-action=resume_job]")
    expect(page.locator("#command-banner .state")).to_have_text("applied")
    wait_for(lambda: job_status(1) == "completed_with_errors", timeout=60)

    # Retry the failed song from the job detail page and see it succeed.
    server.set_faults(not_found=[])
    page.goto(f"{base}/jobs/1?status=failed")
    failed_row = page.locator("#items tr[data-item]")
    expect(failed_row).to_have_count(1)
    expect(failed_row).to_contain_text("十年")
    page.screenshot(path=str(shots / "job-failed-item.png"), full_page=True)
    failed_row.locator("button[data-action=retry_item]").click()
    expect(page.locator("#command-banner .state")).to_have_text("applied")
    wait_for(lambda: job_status(1) == "completed", timeout=60)
    page.goto(f"{base}/jobs/1?status=failed")
    expect(page.locator("#items tr[data-item]")).to_have_count(0)

    # Edit a config value: see the diff, apply it, then roll it back.
    page.goto(f"{base}/config")
    page.fill("#settings-form input[name=UPLOAD_WORKERS]", "3")
    page.click("#settings-form button[value=check]")
    expect(page.locator("#config-diff")).to_contain_text("+UPLOAD_WORKERS=3")
    page.screenshot(path=str(shots / "config-diff.png"), full_page=True)
    page.fill("#settings-form input[name=UPLOAD_WORKERS]", "3")
    page.click("#apply-form")
    expect(page.locator("#command-banner .state")).to_have_text("applied")
    assert "UPLOAD_WORKERS=3" in (console["home"] / "catalogsync.env").read_text()
    page.goto(f"{base}/config")
    page.locator("button[data-action=rollback_config]").first.click()
    expect(page.locator("#command-banner .state")).to_have_text("applied")
    assert "UPLOAD_WORKERS=3" not in (console["home"] / "catalogsync.env").read_text()
    page.goto(f"{base}/config")
    page.screenshot(path=str(shots / "config.png"), full_page=True)
    for path, name in (("/playlists", "playlists"), ("/songs?q=周杰伦", "songs"), ("/logs", "logs"),
                       ("/account", "account"), ("/items/1", "item"), ("/commands/1", "command"),
                       ("/config/revisions/1", "revision")):
        page.goto(f"{base}{path}")
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

    # On a phone: nothing wider than the screen, the navigation still reachable.
    page.set_viewport_size({"width": 390, "height": 844})
    for path, name in (("/", "phone-dashboard"), ("/jobs/1", "phone-job"), ("/config", "phone-config")):
        page.goto(f"{base}{path}")
        overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        assert overflow <= 1, f"{path} is {overflow}px wider than a phone screen"
    expect(page.locator("header nav a").first).to_be_visible()
