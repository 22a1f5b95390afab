"""/metrics and /healthz over WSGI, ASGI and the built-in HTTP server: negotiation, gzip,
``name[]``, HEAD and OPTIONS, and a 404 naming the paths served."""

from __future__ import annotations

import asyncio
import gzip
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
from obssched.observability._apps import accepts_gzip, respond

from .conftest import FakeScheduler

OPENMETRICS = "application/openmetrics-text; version=1.0.0"


@pytest.fixture
def attached(scheduler: FakeScheduler, registry: CollectorRegistry) -> FakeScheduler:
    """A fake scheduler with a job that ran once, metrics on the test's registry."""
    attach_builtin(scheduler, registry=registry, tracing=False)
    scheduler.run(scheduler.add_job("id-1", "report"))
    return scheduler


def call_wsgi(
    app: Any,
    path: str,
    accept: str = "",
    *,
    method: str = "GET",
    query: str = "",
    accept_encoding: str = "",
) -> tuple[str, dict[str, str], bytes]:
    result: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        result["status"], result["headers"] = status, dict(headers)

    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
               "HTTP_ACCEPT": accept, "HTTP_ACCEPT_ENCODING": accept_encoding}  # fmt: skip
    body = b"".join(app(environ, start_response))
    return result["status"], result["headers"], body


def call_asgi(
    app: Any,
    path: str,
    accept: str = "",
    *,
    method: str = "GET",
    query: str = "",
    accept_encoding: str = "",
) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"accept", accept.encode()), (b"accept-encoding", accept_encoding.encode())]
    scope = {"type": "http", "method": method, "path": path, "headers": headers,
             "query_string": query.encode()}  # fmt: skip
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


def request(
    kind: str,
    registry: CollectorRegistry,
    path: str = "/metrics",
    other_paths: dict[str, str] | None = None,
    **options: str,
) -> tuple[int, dict[str, str], bytes]:
    """One request to the WSGI or ASGI app, as (status, lower-cased headers, body)."""
    if kind == "wsgi":
        status, headers, body = call_wsgi(make_wsgi_app(registry, other_paths=other_paths),
                                          path, **options)  # fmt: skip
        return int(status.split()[0]), {k.lower(): v for k, v in headers.items()}, body
    code, raw, body = call_asgi(make_asgi_app(registry, other_paths=other_paths), path, **options)
    return code, {k.decode(): v.decode() for k, v in raw.items()}, body


KINDS = pytest.mark.parametrize("kind", ["wsgi", "asgi"])


@KINDS
def test_gzip_when_accepted(
    attached: FakeScheduler, registry: CollectorRegistry, kind: str
) -> None:
    """A client accepting gzip gets the same body gzipped, said so and sized as sent."""
    _, _, plain = request(kind, registry)
    status, headers, body = request(kind, registry, accept_encoding="deflate, gzip;q=0.8")
    assert status == 200
    assert headers["content-encoding"] == "gzip"
    assert headers["content-length"] == str(len(body))
    assert gzip.decompress(body) == plain


@KINDS
@pytest.mark.parametrize(
    "accept_encoding", ["", "identity", "br, deflate", "gzip;q=0"], ids=["none", "identity",
                                                                       "others", "gzip-refused"]
)  # fmt: skip
def test_no_gzip_unless_accepted(
    attached: FakeScheduler, registry: CollectorRegistry, kind: str, accept_encoding: str
) -> None:
    """Without gzip among the accepted encodings, the body goes out as it is."""
    _, headers, body = request(kind, registry, accept_encoding=accept_encoding)
    assert "content-encoding" not in headers
    assert b"obssched_job_executed_total{" in body


@KINDS
def test_metrics_vary_on_the_negotiated_headers(
    attached: FakeScheduler, registry: CollectorRegistry, kind: str
) -> None:
    """/metrics tells caches that its answer depends on Accept and Accept-Encoding."""
    _, headers, _ = request(kind, registry)
    assert {v.strip() for v in headers["vary"].split(",")} == {"Accept", "Accept-Encoding"}


@KINDS
def test_name_filter(attached: FakeScheduler, registry: CollectorRegistry, kind: str) -> None:
    """``?name[]=`` keeps only the samples of the names asked for."""
    query = "name[]=obssched_job_executed_total&name[]=obssched_build_info"
    _, _, body = request(kind, registry, query=query)
    names = {line.split(b"{")[0] for line in body.splitlines() if not line.startswith(b"#")}
    assert names == {b"obssched_job_executed_total", b"obssched_build_info"}


