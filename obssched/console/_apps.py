"""The console as a WSGI app and as an ASGI app, each falling through to another app."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from obssched.console._history import RunHistory
from obssched.console._routes import Console
from obssched.console._settings import ConsoleSettings
from obssched.console._spanbuffer import SpanBuffer
from obssched.console._web import MAX_BODY, SECURITY_HEADERS, Request, Response, error_response
from obssched.observability._apps import ASGIApp, WSGIApp, serve_lifespan

__all__ = ["build_console", "make_asgi_app", "make_wsgi_app", "mount_console"]

_SECURITY_NAMES = {name.lower() for name, _ in SECURITY_HEADERS}


def build_console(
    scheduler: Any,
    settings: ConsoleSettings | None = None,
    *,
    history: RunHistory | None = None,
    spans: SpanBuffer | None = None,
    bound: Iterable[str] = (),
) -> Console:
    """Return the console of ``scheduler``, attaching a run history to it unless one is given."""
    settings = settings or ConsoleSettings()
    if history is None:
        history = RunHistory.attach(
            scheduler,
            runs_per_job=settings.runs_per_job,
            errors_per_job=settings.errors_per_job,
            max_runs=settings.max_runs,
            max_errors=settings.max_errors,
            max_jobs=settings.max_jobs,
            traceback_limit=settings.traceback_limit,
            message_limit=settings.message_limit,
        )
    return Console(scheduler, settings, history, spans, bound)


def mount_console(console: Any, fallback: WSGIApp, bound: Iterable[str] = ()) -> WSGIApp:
    """Return a WSGI app serving ``console`` in front of ``fallback``.

    Args:
        console: a :class:`Console`, or a scheduler (whose console is built with the default
            settings, plus the ``OBSSCHED_CONSOLE_*`` variables).
        fallback: the app for the other paths (the metrics app).
        bound: the addresses the server is bound to (accepted in ``Host``).
    """
    if not isinstance(console, Console):
        console = build_console(console, ConsoleSettings.from_env())
    served = Console(
        console.scheduler,
        console.settings,
        console.history,
        console.spans,
        (*console.bound, *bound),
    )
    return make_wsgi_app(served.scheduler, fallback=fallback, console=served)


def _not_found(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    response = error_response(404, "not found")
    start_response(response.status_line, response.all_headers())
    return [response.body]


def _wsgi_request(environ: dict[str, Any]) -> Request:
    raw_path = environ.get("PATH_INFO", "/") or "/"
    # PEP 3333: the path's bytes, decoded as latin-1.
    path = raw_path.encode("latin-1", "replace").decode("utf-8", "replace")
    headers = {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    method = environ.get("REQUEST_METHOD", "GET").upper()
    body = b""
    if method == "POST":
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if 0 < length <= MAX_BODY:
            body = environ["wsgi.input"].read(length)
    return Request(
        method=method,
        path=path,
        query=dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)),
        headers=headers,
        body=body,
        scheme=environ.get("wsgi.url_scheme", "http"),
    )


def make_wsgi_app(
    scheduler: Any,
    settings: ConsoleSettings | None = None,
    fallback: WSGIApp | None = None,
    *,
    history: RunHistory | None = None,
    spans: SpanBuffer | None = None,
    bound: Iterable[str] = (),
    console: Console | None = None,
) -> WSGIApp:
    """Return a WSGI app serving the console, and ``fallback`` for every other path.

    Args:
        scheduler: the scheduler to show (a run history is attached to it as a listener).
        settings: what is shown and allowed (nothing secret, no action, by default).
        fallback: the app for other paths, typically
            :func:`obssched.observability.make_wsgi_app` (``/metrics``, ``/healthz``); 404
            when ``None``. Its responses get the console's security headers too.
        history: a run history already attached to the scheduler (one is made otherwise).
        spans: the span buffer added to the tracer provider (see
            :func:`~obssched.console.attach_span_buffer`), for run pages' waterfalls.
        bound: the addresses the server listens on, accepted in the ``Host`` header besides
            the loopback names and ``settings.allowed_hosts``.
        console: an already built console (the other arguments but ``fallback`` are ignored).
    """
    console = console or build_console(
        scheduler, settings, history=history, spans=spans, bound=bound
    )
    other = fallback or _not_found

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = _wsgi_request(environ)
        response = console.handle(request)
        if response is None:
            return other(environ, _secured(start_response))
        start_response(response.status_line, response.all_headers())
        return [b""] if request.method == "HEAD" else [response.body]

    return app


def _secured(start_response: Callable[..., Any]) -> Callable[..., Any]:
    def start(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
        present = {name.lower() for name, _ in headers}
        extra = [(n, v) for n, v in SECURITY_HEADERS if n.lower() not in present]
        return start_response(status, [*headers, *extra], *exc_info)

    return start


Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def _asgi_not_found(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await serve_lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    await _send(send, error_response(404, "not found"), head=False)


async def _send(send: Send, response: Response, head: bool) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": response.status,
            "headers": [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in response.all_headers()
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else response.body})


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def make_asgi_app(
    scheduler: Any,
    settings: ConsoleSettings | None = None,
    fallback: ASGIApp | None = None,
    *,
    history: RunHistory | None = None,
    spans: SpanBuffer | None = None,
    bound: Iterable[str] = (),
    console: Console | None = None,
) -> ASGIApp:
    """Return an ASGI app serving the console, and ``fallback`` for every other path (and for
    lifespan messages). The arguments are :func:`make_wsgi_app`'s; requests are answered on a
    worker thread, since reading the job stores may wait for up to half a second."""
    console = console or build_console(
        scheduler, settings, history=history, spans=spans, bound=bound
    )
    other: Any = fallback or _asgi_not_found

    async def app(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await other(scope, receive, send)
            return
        path = scope.get("path", "/") or "/"
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        if not console.owns(path):
            await other(scope, receive, _secured_send(send))
            return
        method = scope.get("method", "GET").upper()
        body = b""
        if method == "POST":
            read = await _read_body(receive)
            if read is None:
                await _send(send, error_response(413, "request body too large"), head=False)
                return
            body = read
        headers: dict[str, str] = {}
        for name, value in scope.get("headers", ()):
            headers[name.decode("latin-1").lower()] = value.decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        request = Request(
            method=method,
            path=path,
            query=dict(parse_qsl(query, keep_blank_values=True)),
            headers=headers,
            body=body,
            scheme=scope.get("scheme", "http"),
        )
        response = await asyncio.to_thread(console.handle, request)
        if response is None:  # pragma: no cover - owns() said it is the console's
            response = error_response(404, "not found")
        await _send(send, response, head=method == "HEAD")

    return app


def _secured_send(send: Send) -> Send:
    async def secured(message: MutableMapping[str, Any]) -> None:
        if message.get("type") == "http.response.start":
            headers = list(message.get("headers", ()))
            present = {bytes(name).lower().decode("latin-1") for name, _ in headers}
            headers.extend(
                (n.lower().encode("latin-1"), v.encode("latin-1"))
                for n, v in SECURITY_HEADERS
                if n.lower() not in present
            )
            message = {**message, "headers": headers}
        await send(message)

    return secured
