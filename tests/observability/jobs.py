"""Module-level job functions (importable by worker processes)."""

from __future__ import annotations

import os
import threading

from opentelemetry import trace


def current_trace() -> tuple[str, str]:
    """Return the hex trace and span ids current in the job body."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def traced_work(tracer_provider: object = None) -> tuple[str, str]:
    """Open a span of the job's own, and return the ids of its parent."""
    provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
    with provider.get_tracer("job").start_as_current_span("job's own work"):  # type: ignore[attr-defined]
        pass
    return current_trace()


def fail() -> None:
    """Raise a job error."""
    raise RuntimeError("job failed")


def die() -> None:
    """Kill the worker process the job runs in."""
    os._exit(1)


def block(event: threading.Event) -> None:
    """Wait until the test releases the job."""
    event.wait(10)


async def async_traced_work(tracer_provider: object) -> tuple[str, str]:
    """Open a span of the job's own from a coroutine job."""
    return traced_work(tracer_provider)
