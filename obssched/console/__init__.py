"""The operations console: every job's recent runs, errors and durations, the slowest and the
failing runs' spans, and (when enabled, with a token) actions on jobs, served as pages and a JSON
API beside ``/metrics`` and ``/healthz``.

It consumes the scheduler's public seams only: a run history registered with
``scheduler.add_listener`` (:class:`RunHistory`), and, when tracing is on, a span processor added
to the OpenTelemetry SDK provider (:func:`attach_span_buffer`). It is safe by default: args and
kwargs are hidden (and redacted by key name when shown), requests for an unknown ``Host`` are
refused, every response carries a strict Content-Security-Policy, and actions are off unless a
token is set. The JSON field names are documented in docs/console.md.

Mount it with :func:`make_wsgi_app` or :func:`make_asgi_app`, handing it the metrics app as the
fallback for every other path, or let ``start_http_server(..., console=...)``, ``obssched run``
and ``obssched demo`` serve it.
"""

from __future__ import annotations

from obssched.console._apps import build_console, make_asgi_app, make_wsgi_app, mount_console
from obssched.console._history import RunHistory
from obssched.console._routes import Console
from obssched.console._settings import ConsoleSettingError, ConsoleSettings
from obssched.console._spanbuffer import SpanBuffer, attach_span_buffer

__all__ = [
    "Console",
    "ConsoleSettingError",
    "ConsoleSettings",
    "RunHistory",
    "SpanBuffer",
    "attach_span_buffer",
    "build_console",
    "make_asgi_app",
    "make_wsgi_app",
    "mount_console",
]
