"""Which request goes where: pages, static files, the JSON API and the actions.

:meth:`Console.handle` answers the console's own paths and returns ``None`` for the others,
which the WSGI and ASGI apps hand to their fallback (the metrics app: ``/metrics``, ``/healthz``).
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from obssched.console._actions import ACTIONS, perform
from obssched.console._api import ConsoleApi
from obssched.console._history import RunHistory
from obssched.console._settings import ConsoleSettings
from obssched.console._spanbuffer import SpanBuffer
from obssched.console._web import (
    ApiError,
    Request,
    Response,
    allowed_host,
    authorized,
    error_response,
    json_response,
    same_origin,
)
from obssched.exceptions import JobLookupError

__all__ = ["CONTENT_TYPES", "Console"]

_logger = logging.getLogger("obssched.console")

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
    ".map": "application/json",
}
"""The content type of each static file, by suffix (others: what mimetypes says)."""

_PAGES = {"/": "index.html", "/index.html": "index.html"}
_READ_ONLY = ("GET", "HEAD")


class Console:
    """The console's request handling, shared by its WSGI and ASGI apps.

    Args:
        scheduler: the scheduler shown.
        settings: what is shown and allowed.
        history: the scheduler's run history (attached as its listener).
        spans: the span buffer of the tracer provider, when tracing is on.
        bound: the addresses the server is bound to (accepted in ``Host``).
    """

    def __init__(
        self,
        scheduler: Any,
        settings: ConsoleSettings,
        history: RunHistory,
        spans: SpanBuffer | None = None,
        bound: Iterable[str] = (),
    ) -> None:
        self.scheduler = scheduler
        self.settings = settings
        self.history = history
        self.spans = spans
        self.bound = tuple(bound)
        self.api = ConsoleApi(scheduler, settings, history, spans)
        self._static = Path(settings.static_dir).resolve()

    def owns(self, path: str) -> bool:
        """Whether ``path`` is one of the console's (not the fallback's)."""
        return (
            path in _PAGES
            or path.startswith(("/api/", "/static/", "/jobs/", "/runs/"))
            or path == "/api"
        )

    def handle(self, request: Request) -> Response | None:
        """Answer a request for one of the console's paths; ``None`` for any other path."""
        path = request.path
        if not self.owns(path):
            return None
        if not allowed_host(request.headers.get("host"), self.bound, self.settings.allowed_hosts):
            return error_response(
                403,
                "this host name is not allowed (a DNS-rebinding defence): reach the console "
                "by its address or localhost, or add the name to the console's allowed hosts",
            )
        try:
            if path.startswith("/api/"):
                return self._api(request, path[len("/api/") :])
            if request.method not in _READ_ONLY:
                return _not_allowed(_READ_ONLY)
            return self._page(path)
        except ApiError as exc:
            return error_response(exc.status, exc.message)
        except Exception:
            _logger.exception("The console failed to answer %s %s", request.method, path)
            return error_response(500, "the console failed to answer; see the scheduler's log")

    # -- pages -----------------------------------------------------------------------------

    def _page(self, path: str) -> Response:
        if path in _PAGES:
            return self._file(_PAGES[path])
        if path.startswith("/jobs/") and len(path) > len("/jobs/"):
            return self._file("job.html")
        if path.startswith("/runs/") and len(path) > len("/runs/"):
            return self._file("run.html")
        if path.startswith("/static/"):
            return self._file(path[len("/static/") :])
        return error_response(404, "no such page")

    def _file(self, name: str) -> Response:
        try:
            target = (self._static / name).resolve()
            found = target.is_relative_to(self._static) and target.is_file()
        except (OSError, ValueError):  # a NUL byte, a name too long for the file system
            found = False
        if not found:
            return error_response(404, "no such file")
        content_type = CONTENT_TYPES.get(target.suffix.lower())
        if content_type is None:
            content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        cache = "no-cache" if target.suffix == ".html" else "max-age=300"
        return Response(200, target.read_bytes(), content_type, [("Cache-Control", cache)])

    # -- API -------------------------------------------------------------------------------

    def _api(self, request: Request, rest: str) -> Response:
        api = self.api
        if rest.startswith("jobs/"):
            job_path = rest[len("jobs/") :]
            head, _, last = job_path.rpartition("/")
            if head and last in ACTIONS:
                return self._action(request, head, last)
            if request.method not in _READ_ONLY:
                return _not_allowed(_READ_ONLY)
            if head and last == "runs":
                return json_response(200, api.runs(head))
            if job_path:
                return json_response(200, api.job(job_path))
        if request.method not in _READ_ONLY:
            return _not_allowed(_READ_ONLY)
        if rest == "scheduler":
            return json_response(200, api.scheduler_info())
        if rest in ("jobs", "jobs/"):
            return json_response(200, api.jobs(request.query))
        if rest.startswith("runs/") and rest.endswith("/spans"):
            run_id = rest[len("runs/") : -len("/spans")]
            return json_response(200, api.run_spans(run_id))
        raise ApiError(404, "no such API path: see docs/console.md")

    def _action(self, request: Request, job_id: str, action: str) -> Response:
        if request.method != "POST":
            return _not_allowed(("POST",))
        settings = self.settings
        if not settings.actions_enabled:
            return error_response(
                403, "actions are disabled: enable them and set a token in the console settings"
            )
        if not same_origin(request):
            return error_response(403, "cross-origin request refused")
        if not authorized(request, settings.token):
            return error_response(403, "a valid token is required for actions")
        try:
            result = perform(self.scheduler, action, job_id)
        except JobLookupError:
            raise ApiError(404, f"no job with id {job_id!r}") from None
        _logger.info("Console action %s on job %r", action, job_id)
        return json_response(200, result)


def _not_allowed(methods: tuple[str, ...]) -> Response:
    return error_response(
        405, f"method not allowed: use {' or '.join(methods)}", [("Allow", ", ".join(methods))]
    )
