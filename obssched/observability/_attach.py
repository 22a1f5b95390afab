"""Attaching the built-in listeners (and the tracing run hook) to a scheduler."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import TracerProvider
from prometheus_client.registry import CollectorRegistry

from obssched._eventbus import EventBus
from obssched._runs import RunningRun
from obssched.events import EVENT_JOB_SUBMITTED, SchedulerEvent
from obssched.observability._collector import collector_for
from obssched.observability._listener import LISTENER_MASK, MetricsListener
from obssched.observability._names import DEFAULT_JOB_NAME_LIMIT, JobNames
from obssched.observability._options import ObservabilityOptions
from obssched.observability._sources import (
    DEFAULT_HEALTH_LIMIT,
    SchedulerSource,
    check_health_limit,
    context_or_none,
    jobstore_of,
)
from obssched.observability._spans import _HAS_GLOBAL
from obssched.observability._tracing import RunTracer, TraceFilter

__all__ = ["LISTENER_MASK", "Instrumentation", "attach", "attach_builtin", "build"]

_logger = logging.getLogger("obssched.observability")


class _Unset:
    """The type of a keyword argument that was not given."""


_UNSET = _Unset()


class Instrumentation:
    """The built-in metrics and tracing of one scheduler; :meth:`detach` removes them.

    Calling it with an event is the listener registered on the scheduler: tracing sees each event
    first so that the metrics of a run's terminal event can carry its span as an exemplar.
    """

    LISTENER_NAME = "obssched.builtin"

    def __init__(
        self,
        scheduler: Any,
        *,
        metrics: MetricsListener | None,
        tracer: RunTracer | None,
        source: SchedulerSource | None,
        registry: CollectorRegistry | None,
    ) -> None:
        self.scheduler = scheduler
        self.metrics = metrics
        self.tracer = tracer
        self.source = source
        self.registry = registry
        self._listener: Callable[[SchedulerEvent], None] = self
        self._attached = False
        self._hooked = False
        self._hook_lock = threading.Lock()
        self._bus: EventBus | None = None
        self._count_submission: Callable[[Any], None] | None = None
        """The metrics' own handler of a submission, called directly while no span is recorded."""

    def __call__(self, event: SchedulerEvent) -> None:
        try:
            exemplar = None
            tracer = self.tracer
            # The tracer is not asked about events it has nothing to change for (while no
            # provider records spans); once it records, it is asked about every one.
            if tracer is not None and (tracer.live or tracer.wants(event.code)):
                exemplar = tracer.handle(event)
            if self.metrics is not None:
                self.metrics.handle(event, exemplar)
        except Exception:
            _logger.exception("The built-in observability listener failed on %r", event)
            if self.source is not None:
                self.source.listener_failed(self.LISTENER_NAME)

    def attach(self, listener: Callable[[SchedulerEvent], None] | None = None) -> None:
        """Subscribe to the scheduler (``listener`` replaces this object as the callback)."""
        self._listener = listener or self
        if getattr(self.scheduler, "running", True):
            self.count_stored_jobs()
        tracing_off = self.tracer is None or self.tracer.is_inert()
        context = context_or_none(self.scheduler)
        bus = None if context is None else context.events
        if self._listener is self and bus is not None:
            # An obssched scheduler's bus calls the metrics handlers directly for the frequent
            # events while no span is recorded, instead of this object deciding each time.
            bus.add(self, LISTENER_MASK, name=self.LISTENER_NAME, routes=self._untraced_routes())
            self._bus = bus
        elif self.metrics is not None or self.tracer is not None:
            self.scheduler.add_listener(self._listener, LISTENER_MASK)
        if self.tracer is not None and hasattr(self.scheduler, "add_run_hook"):
            # Without an SDK the hook would only ever say "nothing to wrap", at a cost to every
            # run; it is added when the tracer first sees a provider that records spans (before
            # the submission that found it reaches a worker).
            self.tracer.on_live = self._tracing_started
            if not tracing_off:
                self._tracing_started()
        if self.source is not None and self.registry is not None:
            collector = collector_for(self.registry)
            assert collector is not None
            collector.add_source(self.source)
        self._attached = True

    def count_stored_jobs(self) -> None:
        """Give the jobs already in the scheduler's stores their counters at 0, as later jobs
        get them when added. An obssched scheduler calls this once its stores have started (a
        store that is not started cannot be read); attaching to a running scheduler does it.
        A store that cannot be read is logged: its jobs get their counters at their first run.
        """
        if self.metrics is None:
            return
        try:
            labels = self._stored_job_labels()
        except Exception:
            _logger.exception(
                "Could not list the jobs of %r to start their counters", self.scheduler
            )
            return
        for job_id, name, executor, alias in labels:
            self.metrics.job_added(job_id, name, executor, alias)

    def _stored_job_labels(self) -> list[tuple[str, str, str, str | None]]:
        """``(id, name, executor, store alias)`` of every stored job, for the counters."""
        context = context_or_none(self.scheduler)
        stores = {} if context is None else dict(context.jobstores)
        # Not part of APScheduler 3's store contract: looked up, so third-party stores without it
        # are read through the scheduler instead.
        reads: dict[str, Callable[[], Iterable[tuple[str, str, str]]]] = {
            alias: read
            for alias, store in stores.items()
            if callable(read := getattr(store, "get_job_labels", None))
        }
        if stores and len(reads) == len(stores):
            # Only what the counters need: a SQL store reads it without rebuilding any job, which
            # on 100,000 stored jobs is the difference between a start of 0.9 s and one of 9 s.
            return [
                (job_id, name, executor, alias)
                for alias, read in reads.items()
                for job_id, name, executor in read()
            ]
        # A stock APScheduler 3 scheduler, or stores without the read.
        return [
            (job.id, job.name, job.executor, jobstore_of(job)) for job in self.scheduler.get_jobs()
        ]

    def _untraced_routes(self) -> dict[int, Callable[[Any], None]]:
        """The handlers the bus calls directly while no span is recorded."""
        metrics = self.metrics
        if metrics is None:
            return {}
        routes = metrics.run_routes()
        if self.tracer is not None:
            self._count_submission = routes[EVENT_JOB_SUBMITTED]
            routes[EVENT_JOB_SUBMITTED] = (
                self._submitted_untraced if _HAS_GLOBAL else self._submitted_checked
            )
        return routes

    def _submitted_untraced(self, event: SchedulerEvent) -> None:
        # Each run starts with its submission, so that is where an SDK installed after the
        # scheduler started is noticed. While no global provider is set at all, none can have
        # started recording (a provider given to the tracer was judged for good when it was
        # attached), and one read of the API's global says so: only once an application sets
        # one does a submission ask the tracer.
        if trace._TRACER_PROVIDER is not None:
            self._submitted_checked(event)
            return
        count = self._count_submission
        assert count is not None
        count(event)

    def _submitted_checked(self, event: SchedulerEvent) -> None:
        # The tracer's on_live switches the routes back to this object, which then handles
        # this event too.
        if self.tracer is not None and not self.tracer.is_inert():
            self(event)
            return
        count = self._count_submission
        assert count is not None
        count(event)

    def _tracing_started(self) -> None:
        with self._hook_lock:
            if self._hooked:
                return
            self._hooked = True
            if self._bus is not None:
                self._bus.reroute(self, None)
            self.scheduler.add_run_hook(self.tracer)

    def detach(self) -> None:
        """Remove the listeners, the run hook and the scrape-time gauges from the scheduler."""
        if not self._attached:
            return
        self._attached = False
        if self._bus is not None:
            self._bus.remove(self)
            self._bus = None
        elif self.metrics is not None or self.tracer is not None:
            self.scheduler.remove_listener(self._listener)
        if self.tracer is not None:
            self.tracer.on_live = None
            with self._hook_lock:
                if self._hooked:
                    self.scheduler.remove_run_hook(self.tracer)
                    self._hooked = False
        if self.source is not None and self.registry is not None:
            collector = collector_for(self.registry, create=False)
            if collector is not None:
                collector.remove_source(self.source)


