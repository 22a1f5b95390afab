"""The built-in tracing: one trace per run, with the job body's span current while it runs.

A run's span opens at submission and closes at its terminal event. Its child, the body span, is
opened by the run hook in whichever thread or asyncio task runs the job, and made current there so
that spans the job creates nest under it. For the process pool the hook carries the run span's
context to the child process (W3C trace context in a picklable carrier) and the body span is
recorded in the scheduler's process from the start and end times the execution event reports.

Only the OpenTelemetry API is used; the provider is the one given, or the global one.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

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
from obssched.observability._listener import error_type_name

__all__ = ["RunTracer", "TraceFilter"]

TraceFilter = Callable[[str, str], bool]
"""Called with a job's id and name; return ``False`` to leave the job's runs untraced."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_PROPAGATOR = TraceContextTextMapPropagator()


def _ns(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND * 1000


class _Run:
    """The open span of one run and what its terminal event needs."""

    __slots__ = ("body_recorded", "exemplar", "name", "span")

    def __init__(self, span: Span, name: str, exemplar: dict[str, str] | None) -> None:
        self.span = span
        self.name = name
        self.exemplar = exemplar
        self.body_recorded = False


class _BodySpan:
    """The context manager around a job body: opens the body span and makes it current."""

    __slots__ = ("_run", "_span", "_token", "_tracer")

    def __init__(self, tracer: RunTracer, run: _Run) -> None:
        self._tracer = tracer
        self._run = run
        self._span: Span | None = None
        self._token: object = None

    def __enter__(self) -> Span:
        run = self._run
        span = self._tracer.start_body(run, _ns(self._tracer.clock.now()))
        self._span = span
        self._token = otel_context.attach(trace.set_span_in_context(span))
        return span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        otel_context.detach(self._token)  # type: ignore[arg-type]
        span = self._span
        assert span is not None
        if exc is not None and span.is_recording():
            _record_error(span, exc)
        span.end(_ns(self._tracer.clock.now()))


def _record_error(span: Span, exception: BaseException | None) -> None:
    error_type = error_type_name(exception)
    span.set_status(Status(StatusCode.ERROR, error_type))
    span.set_attribute("error.type", error_type)
    if exception is not None:
        span.record_exception(exception)


class _RemoteContext(AbstractContextManager[object]):
    """Attaches a propagated context around a job body in a worker process."""

    def __init__(self, carrier: dict[str, str]) -> None:
        self._carrier = carrier
        self._token: object = None

    def __enter__(self) -> object:
        self._token = otel_context.attach(_PROPAGATOR.extract(self._carrier))
        return None

    def __exit__(self, *exc_info: object) -> None:
        otel_context.detach(self._token)  # type: ignore[arg-type]


def remote_context(carrier: dict[str, str]) -> AbstractContextManager[object]:
    """Return the context manager a worker process runs a job body in (picklable by reference)."""
    return _RemoteContext(carrier)


class RunTracer:
    """Traces the runs of one scheduler from its events, and is its run hook.

    Args:
        tracer_provider: the provider to trace with; the global one when ``None``.
        trace_filter: called with each job's id and name; runs of jobs it refuses are not traced.
        clock: the clock the body span's times are read from (the scheduler's).
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        trace_filter: TraceFilter | None = None,
        clock: Clock | None = None,
    ) -> None:
        from obssched import __version__

        self._otel = trace.get_tracer("obssched", __version__, tracer_provider=tracer_provider)
        self._filter = trace_filter
        self._filtered: dict[tuple[str, str], bool] = {}
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._runs: dict[int, _Run] = {}
        # Trigger and callable name per job id, learnt from the run hook, so later run spans get
        # them at creation instead of through two more set_attribute calls per run.
        self._job_details: dict[str, tuple[object, str, str]] = {}
        self._links: dict[str, Link] = {}
        self._lock = threading.Lock()
        self._root = Context()

    # -- events ---------------------------------------------------------------------------------

    def handle(self, event: SchedulerEvent) -> dict[str, str] | None:
        """Account for one event; for a run's terminal event return its exemplar labels."""
        code = event.code
        if code in (EVENT_JOB_EXECUTED, EVENT_JOB_ERROR):
            assert isinstance(event, JobExecutionEvent)
            return self._ended(event)
        if code == EVENT_JOB_SUBMITTED:
            assert isinstance(event, JobSubmissionEvent)
            if event.run_id is not None and self._traced(event.job_id, event.job_name):
                self._run_for(
                    event.run_id,
                    event.job_id,
                    event.job_name or event.job_id,
                    event.executor,
                    event.jobstore,
                    event.scheduled_run_times[0],
                    event.submitted_at,
                )
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
        elif code == EVENT_JOB_REMOVED:
            assert isinstance(event, JobEvent)
            self._links.pop(event.job_id, None)
            self._job_details.pop(event.job_id, None)
        return None

    def _traced(self, job_id: str, job_name: str | None) -> bool:
        if self._filter is None:
            return True
        key = (job_id, job_name or job_id)
        traced = self._filtered.get(key)
        if traced is None:
            traced = self._filtered[key] = bool(self._filter(*key))
        return traced

    def _run_for(
        self,
        run_id: int,
        job_id: str,
        job_name: str,
        executor: str | None,
        jobstore: str | None,
        scheduled: datetime,
        submitted_at: datetime | None,
    ) -> _Run:
        run = self._runs.get(run_id)
        if run is not None:
            return run
        with self._lock:
            run = self._runs.get(run_id)
            if run is not None:
                return run
            attributes: dict[str, Any] = {
                "obssched.job.id": job_id,
                "obssched.job.name": job_name,
                "obssched.executor": executor or "",
                "obssched.jobstore": jobstore or "",
                "obssched.scheduled_time": scheduled.isoformat(),
            }
            known = self._job_details.get(job_id)
            if known is not None:
                attributes["obssched.trigger"], attributes["code.function.name"] = known[1:]
            link = self._links.get(job_id)
            span = self._otel.start_span(
                f"run {job_name}",
                context=self._root,
                kind=SpanKind.INTERNAL,
                attributes=attributes,
                links=None if link is None else (link,),
                start_time=_ns(submitted_at if submitted_at is not None else self.clock.now()),
            )
            span_context = span.get_span_context()
            exemplar = None
            if span_context.trace_flags.sampled:
                exemplar = {
                    "trace_id": format(span_context.trace_id, "032x"),
                    "span_id": format(span_context.span_id, "016x"),
                }
            run = _Run(span, job_name, exemplar)
            self._runs[run_id] = run
            return run

    def _ended(self, event: JobExecutionEvent) -> dict[str, str] | None:
        run_id = event.run_id
        if run_id is None:
            return None
        run = self._runs.pop(run_id, None)
        if run is None:
            return None
        span = run.span
        failed = event.code == EVENT_JOB_ERROR
        if span.is_recording():
            attributes: dict[str, Any] = {"obssched.outcome": "error" if failed else "success"}
            delay = event.start_delay
            if delay is not None:
                attributes["obssched.start_delay"] = delay
            if event.queue_wait is not None:
                attributes["obssched.queue_wait"] = event.queue_wait
            span.set_attributes(attributes)
            if not run.body_recorded and event.started_at is not None:
                self._body_from_event(run, event, failed)
            if failed:
                _record_error(span, event.exception)
        end = event.finished_at
        span.end(_ns(end if end is not None else self.clock.now()))
        return run.exemplar

    def _body_from_event(self, run: _Run, event: JobExecutionEvent, failed: bool) -> None:
        assert event.started_at is not None
        body = self.start_body(run, _ns(event.started_at))
        if failed:
            _record_error(body, event.exception)
        finished = event.finished_at if event.finished_at is not None else self.clock.now()
        body.end(_ns(finished))

    def _coalesced(self, event: JobSubmissionEvent) -> None:
        for run_time in event.coalesced_run_times:
            self._short_span(event, run_time, "coalesced")

    def _missed(self, event: JobExecutionEvent) -> None:
        if not self._traced(event.job_id, event.job_name):
            return
        run = None if event.run_id is None else self._runs.pop(event.run_id, None)
        if run is not None:  # a submitted run that its executor found too late to start
            run.span.set_attribute("obssched.outcome", "missed")
            run.span.end(_ns(self.clock.now()))
        else:
            self._short_span(event, event.scheduled_run_time, "missed")
        for run_time in event.coalesced_run_times:
            self._short_span(event, run_time, "coalesced")

    def _short_span(self, event: JobEvent, run_time: datetime, outcome: str) -> None:
        name = event.job_name or event.job_id
        now = _ns(self.clock.now())
        link = self._links.get(event.job_id)
        span = self._otel.start_span(
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

    def start_body(self, run: _Run, start_ns: int) -> Span:
        """Open the body span of a run as a child of its run span."""
        run.body_recorded = True
        return self._otel.start_span(
            f"execute {run.name}",
            context=trace.set_span_in_context(run.span, self._root),
            kind=SpanKind.INTERNAL,
            start_time=start_ns,
        )

    def annotate(self, info: RunInfo) -> _Run | None:
        """Open (or find) the span of a submitted run and add what only the run info knows."""
        if not self._traced(info.job_id, info.job_name):
            return None
        run = self._run_for(
            info.run_id,
            info.job_id,
            info.job_name,
            info.executor,
            info.jobstore,
            info.scheduled_run_time,
            info.submitted_at,
        )
        known = self._job_details.get(info.job_id)
        # The trigger's text is made once per trigger object: formatting it on every run would
        # cost more than the rest of the attributes together.
        if known is None or known[0] is not info.trigger or known[2] != info.func_name:
            text = str(info.trigger)
            self._job_details[info.job_id] = (info.trigger, text, info.func_name)
            if run.span.is_recording():
                run.span.set_attributes(
                    {"obssched.trigger": text, "code.function.name": info.func_name}
                )
        return run

    def wrap(self, run: RunInfo) -> AbstractContextManager[object]:
        """Return the context manager that makes the run's body span current around the body."""
        traced = self.annotate(run)
        if traced is None:
            return _NOTHING
        return _BodySpan(self, traced)

    def remote(self, run: RunInfo) -> RemoteWrapper | None:
        """Return a picklable factory that attaches the run span's context in a worker process."""
        traced = self.annotate(run)
        if traced is None:
            return None
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(traced.span, self._root))
        return functools.partial(remote_context, carrier)

    def open_runs(self) -> int:
        """Return how many run spans are open (for tests and health checks)."""
        return len(self._runs)


class _Nothing(AbstractContextManager[object]):
    def __exit__(self, *exc_info: object) -> None:
        return None


_NOTHING = _Nothing()
