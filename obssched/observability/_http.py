"""The one small threaded HTTP server: ``/metrics`` and ``/healthz``, and the CLI's status page."""

from __future__ import annotations

import errno
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client.registry import CollectorRegistry

from obssched.exceptions import ObsschedError
from obssched.observability._apps import WSGIApp, make_wsgi_app

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
        """Keep scrapes and page views out of stderr."""


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class MetricsServer:
    """An HTTP server bound to a port that serves a WSGI app from a daemon thread.

    :func:`start_http_server` makes one serving ``/metrics`` and ``/healthz``. Binding comes
    first, so that a taken port fails before anything else is set up; :meth:`start` serves.

    Args:
        addr: the address to bind (an IPv6 address if it holds a ``:``).
        port: the TCP port (``0`` picks a free one; read it from :attr:`port`).
        app: the WSGI app to serve (or give it to :meth:`start`).
        certfile: a PEM certificate chain to serve HTTPS with.
        keyfile: the certificate's private key (when not in ``certfile``).

    Raises:
        PortInUseError: the port is taken.
        OSError: the address cannot be bound for another reason.
    """

    def __init__(
        self,
        addr: str,
        port: int,
        app: WSGIApp | None = None,
        *,
        certfile: str | None = None,
        keyfile: str | None = None,
    ) -> None:
        self._app = app
        server_class = _Server6 if ":" in addr else _Server
        try:
            server = make_server(addr, port, self._serve, server_class, handler_class=_QuietHandler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(addr, port) from exc
            raise
        assert isinstance(server, _Server)
        if certfile is not None:
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.load_cert_chain(certfile, keyfile)
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        self._server = server
        self.addr: str = str(server.server_address[0])
        self.port: int = int(server.server_address[1])
        self.thread = threading.Thread(
            target=server.serve_forever, name=f"obssched-http-{self.port}", daemon=True
        )

    def _serve(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        app = self._app
        assert app is not None  # start() refuses to serve without one
        return app(environ, start_response)

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:9464``."""
        scheme = "https" if isinstance(self._server.socket, ssl.SSLSocket) else "http"
        host = f"[{self.addr}]" if ":" in self.addr else self.addr
        return f"{scheme}://{host}:{self.port}"

    def start(self, app: WSGIApp | None = None) -> None:
        """Serve ``app`` (or the app given when binding) from a daemon thread.

        Raises:
            ValueError: no app was given.
        """
        if app is not None:
            self._app = app
        if self._app is None:
            raise ValueError(f"no app to serve on {self.url}: pass one to start()")
        self.thread.start()

    def close(self) -> None:
        """Stop serving and release the port."""
        if self.thread.is_alive():
            self._server.shutdown()
            self.thread.join()
        self._server.server_close()


def start_http_server(
    port: int = 9464,
    addr: str = "127.0.0.1",
    registry: CollectorRegistry | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
    *,
    health_limit: float | None = None,
    console: Any = None,
) -> MetricsServer:
    """Serve ``/metrics`` (OpenMetrics when asked for) and ``/healthz`` from a daemon thread.

    A scrape never waits on a job store for more than half a second; ``/healthz`` answers 503,
    with the reasons in its body, while a scheduler is stopped or a fault has lasted longer than
    ``health_limit`` (see :func:`~obssched.observability.health`).

    Args:
        port: the TCP port (``0`` picks a free one; read it from the result's ``port``).
        addr: the address to bind; loopback by default, anything else is the caller's choice.
        registry: the registry to expose (the default registry when ``None``).
        certfile: a PEM certificate chain to serve HTTPS with.
        keyfile: the certificate's private key (when not in ``certfile``).
        health_limit: seconds a fault may last before ``/healthz`` answers 503 (a job store
            that fails every read, overdue jobs, a loop that has not woken up); ``None`` uses
            each scheduler's own ``metrics_health_limit`` (60 s by default). See
            :func:`~obssched.observability.health`.
        console: a scheduler, or an :class:`obssched.console.Console`, whose operations
            console to serve at ``/`` beside the metrics (see docs/console.md).

    Raises:
        PortInUseError: the port is taken.
        ValueError: ``health_limit`` is not a positive number.
    """
    app = make_wsgi_app(registry, health_limit=health_limit)
    server = MetricsServer(addr, port, app, certfile=certfile, keyfile=keyfile)
    if console is not None:
        from obssched.console import mount_console

        app = mount_console(console, app, bound=(server.addr,))
    server.start(app)
    return server
