"""The pieces of a traced run: its span's times, the context manager around the body, errors.

A run has one span, from its submission to its terminal event (see :mod:`._tracing`). The run
hook makes it current in whichever thread or asyncio task runs the job, so that spans the job
creates nest under it; the span's ``obssched.queue_wait`` attribute says when the body started.
For the process pool the hook carries the span's context to the child process (W3C trace context
in a picklable carrier).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, Status, StatusCode, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from obssched.observability._listener import error_type_name
from obssched.observability._names import safe_text

if TYPE_CHECKING:
    from obssched.observability._tracing import RunTracer

__all__ = [
    "EPOCH",
    "PROPAGATOR",
    "JobAttributes",
    "TraceFilter",
    "TracedRun",
    "function_name",
    "ns",
    "record_error",
    "records_spans",
    "remote_context",
]

TraceFilter = Callable[[str, str], bool]
"""Called with a job's id and name; return ``False`` to leave the job's runs untraced."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
PROPAGATOR = TraceContextTextMapPropagator()
"""How a run span's context travels to a worker process."""


def ns(moment: datetime) -> int:
    """Return a datetime as nanoseconds since the Unix epoch (OpenTelemetry's timestamps)."""
    return (moment - EPOCH) // _MICROSECOND * 1000


def records_spans(provider: TracerProvider | None) -> bool:
    """Whether spans started with ``provider`` (``None``: the global one) go anywhere, that is,
    whether it is an SDK provider rather than the API's proxy or no-op one."""
    if provider is None:
        # The API module's global, read directly: trace.get_tracer_provider() looks the
        # environment up on every call until a provider is set, which cost more than the rest
        # of a run's tracing. A provider named by OTEL_PYTHON_TRACER_PROVIDER is loaded into
        # that global by the tracer's get_tracer call.
        provider = trace._TRACER_PROVIDER if _HAS_GLOBAL else trace.get_tracer_provider()
        if provider is None:
            return False
    return not isinstance(provider, _INERT_PROVIDERS)


_INERT_PROVIDERS = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)

# Should the API module ever lose that global, its public getter is asked instead (and every
# submission asks the tracer, see Instrumentation._untraced_routes).
_HAS_GLOBAL = hasattr(trace, "_TRACER_PROVIDER")


def function_name(reference: str) -> str:
    """``module:qualname`` as OpenTelemetry's ``code.function.name`` spells it: dotted."""
    return reference.replace(":", ".", 1)


class JobAttributes:
    """What every run span of one job starts with: its name and the attributes that change only
    when the job does.

    Built once per job and kept while the job's runs match it (formatting a trigger costs more
    than all the other attributes together); each run's span copies :attr:`attributes` and adds
    its own. A run ended before any run hook saw it knows no trigger or function. ``node`` is
    the cluster node behind the job's store (fixed for a store's life; a job moved to another
    store is another job to the tracer).
    """

    __slots__ = (
        "attributes",
        "executor",
        "func_name",
        "job_id",
        "job_name",
        "jobstore",
        "span_name",
        "trigger",
    )

    def __init__(
        self,
        job_id: str,
        job_name: str,
        executor: str | None,
        jobstore: str | None,
        trigger: object | None = None,
        func_name: str | None = None,
        node: str | None = None,
    ) -> None:
        self.job_id = job_id
        self.job_name = job_name
        self.executor = executor
        self.jobstore = jobstore
        self.trigger = trigger
        self.func_name = func_name
        name = safe_text(job_name)
        self.span_name = f"run {name}"
        attributes: dict[str, str] = {
            "obssched.job.id": safe_text(job_id),
            "obssched.job.name": name,
            "obssched.executor": executor or "",
            "obssched.jobstore": jobstore or "",
        }
        if trigger is not None:
            attributes["obssched.trigger"] = safe_text(str(trigger))
        if func_name is not None:
            attributes["code.function.name"] = safe_text(function_name(func_name))
        if node is not None:
            attributes["obssched.node"] = node
        self.attributes = attributes


class TracedRun:
    """One traced run: its job's attributes, its span, and when its body started.

    Made when the run's body starts (it is then also the context manager the run hook returns
    around the body), when :meth:`RunTracer.remote` carries its context to a worker process, or
    by its terminal event when neither happened (a run that failed before its body started). The
    span is opened lazily, with the submission time as its start: when the body starts (so the
    start delay and queue wait are known and go in with the other attributes), at submission
    for a process pool, or at the end. Every attribute passed to ``start_span`` saves a lock and
    a validation pass over a mapping that ``set_attributes`` would cost later.

    As a context manager it makes the run span current around the body. The body's start (the
    span's start plus its ``obssched.queue_wait``) comes from the monotonic clock relative to
    the submission, as the core derives the execution event's times, so the span agrees with the
    metrics even if the wall clock steps during the run. The body's end is the span's end, set
    from the terminal event, which also records the outcome and any exception. (A span event
    marking the start would add a tenth to a sixth to the run's tracing cost; the attributes
    say the same.)
    """

    __slots__ = (
        "body_start_ns",
        "context",
        "exemplar",
        "job",
        "lateness",
        "scheduled",
        "span",
        "start_ns",
        "submitted_monotonic",
        "token",
        "tracer",
    )

    def __init__(
        self,
        tracer: RunTracer,
        job: JobAttributes,
        scheduled: datetime,
        submitted: datetime,
        submitted_monotonic: float | None,
    ) -> None:
        self.tracer = tracer
        self.job = job
        self.scheduled = scheduled
        self.start_ns = ns(submitted)
        self.lateness = (submitted - scheduled).total_seconds()
        """Seconds from the scheduled run time to the submission (the start delay less the
        queue wait)."""
        self.submitted_monotonic = submitted_monotonic
        self.span: Span | None = None
        self.context: Context | None = None
        self.exemplar: tuple[int, int] | None = None
        self.token: object = None
        self.body_start_ns = 0
        """When the body started (0: no run hook saw it start)."""

    def __enter__(self) -> Span:
        tracer = self.tracer
        started = tracer.clock.monotonic()
        submitted = self.submitted_monotonic
        wait = 0.0 if submitted is None or started < submitted else started - submitted
        self.body_start_ns = self.start_ns + int(wait * 1e9)
        span = self.span
        if span is None:
            span = tracer.open_run(self, wait)
        self.token = otel_context.attach(self.context)  # type: ignore[arg-type]
        return span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        otel_context.detach(self.token)  # type: ignore[arg-type]


def record_error(span: Span, exception: BaseException | None) -> None:
    """Mark a span failed with the exception's type, and record the exception on it."""
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
        self._token = otel_context.attach(PROPAGATOR.extract(self._carrier))
        return None

    def __exit__(self, *exc_info: object) -> None:
        otel_context.detach(self._token)  # type: ignore[arg-type]


def remote_context(carrier: dict[str, str]) -> AbstractContextManager[object]:
    """Return the context manager a worker process runs a job body in (picklable by reference)."""
    return _RemoteContext(carrier)
