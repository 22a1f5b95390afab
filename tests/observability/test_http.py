"""The one HTTP server: bound first, serving the app it is given once started."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from obssched.cli._status import serve
from obssched.observability import MetricsServer, PortInUseError

pytestmark = pytest.mark.realtime


def hello(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello\n"]


def test_serves_the_app_given_to_start() -> None:
    """A server bound without an app serves the one later given to start()."""
    server = MetricsServer("127.0.0.1", 0)
    try:
        server.start(hello)
        with urllib.request.urlopen(server.url + "/anything", timeout=10) as response:
            assert response.read() == b"hello\n"
    finally:
        server.close()


def test_start_without_an_app_is_refused() -> None:
    """start() with no app to serve raises, naming the server's address."""
    server = MetricsServer("127.0.0.1", 0)
    try:
        with pytest.raises(ValueError, match=server.url):
            server.start()
    finally:
        server.close()


def test_close_before_start_frees_the_port() -> None:
    """A server closed before it started releases its port."""
    server = MetricsServer("127.0.0.1", 0)
    server.close()
    again = MetricsServer("127.0.0.1", server.port)
    again.close()


def test_status_server_refuses_a_taken_port() -> None:
    """The CLI's server is this one: binding a taken port raises PortInUseError."""
    server = serve("127.0.0.1", 0)
    try:
        with pytest.raises(PortInUseError, match=str(server.port)):
            serve("127.0.0.1", server.port)
    finally:
        server.close()
