"""WSGI and ASGI apps serving ``/metrics`` (with OpenMetrics negotiation) and ``/healthz``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from prometheus_client.registry import CollectorRegistry

from obssched.observability._collector import collector_for
from obssched.observability._exposition import encode
from obssched.observability._sources import check_health_limit

__all__ = ["health", "make_asgi_app", "make_wsgi_app", "respond"]

_TEXT = "text/plain; charset=utf-8"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[MutableMapping[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]


def _registry(registry: CollectorRegistry | None) -> CollectorRegistry:
    if registry is None:
        from prometheus_client import REGISTRY

        return REGISTRY
    return registry


def health(
    registry: CollectorRegistry | None = None, limit: float | None = None
) -> tuple[bool, str]:
    """Say whether every scheduler attached to the registry is doing its work, and why not.

    A scheduler is unhealthy while it is stopped or its loop thread has died, and, once the
    fault has lasted longer than ``limit`` seconds: while one of its job stores fails (or hangs
    on) every read; while it runs but a job's next run time is more than ``limit`` in the past;
    while its loop has not woken up (for longer than ``limit`` or three heartbeat intervals,
    whichever is shorter). It is healthy again once the fault ends. Job stores are read off
    this call's path: it waits for them half a second at most (see ``obssched_jobstore_up``).

    Args:
        registry: the registry the schedulers are attached to (the default registry when
            ``None``).
        limit: seconds a fault may last before it is reported; ``None`` uses each scheduler's
            own (its ``metrics_health_limit`` option, 60 s by default).

    Returns:
        Whether all are healthy, and one line or more per scheduler saying why.
    """
    collector = collector_for(_registry(registry), create=False)
    sources = [] if collector is None else collector.sources()
    if not sources:
        return False, "no scheduler is attached to this registry"
    verdicts = [source.health(limit) for source in sources]
    return all(ok for ok, _ in verdicts), "\n".join(reason for _, reason in verdicts)


def respond(
    registry: CollectorRegistry | None, path: str, accept: str, health_limit: float | None = None
) -> tuple[int, str, bytes]:
    """Return the status, content type and body for a GET of ``path``."""
    if path in ("/healthz", "/healthz/"):
        ok, reason = health(registry, health_limit)
        # A reason may quote a store's error, whose text is anyone's: it must not fail the answer.
        return (200 if ok else 503), _TEXT, (reason + "\n").encode("utf-8", "backslashreplace")
    if path in ("", "/", "/metrics", "/metrics/"):
        body, content_type = encode(_registry(registry), accept)
        return 200, content_type, body
    return 404, _TEXT, b"not found: try /metrics or /healthz\n"


_REASONS = {
    200: "200 OK",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    503: "503 Service Unavailable",
}


def make_wsgi_app(
    registry: CollectorRegistry | None = None, *, health_limit: float | None = None
) -> WSGIApp:
    """Return a WSGI app serving ``/metrics`` and ``/healthz`` (also at ``/`` when mounted).

    ``/metrics`` never waits on a job store for more than half a second: it shows the last jobs
    read and says how old they are. ``/healthz`` answers 200, or 503 with the reasons in its
    body (see :func:`health`).

    Args:
        registry: the registry to expose (the default registry when ``None``).
        health_limit: seconds a fault may last before ``/healthz`` answers 503 (a job store
            that fails every read, overdue jobs, a loop that has not woken up); ``None`` uses
            each scheduler's own ``metrics_health_limit`` (60 s by default).

    Raises:
        ValueError: ``health_limit`` is not a positive number.
    """
    if health_limit is not None:
        health_limit = check_health_limit(health_limit)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            status, content_type, body = 405, _TEXT, b"only GET is served\n"
        else:
            status, content_type, body = respond(
                registry,
                environ.get("PATH_INFO", "/"),
                environ.get("HTTP_ACCEPT", ""),
                health_limit,
            )
        start_response(
            _REASONS[status],
            [("Content-Type", content_type), ("Content-Length", str(len(body)))],
        )
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    return app


def make_asgi_app(
    registry: CollectorRegistry | None = None, *, health_limit: float | None = None
) -> ASGIApp:
    """Return an ASGI app serving ``/metrics`` and ``/healthz`` (also at ``/`` when mounted).

    ``/metrics`` never waits on a job store for more than half a second: it shows the last jobs
    read and says how old they are. ``/healthz`` answers 200, or 503 with the reasons in its
    body (see :func:`health`). Both are computed in the event loop's thread, as before: mount
    the app behind a threadpool if half a second of blocking matters to the application.

    Args:
        registry: the registry to expose (the default registry when ``None``).
        health_limit: seconds a fault may last before ``/healthz`` answers 503 (a job store
            that fails every read, overdue jobs, a loop that has not woken up); ``None`` uses
            each scheduler's own ``metrics_health_limit`` (60 s by default).

    Raises:
        ValueError: ``health_limit`` is not a positive number.
    """
    if health_limit is not None:
        health_limit = check_health_limit(health_limit)

    async def app(
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        method = scope.get("method", "GET")
        if method not in ("GET", "HEAD"):
            status, content_type, body = 405, _TEXT, b"only GET is served\n"
        else:
            accept = ""
            for name, value in scope.get("headers", ()):
                if name.lower() == b"accept":
                    accept = value.decode("latin-1")
            path = scope.get("path", "/")
            root = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root) :]
            status, content_type, body = respond(registry, path, accept, health_limit)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type.encode("latin-1")),
                    (b"content-length", str(len(body)).encode("latin-1")),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})

    return app
