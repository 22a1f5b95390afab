"""The one collector each registry gets: the event-driven series plus the scrape-time gauges.

The collector is kept on the registry itself, so that it lives exactly as long as the registry and
no table of registries is kept at module level: importing obssched sets up no global state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import CollectorRegistry
from prometheus_client.samples import Sample

from obssched.observability._metrics import DEFAULT_BUCKETS, MetricStore
from obssched.observability._names import safe_text
from obssched.observability._sources import (
    GAUGES,
    SCRAPED_COUNTERS,
    Rows,
    SchedulerSource,
    collect_scheduler,
    context_or_none,
)

_logger = logging.getLogger("obssched.observability")

__all__ = [
    "LISTENER_DURATION",
    "LISTENER_ERRORS",
    "LISTENER_ERROR_LABELS",
    "RegistryCollector",
    "collector_for",
]

LISTENER_ERRORS = "Exceptions raised by event listeners, by listener name."
LISTENER_ERROR_LABELS = ("scheduler", "listener")
LISTENER_DURATION = (
    "Time event listeners took to handle an event, by listener (one dispatch in 32 is timed, "
    "with the scheduler's monotonic clock)."
)

_ATTRIBUTE = "obssched_collector"
"""The registry attribute holding its obssched collector."""


def safe_labels(labels: tuple[str, ...]) -> tuple[str, ...]:
    """Label values as prometheus-client may render them: job ids and other text that is not
    printable made safe (job names were made safe when admitted)."""
    if all(value.isprintable() for value in labels):
        return labels
    return tuple(safe_text(value) for value in labels)


class RegistryCollector:
    """The obssched collector registered (once) in one registry."""

    def __init__(self, store: MetricStore, version: str) -> None:
        self.store = store
        self._version = version
        self._sources: dict[str, SchedulerSource] = {}
        self._lock = threading.Lock()
        self.label_texts: dict[str, dict[tuple[str, ...], str]] = {}
        """Rendered label text by family and series, kept by the renderer from one scrape to the
        next for the series still present."""
        self._rendering = threading.local()

    def add_source(self, source: SchedulerSource) -> None:
        """Start reading a scheduler; it replaces an earlier one of the same name.

        Replacing a scheduler that is still running (two schedulers given the same name, or both
        left at the default) is logged: their series would merge under one ``scheduler`` label.
        """
        with self._lock:
            earlier = self._sources.get(source.name)
            self._sources[source.name] = source
        if earlier is not None and earlier is not source:
            other = earlier.scheduler
            still_running = other is not None and getattr(other, "running", False)
            if still_running and other is not source.scheduler:
                _logger.warning(
                    "Two schedulers named %r report to one metrics registry; the earlier one's "
                    "gauges are no longer read. Give each scheduler its own name= option.",
                    source.name,
                )

    def remove_source(self, source: SchedulerSource) -> None:
        """Stop reading a scheduler (unless another of its name has replaced it)."""
        with self._lock:
            if self._sources.get(source.name) is source:
                del self._sources[source.name]

    def sources(self) -> list[SchedulerSource]:
        """Return the attached schedulers that are still alive."""
        with self._lock:
            return [s for s in self._sources.values() if s.scheduler is not None]

    def describe(self) -> Iterator[Metric]:
        """Yield every family without samples (for the registry's duplicate-name check)."""
        yield from self.store.describe()
        yield Metric("obssched_listener_errors", LISTENER_ERRORS, "counter")
        yield Metric("obssched_listener_duration_seconds", LISTENER_DURATION, "summary")
        for name, (doc, _) in GAUGES.items():
            yield Metric(name, doc, "gauge")
        for name, (doc, _) in SCRAPED_COUNTERS.items():
            yield Metric(name, doc, "counter")

    def rows(self) -> tuple[Rows, list[tuple[tuple[str, ...], float]]]:
        """Read the scrape-time gauges and listener errors of every attached scheduler."""
        rows: Rows = {name: [] for name in (*GAUGES, *SCRAPED_COUNTERS)}
        errors: list[tuple[tuple[str, ...], float]] = []
        for source in self.sources():
            scheduler = source.scheduler
            if scheduler is not None:
                collect_scheduler(source, scheduler, rows)
                errors.extend(
                    ((source.name, name), float(count))
                    for name, count in source.listener_errors().items()
                )
        rows["obssched_build_info"].append(((self._version,), 1.0))
        return rows, errors

    def listener_durations(self) -> list[tuple[tuple[str, str], int, float]]:
        """Read each attached scheduler's timed listener calls: (labels, calls, total seconds)."""
        durations: list[tuple[tuple[str, str], int, float]] = []
        for source in self.sources():
            context = context_or_none(source.scheduler)
            if context is not None:
                durations.extend(
                    ((source.name, name), count, total)
                    for name, (count, total, _) in context.events.timings().items()
                )
        return durations

    def collect(self) -> Iterator[Metric]:
        """Yield every family with its current samples."""
        if getattr(self._rendering, "active", False):  # the renderer writes them itself
            return
        yield from self.store.collect()
        rows, errors = self.rows()
        listener_errors = Metric("obssched_listener_errors", LISTENER_ERRORS, "counter")
        listener_errors.samples = [
            Sample(
                "obssched_listener_errors_total",
                dict(zip(LISTENER_ERROR_LABELS, labels, strict=True)),
                value,
                None,
                None,
            )
            for labels, value in errors
        ]
        yield listener_errors
        durations = Metric("obssched_listener_duration_seconds", LISTENER_DURATION, "summary")
        for labels, count, total in self.listener_durations():
            names = dict(zip(LISTENER_ERROR_LABELS, labels, strict=True))
            durations.samples.append(
                Sample("obssched_listener_duration_seconds_count", names, count, None, None)
            )
            durations.samples.append(
                Sample("obssched_listener_duration_seconds_sum", names, total, None, None)
            )
        yield durations
        for name, (doc, labelnames) in GAUGES.items():
            metric = Metric(name, doc, "gauge")
            metric.samples = [
                Sample(
                    name, dict(zip(labelnames, safe_labels(labels), strict=True)), value, None, None
                )
                for labels, value in rows[name]
            ]
            yield metric
        for name, (doc, labelnames) in SCRAPED_COUNTERS.items():
            metric = Metric(name, doc, "counter")
            metric.samples = [
                Sample(
                    f"{name}_total", dict(zip(labelnames, labels, strict=True)), value, None, None
                )
                for labels, value in rows[name]
            ]
            yield metric

    @contextmanager
    def rendering(self) -> Iterator[None]:
        """Within this block (in this thread), :meth:`collect` yields nothing: the caller has
        rendered these families itself and lets prometheus-client render the registry's other
        collectors."""
        self._rendering.active = True
        try:
            yield
        finally:
            self._rendering.active = False


def collector_for(
    registry: CollectorRegistry, buckets: Sequence[float] | None = None, *, create: bool = True
) -> RegistryCollector | None:
    """Return the obssched collector of a registry, registering it on first use.

    Raises:
        ValueError: ``buckets`` differ from those the registry's histograms were created with.
    """
    collector: RegistryCollector | None = getattr(registry, _ATTRIBUTE, None)
    if collector is None:
        if not create:
            return None
        from obssched import __version__

        made = RegistryCollector(MetricStore(buckets or DEFAULT_BUCKETS), __version__)
        # setdefault is atomic: of two threads attaching at once, one collector wins and only
        # its maker registers it.
        collector = vars(registry).setdefault(_ATTRIBUTE, made)
        if collector is made:
            try:
                registry.register(made)
            except BaseException:
                del vars(registry)[_ATTRIBUTE]
                raise
    elif buckets is not None and MetricStore(buckets).buckets != collector.store.buckets:
        raise ValueError(
            f"this registry's obssched histograms already use the buckets "
            f"{collector.store.buckets!r}; cannot switch to {tuple(buckets)!r}"
        )
    return collector
