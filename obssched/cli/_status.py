"""What ``run`` and ``demo`` serve: the operations console (see docs/console.md) and
``/status.json``, beside ``/metrics`` and ``/healthz``.

The console answers its own paths (``/``, ``/jobs/<id>``, ``/runs/<id>``, ``/static/``,
``/api/``) and hands every other one to :func:`obssched.observability.make_wsgi_app`, so one port
serves people and Prometheus. ``/status.json`` is kept for the scripts that read it: it never
shows args or kwargs, and it answers only the hosts the console answers.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from obssched.cli._errors import CliError, ExitCode
from obssched.cli._format import job_row
from obssched.console import ConsoleSettingError, ConsoleSettings, SpanBuffer, make_wsgi_app
from obssched.console._history import RunHistory
from obssched.console._web import (
    SECURITY_HEADERS,
    allowed_host,
    error_response,
)
from obssched.observability import MetricsServer
from obssched.observability._apps import WSGIApp
from obssched.observability._reader import JOB_LIST, Reading, StoreReader

if TYPE_CHECKING:
    from obssched.schedulers.base import BaseScheduler

__all__ = [
    "OutcomeTracker",
    "StatusServer",
    "add_console_flags",
    "console_settings",
    "make_status_app",
    "serve",
]

_STATES = {0: "stopped", 1: "running", 2: "paused"}
_HIDDEN = ("args", "kwargs")


class OutcomeTracker(RunHistory):
    """The run history of the scheduler ``run`` or ``demo`` serves (the console's listener)."""

    def __init__(self, scheduler: BaseScheduler, **limits: Any) -> None:
        super().__init__(scheduler.clock, **limits)
        if scheduler.running:
            self.started_at = scheduler.clock.now()

    def last(self, now: datetime) -> dict[str, dict[str, Any]]:
        """Return each job's last outcome with its time, ``ago`` (seconds before ``now``), the
        counts of its outcomes and, after a failure, the error."""
        result: dict[str, dict[str, Any]] = {}
        for job_id, summary in self.jobs().items():
            at = summary.last_outcome_time
            if summary.last_outcome is None or at is None:
                continue
            entry: dict[str, Any] = {
                "outcome": summary.last_outcome,
                "at": at.isoformat(),
                "ago": round((now - at).total_seconds(), 1),
                "counts": {name: n for name, n in summary.counts.items() if n},
            }
            if summary.last_outcome in ("error", "timeout"):
                errors = self.errors(job_id)
                if errors:
                    entry["error"] = f"{errors[0].exception_type}: {errors[0].message}"
            result[job_id] = entry
        return result


def status_data(
    scheduler: BaseScheduler,
    tracker: OutcomeTracker,
    stores: dict[str, str],
    reader: StoreReader | None = None,
) -> dict[str, Any]:
    """Return what ``/status.json`` shows: the scheduler, its jobs (without args or kwargs)
    with their last outcome, and jobs that left the stores but have an outcome.

    The jobs are read off the request's path (``reader``, kept by the app between requests): a
    job store that hangs or fails leaves the last jobs read, with ``jobs_error`` saying why and
    ``jobs_as_of`` how old they are.
    """
    if reader is None:
        reader = StoreReader(scheduler.clock)
    get_jobs = scheduler.get_jobs
    (unit,) = reader.refresh({JOB_LIST: lambda: Reading(list(get_jobs()))})
    now = scheduler.clock.now()
    outcomes = tracker.last(now)
    running: dict[str, int] = {}
    for run in scheduler.get_running_runs():
        running[run.info.job_id] = running.get(run.info.job_id, 0) + 1
    jobs = [] if unit.reading is None else unit.reading.jobs
    jobs_error = unit.last_error
    if unit.pending_since is not None and unit.reading is None and jobs_error is None:
        jobs_error = "the job stores have not answered yet"
    rows = []
    for job in jobs:
        row = job_row(job, now, scheduler.timezone, outcomes.get(job.id), running.get(job.id, 0))
        for hidden in _HIDDEN:
            row.pop(hidden, None)
        rows.append(row)
    listed = {job.id for job in jobs}
    departed = [
        {"id": job_id, "name": job_id, "state": "gone", "last_outcome": outcome, "running": 0}
        for job_id, outcome in sorted(outcomes.items())
        if job_id not in listed
    ]
    woke = scheduler.last_wakeup_at
    return {
        "scheduler": {
            "name": scheduler.name,
            "state": _STATES.get(scheduler.state, str(scheduler.state)),
            "timezone": str(scheduler.timezone),
            "heartbeat_interval": scheduler.heartbeat_interval,
            "last_wakeup_ago": round((now - woke).total_seconds(), 1) if woke else None,
            "jobstores": stores,
            "now": now.isoformat(),
        },
        "jobs": rows,
        "departed_jobs": departed,
        "jobs_error": jobs_error,
        "jobs_as_of": None if unit.succeeded_at is None else unit.succeeded_at.isoformat(),
    }


def make_status_app(
    scheduler: BaseScheduler,
    tracker: OutcomeTracker,
    stores: dict[str, str],
    fallback: WSGIApp,
    *,
    settings: ConsoleSettings | None = None,
    spans: SpanBuffer | None = None,
    bound: Iterable[str] = (),
) -> WSGIApp:
    """Return a WSGI app serving the console and ``/status.json``, and ``fallback`` for the rest.

    Args:
        scheduler: the scheduler served.
        tracker: its run history, already registered as its listener.
        stores: each job store's alias and its description (for ``/status.json``).
        fallback: the metrics app.
        settings: the console's settings (the safe defaults when ``None``).
        spans: the span buffer added to the tracer provider, when tracing is on.
        bound: the addresses the server is bound to.
    """
    settings = settings or ConsoleSettings()
    bound = tuple(bound)
    console = make_wsgi_app(
        scheduler, settings, fallback, history=tracker, spans=spans, bound=bound
    )
    reader = StoreReader(scheduler.clock, settings.store_wait)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path not in ("/status", "/status.json"):
            return console(environ, start_response)
        if not allowed_host(environ.get("HTTP_HOST"), bound, settings.allowed_hosts):
            response = error_response(403, "this host name is not allowed")
            start_response(response.status_line, response.all_headers())
            return [response.body]
        data = status_data(scheduler, tracker, stores, reader)
        body = json.dumps(data, indent=2, default=str).encode("utf-8", "backslashreplace")
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
                *SECURITY_HEADERS,
            ],
        )
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    return app


