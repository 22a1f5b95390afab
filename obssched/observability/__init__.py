"""Prometheus metrics and OpenTelemetry traces for schedulers, built on events and a run hook.

Every obssched scheduler attaches these on its first ``start()`` unless told not to
(``metrics=False``, ``tracing=False``); :func:`instrument` attaches them to any scheduler,
including a stock APScheduler 3.11 one. The metrics are exposed by :func:`start_http_server`, or by
mounting :func:`make_wsgi_app` / :func:`make_asgi_app` in a web application.
"""

from __future__ import annotations

from obssched.observability._apps import health, make_asgi_app, make_wsgi_app
from obssched.observability._attach import LISTENER_MASK, Instrumentation, attach_builtin
from obssched.observability._http import MetricsServer, PortInUseError, start_http_server
from obssched.observability._instrument import instrument
from obssched.observability._metrics import DEFAULT_BUCKETS
from obssched.observability._names import DEFAULT_JOB_NAME_LIMIT, OTHER_JOB_NAME
from obssched.observability._tracing import TraceFilter

__all__ = [
    "DEFAULT_BUCKETS",
    "DEFAULT_JOB_NAME_LIMIT",
    "LISTENER_MASK",
    "OTHER_JOB_NAME",
    "Instrumentation",
    "MetricsServer",
    "PortInUseError",
    "TraceFilter",
    "attach_builtin",
    "health",
    "instrument",
    "make_asgi_app",
    "make_wsgi_app",
    "start_http_server",
]
