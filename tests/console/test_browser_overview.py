"""The console's overview in a real headless Chromium: the scheduler, and the jobs table as a
person uses it (sorting, filtering, pages, highlighting, refreshing in place)."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, Route, expect

from .conftest import DASH, XSS_NAME, Console, filter_jobs, job_row, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.realtime, pytest.mark.slow]

ROWS = "#jobs-body tr[data-job-id]"


def test_scheduler_panel_shows_state_store_and_executor(console: Console, page: Page) -> None:
    """The scheduler panel says it runs, with its store up and its executor's worker limit."""
    page.goto(console.url + "/")
    facts = page.locator("#scheduler-facts")
    expect(page.locator("#refresh-state")).to_contain_text("updated")
    expect(facts).to_contain_text("running")
    expect(facts).to_contain_text("Version")
    expect(page.locator("#stores-body")).to_contain_text("MemoryJobStore")
    expect(page.locator("#stores-body .badge")).to_have_text("up")
    expect(page.locator("#executors-body tr").first).to_contain_text("ThreadPoolExecutor")
    expect(page.locator("#executors-body td").last).to_have_text("10")


def test_jobs_table_shows_each_jobs_schedule(console: Console, page: Page) -> None:
    """A job's row shows its name linked to its page, its id, trigger and next run."""
    page.goto(console.url + "/")
    filter_jobs(page, "guarded", matches=1)  # no action may change this one
    row = job_row(page, "guarded")
    link = row.get_by_role("link", name="guarded")
    expect(link).to_have_attribute("href", f"{console.url}/jobs/guarded")
    expect(row.locator("td").nth(1)).to_have_text("guarded")
    expect(row.locator("td").nth(2)).to_have_text("interval[1:00:00]")
    expect(row.locator("td").nth(3)).to_contain_text("in 5")  # "in 59 min ..." of an hour


def test_failing_job_is_highlighted(console: Console, page: Page) -> None:
    """The job that fails on every run is highlighted and marked failing; a healthy one is not."""
    page.goto(console.url + "/")
    page.get_by_role("columnheader", name="Last outcome").click()  # the jobs that ran, first
    failing = job_row(page, "ledger-sync")
    expect(failing).to_have_class("failing")
    expect(failing.locator(".badge.failing")).to_have_text("failing")
    expect(failing.locator(".badge.error")).to_have_text("error")
    expect(job_row(page, "heartbeat").locator(".badge.executed")).to_be_visible()
    expect(job_row(page, "heartbeat")).not_to_have_class("failing")
    screenshot(page, "overview")
    page.get_by_label("status filter").select_option("failing")
    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.locator(ROWS)).to_have_attribute("data-job-id", "ledger-sync")


@pytest.mark.parametrize("flag", ["overdue", "hung"])
def test_overdue_and_hung_jobs_are_highlighted(console: Console, page: Page, flag: str) -> None:
    """A job the API marks overdue or hung is highlighted and marked so in the table."""

    def mark(route: Route) -> None:
        # The scheduler here runs every job on time and none hangs: the API's answer is edited.
        answer = route.fetch()
        data = answer.json()
        for job in data["jobs"]:
            job[flag] = job["id"] == "guarded"
        route.fulfill(response=answer, body=json.dumps(data))

    page.route("**/api/jobs?**", mark)
    page.goto(console.url + "/")
    filter_jobs(page, "guarded", matches=1)
    row = job_row(page, "guarded")
    expect(row).to_have_class(flag)
    expect(row.locator(f".badge.{flag}")).to_have_text(flag)


def test_running_jobs_show_how_long_they_have_run(console: Console, page: Page) -> None:
    """The status filter "running now" shows the job in the middle of a run, and for how long."""
    page.goto(console.url + "/")
    page.get_by_label("status filter").select_option("running")
    cell = job_row(page, "stuck").locator("td").nth(7)
    expect(cell.locator(".badge.running")).to_have_text("1 running")
    expect(cell).to_contain_text(re.compile(r"for \d"))


def test_sorting_by_clicking_headers(console: Console, page: Page) -> None:
    """Clicking Name sorts by name descending the second time; clicking Runs puts errors first."""
    page.goto(console.url + "/")
    name = page.get_by_role("columnheader", name="Name")
    expect(name).to_have_attribute("aria-sort", "ascending")
    expect(page.locator(ROWS).first).to_have_attribute("data-job-id", "xss")  # "<" sorts first
    name.click()
    expect(name).to_have_attribute("aria-sort", "descending")
    expect(page.locator(ROWS).first).to_have_attribute("data-job-id", "stuck")
    page.get_by_role("columnheader", name="Runs").click()
    expect(page.locator(ROWS).first).to_have_attribute("data-job-id", "ledger-sync")