def add_console_flags(group: Any) -> None:
    """Add the console's flags to an argument group of ``run`` and ``demo``."""
    group.add_argument(
        "--console-token",
        default=None,
        metavar="TOKEN",
        help="the token the console's actions need (prefer its variable: a flag shows in ps)",
    )
    group.add_argument(
        "--console-actions",
        action="store_const",
        const=True,
        default=None,
        help="allow pause, resume, run now and remove from the console (needs a token)",
    )
    group.add_argument(
        "--console-show-args",
        action="store_const",
        const=True,
        default=None,
        help="show jobs' args and kwargs in the console (secrets redacted by key)",
    )
    group.add_argument(
        "--console-allowed-host",
        action="append",
        default=None,
        metavar="HOST",
        help="a host name the console answers besides localhost and the bound address (repeatable)",
    )
    group.add_argument(
        "--grafana-url",
        default=None,
        metavar="URL",
        help="the Grafana with the obssched job dashboard, linked from each job",
    )
    group.add_argument(
        "--trace-url-template",
        default=None,
        metavar="URL",
        help="a link to a trace in your trace UI, with {trace_id} in it",
    )


def console_settings(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> ConsoleSettings:
    """Return the console's settings: flags over ``OBSSCHED_CONSOLE_*`` variables.

    Raises:
        CliError: a flag or variable has a value the console cannot take (``USAGE``).
    """
    hosts = getattr(args, "console_allowed_host", None)
    try:
        return ConsoleSettings.from_env(
            os.environ if environ is None else environ,
            token=getattr(args, "console_token", None),
            actions=getattr(args, "console_actions", None),
            show_args=getattr(args, "console_show_args", None),
            allowed_hosts=None if not hosts else tuple(hosts),
            grafana_url=getattr(args, "grafana_url", None),
            trace_url_template=getattr(args, "trace_url_template", None),
        )
    except ConsoleSettingError as exc:
        raise CliError(str(exc), ExitCode.USAGE) from exc


StatusServer = MetricsServer
"""The HTTP server of ``run`` and ``demo``: observability's, bound by :func:`serve`."""


def serve(addr: str, port: int) -> MetricsServer:
    """Bind ``addr:port`` (``0``: any free port); :meth:`MetricsServer.start` serves the app.

    Raises:
        PortInUseError: the port is taken.
        OSError: the address cannot be bound for another reason.
    """
    return MetricsServer(addr, port)
