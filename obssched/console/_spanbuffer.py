"""Keeping the spans of the slowest and the failing recent runs in memory, for the run page.

:class:`SpanBuffer` is an OpenTelemetry SDK span processor. It sees every span the provider ends;
the spans of a trace wait (bounded) until the trace's root ends. A root that is an obssched run
span (it has the ``obssched.job.id`` and ``obssched.scheduled_time`` attributes) decides the
trace's fate: it is kept when the run failed, or when it is among its job's slowest kept runs;
otherwise its spans are dropped. Spans that end after their root (a thread the job left behind)
join a kept trace.

A run has one span, from its submission to its end, under which the job's own spans nest; its
``obssched.queue_wait`` attribute says when the body started. Span events (an exception, a job's
own marks) are kept as their names and times (``events`` of each served span), without their
attributes.

Everything is bounded: traces kept per job and in all, spans per trace and in all, attributes
and events per span and the length of each attribute's text, traces waiting for their root, and
the run to trace id index. The oldest kept trace goes first when a bound is reached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from obssched.console._redact import mask_text

__all__ = ["KeptSpan", "KeptTrace", "SpanBuffer", "attach_span_buffer"]

_JOB_ID = "obssched.job.id"
_SCHEDULED = "obssched.scheduled_time"
_OUTCOME = "obssched.outcome"
_CUT = "..."
_EVENTS_KEPT = 16
"""Events kept per span (their names and times): exceptions, the job's own marks."""


class KeptSpan(NamedTuple):
    """One span of a kept trace, reduced to what the waterfall shows."""

    span_id: str
    parent_span_id: str | None
    name: str
    start_ns: int
    end_ns: int
    status: str
    attributes: dict[str, Any]
    events: tuple[tuple[str, int], ...] = ()
    """The span's first events, as (name, time in ns)."""


class KeptTrace:
    """The spans of one run's trace."""

    __slots__ = (
        "duration_ns",
        "failed",
        "job_id",
        "root_start_ns",
        "scheduled",
        "spans",
        "trace_id",
    )

    def __init__(
        self,
        trace_id: str,
        job_id: str,
        scheduled: str,
        root: KeptSpan,
        failed: bool,
        spans: list[KeptSpan],
    ) -> None:
        self.trace_id = trace_id
        self.job_id = job_id
        self.scheduled = scheduled
        self.root_start_ns = root.start_ns
        self.duration_ns = root.end_ns - root.start_ns
        self.failed = failed
        self.spans = spans

    def spans_json(self) -> list[dict[str, Any]]:
        """The spans as the API serves them, in start order, times relative to the root's start."""
        origin = self.root_start_ns
        parents = {span.span_id: span.parent_span_id for span in self.spans}

        def depth(span: KeptSpan) -> int:
            level, parent = 0, span.parent_span_id
            while parent is not None and parent in parents and level < len(parents):
                level, parent = level + 1, parents[parent]
            return level

        return [
            {
                "span_id": span.span_id,
                "parent_span_id": span.parent_span_id,
                "name": span.name,
                "start_offset_ms": round((span.start_ns - origin) / 1e6, 3),
                "duration_ms": round((span.end_ns - span.start_ns) / 1e6, 3),
                "status": span.status,
                "attributes": {key: _masked(value) for key, value in span.attributes.items()},
                "events": [
                    {"name": _masked(name), "offset_ms": round((time - origin) / 1e6, 3)}
                    for name, time in span.events
                ],
            }
            # A parent before the children that start with it; siblings that start together
            # stay in the order they ended (the sort is stable).
            for span in sorted(self.spans, key=lambda span: (span.start_ns, depth(span)))
        ]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + _CUT


def _masked(value: Any) -> Any:
    # Masked when served rather than for every span that ends. A text cut short may end inside
    # a URL's password: its end is hidden then.
    if isinstance(value, str):
        return mask_text(value, cut=value.endswith(_CUT))
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


class _JobTraces:
    __slots__ = ("failed", "slowest")

    def __init__(self) -> None:
        self.slowest: list[KeptTrace] = []
        self.failed: deque[KeptTrace] = deque()


