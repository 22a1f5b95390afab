"""The console mounted three ways: as an ASGI app, in start_http_server, and over the metrics."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from obssched.console import build_console, make_asgi_app
from obssched.observability import make_asgi_app as metrics_asgi_app
from obssched.observability import start_http_server
from obssched.testing import ManualScheduler

from ._console_support import HOST, TOKEN, make_scheduler, noop, settings


@pytest.fixture
def scheduler() -> Iterator[ManualScheduler]:
    """A started manual scheduler with one job."""
    scheduler = make_scheduler()
    scheduler.add_job(noop, "interval", seconds=5, id="j", name="<script>")
    yield scheduler
    scheduler.shutdown()


def asgi_call(
    app: Any,
    path: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    query: str = "",
) -> tuple[int, dict[str, str], bytes]:
    """Make one HTTP request to an ASGI app; return the status, headers and body."""
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "query_string": query.encode(),
        "headers": [
            (k.lower().encode(), v.encode()) for k, v in (headers or {"Host": HOST}).items()
        ],
    }
    sent: list[MutableMapping[str, Any]] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> MutableMapping[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start, content = sent[0], sent[1]
    found = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], found, content["body"]


@pytest.mark.realtime
def test_asgi_app_serves_the_api(scheduler: ManualScheduler) -> None:
    """The ASGI app serves /api/jobs with the security headers."""
    app = make_asgi_app(scheduler, settings())
    status, headers, body = asgi_call(app, "/api/jobs", query="sort=name")
    assert status == 200
    assert json.loads(body)["jobs"][0]["name"] == "<script>"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


@pytest.mark.realtime
def test_asgi_app_refuses_a_foreign_host(scheduler: ManualScheduler) -> None:
    """The ASGI app refuses a foreign Host, as the WSGI app does."""
    app = make_asgi_app(scheduler, settings())
    assert asgi_call(app, "/api/jobs", headers={"Host": "evil.example"})[0] == 403


@pytest.mark.realtime
def test_asgi_action_reads_the_form_token(scheduler: ManualScheduler) -> None:
    """An ASGI form post carrying the token performs the action."""
    app = make_asgi_app(scheduler, settings(actions=True, token=TOKEN))
    status, _, _ = asgi_call(
        app,
        "/api/jobs/j/pause",
        method="POST",
        headers={"Host": HOST, "Content-Type": "application/x-www-form-urlencoded"},
        body=f"token={TOKEN}".encode(),
    )
    assert status == 200
    job = scheduler.get_job("j")
    assert job is not None
    assert job.next_run_time is None


def test_asgi_app_hands_other_paths_to_its_fallback(scheduler: ManualScheduler) -> None:
    """/metrics goes to the fallback ASGI app, which gets the security headers too."""
    app = make_asgi_app(scheduler, settings(), metrics_asgi_app(CollectorRegistry()))
    status, headers, _ = asgi_call(app, "/metrics")
    assert status == 200
    assert headers["x-content-type-options"] == "nosniff"


def test_asgi_app_without_fallback_answers_404(scheduler: ManualScheduler) -> None:
    """Without a fallback, other paths are 404."""
    app = make_asgi_app(scheduler, settings())
    assert asgi_call(app, "/metrics")[0] == 404


def test_asgi_lifespan_goes_to_the_fallback(scheduler: ManualScheduler) -> None:
    """Lifespan messages are answered (by the fallback, or by the console without one)."""
    app = make_asgi_app(scheduler, settings())
    sent: list[MutableMapping[str, Any]] = []
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive() -> MutableMapping[str, Any]:
        return messages.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app({"type": "lifespan"}, receive, send))
    assert [m["type"] for m in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]


def get(url: str, host: str | None = None) -> tuple[int, bytes]:
    """GET ``url`` over HTTP; return the status and body."""
    request = urllib.request.Request(url, headers={} if host is None else {"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.realtime
def test_start_http_server_serves_a_schedulers_console(scheduler: ManualScheduler) -> None:
    """start_http_server(console=scheduler) serves the console beside /metrics."""
    server = start_http_server(0, registry=CollectorRegistry(), console=scheduler)
    try:
        assert get(f"{server.url}/api/jobs")[0] == 200
        assert get(f"{server.url}/metrics")[0] == 200
        assert get(f"{server.url}/api/jobs", host="rebind.example")[0] == 403
    finally:
        server.close()


@pytest.mark.realtime
def test_start_http_server_serves_a_built_console(scheduler: ManualScheduler) -> None:
    """start_http_server(console=Console) serves that console, with its settings."""
    console = build_console(scheduler, settings(allowed_hosts=("ops.example",)))
    server = start_http_server(0, registry=CollectorRegistry(), console=console)
    try:
        status, body = get(f"{server.url}/api/jobs", host="ops.example")
        assert status == 200
        assert json.loads(body)["jobs"][0]["id"] == "j"
    finally:
        server.close()
