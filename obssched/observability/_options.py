"""The one set of options every way of attaching the built-in metrics and tracing goes through."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry.trace import TracerProvider
from prometheus_client.registry import CollectorRegistry

from obssched.clock import Clock
from obssched.observability._names import DEFAULT_JOB_NAME_LIMIT
from obssched.observability._sources import DEFAULT_HEALTH_LIMIT
from obssched.observability._spans import TraceFilter

__all__ = ["ObservabilityOptions"]


@dataclass(frozen=True, kw_only=True)
class ObservabilityOptions:
    """What to attach to a scheduler, and where its metrics and spans go.

    :func:`~obssched.observability.instrument` and
    :func:`~obssched.observability.attach_builtin` (which an obssched scheduler calls with its
    ``metrics_*`` options) both turn their arguments into one of these.

    Attributes:
        metrics: record Prometheus metrics.
        tracing: record OpenTelemetry spans.
        registry: the registry to expose the metrics in (the default registry when ``None``).
        tracer_provider: the provider to trace with (the global one when ``None``).
        trace_filter: called with a job's id and name; ``False`` leaves its runs untraced.
        job_name_limit: distinct job names with their own series; later ones fold into
            ``job_name="__other__"`` (``None``: no limit).
        buckets: histogram bucket bounds in seconds (all three histograms).
        scheduler_name: the ``scheduler`` label (``None``: the scheduler's ``name``, or
            ``"default"``).
        clock: the clock event times are read from (``None``: the scheduler's ``clock``, or the
            system clock).
        health_limit: seconds a fault may last before ``/healthz`` reports it (a job store that
            fails every read, jobs overdue by more than this, a loop that has not woken up):
            see :func:`~obssched.observability.health`.
    """

    metrics: bool = True
    tracing: bool = True
    registry: CollectorRegistry | None = None
    tracer_provider: TracerProvider | None = None
    trace_filter: TraceFilter | None = None
    job_name_limit: int | None = DEFAULT_JOB_NAME_LIMIT
    buckets: Sequence[float] | None = None
    scheduler_name: str | None = None
    clock: Clock | None = None
    health_limit: float = DEFAULT_HEALTH_LIMIT

    def metrics_registry(self) -> CollectorRegistry:
        """The registry the metrics go to: the one given, or prometheus-client's default."""
        if self.registry is not None:
            return self.registry
        from prometheus_client import REGISTRY

        return REGISTRY
