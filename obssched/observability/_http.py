"""A small threaded HTTP server for ``/metrics`` and ``/healthz``."""

from __future__ import annotations

import errno
import socket
import ssl
import threading
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client.registry import CollectorRegistry

from obssched.exceptions import ObsschedError
from obssched.observability._apps import make_wsgi_app

__all__ = ["MetricsServer", "PortInUseError", "start_http_server"]


class PortInUseError(ObsschedError, OSError):
    """Raised when the metrics server's port is already taken."""

    def __init__(self, addr: str, port: int) -> None:
        self.addr = addr
        self.port = port
        super().__init__(
            errno.EADDRINUSE,
            f"cannot serve metrics on {addr}:{port}: the port is already in use "
            f"(another process, or a second start_http_server call?); pick another port",
        )

    def __str__(self) -> str:
        return str(self.args[1])


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep scrapes out of stderr."""


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class MetricsServer:
    """A running metrics server; :meth:`close` stops it."""

    def __init__(self, server: _Server, thread: threading.Thread) -> None:
        self._server = server
        self.thread = thread
        self.addr: str = str(server.server_address[0])
        self.port: int = int(server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:9464``."""
        scheme = "https" if isinstance(self._server.socket, ssl.SSLSocket) else "http"
        host = f"[{self.addr}]" if ":" in self.addr else self.addr
        return f"{scheme}://{host}:{self.port}"

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self.thread.join()


def start_http_server(
    port: int = 9464,
    addr: str = "127.0.0.1",
    registry: CollectorRegistry | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> MetricsServer:
    """Serve ``/metrics`` (OpenMetrics when asked for) and ``/healthz`` from a daemon thread.

    Args:
        port: the TCP port (``0`` picks a free one; read it from the result's ``port``).
        addr: the address to bind; loopback by default, anything else is the caller's choice.
        registry: the registry to expose (the default registry when ``None``).
        certfile: a PEM certificate chain to serve HTTPS with.
        keyfile: the certificate's private key (when not in ``certfile``).

    Raises:
        PortInUseError: the port is taken.
    """
    server_class = _Server6 if ":" in addr else _Server
    try:
        server = make_server(
            addr, port, make_wsgi_app(registry), server_class, handler_class=_QuietHandler
        )
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(addr, port) from exc
        raise
    assert isinstance(server, _Server)
    if certfile is not None:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(certfile, keyfile)
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(
        target=server.serve_forever, name=f"obssched-metrics-{port}", daemon=True
    )
    thread.start()
    return MetricsServer(server, thread)