def test_filtering_by_text(console: Console, page: Page) -> None:
    """Typing in the filter box leaves the jobs whose name or id holds the text."""
    page.goto(console.url + "/")
    filter_jobs(page, "LEDGER", matches=1)
    expect(page.locator(ROWS)).to_have_attribute("data-job-id", "ledger-sync")
    filter_jobs(page, "batch-00", matches=10)
    page.get_by_label("filter jobs").fill("no such job")
    expect(page.locator("#jobs-body")).to_have_text("No job matches the filter.")


def test_filtering_by_status(console: Console, page: Page) -> None:
    """The status filter "paused" leaves paused jobs only, each marked paused."""
    page.goto(console.url + "/")
    page.get_by_label("status filter").select_option("paused")
    expect(job_row(page, "nightly")).to_be_visible()
    expect(job_row(page, "nightly").locator(".badge.paused")).to_have_text("paused")
    expect(job_row(page, "nightly").locator("td").nth(3)).to_have_text("paused")
    for row in page.locator(ROWS).all():
        expect(row).to_have_class("paused")


def test_jobs_are_paginated(console: Console, page: Page) -> None:
    """The table shows 50 jobs a page; Next shows the rest, Previous the first page again."""
    page.goto(console.url + "/")
    total = len(console.scheduler.get_jobs())
    assert total > 50, f"the test needs more than a page of jobs, has {total}"
    info = page.locator("#page-info")
    expect(info).to_contain_text(f"1{DASH}50 of")
    expect(page.locator(ROWS)).to_have_count(50)
    first = page.locator(ROWS).first.get_attribute("data-job-id")
    page.locator("#next").click()
    expect(info).to_contain_text(f"51{DASH}")
    expect(page.locator(ROWS).first).not_to_have_attribute("data-job-id", first or "")
    expect(page.locator("#next")).to_be_disabled()
    page.locator("#prev").click()
    expect(info).to_contain_text(f"1{DASH}50 of")


def test_page_refreshes_in_place(console: Console, page: Page) -> None:
    """Every few seconds the table is fetched again and redrawn without reloading the page."""
    page.clock.install()
    page.goto(console.url + "/")
    filter_jobs(page, "heartbeat", matches=1)
    page.evaluate("window.stillThisPage = true")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    with page.expect_request("**/api/jobs?**"):
        page.clock.run_for(3_500)
    expect(page.locator("#refresh-state")).to_contain_text("updated")
    assert page.evaluate("window.stillThisPage") is True
    assert navigations == []


def test_refresh_can_be_paused(console: Console, page: Page) -> None:
    """With refresh paused, time passes without a fetch; resumed, the table is fetched again."""
    page.clock.install()
    page.goto(console.url + "/")
    expect(page.locator("#refresh-state")).to_contain_text("updated")
    page.get_by_role("button", name="Pause refresh").click()
    expect(page.locator("#refresh-state")).to_have_text("refresh paused")
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    page.clock.run_for(30_000)
    # A fetch of our own, after the clock ran: any refresh started by the clock went out first.
    page.evaluate("fetch('/api/scheduler').then((response) => response.text())")
    assert not [url for url in fetched if "/api/jobs" in url]
    with page.expect_request("**/api/jobs?**"):
        page.get_by_role("button", name="Resume refresh").click()


def test_a_failed_refresh_keeps_the_last_table_and_says_so(console: Console, page: Page) -> None:
    """When the server stops answering, the page says it could not refresh and keeps its rows."""
    page.goto(console.url + "/")
    filter_jobs(page, "heartbeat", matches=1)
    page.route("**/api/**", lambda route: route.abort("connectionrefused"))
    expect(page.locator("#refresh-state")).to_contain_text("could not refresh")
    expect(page.locator(".refresh")).to_have_class(re.compile(r"\bstale\b"))
    expect(job_row(page, "heartbeat")).to_be_visible()
    page.unroute("**/api/**")
    expect(page.locator("#refresh-state")).to_contain_text("updated")


def test_markup_in_a_job_name_is_shown_as_text(console: Console, page: Page) -> None:
    """A job named <script>alert(1)</script> shows that text, and no script runs."""
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    page.goto(console.url + "/")
    filter_jobs(page, "xss", matches=1)
    link = job_row(page, "xss").locator("td.name a")
    expect(link).to_have_text(XSS_NAME)
    assert link.locator("script").count() == 0
    link.click()
    expect(page.locator("#job-name")).to_have_text(XSS_NAME)
    expect(page).to_have_title(f"{XSS_NAME} · obssched console")
    assert page.locator("main script").count() == 0
    assert dialogs == []


def test_actions_are_hidden_when_not_enabled(console: Console, page: Page) -> None:
    """On a console with actions off (the default) there is no token form and no button."""
    page.goto(console.readonly_url + "/")
    filter_jobs(page, "heartbeat", matches=1)
    expect(page.locator("#token-panel")).to_be_hidden()
    expect(page.get_by_role("columnheader", name="Actions")).to_be_hidden()
    expect(page.get_by_role("button", name="Pause", exact=True)).to_have_count(0)