@KINDS
@pytest.mark.parametrize("path", ["/metrics", "/healthz", "/nope"])
def test_head_has_the_get_headers_and_no_body(
    attached: FakeScheduler, registry: CollectorRegistry, kind: str, path: str
) -> None:
    """HEAD answers with GET's status and headers, and an empty body."""
    got = request(kind, registry, path, accept_encoding="gzip")
    head = request(kind, registry, path, accept_encoding="gzip", method="HEAD")
    assert head == (got[0], got[1], b"")


@KINDS
def test_options_lists_the_methods(registry: CollectorRegistry, kind: str) -> None:
    """OPTIONS answers 200 with the methods served."""
    status, headers, body = request(kind, registry, method="OPTIONS")
    assert (status, headers["allow"], body) == (200, "GET, HEAD, OPTIONS", b"")


@KINDS
def test_other_methods_are_not_allowed(registry: CollectorRegistry, kind: str) -> None:
    """Other methods get 405, naming the method and the ones allowed."""
    status, headers, body = request(kind, registry, method="POST")
    assert (status, headers["allow"]) == (405, "GET, HEAD, OPTIONS")
    assert b"POST" in body


@KINDS
def test_not_found_names_the_paths_served(registry: CollectorRegistry, kind: str) -> None:
    """The 404 page names /metrics and /healthz."""
    status, _, body = request(kind, registry, "/nope")
    paths = {line.split()[0] for line in body.decode().splitlines()[1:]}
    assert (status, paths) == (404, {"/metrics", "/healthz"})


@KINDS
def test_not_found_names_the_paths_mounted_in_front(registry: CollectorRegistry, kind: str) -> None:
    """Paths another app serves in front (the status page) are named on the 404 page too."""
    other = {"/": "the status page", "/status.json": "the status page's data"}
    _, _, body = request(kind, registry, "/nope", other_paths=other)
    listed = dict(line.split(None, 1) for line in body.decode().splitlines()[1:])
    assert listed.keys() == {"/", "/status.json", "/metrics", "/healthz"}
    assert listed["/"] == "the status page"


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("gzip", True),
        ("GZip ; q=0.5", True),
        ("br;q=1.0, gzip;q=0.001", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0", False),
        ("gzip;q=high", False),
        ("x-gzip, deflate", False),
        ("*", False),
    ],
    ids=["plain", "case-and-weight", "among-others", "refused", "refused-0.0", "bad-weight",
         "x-gzip", "wildcard"],
)  # fmt: skip
def test_accepts_gzip(header: str, accepted: bool) -> None:
    """gzip is used when named in Accept-Encoding with a weight above zero."""
    assert accepts_gzip(header) is accepted


def test_respond_is_an_uncompressed_get(
    attached: FakeScheduler, registry: CollectorRegistry
) -> None:
    """respond() gives status, content type and body of a GET, never compressed."""
    status, content_type, body = respond(registry, "/metrics", OPENMETRICS)
    assert status == 200
    assert content_type.startswith("application/openmetrics-text; version=1.0.0;")
    assert body.endswith(b"# EOF\n")


def test_asgi_strips_its_root_path(attached: FakeScheduler, registry: CollectorRegistry) -> None:
    """Mounted under a root path, the ASGI app serves /healthz below it."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/ops/healthz", "root_path": "/ops"}
    asyncio.run(make_asgi_app(registry)(scope, receive, send))
    assert sent[0]["status"] == 200
    assert sent[1]["body"].startswith(b"scheduler 'default': running")


def test_asgi_lifespan(registry: CollectorRegistry) -> None:
    """The ASGI app completes the lifespan protocol's startup and shutdown."""
    messages = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(make_asgi_app(registry)({"type": "lifespan"}, receive, send))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


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
def test_server_gzips_and_filters(attached: FakeScheduler, server: MetricsServer) -> None:
    """The server gzips a filtered scrape for a client that accepts gzip."""
    request = urllib.request.Request(
        f"{server.url}/metrics?name[]=obssched_build_info", headers={"Accept-Encoding": "gzip"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        body = gzip.decompress(response.read())
    samples = [line for line in body.splitlines() if not line.startswith(b"#")]
    assert [line.split(b"{")[0] for line in samples] == [b"obssched_build_info"]


@pytest.mark.realtime
def test_server_answers_head(attached: FakeScheduler, server: MetricsServer) -> None:
    """The server answers HEAD /metrics with its length and no body."""
    request = urllib.request.Request(f"{server.url}/metrics", method="HEAD")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert int(response.headers["Content-Length"]) > 0
        assert response.read() == b""


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
