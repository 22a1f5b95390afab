"""``instrument()``: the built-in listeners on obssched schedulers and stock APScheduler 3 ones.

A stock APScheduler 3.11 scheduler has no run hooks, and its events carry neither the job's name
and executor nor any run id or timing. The adapter here fills them in before the events reach the
same listeners obssched uses:

* job name and executor are looked up when the job is added (and kept a while after removal, since
  APScheduler removes a finished date job before its run's events arrive);
* a submission and its end are paired by (job id, scheduled run time), and the times are read from
  the clock when the events are dispatched: ``submitted_at`` is when the submission event was seen,
  the *start delay* is measured to that moment, the *run duration* runs from it to the end event
  (so it includes time queued in the executor), and no queue-wait histogram is recorded;
* APScheduler may dispatch a fast run's end before its submission event; the pair still forms one
  run;
* the run span is not made current around the body (no run hook), so a job's own spans do not
  nest under it, and its body's start is marked after the fact; runs that APScheduler loses
  silently (unpicklable arguments, dead worker processes) stay open until the scheduler shuts
  down;
* its executors and job stores are not public, so there are no executor gauges and no job store
  gauges beyond the jobs counted per store.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from opentelemetry.trace import TracerProvider
from prometheus_client.registry import CollectorRegistry

from obssched._runs import RunInfo, RunningRun
from obssched.clock import Clock, SystemClock
from obssched.events import (
    EVENT_ALL_JOBS_REMOVED,
    EVENT_JOB_ADDED,
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_MODIFIED,
    EVENT_JOB_REMOVED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from obssched.observability._attach import Instrumentation, attach, build
from obssched.observability._names import DEFAULT_JOB_NAME_LIMIT
from obssched.observability._options import ObservabilityOptions
from obssched.observability._sources import DEFAULT_HEALTH_LIMIT, check_health_limit
from obssched.observability._tracing import TraceFilter

__all__ = ["instrument"]

_REMOVED_JOBS_KEPT = 1024


class _Job:
    __slots__ = ("executor", "func", "name", "trigger")

    def __init__(self, job: Any) -> None:
        self.name: str = job.name
        self.executor: str = job.executor
        self.trigger = str(job.trigger)
        self.func = str(getattr(job, "func_ref", None) or getattr(job.func, "__qualname__", "?"))


class _Flight:
    __slots__ = ("info", "job")

    def __init__(self, info: RunInfo, job: _Job) -> None:
        self.info = info
        self.job = job


class StockAdapter:
    """Translates a stock APScheduler scheduler's events into obssched's richer ones."""

    def __init__(self, scheduler: Any, instrumentation: Instrumentation, clock: Clock) -> None:
        self._scheduler = scheduler
        self._downstream = instrumentation
        self._clock = clock
        self._jobs: dict[str, _Job] = {}
        self._removed: OrderedDict[str, _Job] = OrderedDict()
        self._flights: dict[tuple[str, datetime], _Flight] = {}
        self._ended_early: set[tuple[str, datetime]] = set()
        self._run_ids = itertools.count(1)
        self._lock = threading.Lock()
        for job in scheduler.get_jobs():
            self._jobs[job.id] = _Job(job)

    def running_runs(self) -> list[RunningRun]:
        """Return the runs submitted and not ended (started as far as can be told)."""
        with self._lock:
            return [RunningRun(f.info, f.info.submitted_at) for f in self._flights.values()]

    def _job(self, job_id: str, jobstore: str | None) -> _Job | None:
        job = self._jobs.get(job_id) or self._removed.get(job_id)
        if job is None:
            try:
                found = self._scheduler.get_job(job_id, jobstore)
            except Exception:
                found = None
            if found is not None:
                job = self._jobs[job_id] = _Job(found)
        return job

    def __call__(self, event: Any) -> None:
        code = event.code
        if code in (EVENT_JOB_ADDED, EVENT_JOB_MODIFIED, EVENT_JOB_REMOVED):
            if code != EVENT_JOB_REMOVED:
                self._jobs.pop(event.job_id, None)
            job = self._job(event.job_id, event.jobstore)
            if code == EVENT_JOB_REMOVED:
                with self._lock:
                    gone = self._jobs.pop(event.job_id, None)
                    if gone is not None:
                        self._removed[event.job_id] = gone
                        if len(self._removed) > _REMOVED_JOBS_KEPT:
                            self._removed.popitem(last=False)
            self._downstream(
                JobEvent(
                    code,
                    event.job_id,
                    event.jobstore,
                    job_name=None if job is None else job.name,
                    executor=None if job is None else job.executor,
                )
            )
        elif code == EVENT_JOB_SUBMITTED:
            for run_time in event.scheduled_run_times:
                key = (event.job_id, run_time)
                with self._lock:
                    if key in self._ended_early:
                        self._ended_early.discard(key)
                        continue
                self._submit(event.job_id, event.jobstore, run_time)
        elif code == EVENT_JOB_MAX_INSTANCES:
            job = self._job(event.job_id, event.jobstore)
            for run_time in event.scheduled_run_times:
                self._downstream(
                    JobSubmissionEvent(
                        code,
                        event.job_id,
                        event.jobstore,
                        [run_time],
                        job_name=None if job is None else job.name,
                        executor=None if job is None else job.executor,
                        run_id=next(self._run_ids),
                        submitted_at=self._clock.now(),
                    )
                )
        elif code in (EVENT_JOB_EXECUTED, EVENT_JOB_ERROR, EVENT_JOB_MISSED):
            self._ended(event)
        elif code == EVENT_ALL_JOBS_REMOVED:
            self._jobs.clear()
            self._downstream(event)
        else:
            self._downstream(event)

    def _submit(self, job_id: str, jobstore: str | None, run_time: datetime) -> _Flight | None:
        job = self._job(job_id, jobstore)
        if job is None:
            return None
        now = self._clock.now()
        info = RunInfo(
            run_id=next(self._run_ids),
            job_id=job_id,
            job_name=job.name,
            func_name=job.func,
            jobstore=jobstore or "default",
            executor=job.executor,
            trigger=job.trigger,
            scheduled_run_time=run_time,
            submitted_at=now,
            submitted_monotonic=self._clock.monotonic(),
        )
        # The tracer learns of the run before its flight is published: from then on a worker
        # thread may end it, and the end needs the tracer's record of the run.
        tracer = self._downstream.tracer
        if tracer is not None and not tracer.is_inert():
            tracer.annotate(info)
        flight = _Flight(info, job)
        with self._lock:
            self._flights[(job_id, run_time)] = flight
        self._downstream(
            JobSubmissionEvent(
                EVENT_JOB_SUBMITTED,
                job_id,
                jobstore,
                [run_time],
                job_name=job.name,
                executor=job.executor,
                run_id=info.run_id,
                submitted_at=now,
            )
        )
        return flight

    def _ended(self, event: Any) -> None:
        key = (event.job_id, event.scheduled_run_time)
        with self._lock:
            flight = self._flights.pop(key, None)
        if flight is None and event.code != EVENT_JOB_MISSED:
            # APScheduler dispatches submission events after the whole tick: a fast run can end
            # before its submission is reported.
            flight = self._submit(event.job_id, event.jobstore, event.scheduled_run_time)
            with self._lock:
                self._flights.pop(key, None)
                self._ended_early.add(key)
        now = self._clock.now()
        job = flight.job if flight is not None else self._job(event.job_id, event.jobstore)
        submitted = flight.info.submitted_at if flight is not None else None
        self._downstream(
            JobExecutionEvent(
                event.code,
                event.job_id,
                event.jobstore,
                event.scheduled_run_time,
                retval=event.retval,
                exception=event.exception,
                traceback=event.traceback,
                job_name=None if job is None else job.name,
                executor=None if job is None else job.executor,
                run_id=None if flight is None else flight.info.run_id,
                submitted_at=submitted,
                started_at=submitted if event.code != EVENT_JOB_MISSED else None,
                finished_at=now if event.code != EVENT_JOB_MISSED else None,
                run_duration=None
                if submitted is None or event.code == EVENT_JOB_MISSED
                else (now - submitted).total_seconds(),
            )
        )


def instrument(
    scheduler: Any,
    *,
    metrics: bool = True,
    tracing: bool = True,
    registry: CollectorRegistry | None = None,
    tracer_provider: TracerProvider | None = None,
    trace_filter: TraceFilter | None = None,
    job_name_limit: int | None = DEFAULT_JOB_NAME_LIMIT,
    buckets: Sequence[float] | None = None,
    scheduler_name: str | None = None,
    clock: Clock | None = None,
    health_limit: float = DEFAULT_HEALTH_LIMIT,
) -> Instrumentation:
    """Attach the built-in metrics and tracing listeners to a scheduler.

    Works on obssched schedulers (where they are attached by default; use this with
    ``metrics=False, tracing=False`` set on the scheduler to attach them by hand) and on stock
    APScheduler 3.11 schedulers, whose events carry less: see this module's documentation for
    what is approximated there.

    Args:
        scheduler: the scheduler.
        metrics: record Prometheus metrics.
        tracing: record OpenTelemetry spans.
        registry: the registry to expose the metrics in (the default registry when ``None``).
        tracer_provider: the provider to trace with (the global one when ``None``).
        trace_filter: called with a job's id and name; ``False`` leaves its runs untraced.
        job_name_limit: distinct job names with their own series; later ones fold into
            ``job_name="__other__"`` (``None``: no limit).
        buckets: histogram bucket bounds in seconds.
        scheduler_name: the ``scheduler`` label (default: the scheduler's ``name``, or
            ``"default"``).
        clock: for stock schedulers, the clock event times are read from.
        health_limit: seconds a fault may last before ``/healthz`` reports it (default 60): a
            job store that fails every read, jobs overdue by more than this while the scheduler
            runs, a loop that has not woken up (see :func:`~obssched.observability.health`).

    Returns:
        The handle whose ``detach()`` removes everything attached.
    """
    options = ObservabilityOptions(
        metrics=metrics,
        tracing=tracing,
        registry=registry,
        tracer_provider=tracer_provider,
        trace_filter=trace_filter,
        job_name_limit=job_name_limit,
        buckets=buckets,
        scheduler_name=scheduler_name,
        clock=clock,
        health_limit=check_health_limit(health_limit),
    )
    if hasattr(scheduler, "add_run_hook"):
        if scheduler_name is not None and scheduler_name != getattr(scheduler, "name", None):
            raise ValueError(
                f"an obssched scheduler is labelled by its own name {scheduler.name!r}; "
                f"set name={scheduler_name!r} on the scheduler instead"
            )
        # Its events are timed by its own clock.
        return attach(scheduler, replace(options, clock=None))
    return _attach_stock(scheduler, options)


def _attach_stock(scheduler: Any, options: ObservabilityOptions) -> Instrumentation:
    clock = options.clock or SystemClock()
    adapter: StockAdapter | None = None

    def running_runs() -> list[RunningRun]:
        return [] if adapter is None else adapter.running_runs()

    instrumentation = build(scheduler, replace(options, clock=clock), running_runs)
    adapter = StockAdapter(scheduler, instrumentation, clock)
    instrumentation.attach(adapter)
    return instrumentation
