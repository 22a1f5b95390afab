"""The console mounted under a path prefix of a bigger WSGI app, in a real headless Chromium:
its pages find their scripts, their API and each other under the prefix."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from obssched.console import ConsoleSettings, make_wsgi_app
from obssched.observability import MetricsServer

from .conftest import Console, filter_jobs, job_row

pytestmark = [pytest.mark.browser, pytest.mark.realtime, pytest.mark.slow]

PREFIX = "/ops/console"


@pytest.fixture(scope="module")
def mounted_url(console: Console) -> Iterator[str]:
    """The test scheduler's console mounted at PREFIX by a dispatching app; the server's URL."""
    app = make_wsgi_app(console.scheduler, ConsoleSettings(store_wait=5.0))

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(PREFIX + "/"):
            inner = dict(environ, SCRIPT_NAME=PREFIX, PATH_INFO=path[len(PREFIX) :])
            return app(inner, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not the console\n"]

    server = MetricsServer("127.0.0.1", 0, dispatch)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.close()


def test_mounted_console_links_within_its_prefix(mounted_url: str, page: Page) -> None:
    """Under a prefix the overview lists the jobs and a job's link opens its page there."""
    page.goto(f"{mounted_url}{PREFIX}/")
    filter_jobs(page, "heartbeat", matches=1)
    link = job_row(page, "heartbeat").get_by_role("link", name="heartbeat")
    expect(link).to_have_attribute("href", f"{mounted_url}{PREFIX}/jobs/heartbeat")
    link.click()
    expect(page.locator("#job-name")).to_have_text("heartbeat")
    expect(page.locator("#runs-body .badge.executed").first).to_be_visible()
    expect(page.get_by_role("link", name="Jobs")).to_have_attribute("href", "../")