def build(
    scheduler: Any,
    options: ObservabilityOptions,
    running_runs: Callable[[], Iterable[RunningRun]] | None = None,
) -> Instrumentation:
    """Create (without attaching) the built-in listeners for a scheduler.

    Args:
        scheduler: the scheduler.
        options: what to attach; its ``scheduler_name`` and ``clock`` are filled in from the
            scheduler's ``name`` and ``clock`` when not given.
        running_runs: returns the in-flight runs (``scheduler.get_running_runs`` by default).
    """
    name = options.scheduler_name or str(getattr(scheduler, "name", None) or "default")
    clock = options.clock or getattr(scheduler, "clock", None)
    metrics_listener = source = registry = None
    if options.metrics:
        registry = options.metrics_registry()
        collector = collector_for(registry, options.buckets)
        assert collector is not None
        names = JobNames(options.job_name_limit, lock=collector.store.lock)
        metrics_listener = MetricsListener(collector.store, name, names)
        source = SchedulerSource(
            scheduler, name, names, running_runs, clock, health_limit=options.health_limit
        )
    tracer = None
    if options.tracing:
        tracer = RunTracer(
            options.tracer_provider,
            options.trace_filter,
            clock,
            exemplars=options.metrics,
            node_of=node_finder(scheduler),
        )
    return Instrumentation(
        scheduler, metrics=metrics_listener, tracer=tracer, source=source, registry=registry
    )


