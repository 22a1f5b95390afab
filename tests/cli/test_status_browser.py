"""The console that ``obssched demo`` serves, as a person sees it in a real headless browser."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .conftest import Workdir, free_port, get, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.realtime, pytest.mark.slow]

DEMO_JOBS = ("build_report", "export_snapshot", "fetch_rates", "flaky_sync", "ping", "rotate_logs")
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _missing(reason: str) -> None:
    if os.environ.get("OBSSCHED_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def page() -> Iterator[Page]:
    """A tab of Debian's headless Chromium, driven by Playwright (no browser download); the test
    fails if the page raised or the browser blocked anything under the console's CSP."""
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _missing("no Playwright for Python (the test extras install it)")
    if shutil.which(CHROMIUM) is None:
        _missing(f"no Chromium at {CHROMIUM} (Debian package chromium)")
    expect.set_options(timeout=30_000)  # the demo's first failed run takes a few seconds
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        tab = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="en-US")
        tab.set_default_timeout(30_000)
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.on(
            "console",
            lambda message: (
                errors.append(message.text) if "Security Policy" in message.text else None
            ),
        )
        yield tab
        browser.close()
        assert not errors, f"the page raised or broke its security policy: {errors}"


def test_demo_console_shows_every_job_and_the_failing_ones_traceback(
    workdir: Workdir, start, page: Page
) -> None:
    """In Chromium the demo's console lists each job, highlights the failing one and shows its
    traceback, and links to the metrics."""
    from playwright.sync_api import expect

    port = free_port()
    start("demo", "--duration", "60", "--metrics-port", str(port), "--store", workdir.store)
    base = f"http://127.0.0.1:{port}"
    wait_until("the console to answer", lambda: get(f"{base}/api/scheduler")[0] == 200, 30)
    page.goto(f"{base}/")
    rows = page.locator("#jobs-body tr[data-job-id]")
    for job in DEMO_JOBS:
        expect(rows.filter(has=page.get_by_role("link", name=job, exact=True))).to_have_count(1)
    ping = page.locator('#jobs-body tr[data-job-id="ping"]')
    expect(ping.locator("td").nth(2)).to_have_text("interval[0:00:02]")
    failing = page.locator('#jobs-body tr[data-job-id="fetch_rates"]')
    expect(failing).to_have_class(re.compile(r"\bfailing\b"))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo-overview.png"), full_page=True)

    failing.get_by_role("link", name="fetch_rates").click()
    traceback = page.locator("pre.traceback").first
    expect(traceback).to_contain_text("Traceback (most recent call last)")
    expect(traceback).to_contain_text("DemoUpstreamDownError: rates service for EUR unreachable")

    page.get_by_role("link", name="Metrics").click()
    expect(page.locator("body")).to_contain_text("obssched_job_executed_total")
