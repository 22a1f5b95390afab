"""A job's page and a run's span waterfall in a real headless Chromium: the run history, the
errors with their traceback, the next fire times, and where a slow run's time went."""

from __future__ import annotations

import itertools
import re

import pytest
from playwright.sync_api import Page, expect

from .conftest import FAILURE_MESSAGE, GRAFANA, ODD_ID, Console, filter_jobs, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.realtime, pytest.mark.slow]

RUNS = "#runs-body tr[data-run-id]"


def open_job(page: Page, console: Console, job_id: str, runs: int = 2) -> None:
    """Open a job's page and wait until its history shows ``runs`` runs or more."""
    page.goto(f"{console.url}/jobs/{job_id}")
    expect(page.locator(RUNS).nth(runs - 1)).to_be_visible(timeout=30_000)


def open_waterfall(page: Page, console: Console, job_id: str, outcome: str) -> None:
    """From a job's page, follow the spans link of its latest run with ``outcome``."""
    open_job(page, console, job_id)
    spans = page.get_by_role("link", name="spans")
    run = page.locator(RUNS).filter(has=page.locator(f".badge.{outcome}")).filter(has=spans)
    run.first.get_by_role("link", name="spans").click()
    expect(page.locator(".waterfall .span-row").first).to_be_visible()


def test_run_history_lists_recent_runs(console: Console, page: Page) -> None:
    """A job's page lists its runs with start, delay, duration and outcome, newest first."""
    open_job(page, console, "heartbeat")
    newest = page.locator(RUNS).first
    cells = newest.locator("td")
    expect(cells.nth(0)).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+00:00$"))
    expect(cells.nth(1)).to_have_text(re.compile(r"\d ms$"))
    expect(cells.nth(2)).to_have_text(re.compile(r"\d ms$"))
    expect(cells.nth(3).locator(".badge")).to_have_text("executed")
    started = page.locator(RUNS).locator("td:first-child").all_inner_texts()
    assert started == sorted(started, reverse=True)


def test_runs_strip_and_duration_chart_show_each_run(console: Console, page: Page) -> None:
    """The strip has one block per run coloured by outcome, and the chart one bar per run."""
    open_job(page, console, "ledger-sync")
    shown = page.locator(RUNS).count()
    expect(page.locator(".strip .run.error-fill")).to_have_count(shown)
    expect(page.locator("svg.chart rect.error-fill")).to_have_count(shown)
    expect(page.locator(".strip .run").first).to_have_attribute("title", re.compile(": error"))


def test_failing_jobs_page_shows_the_full_traceback_as_text(console: Console, page: Page) -> None:
    """The last errors show the exception and its whole traceback, markup in it as text."""
    open_job(page, console, "ledger-sync")
    error = page.locator(".error-entry").first
    expect(error.locator("h3")).to_have_text(
        re.compile(rf"LedgerUnreachableError: {re.escape(FAILURE_MESSAGE)}$")
    )
    traceback = error.locator("pre.traceback")
    expect(traceback).to_contain_text("Traceback (most recent call last)")
    expect(traceback).to_contain_text("in fail_to_sync")
    expect(traceback).to_contain_text(FAILURE_MESSAGE)
    assert traceback.locator("b").count() == 0
    screenshot(page, "job-failing")


def test_next_ten_fire_times(console: Console, page: Page) -> None:
    """The job's page lists its trigger's next 10 fire times, a second apart for a 1 s job."""
    open_job(page, console, "heartbeat")
    times = page.locator("#fire-times li")
    expect(times).to_have_count(10)
    seconds = [int(text[17:19]) for text in times.all_inner_texts()]
    assert [(b - a) % 60 for a, b in itertools.pairwise(seconds)] == [1] * 9


def test_trace_ids_link_to_the_trace_ui(console: Console, page: Page) -> None:
    """Each run's trace id links to the configured trace UI."""
    open_job(page, console, "heartbeat")
    link = page.locator(RUNS).first.locator("a[title]")
    trace_id = link.get_attribute("title") or ""
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id), trace_id
    expect(link).to_have_attribute("href", f"http://traces.invalid/trace/{trace_id}")


