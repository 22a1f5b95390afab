"""The console's overview with 10,000 jobs in a real headless Chromium: the page shows one page
of them, counts them all, and finds any one by filter or sort."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from obssched.console import ConsoleSettings, make_wsgi_app
from obssched.observability import MetricsServer
from obssched.schedulers.background import BackgroundScheduler

from .conftest import DASH, filter_jobs, job_row, screenshot, succeed

pytestmark = [pytest.mark.browser, pytest.mark.realtime, pytest.mark.slow]

JOBS = 10_000
ROWS = "#jobs-body tr[data-job-id]"


@pytest.fixture(scope="module")
def many_jobs_url() -> Iterator[str]:
    """A paused scheduler holding 10,000 jobs, served with the console; its URL."""
    scheduler = BackgroundScheduler(timezone="UTC", metrics=False, tracing=False)
    scheduler.start(paused=True)
    for number in range(JOBS):
        name = f"job-{number:05}"
        scheduler.add_job(succeed, "interval", hours=1, id=name, name=name)
    settings = ConsoleSettings(store_wait=10.0)  # 10,000 jobs on a loaded machine
    server = MetricsServer("127.0.0.1", 0, make_wsgi_app(scheduler, settings))
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.close()
        scheduler.shutdown(wait=False)


def test_one_page_of_ten_thousand_jobs_is_drawn(many_jobs_url: str, page: Page) -> None:
    """The table draws 50 rows and says there are 10,000 jobs in all."""
    page.goto(many_jobs_url + "/")
    expect(page.locator("#page-info")).to_have_text(f"1{DASH}50 of 10,000 jobs")
    expect(page.locator(ROWS)).to_have_count(50)
    expect(page.locator("#jobs-total")).to_have_text("(10,000)")
    screenshot(page, "overview-10000-jobs")


def test_filter_finds_one_job_among_ten_thousand(many_jobs_url: str, page: Page) -> None:
    """Typing a job's id in the filter leaves that one job."""
    page.goto(many_jobs_url + "/")
    filter_jobs(page, "job-07342", matches=1)
    expect(job_row(page, "job-07342")).to_be_visible()


def test_sorting_brings_the_last_job_to_the_top(many_jobs_url: str, page: Page) -> None:
    """Sorting by name descending puts the last of the 10,000 jobs first."""
    page.goto(many_jobs_url + "/")
    expect(page.locator(ROWS).first).to_have_attribute("data-job-id", "job-00000")
    page.get_by_role("columnheader", name="Name").click()
    expect(page.locator(ROWS).first).to_have_attribute("data-job-id", "job-09999")
