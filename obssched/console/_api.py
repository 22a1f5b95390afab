"""The console's JSON documents: the scheduler, its jobs, a job's runs and a run's spans.

Each function returns JSON-compatible data; field names are documented in docs/console.md and
kept stable. Times are ISO 8601 texts with their offset; durations and ages are seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import obssched
from obssched._context import SchedulerContext
from obssched.console._history import ErrorRecord, JobSummary, RunHistory, RunRecord
from obssched.console._jobs import JobReader
from obssched.console._listing import Entry, order_entries, parse_query
from obssched.console._redact import mask_text, printable, redact, safe_value
from obssched.console._settings import ConsoleSettings
from obssched.console._spanbuffer import SpanBuffer
from obssched.console._web import ApiError
from obssched.observability._attach import node_finder
from obssched.observability._reader import JOB_LIST

__all__ = ["ConsoleApi"]

NEXT_FIRE_TIMES = 10
_STATES = ("stopped", "running", "paused")
_FAILED = ("error", "timeout")
GRAFANA_JOB_DASHBOARD = "/d/obssched-job/obssched-job"
"""Where the shipped job dashboard lives under a Grafana's base URL."""


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


class ConsoleApi:
    """Builds the JSON documents from the scheduler, its run history and the span buffer."""

    def __init__(
        self,
        scheduler: Any,
        settings: ConsoleSettings,
        history: RunHistory,
        spans: SpanBuffer | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.settings = settings
        self.history = history
        self.spans = spans
        self._jobs = JobReader(scheduler, settings.store_wait)

    # -- the scheduler ---------------------------------------------------------------------

    def scheduler_info(self) -> dict[str, Any]:
        """``GET /api/scheduler``."""
        scheduler = self.scheduler
        _, units = self._jobs.read()
        now = scheduler.clock.now()  # after the reads, which started no later than now
        context = getattr(scheduler, "context", None)
        context = context if isinstance(context, SchedulerContext) else None
        stores = {} if context is None else dict(context.jobstores)
        executors = {} if context is None else dict(context.executors)
        by_key = {unit.key: unit for unit in units}
        store_rows = []
        aliases = list(stores) or [key for key in by_key if key != JOB_LIST]
        for alias in aliases:
            unit = by_key.get(alias) or by_key.get(JOB_LIST)
            store = stores.get(alias)
            succeeded = None if unit is None else unit.succeeded_at
            store_rows.append(
                {
                    "alias": alias,
                    "class": type(store).__name__ if store is not None else None,
                    "up": bool(unit is not None and unit.up),
                    "last_success_age_seconds": (
                        None if succeeded is None else _seconds((now - succeeded).total_seconds())
                    ),
                    "error": _store_error(None if unit is None else unit.last_error),
                }
            )
        executor_rows = []
        for alias, executor in executors.items():
            executor_rows.append(
                {
                    "alias": alias,
                    "class": type(executor).__name__,
                    "running": _number(getattr(executor, "running_jobs", None)),
                    "pending": _number(getattr(executor, "pending_jobs", None)),
                    "max_workers": _number(getattr(executor, "max_workers", None)),
                }
            )
        started = self.history.started_at
        woke: datetime | None = getattr(scheduler, "last_wakeup_at", None)
        state = getattr(scheduler, "state", 0)
        return {
            "name": getattr(scheduler, "name", None),
            "state": _STATES[state] if state in (0, 1, 2) else str(state),
            "uptime_seconds": (
                None if started is None or state == 0 else _seconds((now - started).total_seconds())
            ),
            "heartbeat_age_seconds": (
                None if woke is None else _seconds((now - woke).total_seconds())
            ),
            "heartbeat_interval": getattr(scheduler, "heartbeat_interval", None),
            "timezone": str(getattr(scheduler, "timezone", "")),
            "version": obssched.__version__,
            "now": now.isoformat(),
            "stores": store_rows,
            "executors": executor_rows,
            "actions_enabled": self.settings.actions_enabled,
            "tracing": self.spans is not None,
            "links": {
                "grafana_job_dashboard": self._grafana_base(),
                "trace_url_template": self.settings.trace_url_template,
            },
        }

    def _grafana_base(self) -> str | None:
        base = self.settings.grafana_url
        return None if not base else base.rstrip("/") + GRAFANA_JOB_DASHBOARD

    # -- jobs ------------------------------------------------------------------------------

    def jobs(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /api/jobs``: sorted, filtered and paginated.

        Raises:
            ApiError: an unknown sort field, order or status, or a bad offset or limit (400).
        """
        wanted = parse_query(query)
        text, status = wanted.text, wanted.status
        stored, _ = self._jobs.read()
        now = self.scheduler.clock.now()
        summaries = self.history.jobs()
        running = self._running(now)
        # Filtering and sorting read only what they need of each job; the full documents are
        # built for the page asked for alone (10,000 jobs make 100 documents, not 10,000).
        entries: list[Entry] = []
        for job in stored:
            if text and text not in job.id.casefold() and text not in str(job.name).casefold():
                continue
            entry = Entry(job, summaries.get(job.id), running.get(job.id, []))
            if status is not None and not self._has_status(entry, status, now):
                continue
            entries.append(entry)
        ordered = order_entries(entries, wanted.sort, wanted.order)
        page = [
            self._job_row(entry.job, now, entry.summary, entry.running)
            for entry in ordered[wanted.offset : wanted.offset + wanted.limit]
        ]
        return {
            "jobs": page,
            "total": len(ordered),
            "offset": wanted.offset,
            "limit": wanted.limit,
        }

    def _has_status(self, entry: Entry, status: str, now: datetime) -> bool:
        job = entry.job
        next_run = getattr(job, "next_run_time", None)
        if status == "failing":
            return entry.summary is not None and entry.summary.last_outcome in _FAILED
        if status == "running":
            return bool(entry.running)
        if status == "paused":
            return next_run is None and not getattr(job, "pending", False)
        if status == "overdue":
            return self._overdue(next_run, now)
        return self._hung(entry.running, getattr(job, "timeout", None))

    def _overdue(self, next_run: datetime | None, now: datetime) -> bool:
        return (
            next_run is not None
            and getattr(self.scheduler, "state", 0) == 1
            and (now - next_run).total_seconds() > self.settings.overdue_after
        )

    def _hung(self, running: list[dict[str, Any]], timeout: float | None) -> bool:
        limit = timeout if timeout is not None else self.settings.hung_after
        return any(
            run["running_for_seconds"] is not None and run["running_for_seconds"] > limit
            for run in running
        )

    def job(self, job_id: str) -> dict[str, Any]:
        """``GET /api/jobs/<id>``.

        Raises:
            ApiError: no such job, in the stores or the history (404).
        """
        now = self.scheduler.clock.now()
        stored = self._find(job_id)
        summary = self.history.job(job_id)
        if stored is None and summary is None:
            raise ApiError(404, f"no job with id {safe_value(job_id)!r}")
        running = self._running(now).get(job_id, [])
        if stored is not None:
            row = self._job_row(stored, now, summary, running)
            row["next_fire_times"] = _next_fire_times(stored, now)
        else:
            assert summary is not None
            row = self._gone_row(job_id, now, summary, running)
            row["next_fire_times"] = []
        row["errors"] = [_error(error) for error in self.history.errors(job_id)]
        return row

    def runs(self, job_id: str) -> dict[str, Any]:
        """``GET /api/jobs/<id>/runs``, newest first.

        Raises:
            ApiError: no such job, in the stores or the history (404).
        """
        records = self.history.runs(job_id)
        if not records and self.history.job(job_id) is None and self._find(job_id) is None:
            raise ApiError(404, f"no job with id {safe_value(job_id)!r}")
        node = node_finder(self.scheduler)
        return {"job_id": job_id, "runs": [self._run(record, node) for record in records]}

    def run_spans(self, run_id_text: str) -> dict[str, Any]:
        """``GET /api/runs/<run_id>/spans``.

        Raises:
            ApiError: the run id is not a number (400), or its spans are not kept (404).
        """
        try:
            run_id = int(run_id_text)
        except ValueError:
            raise ApiError(400, f"run id {safe_value(run_id_text)!r} is not a number") from None
        record = self.history.run(run_id)
        if record is None:
            raise ApiError(404, f"run {run_id} is not in the recent history")
        if self.spans is None:
            raise ApiError(404, f"no spans are kept for run {run_id}: tracing is off")
        trace = self.spans.trace_of(record.job_id, record.scheduled_run_time)
        if trace is None:
            raise ApiError(
                404,
                f"the spans of run {run_id} are not kept (only the slowest and the failing "
                "recent runs' are)",
            )
        return {
            "run_id": run_id,
            "job_id": record.job_id,
            "trace_id": trace.trace_id,
            "trace_url": self._trace_url(trace.trace_id),
            "spans": trace.spans_json(),
        }

    # -- pieces ----------------------------------------------------------------------------

    def _find(self, job_id: str) -> Any:
        try:
            return self.scheduler.get_job(job_id)
        except Exception:  # a store that fails: the history may still know the job
            return None

    def _running(self, now: datetime) -> dict[str, list[dict[str, Any]]]:
        getter = getattr(self.scheduler, "get_running_runs", None)
        result: dict[str, list[dict[str, Any]]] = {}
        if getter is None:
            return result
        for run in getter():
            started = run.started_at
            result.setdefault(run.info.job_id, []).append(
                {
                    "run_id": run.info.run_id,
                    "started": _iso(started),
                    "running_for_seconds": (
                        None if started is None else _seconds((now - started).total_seconds())
                    ),
                }
            )
        return result

    def _job_row(
        self,
        job: Any,
        now: datetime,
        summary: JobSummary | None,
        running: list[dict[str, Any]],
    ) -> dict[str, Any]:
        next_run: datetime | None = getattr(job, "next_run_time", None)
        timeout: float | None = getattr(job, "timeout", None)
        row = self._base_row(job.id, str(job.name), now, summary, running, timeout)
        row["trigger"] = safe_value(str(job.trigger))
        row["next_run_time"] = _iso(next_run)
        row["next_run_in_seconds"] = (
            None if next_run is None else _seconds((next_run - now).total_seconds())
        )
        row["paused"] = next_run is None and not getattr(job, "pending", False)
        row["pending"] = bool(getattr(job, "pending", False))
        row["executor"] = safe_value(job.executor)
        row["overdue"] = self._overdue(next_run, now)
        if self.settings.show_args:
            row["args"] = redact(list(job.args))
            row["kwargs"] = redact(dict(job.kwargs))
        return row

    def _gone_row(
        self,
        job_id: str,
        now: datetime,
        summary: JobSummary,
        running: list[dict[str, Any]],
    ) -> dict[str, Any]:
        row = self._base_row(job_id, summary.job_name, now, summary, running, None)
        row.update(
            trigger=None,
            next_run_time=None,
            next_run_in_seconds=None,
            paused=False,
            pending=False,
            executor=None,
            overdue=False,
            gone=True,
        )
        return row

    def _base_row(
        self,
        job_id: str,
        name: str,
        now: datetime,
        summary: JobSummary | None,
        running: list[dict[str, Any]],
        timeout: float | None,
    ) -> dict[str, Any]:
        hung = self._hung(running, timeout)
        last = None if summary is None else summary.last_outcome
        return {
            "id": printable(job_id),
            "name": printable(name),
            "timeout": timeout,
            "last_outcome": last,
            "last_outcome_time": None if summary is None else _iso(summary.last_outcome_time),
            "counts": (
                dict.fromkeys(("executed", "error", "missed", "max_instances", "timeout"), 0)
                if summary is None
                else summary.counts
            ),
            "duration_p50": None if summary is None else _seconds(summary.duration_p50),
            "duration_p95": None if summary is None else _seconds(summary.duration_p95),
            "running": running,
            "failing": last in _FAILED,
            "hung": hung,
            "gone": False,
            "grafana_url": self._grafana_url(name),
        }

    def _grafana_url(self, name: str) -> str | None:
        base = self._grafana_base()
        return None if base is None else f"{base}?var-job_name={quote(name, safe='')}"

    def _trace_url(self, trace_id: str | None) -> str | None:
        template = self.settings.trace_url_template
        if template is None or trace_id is None:
            return None
        return template.replace("{trace_id}", trace_id)

    def _run(
        self, record: RunRecord, node_of: Callable[[str | None], str | None]
    ) -> dict[str, Any]:
        trace_id = (
            None
            if self.spans is None
            else self.spans.trace_id_of(record.job_id, record.scheduled_run_time)
        )
        error = record.error
        return {
            "run_id": record.run_id,
            "scheduled_run_time": _iso(record.scheduled_run_time),
            "submitted": _iso(record.submitted_at),
            "started": _iso(record.started_at),
            "ended": _iso(record.ended_at),
            "delay_seconds": _seconds(record.delay),
            "queue_wait_seconds": _seconds(record.queue_wait),
            "duration_seconds": _seconds(record.duration),
            "outcome": record.outcome or "running",
            "executor": record.executor,
            "node": node_of(record.jobstore),
            "trace_id": trace_id,
            "trace_url": self._trace_url(trace_id),
            "spans_kept": bool(
                self.spans is not None
                and self.spans.trace_of(record.job_id, record.scheduled_run_time) is not None
            ),
            "error": None if error is None else safe_value(error),
        }


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _next_fire_times(job: Any, now: datetime) -> list[str]:
    moment: datetime | None = getattr(job, "next_run_time", None)
    if moment is None:
        return []
    times = [moment]
    trigger = job.trigger
    try:
        while len(times) < NEXT_FIRE_TIMES:
            previous = times[-1]
            following = trigger.get_next_fire_time(previous, previous + timedelta(microseconds=1))
            if following is None or following <= previous:
                break
            times.append(following)
    except Exception:  # a trigger that fails here fails in the loop too, where it is reported
        pass
    return [t.isoformat() for t in times]


def _store_error(text: str | None) -> str | None:
    # A driver's error may name the store's URL or DSN.
    return None if text is None else mask_text(text)


def _error(error: ErrorRecord) -> dict[str, Any]:
    return {
        "time": error.time.isoformat(),
        "run_id": error.run_id,
        "exception_type": safe_value(error.exception_type),
        "message": mask_text(error.message),
        "traceback": mask_text(error.traceback),
    }
