"""/metrics and /healthz over WSGI, ASGI and the built-in HTTP server."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from obssched.observability import (
    MetricsServer,
    PortInUseError,
    attach_builtin,
    make_asgi_app,
    make_wsgi_app,
    start_http_server,
)

from .conftest import FakeScheduler

OPENMETRICS = "application/openmetrics-text; version=1.0.0"


@pytest.fixture
def attached(scheduler: FakeScheduler, registry: CollectorRegistry) -> FakeScheduler:
    """A fake scheduler with a job that ran once, metrics on the test's registry."""
    attach_builtin(scheduler, registry=registry, tracing=False)
    scheduler.run(scheduler.add_job("id-1", "report"))
    return scheduler


def call_wsgi(app: Any, path: str, accept: str = "") -> tuple[str, dict[str, str], bytes]:
    result: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        result["status"], result["headers"] = status, dict(headers)

    body = b"".join(app({"REQUEST_METHOD": "GET", "PATH_INFO": path, "HTTP_ACCEPT": accept},
                        start_response))  # fmt: skip
    return result["status"], result["headers"], body


def call_asgi(app: Any, path: str, accept: str = "") -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path,
             "headers": [(b"accept", accept.encode())]}  # fmt: skip
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]


def test_wsgi_metrics(attached: FakeScheduler, registry: CollectorRegistry) -> None:
    """The WSGI app serves the Prometheus text format at /metrics."""
    status, headers, body = call_wsgi(make_wsgi_app(registry), "/metrics")
    assert status == "200 OK"
    assert headers["Content-Type"].startswith("text/plain")
    assert b'obssched_job_executed_total{executor="default",job_name="report"' in body


def test_wsgi_openmetrics(attached: FakeScheduler, registry: CollectorRegistry) -> None:
    """Asking for OpenMetrics gets a valid OpenMetrics exposition."""
    _, headers, body = call_wsgi(make_wsgi_app(registry), "/metrics", OPENMETRICS)
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    families = {f.name for f in text_string_to_metric_families(body.decode())}
    assert "obssched_job_executed" in families


@pytest.mark.parametrize(
    ("state", "expected"), [(1, "200 OK"), (0, "503 Service Unavailable")], ids=["up", "down"]
)
def test_wsgi_healthz(
    attached: FakeScheduler, registry: CollectorRegistry, state: int, expected: str
) -> None:
    """/healthz answers 200 while the scheduler runs and 503 otherwise."""
    attached.state = state
    assert call_wsgi(make_wsgi_app(registry), "/healthz")[0] == expected


def test_wsgi_unknown_path(registry: CollectorRegistry) -> None:
    """Other paths are 404."""
    assert call_wsgi(make_wsgi_app(registry), "/nope")[0] == "404 Not Found"


def test_asgi_metrics(attached: FakeScheduler, registry: CollectorRegistry) -> None:
    """The ASGI app serves /metrics with OpenMetrics negotiation."""
    status, headers, body = call_asgi(make_asgi_app(registry), "/metrics", OPENMETRICS)
    assert status == 200
    assert headers[b"content-type"].startswith(b"application/openmetrics-text")
    assert b"obssched_job_executed_total" in body


def test_asgi_healthz(attached: FakeScheduler, registry: CollectorRegistry) -> None:
    """The ASGI app answers /healthz."""
    attached.state = 0
    assert call_asgi(make_asgi_app(registry), "/healthz")[0] == 503


@pytest.fixture
def server(registry: CollectorRegistry) -> Iterator[MetricsServer]:
    """The built-in server on a free loopback port."""
    server = start_http_server(0, registry=registry)
    yield server
    server.close()


@pytest.mark.realtime
def test_server_serves_metrics(attached: FakeScheduler, server: MetricsServer) -> None:
    """start_http_server serves /metrics on loopback."""
    assert server.addr == "127.0.0.1"
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as response:
        assert b"obssched_job_executed_total" in response.read()


@pytest.mark.realtime
def test_server_healthz_503(attached: FakeScheduler, server: MetricsServer) -> None:
    """The server's /healthz is 503 when the scheduler is stopped."""
    attached.state = 0
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"{server.url}/healthz", timeout=5)
    error.value.close()
    assert error.value.code == 503


@pytest.mark.realtime
def test_port_in_use(server: MetricsServer) -> None:
    """Starting a second server on a taken port raises a clear PortInUseError."""
    with pytest.raises(PortInUseError, match="already in use"):
        start_http_server(server.port)


@pytest.mark.realtime
@pytest.mark.promtool
def test_promtool_accepts_scrape(attached: FakeScheduler, server: MetricsServer) -> None:
    """promtool check metrics finds no problem in a scrape of the running server."""
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("OBSSCHED_REQUIRE_SERVICES") == "1":
            pytest.fail("promtool is required (OBSSCHED_REQUIRE_SERVICES=1) but not installed")
        pytest.skip("promtool not installed (Debian package prometheus)")
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as response:
        body = response.read()
    result = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