def test_job_links_to_its_grafana_dashboard(console: Console, page: Page) -> None:
    """With a Grafana URL set, the job's page links to the shipped job dashboard for it."""
    page.goto(f"{console.url}/jobs/heartbeat")
    link = page.get_by_role("link", name="Grafana job dashboard")
    expect(link).to_have_attribute("href", re.compile(rf"^{re.escape(GRAFANA)}/d/.*heartbeat"))


def test_job_id_with_a_slash_and_accents_opens_its_page(console: Console, page: Page) -> None:
    """A job whose id holds a slash, a space and an accent is linked to, and found, by its id."""
    page.goto(console.url + "/")
    filter_jobs(page, "daily", matches=1)
    page.get_by_role("link", name="daily report").click()
    expect(page.locator("#job-name")).to_have_text("daily report")
    expect(page.locator("#job-facts div", has_text="ID").locator("dd")).to_have_text(ODD_ID)


def test_arguments_are_shown_only_when_enabled_and_then_redacted(
    console: Console, page: Page
) -> None:
    """With show_args on, a job's page shows its kwargs with the token's value hidden."""
    page.goto(f"{console.readonly_url}/jobs/guarded")
    arguments = page.locator("#job-facts div", has_text="Arguments").locator("dd")
    expect(arguments).to_have_text('region="eu-west", api_token="***"')
    page.goto(f"{console.url}/jobs/guarded")
    expect(page.locator("#job-facts")).to_contain_text("Trigger")
    expect(page.locator("#job-facts")).not_to_contain_text("Arguments")
    expect(page.locator("body")).not_to_contain_text("hunter2")


def test_unknown_job_says_so(console: Console, page: Page) -> None:
    """The page of a job that is not scheduled says so instead of failing."""
    page.goto(f"{console.url}/jobs/no-such-job")
    expect(page.locator("#job-markers")).to_have_text("not scheduled")
    expect(page.locator("#runs-body")).to_have_text("No runs recorded yet.")


def test_slow_runs_waterfall_shows_the_jobs_own_spans(console: Console, page: Page) -> None:
    """A slow run's page nests the job body's spans under the run and places them in time."""
    open_waterfall(page, console, "slow-report", "executed")
    names = page.locator(".waterfall .span-name")
    expect(names).to_have_text(["run slow-report", "load rows", "render pdf", "embed charts"])
    depths = [int(name.get_attribute("data-depth") or -1) for name in names.all()]
    assert depths == [0, 1, 1, 2]
    bars = {}
    for index, text in enumerate(names.all_inner_texts()):
        box = page.locator(".waterfall .span-row").nth(index).locator(".bar").bounding_box()
        assert box is not None, f"no bar drawn for {text}"
        bars[text] = box
    load, render, root = bars["load rows"], bars["render pdf"], bars["run slow-report"]
    assert load["x"] < render["x"], "render pdf starts after load rows ends"
    assert render["width"] > load["width"], "render pdf (1 s) outlasts load rows (0.1 s)"
    assert render["x"] + render["width"] <= root["x"] + root["width"] + 1
    expect(page.locator("#hot-path")).to_contain_text("Most of the time went to embed charts")
    expect(page.locator("#run-facts")).to_contain_text("slow-report")
    screenshot(page, "run-waterfall")


def test_clicking_a_span_shows_its_attributes(console: Console, page: Page) -> None:
    """Clicking the run's span lists its attributes, the job's id among them."""
    open_waterfall(page, console, "slow-report", "executed")
    page.locator(".waterfall .span-name").first.click()
    detail = page.locator("#span-detail")
    expect(detail.locator("h3")).to_have_text("run slow-report")
    expect(detail.locator("tr", has_text="obssched.job.id")).to_contain_text("slow-report")


def test_failed_runs_waterfall_marks_the_error(console: Console, page: Page) -> None:
    """A failed run's spans are kept, and its failed span is drawn as an error."""
    open_waterfall(page, console, "ledger-sync", "error")
    expect(page.locator(".waterfall .bar.error").first).to_be_visible()


def test_run_without_kept_spans_says_why(console: Console, page: Page) -> None:
    """A run whose spans were not kept says that only slow and failing runs keep them."""
    page.goto(f"{console.url}/runs/987654321")
    expect(page.locator("#run-facts")).to_contain_text("none kept for this run")
