"""The built-in tracing: one span per run, from the scheduler's events and its run hook.

A run's span starts at the run's submission and ends at its terminal event; the run hook makes it
current around the job body (see :mod:`._spans`). Its ``obssched.queue_wait`` attribute is when
the body started, so the queue wait and the run time stay apart in one span. For the process pool
the timings come from the execution event, in the scheduler's process.

Only the OpenTelemetry API is used; the provider is the one given, or the global one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, TraceFlags, TracerProvider

from obssched._runs import RemoteWrapper, RunInfo
from obssched.clock import Clock, SystemClock
from obssched.events import (
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
    SchedulerEvent,
)
from obssched.observability._spans import (
    EPOCH,
    PROPAGATOR,
    JobAttributes,
    TracedRun,
    TraceFilter,
    ns,
    record_error,
    records_spans,
    remote_context,
)

if TYPE_CHECKING:
    from obssched.observability._metrics import SpanIds

__all__ = ["RunTracer", "TraceFilter"]

_ENDS = frozenset({EVENT_JOB_EXECUTED, EVENT_JOB_ERROR})
"""The terminal events of a run that started (or failed on its way to the executor)."""

# Events that end or forget what the tracer recorded at a run's submission or a job's addition.
_AFTER_RUN = frozenset({EVENT_JOB_EXECUTED, EVENT_JOB_ERROR, EVENT_JOB_REMOVED})


class RunTracer:
    """Traces the runs of one scheduler from its events, and is its run hook.

    Args:
        tracer_provider: the provider to trace with; the global one when ``None``.
        trace_filter: called with each job's id and name; runs of jobs it refuses are not traced.
        clock: the clock the body's start is read from (the scheduler's).
        exemplars: return each sampled run's trace and span ids from its terminal event (for the
            metrics' exemplars); without metrics there is no need to keep them.
        node_of: gives the cluster node identity behind a job store alias (``None`` for stores
            that are not shared); it becomes the run span's ``obssched.node`` attribute.
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        trace_filter: TraceFilter | None = None,
        clock: Clock | None = None,
        exemplars: bool = True,
        node_of: Callable[[str | None], str | None] | None = None,
    ) -> None:
        from obssched import __version__

        self._node_of = node_of
        self.otel_tracer = trace.get_tracer(
            "obssched", __version__, tracer_provider=tracer_provider
        )
        """The OpenTelemetry tracer the spans are started with."""
        self._provider = tracer_provider
        self.live = False
        """Whether a provider that records spans was found (it then stays: see is_inert())."""
        self.on_live: Callable[[], None] | None = None
        """Called once, when the tracer first finds a provider that records spans."""
        self._filter = trace_filter
        self._exemplars = exemplars
        self._filtered: dict[tuple[str, str], bool] = {}
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._runs: dict[int, TracedRun] = {}
        # The attributes of each job's run spans, learnt from the run hook (see JobAttributes).
        self._jobs: dict[str, JobAttributes] = {}
        # Jobs removed lately, with the link each had: their last runs may still start.
        self._removed: dict[str, Link | None] = {}
        self._links: dict[str, Link] = {}
        self._root = Context()
        # Runs due together share their scheduled time: format it once for the whole burst.
        self._last_scheduled: tuple[datetime, str] = (EPOCH, EPOCH.isoformat())

    # -- events ---------------------------------------------------------------------------------

    def is_inert(self) -> bool:
        """Whether spans would go nowhere: no SDK provider is set (globally, or as given).

        Checked per event rather than once, because an application may install its SDK after
        the scheduler started; until then tracing costs one check per event instead of the
        API's no-op spans. A real provider, once seen, stays: the global one can be set only once.
        """
        if self.live:
            return False
        if not records_spans(self._provider):
            return True
        self.live = True
        if self.on_live is not None:
            self.on_live()
        return False

    def wants(self, code: int) -> bool:
        """Whether an event of this code has anything to change: with no run open and no span
        ever recorded, only events that open something do (checked first: ``live``)."""
        return self.live or bool(self._runs) or (code not in _AFTER_RUN and not self.is_inert())

    def handle(self, event: SchedulerEvent) -> SpanIds | None:
        """Account for one event; for a run's terminal event return its span's ids (exemplars).

        Callers may skip events while no provider records spans and no run is open.
        """
        code = event.code
        if code in _ENDS:
            assert isinstance(event, JobExecutionEvent)
            return self._ended(event)
        if code == EVENT_JOB_SUBMITTED:
            # The run's span is opened when its body starts (or goes to a worker process, or the
            # run ends), started at the submission's time: the submission only says which run
            # times coalescing dropped.
            assert isinstance(event, JobSubmissionEvent)
            if event.coalesced_run_times and self._traced(event.job_id, event.job_name):
                self._coalesced(event)
        elif code == EVENT_JOB_MISSED:
            assert isinstance(event, JobExecutionEvent)
            self._missed(event)
        elif code == EVENT_JOB_MAX_INSTANCES:
            assert isinstance(event, JobSubmissionEvent)
            if self._traced(event.job_id, event.job_name):
                for run_time in event.scheduled_run_times:
                    self._short_span(event, run_time, "max_instances")
        elif code in (EVENT_JOB_ADDED, EVENT_JOB_MODIFIED):
            assert isinstance(event, JobEvent)
            if code == EVENT_JOB_ADDED:
                link_to = trace.get_current_span().get_span_context()
                if link_to.is_valid:
                    self._links[event.job_id] = Link(link_to)
                else:  # a job replacing one of the same id keeps no link of the old one
                    self._links.pop(event.job_id, None)
                self._removed.pop(event.job_id, None)
        elif code == EVENT_JOB_REMOVED:
            assert isinstance(event, JobEvent)
            self._forget(event.job_id, event.job_name)
        return None

    def _forget(self, job_id: str, job_name: str | None) -> None:
        """Drop what is kept per job, but remember a removed job's link for a while: a date job
        is removed when its run is submitted, before the run's span opens."""
        link = self._links.pop(job_id, None)
        self._jobs.pop(job_id, None)
        if self._filter is not None:
            self._filtered.pop((job_id, job_name or job_id), None)
        removed = self._removed
        removed[job_id] = link
        if len(removed) > _REMOVED_KEPT:
            del removed[next(iter(removed))]

    def _traced(self, job_id: str, job_name: str | None) -> bool:
        if self._filter is None:
            return True
        key = (job_id, job_name or job_id)
        traced = self._filtered.get(key)
        if traced is None:
            traced = bool(self._filter(*key))
            if job_id not in self._removed:  # a removed job has few runs left: not cached
                self._filtered[key] = traced
        return traced

    def _scheduled_text(self, scheduled: datetime) -> str:
        last = self._last_scheduled
        if last[0] == scheduled:
            return last[1]
        text = scheduled.isoformat()
        self._last_scheduled = (scheduled, text)
        return text

    def open_run(
        self, run: TracedRun, queue_wait: float | None, outcome: str | None = None
    ) -> Span:
        """Open the run span, started at the run's submission.

        Called by the first of the run's body start, its hand-over to a worker process and its
        terminal event, which happen one after another for one run: no lock is needed.
        """
        if run.span is not None:
            return run.span
        job = run.job
        attributes: dict[str, Any] = {
            **job.attributes,
            "obssched.scheduled_time": self._scheduled_text(run.scheduled),
        }
        if queue_wait is not None:
            attributes["obssched.start_delay"] = run.lateness + queue_wait
            attributes["obssched.queue_wait"] = queue_wait
        if outcome is not None:
            attributes["obssched.outcome"] = outcome
        link = self._links.get(job.job_id) or self._removed.get(job.job_id)
        span = self.otel_tracer.start_span(
            job.span_name,
            context=self._root,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            links=None if link is None else (link,),
            start_time=run.start_ns,
        )
        span_context = span.get_span_context()
        if self._exemplars and span_context.trace_flags & TraceFlags.SAMPLED:
            run.exemplar = (span_context.trace_id, span_context.span_id)
        run.context = trace.set_span_in_context(span, self._root)
        run.span = span
        return span

    def _ended(self, event: JobExecutionEvent) -> SpanIds | None:
        run_id = event.run_id
        if run_id is None:
            return None
        run = self._runs.pop(run_id, None)
        if run is None:
            # No body started and nothing went to a worker process: the run failed on its way
            # to the executor. Its span still covers it, from the submission to now. (A run
            # whose body did start without a record was not traced: filtered, or submitted
            # before a provider was seen.)
            if event.started_at is not None or not self._traced(event.job_id, event.job_name):
                return None
            submitted = event.submitted_at
            run = TracedRun(
                self,
                self._job_of(event),
                event.scheduled_run_time,
                submitted if submitted is not None else self.clock.now(),
                None,
            )
        failed = event.code == EVENT_JOB_ERROR
        outcome = "error" if failed else "success"
        span = run.span
        if span is None:  # no run hook saw the body: everything is known at once
            span = self.open_run(run, event.queue_wait, outcome)
            recording = span.is_recording()
        else:
            recording = span.is_recording()
            if recording:
                if run.body_start_ns:
                    span.set_attribute("obssched.outcome", outcome)
                else:  # the body ran in a worker process: its timings come with the event
                    attributes: dict[str, Any] = {"obssched.outcome": outcome}
                    if event.queue_wait is not None:
                        attributes["obssched.queue_wait"] = event.queue_wait
                        attributes["obssched.start_delay"] = event.start_delay
                    span.set_attributes(attributes)
        if recording and failed:
            record_error(span, event.exception)
        queue_wait, duration = event.queue_wait, event.run_duration
        if queue_wait is not None and duration is not None and event.submitted_at is not None:
            # The end in nanoseconds straight from the run's timings: no datetime is built.
            end_ns = run.start_ns + int((queue_wait + duration) * 1e9)
        else:
            end = event.finished_at
            end_ns = ns(end if end is not None else self.clock.now())
        # The hook read the body's start a moment after the runner did, and the event's times
        # are rounded to microseconds: the span never ends before its queue wait does.
        span.end(end_ns if end_ns >= run.body_start_ns else run.body_start_ns)
        return run.exemplar

    def _coalesced(self, event: JobSubmissionEvent) -> None:
        for run_time in event.coalesced_run_times:
            self._short_span(event, run_time, "coalesced")

    def _missed(self, event: JobExecutionEvent) -> None:
        if not self._traced(event.job_id, event.job_name):
            return
        run = None if event.run_id is None else self._runs.pop(event.run_id, None)
        if run is not None:  # a submitted run that its executor found too late to start
            if run.span is None:
                span = self.open_run(run, None, "missed")
            else:
                span = run.span
                span.set_attribute("obssched.outcome", "missed")
            span.end(ns(self.clock.now()))
        else:
            self._short_span(event, event.scheduled_run_time, "missed")
        for run_time in event.coalesced_run_times:
            self._short_span(event, run_time, "coalesced")

    def _short_span(self, event: JobEvent, run_time: datetime, outcome: str) -> None:
        name = event.job_name or event.job_id
        now = ns(self.clock.now())
        link = self._links.get(event.job_id)
        span = self.otel_tracer.start_span(
            f"run {name}",
            context=self._root,
            attributes={
                "obssched.job.id": event.job_id,
                "obssched.job.name": name,
                "obssched.executor": event.executor or "",
                "obssched.jobstore": event.jobstore or "",
                "obssched.scheduled_time": run_time.isoformat(),
                "obssched.outcome": outcome,
            },
            links=None if link is None else (link,),
            start_time=now,
        )
        span.end(now)

    # -- the run hook ---------------------------------------------------------------------------

    def annotate(self, info: RunInfo) -> TracedRun | None:
        """Register a run whose body is about to start (or go to a worker process)."""
        job_id = info.job_id
        if not self._traced(job_id, info.job_name):
            return None
        runs = self._runs
        run = runs.get(info.run_id)
        if run is not None:
            return run
        job = self._jobs.get(job_id)
        if (
            job is None
            or job.trigger is not info.trigger
            or job.func_name != info.func_name
            or job.job_name != info.job_name
            or job.executor != info.executor
            or job.jobstore != info.jobstore
        ):
            job = JobAttributes(
                job_id,
                info.job_name,
                info.executor,
                info.jobstore,
                info.trigger,
                info.func_name,
                self._node(info.jobstore),
            )
            if job_id not in self._removed:  # nothing is kept for a removed job
                self._jobs[job_id] = job
        run = TracedRun(
            self, job, info.scheduled_run_time, info.submitted_at, info.submitted_monotonic
        )
        return runs.setdefault(info.run_id, run)

    def _job_of(self, event: JobEvent) -> JobAttributes:
        """The attributes of a run no run hook saw: those the hook learnt of its job, if any."""
        name = event.job_name or event.job_id
        job = self._jobs.get(event.job_id)
        if (
            job is not None
            and job.job_name == name
            and job.executor == event.executor
            and job.jobstore == event.jobstore
        ):
            return job
        return JobAttributes(
            event.job_id, name, event.executor, event.jobstore, node=self._node(event.jobstore)
        )

    def _node(self, jobstore: str | None) -> str | None:
        return None if self._node_of is None else self._node_of(jobstore)

    def wrap(self, run: RunInfo) -> AbstractContextManager[object] | None:
        """Return the context manager that makes the run's span current around the body."""
        if self.is_inert():
            return None
        return self.annotate(run)

    def remote(self, run: RunInfo) -> RemoteWrapper | None:
        """Return a picklable factory that attaches the run span's context in a worker process."""
        if self.is_inert():
            return None
        traced = self.annotate(run)
        if traced is None:
            return None
        self.open_run(traced, None)
        carrier: dict[str, str] = {}
        PROPAGATOR.inject(carrier, context=traced.context)
        return functools.partial(remote_context, carrier)

    def open_runs(self) -> int:
        """Return how many runs have started (or gone to a worker process) and not ended (for
        tests and health checks)."""
        return len(self._runs)


_REMOVED_KEPT = 16384
"""How many removed jobs the tracer remembers (with their links) for runs still to start: a
date job is removed when its run is submitted, and its run may wait behind that many others."""