def attach(scheduler: Any, options: ObservabilityOptions) -> Instrumentation:
    """Create the built-in listeners for an obssched scheduler and attach them."""
    instrumentation = build(scheduler, options)
    instrumentation.attach()
    return instrumentation


def attach_builtin(
    scheduler: Any,
    *,
    metrics: bool = True,
    tracing: bool = True,
    registry: CollectorRegistry | None = None,
    tracer_provider: TracerProvider | None = None,
    trace_filter: TraceFilter | None = None,
    job_name_limit: int | None = DEFAULT_JOB_NAME_LIMIT,
    buckets: Sequence[float] | None = None,
    metrics_registry: CollectorRegistry | None = None,
    metrics_job_name_limit: int | _Unset | None = _UNSET,
    metrics_buckets: Sequence[float] | None = None,
    health_limit: float = DEFAULT_HEALTH_LIMIT,
    metrics_health_limit: float | None = None,
) -> Instrumentation:
    """Attach the built-in metrics and tracing listeners to an obssched scheduler.

    The scheduler calls this on its first ``start()`` with its options (``metrics``,
    ``tracing``, ``metrics_registry``, ``tracer_provider``, ``trace_filter``,
    ``metrics_job_name_limit``, ``metrics_buckets``, ``metrics_health_limit``).

    Args:
        scheduler: the scheduler (its ``name`` becomes the ``scheduler`` label).
        metrics: record Prometheus metrics.
        tracing: record OpenTelemetry spans.
        registry: the registry to expose the metrics in (the default registry when ``None``).
        tracer_provider: the provider to trace with (the global one when ``None``).
        trace_filter: called with a job's id and name; ``False`` leaves its runs untraced.
        job_name_limit: distinct job names with their own series; later ones fold into
            ``job_name="__other__"`` (``None``: no limit).
        buckets: histogram bucket bounds in seconds (all three histograms).
        metrics_registry: ``registry`` under its scheduler option name.
        metrics_job_name_limit: ``job_name_limit`` under its scheduler option name.
        metrics_buckets: ``buckets`` under its scheduler option name.
        health_limit: seconds a fault may last before ``/healthz`` reports it (default 60): a
            job store that fails every read, jobs overdue by more than this while the scheduler
            runs, a loop that has not woken up (see :func:`~obssched.observability.health`).
        metrics_health_limit: ``health_limit`` under its scheduler option name.

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
        health_limit=check_health_limit(
            health_limit if metrics_health_limit is None else metrics_health_limit
        ),
    )
    if metrics_registry is not None:
        options = replace(options, registry=metrics_registry)
    if not isinstance(metrics_job_name_limit, _Unset):
        options = replace(options, job_name_limit=metrics_job_name_limit)
    if metrics_buckets is not None:
        options = replace(options, buckets=metrics_buckets)
    return attach(scheduler, options)


def node_finder(scheduler: Any) -> Callable[[str | None], str | None]:
    """Return what tells the cluster node behind a job store alias of ``scheduler``."""
    context = context_or_none(scheduler)
    if context is None:  # a stock APScheduler 3 scheduler has no cluster stores
        return lambda alias: None
    stores = context.jobstores

    def node_of(alias: str | None) -> str | None:
        store = None if alias is None else stores.get(alias)
        if store is None or not getattr(store, "cluster", False):
            return None
        node = getattr(store, "node_id", None)
        return node if isinstance(node, str) else None

    return node_of
