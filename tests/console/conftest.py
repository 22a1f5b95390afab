"""A running scheduler served with the operations console, and a headless Chromium to look at it.

The scheduler is demo-like: jobs that succeed, one that fails on every run, a slow one whose body
opens child spans, a paused one, one whose name is markup, jobs for the actions to act on, and
enough others to fill more than one page of the jobs table. Tracing is on with an SDK provider,
whose spans the console keeps for its run pages.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client import CollectorRegistry

import obssched
from obssched.console import ConsoleSettings, SpanBuffer, attach_span_buffer, make_wsgi_app
from obssched.observability import MetricsServer
from obssched.schedulers.background import BackgroundScheduler

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer
    from playwright.sync_api import Browser, Locator, Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "console-test-token-0123"
TRACE_UI = "http://traces.invalid/trace/{trace_id}"
GRAFANA = "http://grafana.invalid"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
XSS_NAME = "<script>alert(1)</script>"
ODD_ID = "reports/daily é"
"""A job id with a slash, a space and a non-ASCII letter: its page's path must carry it whole."""
FILLER_JOBS = 60
"""Jobs beyond the interesting ones: more than one page of the jobs table (50 rows a page)."""

DASH = "\N{EN DASH}"
"""Between the first and last job shown, in the pager's text ("1 to 50 of 69 jobs", with a dash)."""
FAILURE_MESSAGE = "ledger service unreachable <b>not bold</b>"


class LedgerUnreachableError(ConnectionError):
    """What the failing job raises on every run."""


def succeed(**kwargs: object) -> str:
    """A job that succeeds at once."""
    return "ok"


def fail_to_sync() -> None:
    """A job that fails on every run, with markup in its message."""
    raise LedgerUnreachableError(FAILURE_MESSAGE)


RELEASE_STUCK = threading.Event()
"""Ends the run of the ``stuck`` job (set when the scheduler is shut down)."""


def stay_stuck() -> None:
    """A job whose run lasts until the test's scheduler shuts down: always "running now"."""
    RELEASE_STUCK.wait(600)


def build_slow_report(tracer: Tracer) -> None:
    """A slow job: its body opens two child spans, the second the longer one."""
    pause = threading.Event()  # never set: wait() is the job's work, a fixed time
    with tracer.start_as_current_span("load rows"):
        pause.wait(0.1)
    with tracer.start_as_current_span("render pdf"), tracer.start_as_current_span("embed charts"):
        pause.wait(1.0)


@dataclass
class Console:
    """The served scheduler: the console's URL (127.0.0.1, a free port), the scheduler, and the
    URL of a second console on it with actions off (the default) and arguments shown."""

    url: str
    port: int
    scheduler: BackgroundScheduler
    readonly_url: str


