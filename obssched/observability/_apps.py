"""WSGI and ASGI apps serving ``/metrics`` (with OpenMetrics negotiation) and ``/healthz``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from prometheus_client.registry import CollectorRegistry

from obssched.observability._collector import collector_for
from obssched.observability._exposition import encode

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


def health(registry: CollectorRegistry | None = None) -> tuple[bool, str]:
    """Say whether every scheduler attached to the registry is running and awake, and why not."""
    collector = collector_for(_registry(registry), create=False)
    sources = [] if collector is None else collector.sources()
    if not sources:
        return False, "no scheduler is attached to this registry"
    verdicts = [source.health() for source in sources]
    return all(ok for ok, _ in verdicts), "\n".join(reason for _, reason in verdicts)


def respond(registry: CollectorRegistry | None, path: str, accept: str) -> tuple[int, str, bytes]:
    """Return the status, content type and body for a GET of ``path``."""
    if path in ("/healthz", "/healthz/"):
        ok, reason = health(registry)
        return (200 if ok else 503), _TEXT, (reason + "\n").encode()
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


def make_wsgi_app(registry: CollectorRegistry | None = None) -> WSGIApp:
    """Return a WSGI app serving ``/metrics`` and ``/healthz`` (also at ``/`` when mounted).

    Args:
        registry: the registry to expose (the default registry when ``None``).
    """

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            status, content_type, body = 405, _TEXT, b"only GET is served\n"
        else:
            status, content_type, body = respond(
                registry, environ.get("PATH_INFO", "/"), environ.get("HTTP_ACCEPT", "")
            )
        start_response(
            _REASONS[status],
            [("Content-Type", content_type), ("Content-Length", str(len(body)))],
        )
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    return app


def make_asgi_app(registry: CollectorRegistry | None = None) -> ASGIApp:
    """Return an ASGI app serving ``/metrics`` and ``/healthz`` (also at ``/`` when mounted).

    Args:
        registry: the registry to expose (the default registry when ``None``).
    """

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
            status, content_type, body = respond(registry, path, accept)
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
