"""The status page at ``/`` (HTML) and ``/status.json``, served with ``/metrics`` and ``/healthz``.

The page is a WSGI app that answers its own paths and hands every other one to
:func:`obssched.observability.make_wsgi_app`, so one port serves people and Prometheus.
"""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from obssched.cli._format import describe_outcome, job_row
from obssched.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    SchedulerEvent,
)
from obssched.observability import MetricsServer
from obssched.observability._apps import WSGIApp
from obssched.observability._reader import JOB_LIST, Reading, StoreReader

if TYPE_CHECKING:
    from obssched.schedulers.base import BaseScheduler

__all__ = ["OutcomeTracker", "StatusServer", "make_status_app", "serve"]

_OUTCOMES = {
    EVENT_JOB_EXECUTED: "executed",
    EVENT_JOB_ERROR: "error",
    EVENT_JOB_MISSED: "missed",
    EVENT_JOB_MAX_INSTANCES: "max_instances",
}
_STATES = {0: "stopped", 1: "running", 2: "paused"}


class OutcomeTracker:
    """Remembers each job's last outcome and counts outcomes, from the scheduler's events."""

    MASK = EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES

    def __init__(self, scheduler: BaseScheduler) -> None:
        self._clock = scheduler.clock
        self._lock = threading.Lock()
        self._last: dict[str, dict[str, Any]] = {}
        self._counts: dict[str, dict[str, int]] = {}

    def __call__(self, event: SchedulerEvent) -> None:
        """Record a job's terminal event (the scheduler's listener)."""
        outcome = _OUTCOMES.get(event.code)
        job_id = getattr(event, "job_id", None)
        if outcome is None or job_id is None:
            return
        entry: dict[str, Any] = {"outcome": outcome, "at": self._clock.now()}
        if isinstance(event, JobExecutionEvent):
            if event.run_duration is not None:
                entry["duration"] = round(event.run_duration, 3)
            if event.exception is not None:
                entry["error"] = f"{type(event.exception).__name__}: {event.exception}"
        with self._lock:
            self._last[job_id] = entry
            counts = self._counts.setdefault(job_id, {})
            counts[outcome] = counts.get(outcome, 0) + 1

    def last(self, now: datetime) -> dict[str, dict[str, Any]]:
        """Return each job's last outcome with its time and ``ago`` (seconds before ``now``)."""
        with self._lock:
            items = [(job_id, dict(entry)) for job_id, entry in self._last.items()]
            counts = {job_id: dict(c) for job_id, c in self._counts.items()}
        result: dict[str, dict[str, Any]] = {}
        for job_id, entry in items:
            at: datetime = entry["at"]
            entry["ago"] = round((now - at).total_seconds(), 1)
            entry["at"] = at.isoformat()
            entry["counts"] = counts.get(job_id, {})
            result[job_id] = entry
        return result


def status_data(
    scheduler: BaseScheduler,
    tracker: OutcomeTracker,
    stores: dict[str, str],
    reader: StoreReader | None = None,
) -> dict[str, Any]:
    """Return what the status page shows, as JSON-compatible data.

    The jobs are read off the page's path (``reader``, kept by the app between requests): a job
    store that hangs or fails leaves the last jobs read on the page, with ``jobs_error`` saying
    why and ``jobs_as_of`` how old they are.
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
    rows = [
        job_row(job, now, scheduler.timezone, outcomes.get(job.id), running.get(job.id, 0))
        for job in jobs
    ]
    # Jobs that ran and left the store (a date job, one removed by `obssched jobs remove`) keep
    # their last outcome on the page; that is often the row someone came to look for.
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


def _render(data: dict[str, Any]) -> str:
    esc = html.escape
    info = data["scheduler"]
    rows = []
    for job in [*data["jobs"], *data["departed_jobs"]]:
        outcome = job.get("last_outcome")
        kind = outcome["outcome"] if outcome else "none"
        if job["state"] == "gone":
            next_run = "no longer scheduled"
        elif job["next_run_time"]:
            readable = datetime.fromisoformat(job["next_run_time"]).strftime("%Y-%m-%d %H:%M:%S %Z")
            next_run = f"{esc(readable)} ({esc(job['next_run_in'])})"
        else:
            next_run = "paused"
        counts = ", ".join(f"{k} {v}" for k, v in sorted((outcome or {}).get("counts", {}).items()))
        rows.append(
            "<tr>"
            f"<td>{esc(job['name'])}<br><small>{esc(job['id'])}</small></td>"
            f"<td><code>{esc(job.get('trigger', '-'))}</code></td>"
            f"<td>{next_run}</td>"
            f'<td class="{esc(kind)}">{esc(describe_outcome(outcome))}</td>'
            f"<td>{esc(counts) or '-'}</td>"
            f"<td>{job['running'] or ''}</td>"
            "</tr>"
        )
    stores = ", ".join(f"{esc(alias)}: {esc(url)}" for alias, url in info["jobstores"].items())
    woke = info["last_wakeup_ago"]
    error = f'<p class="error">{esc(data["jobs_error"])}</p>' if data["jobs_error"] else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>obssched: {esc(info["name"])}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ padding: .3em .8em; border-bottom: 1px solid #ddd;
text-align: left; vertical-align: top; }} small {{ color: #777; }}
.executed {{ color: #1a7f37; }} .error, .missed {{ color: #cf222e; }}
.max_instances {{ color: #9a6700; }}
</style></head><body>
<h1>obssched scheduler <code>{esc(info["name"])}</code>: {esc(info["state"])}</h1>
<p>Last woke up {"-" if woke is None else f"{woke}s ago"} (heartbeat {info["heartbeat_interval"]}s);
time zone {esc(info["timezone"])}; job stores: {stores}.
<a href="/metrics">/metrics</a> &middot; <a href="/healthz">/healthz</a> &middot;
<a href="/status.json">/status.json</a></p>{error}
<table><thead><tr><th>job</th><th>trigger</th><th>next run</th><th>last outcome</th>
<th>outcomes</th><th>running</th></tr></thead>
<tbody>{"".join(rows) or '<tr><td colspan="6">no jobs</td></tr>'}</tbody></table>
<p><small>As of {esc(info["now"])}; refreshes every 5 seconds.</small></p>
</body></html>
"""


def make_status_app(
    scheduler: BaseScheduler,
    tracker: OutcomeTracker,
    stores: dict[str, str],
    fallback: WSGIApp,
) -> WSGIApp:
    """Return a WSGI app serving ``/`` and ``/status.json``, and ``fallback`` for the rest."""
    reader = StoreReader(scheduler.clock)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path not in ("/", "/status", "/status.json"):
            return fallback(environ, start_response)
        data = status_data(scheduler, tracker, stores, reader)
        if path == "/status.json":
            body = json.dumps(data, indent=2, default=str).encode()
            content_type = "application/json"
        else:
            # A job's name is anyone's text, a lone surrogate included: it must not fail the page.
            body = _render(data).encode("utf-8", "backslashreplace")
            content_type = "text/html; charset=utf-8"
        start_response(
            "200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        )
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    return app


StatusServer = MetricsServer
"""The HTTP server of ``run`` and ``demo``: observability's, bound by :func:`serve`."""


def serve(addr: str, port: int) -> MetricsServer:
    """Bind ``addr:port`` (``0``: any free port); :meth:`MetricsServer.start` serves the app.

    Raises:
        PortInUseError: the port is taken.
        OSError: the address cannot be bound for another reason.
    """
    return MetricsServer(addr, port)