@pytest.fixture(scope="package")
def console() -> Iterator[Console]:
    """A running scheduler with tracing on, served with the console (actions on, with a token)."""
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()
    # Every run keeps its spans for the whole session: with the defaults (the 3 slowest and the
    # 3 last failed runs per job) a run a test has just clicked can lose its spans to a newer
    # one before its page loads. Eviction itself is specified in test_spanbuffer.py.
    spans = attach_span_buffer(
        provider,
        SpanBuffer(
            slowest_per_job=100_000, failed_per_job=100_000, max_traces=100_000, max_spans=1_000_000
        ),
    )
    registry = CollectorRegistry()
    scheduler = BackgroundScheduler(
        timezone="UTC", tracer_provider=provider, metrics_registry=registry, name="browser"
    )
    now = scheduler.clock.now()
    soon, later = now + timedelta(seconds=0.5), now + timedelta(hours=1)
    tracer = provider.get_tracer("tests.console")
    scheduler.add_job(succeed, "interval", seconds=1, id="heartbeat", name="heartbeat")
    scheduler.add_job(fail_to_sync, "interval", seconds=1, id="ledger-sync", name="ledger-sync")
    scheduler.add_job(
        build_slow_report,
        "interval",
        seconds=2,
        args=[tracer],
        id="slow-report",
        name="slow-report",
        next_run_time=soon,
        max_instances=1,
    )
    scheduler.add_job(succeed, "interval", minutes=5, id="xss", name=XSS_NAME)
    for job_id in ("pausable", "removable", "on-demand"):
        scheduler.add_job(succeed, "interval", hours=1, id=job_id, name=job_id, next_run_time=later)
    scheduler.add_job(
        succeed,
        "interval",
        hours=1,
        kwargs={"region": "eu-west", "api_token": "hunter2"},
        id="guarded",
        name="guarded",
        next_run_time=later,
    )
    scheduler.add_job(succeed, "cron", hour=3, id="nightly", name="nightly").pause()
    scheduler.add_job(stay_stuck, "interval", hours=1, id="stuck", name="stuck", next_run_time=soon)
    scheduler.add_job(
        succeed, "interval", hours=1, id=ODD_ID, name="daily report", next_run_time=later
    )
    for number in range(FILLER_JOBS):
        scheduler.add_job(
            succeed, "interval", hours=6, id=f"batch-{number:03}", name=f"batch-{number:03}"
        )
    settings = ConsoleSettings(
        actions=True,
        token=TOKEN,
        trace_url_template=TRACE_UI,
        grafana_url=GRAFANA,
        store_wait=5.0,  # a loaded machine may take longer than half a second to list the jobs
    )
    app = make_wsgi_app(scheduler, settings, obssched.make_wsgi_app(registry), spans=spans)
    server = MetricsServer("127.0.0.1", 0, app)
    # The same scheduler behind a second console: no actions (the default), arguments shown.
    shown = ConsoleSettings(show_args=True)
    readonly = MetricsServer("127.0.0.1", 0, make_wsgi_app(scheduler, shown))
    scheduler.start()
    server.start()
    readonly.start()
    try:
        yield Console(
            f"http://127.0.0.1:{server.port}",
            server.port,
            scheduler,
            f"http://127.0.0.1:{readonly.port}",
        )
    finally:
        readonly.close()
        server.close()
        RELEASE_STUCK.set()
        scheduler.shutdown(wait=True)
        provider.shutdown()


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium, driven by Playwright."""
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _missing("no Playwright for Python (the test extras install it)")
    # What a page shows can take a refresh or two on a loaded machine: assertions wait for it.
    expect.set_options(timeout=20_000)
    if shutil.which(CHROMIUM) is None:
        _missing(f"no Chromium at {CHROMIUM} (Debian package chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _missing(reason: str) -> None:
    if os.environ.get("OBSSCHED_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab (its own sessionStorage) 1400 px wide, accepting confirmation dialogs; the
    test fails if the page raised or the browser blocked anything under the console's CSP."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    errors: list[Any] = []
    tab.on("pageerror", lambda error: errors.append(error))
    # The browser reports what the Content-Security-Policy blocked (an inline style or script)
    # on the console: the pages must need nothing it forbids.
    tab.on(
        "console",
        lambda message: errors.append(message.text) if "Security Policy" in message.text else None,
    )
    tab.on("dialog", lambda dialog: dialog.accept())
    yield tab
    context.close()
    assert not errors, f"the page raised or broke its security policy: {errors}"


def screenshot(page: Page, name: str) -> Path:
    """Save what the page shows to tests/artifacts/NAME.png (a gitignored folder)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def job_row(page: Page, job_id: str) -> Locator:
    """The jobs table's row of one job."""
    return page.locator(f'#jobs-body tr[data-job-id="{job_id}"]')


def filter_jobs(page: Page, text: str, matches: int) -> None:
    """Type ``text`` in the overview's filter box; wait for the table to count ``matches`` jobs."""
    from playwright.sync_api import expect

    page.get_by_label("filter jobs").fill(text)
    expect(page.locator("#page-info")).to_have_text(f"1{DASH}{matches} of {matches} jobs")
