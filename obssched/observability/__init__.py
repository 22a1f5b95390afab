"""What a scheduler is doing, told to Prometheus and OpenTelemetry: its built-in observability.

This package turns a scheduler's events into Prometheus metrics (runs submitted, executed,
failed, missed; run time, start delay and queue wait histograms; and, read at scrape time, next
run times, running runs, executor load, job store health and the loop's heartbeat) and into one
OpenTelemetry span per run, from its submission to its end, which is current while the job runs
so the job's own spans nest under it, and says how long the run waited for a worker. It is a
consumer of the scheduler's public seams only: the event bus and the run hook of
``scheduler.context``, and the scheduler's public members; the scheduler core imports neither
prometheus-client nor OpenTelemetry.

Every obssched scheduler attaches it on its first ``start()`` unless told not to
(``metrics=False``, ``tracing=False``); :func:`instrument` attaches it to any scheduler, including
a stock APScheduler 3.11 one. Nothing is global: metrics go to the registry given (or
prometheus-client's default) and spans to the provider given (or OpenTelemetry's global one); the
library never configures an SDK. The metrics are served by :func:`start_http_server`, or by
mounting :func:`make_wsgi_app` / :func:`make_asgi_app` in a web application; ``/healthz`` says
whether every attached scheduler is doing its work (:func:`health`).

A scrape never waits on a job store for more than half a second: the stores are read on threads
of their own, one read in flight per store, and a store that fails or hangs leaves its last jobs
on show with ``obssched_jobstore_up`` at 0 and ``obssched_jobstore_last_success_timestamp_seconds``
saying how old they are. Job names (and ids, trigger texts, span names) are made printable and
bounded once, so that no job's name can fail a scrape or a span export.
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