class SpanBuffer:
    """A span processor keeping the slowest and the failing recent runs' whole traces.

    It implements the SDK's ``SpanProcessor`` interface without importing the SDK, so that
    nothing imports it while tracing is off.

    Args:
        slowest_per_job: the slowest runs kept per job.
        failed_per_job: the last failed runs kept per job.
        max_traces: traces kept in all (the oldest kept go first).
        max_spans: spans kept in all, kept traces and traces waiting for their root.
        max_spans_per_trace: spans kept per trace (later ones are counted, not kept).
        max_pending_traces: traces whose root has not ended yet (the oldest go first).
        max_attributes: attributes kept per span.
        attribute_text_limit: characters kept of each attribute value.
        max_run_ids: runs whose trace id is remembered (to link every run to its trace).
    """

    def __init__(
        self,
        *,
        slowest_per_job: int = 3,
        failed_per_job: int = 3,
        max_traces: int = 300,
        max_spans: int = 20_000,
        max_spans_per_trace: int = 500,
        max_pending_traces: int = 1_000,
        max_attributes: int = 32,
        attribute_text_limit: int = 256,
        max_run_ids: int = 20_000,
    ) -> None:
        for name, value in (
            ("slowest_per_job", slowest_per_job),
            ("failed_per_job", failed_per_job),
            ("max_traces", max_traces),
            ("max_spans", max_spans),
            ("max_spans_per_trace", max_spans_per_trace),
            ("max_pending_traces", max_pending_traces),
            ("max_attributes", max_attributes),
            ("attribute_text_limit", attribute_text_limit),
            ("max_run_ids", max_run_ids),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
        self.slowest_per_job = slowest_per_job
        self.failed_per_job = failed_per_job
        self.max_traces = max_traces
        self.max_spans = max_spans
        self.max_spans_per_trace = max_spans_per_trace
        self.max_pending_traces = max_pending_traces
        self.max_attributes = max_attributes
        self.attribute_text_limit = attribute_text_limit
        self.max_run_ids = max_run_ids
        self._lock = threading.Lock()
        self._pending: OrderedDict[int, list[KeptSpan]] = OrderedDict()
        self._pending_spans = 0
        self._kept: OrderedDict[int, KeptTrace] = OrderedDict()
        self._kept_spans = 0
        self._by_run: dict[tuple[str, str], int] = {}
        self._jobs: dict[str, _JobTraces] = {}
        self._trace_ids: OrderedDict[tuple[str, str], str] = OrderedDict()
        self.dropped_spans = 0
        """Spans not kept because a bound was reached."""

    # -- the SpanProcessor interface -------------------------------------------------------

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        """Nothing to do when a span starts."""

    def _on_ending(self, span: Any) -> None:
        """Nothing to do before a span ends (the SDK calls this on every processor)."""

    def on_end(self, span: Any) -> None:
        """Hold the span until its trace's root ends, or keep it with its kept trace."""
        context = span.context
        if context is None:
            return
        kept = self._reduce(span)
        trace_id = context.trace_id
        parent = span.parent
        attributes: Mapping[str, Any] = span.attributes or {}
        with self._lock:
            if parent is None or parent.is_remote:
                self._root_ended(trace_id, kept, attributes, span)
                return
            trace = self._kept.get(trace_id)
            if trace is not None:
                if len(trace.spans) < self.max_spans_per_trace:
                    trace.spans.append(kept)
                    self._kept_spans += 1
                    self._trim()
                else:
                    self.dropped_spans += 1
                return
            waiting = self._pending.get(trace_id)
            if waiting is None:
                waiting = self._pending[trace_id] = []
                while len(self._pending) > self.max_pending_traces:
                    _, dropped = self._pending.popitem(last=False)
                    self._pending_spans -= len(dropped)
                    self.dropped_spans += len(dropped)
            if len(waiting) < self.max_spans_per_trace - 1:
                waiting.append(kept)
                self._pending_spans += 1
                self._trim()
            else:
                self.dropped_spans += 1

    def shutdown(self) -> None:
        """Forget everything kept."""
        with self._lock:
            self._pending.clear()
            self._kept.clear()
            self._by_run.clear()
            self._jobs.clear()
            self._trace_ids.clear()
            self._pending_spans = self._kept_spans = 0

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing is exported: there is nothing to flush."""
        return True

    # -- reading ---------------------------------------------------------------------------

    def trace_of(self, job_id: str, scheduled_run_time: datetime) -> KeptTrace | None:
        """Return the kept trace of a job's run (by its scheduled run time), or ``None``."""
        key = (job_id, scheduled_run_time.isoformat())
        with self._lock:
            trace_id = self._by_run.get(key)
            return None if trace_id is None else self._kept.get(trace_id)

    def trace_id_of(self, job_id: str, scheduled_run_time: datetime) -> str | None:
        """Return the trace id of a recent run (kept or not), or ``None``."""
        with self._lock:
            return self._trace_ids.get((job_id, scheduled_run_time.isoformat()))

    def traces(self) -> list[KeptTrace]:
        """Return the kept traces, oldest kept first."""
        with self._lock:
            return list(self._kept.values())

    def span_count(self) -> tuple[int, int]:
        """Return how many spans are kept and how many wait for their root."""
        with self._lock:
            return self._kept_spans, self._pending_spans

    # -- keeping ---------------------------------------------------------------------------

    def _reduce(self, span: Any) -> KeptSpan:
        limit = self.attribute_text_limit
        attributes: dict[str, Any] = {}
        for key, value in list((span.attributes or {}).items())[: self.max_attributes]:
            if isinstance(value, str):
                value = _cut(value, limit)
            elif isinstance(value, tuple | list):
                value = [_cut(v, limit) if isinstance(v, str) else v for v in list(value)[:16]]
            attributes[str(key)[:limit]] = value
        status = span.status
        code = getattr(getattr(status, "status_code", None), "name", "UNSET")
        parent = span.parent
        events = tuple(
            (str(event.name)[:limit], int(event.timestamp or 0))
            for event in list(span.events or ())[:_EVENTS_KEPT]
        )
        return KeptSpan(
            format(span.context.span_id, "016x"),
            None if parent is None or parent.is_remote else format(parent.span_id, "016x"),
            str(span.name)[:limit],
            int(span.start_time or 0),
            int(span.end_time or span.start_time or 0),
            code.lower(),
            attributes,
            events,
        )

    def _root_ended(
        self, trace_id: int, root: KeptSpan, attributes: Mapping[str, Any], span: Any
    ) -> None:
        waiting = self._pending.pop(trace_id, [])
        self._pending_spans -= len(waiting)
        job_id = attributes.get(_JOB_ID)
        scheduled = attributes.get(_SCHEDULED)
        if not isinstance(job_id, str) or not isinstance(scheduled, str):
            self.dropped_spans += len(waiting)
            return  # not a run's trace
        key = (job_id, scheduled)
        hex_id = format(trace_id, "032x")
        self._trace_ids[key] = hex_id
        self._trace_ids.move_to_end(key)
        while len(self._trace_ids) > self.max_run_ids:
            self._trace_ids.popitem(last=False)
        if self.max_traces == 0:
            self.dropped_spans += len(waiting)
            return
        failed = root.status == "error" or attributes.get(_OUTCOME) in ("error", "missed")
        trace = KeptTrace(hex_id, job_id, scheduled, root, failed, [*waiting, root])
        job = self._jobs.get(job_id)
        if job is None:
            job = self._jobs[job_id] = _JobTraces()
        keep = False
        if failed and self.failed_per_job:
            job.failed.append(trace)
            keep = True
            while len(job.failed) > self.failed_per_job:
                self._forget_if_unused(job.failed.popleft(), job)
        elif self.slowest_per_job:
            slowest = job.slowest
            if len(slowest) < self.slowest_per_job:
                slowest.append(trace)
                keep = True
            else:
                fastest = min(slowest, key=lambda t: t.duration_ns)
                if trace.duration_ns > fastest.duration_ns:
                    slowest.remove(fastest)
                    slowest.append(trace)  # first, so that the job is not forgotten
                    self._forget_if_unused(fastest, job)
                    keep = True
        if not keep:
            self.dropped_spans += len(waiting)
            return
        self._kept[trace_id] = trace
        self._kept_spans += len(trace.spans)
        self._by_run[key] = trace_id
        self._trim()

    def _forget_if_unused(self, trace: KeptTrace, job: _JobTraces) -> None:
        if trace in job.slowest or trace in job.failed:
            return
        self._drop(int(trace.trace_id, 16))

    def _drop(self, trace_id: int) -> None:
        trace = self._kept.pop(trace_id, None)
        if trace is None:
            return
        self._kept_spans -= len(trace.spans)
        key = (trace.job_id, trace.scheduled)
        if self._by_run.get(key) == trace_id:
            del self._by_run[key]
        job = self._jobs.get(trace.job_id)
        if job is not None:
            if trace in job.slowest:
                job.slowest.remove(trace)
            if trace in job.failed:
                job.failed.remove(trace)
            if not job.slowest and not job.failed:
                del self._jobs[trace.job_id]

    def _trim(self) -> None:
        """Drop the oldest kept traces, then the oldest waiting ones, until within bounds."""
        while self._kept and (
            len(self._kept) > self.max_traces
            or self._kept_spans + self._pending_spans > self.max_spans
        ):
            oldest = next(iter(self._kept))
            self.dropped_spans += len(self._kept[oldest].spans)
            self._drop(oldest)
        while self._pending and self._kept_spans + self._pending_spans > self.max_spans:
            _, dropped = self._pending.popitem(last=False)
            self._pending_spans -= len(dropped)
            self.dropped_spans += len(dropped)


def attach_span_buffer(provider: Any, buffer: SpanBuffer | None = None) -> SpanBuffer | None:
    """Add a span buffer to an OpenTelemetry SDK tracer provider and return it.

    Returns ``None``, adding nothing, when ``provider`` is not an SDK provider (``None``, or the
    API's no-op one): then no span is recorded to keep.
    """
    add = getattr(provider, "add_span_processor", None)
    if not callable(add):
        return None
    buffer = buffer if buffer is not None else SpanBuffer()
    add(buffer)
    return buffer
