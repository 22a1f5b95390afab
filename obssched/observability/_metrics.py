"""The event-driven metric families, accumulated once per registry.

The built-in listeners run on every job event, so they do not go through prometheus-client's
metric objects (a lock, a validation and several calls per increment). Each registry gets one
:class:`MetricStore` of plain cells updated under a single lock, and the registry's collector turns
them into samples at scrape time. Because the store (and the one collector registered for it) is
created once per registry and shared, attaching a second scheduler, or the same one again after a
restart, never registers a metric name twice.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from datetime import datetime

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Exemplar, Sample
from prometheus_client.utils import floatToGoString

from obssched.observability._format import label_text

__all__ = [
    "COUNTERS",
    "DEFAULT_BUCKETS",
    "EVENT_GAUGES",
    "HISTOGRAMS",
    "CounterCell",
    "HistogramCell",
    "MetricStore",
    "Moment",
    "RunExemplar",
    "SpanIds",
    "unix_time",
]

DEFAULT_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0,
)  # fmt: skip
"""Histogram buckets from 5 ms to 4 h: jobs run far longer than the web requests the library's
default buckets (up to 10 s) were chosen for."""

COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "obssched_job_submitted": (
        "Runs submitted to an executor.",
        ("scheduler", "job_name", "executor"),
    ),
    "obssched_job_executed": (
        "Runs that returned normally (EVENT_JOB_EXECUTED).",
        ("scheduler", "job_name", "executor"),
    ),
    "obssched_job_errored": (
        "Runs that raised, by the exception's qualified class name (EVENT_JOB_ERROR).",
        ("scheduler", "job_name", "executor", "error_type"),
    ),
    "obssched_job_missed": (
        "Run times reached after their misfire grace time (EVENT_JOB_MISSED).",
        ("scheduler", "job_name"),
    ),
    "obssched_job_timeouts": (
        "Runs ended by their job's timeout (EVENT_JOB_ERROR with JobTimeoutError); a job's "
        "series appears with its first timeout.",
        ("scheduler", "job_name"),
    ),
    "obssched_job_max_instances": (
        "Runs not submitted because the job had max_instances runs in flight.",
        ("scheduler", "job_name", "executor"),
    ),
    "obssched_job_queued": (
        "Runs that waited for one of the job's runs to end (overlap=queue, "
        "EVENT_JOB_QUEUED); a job's series appears with its first queued run.",
        ("scheduler", "job_name", "executor"),
    ),
    "obssched_job_coalesced": (
        "Run times dropped by coalescing in favour of a later one.",
        ("scheduler", "job_name"),
    ),
    "obssched_events": ("Scheduler events dispatched, by event name.", ("scheduler", "event")),
}
"""Counter families: name (without ``_total``) -> (help, label names)."""

HISTOGRAMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "obssched_job_run_duration_seconds": (
        "Time from the start to the end of the job body.",
        ("scheduler", "job_name", "executor", "outcome"),
    ),
    "obssched_job_start_delay_seconds": (
        "Time from the scheduled run time to the start of the job body.",
        ("scheduler", "job_name", "executor"),
    ),
    "obssched_executor_queue_wait_seconds": (
        "Time from submission to the start of the job body.",
        ("scheduler", "executor"),
    ),
}

EVENT_GAUGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "obssched_job_last_success_timestamp_seconds": (
        "When the job's last successful run ended (Unix time).",
        ("scheduler", "job_name"),
    ),
    "obssched_job_last_error_timestamp_seconds": (
        "When the job's last failed run ended (Unix time).",
        ("scheduler", "job_name"),
    ),
}

Labels = tuple[str, ...]

Moment = tuple[datetime, float]
"""A point in time as a wall-clock anchor plus seconds after it (see :func:`unix_time`)."""

SpanIds = tuple[int, int]
"""A run span's trace and span ids, as integers."""

RunExemplar = tuple[SpanIds, float, Moment | None]
"""An exemplar as a run records it: the span's ids, the observed value and when the run ended.
It becomes a prometheus-client :class:`Exemplar` (ids in hex) only when a scrape reads it, so a
run costs three tuples instead of formatted ids, a label dict and three exemplar objects."""

Snapshot = tuple[
    list[list[tuple[Labels, str, float, Exemplar | None]]],
    list[list[tuple[Labels, str, list[int], float, list[Exemplar | None]]]],
    list[list[tuple[Labels, Moment]]],
]
"""A copy of a store's series: see :meth:`MetricStore.snapshot`."""


def unix_time(moment: Moment) -> float:
    """Return the Unix time of a :data:`Moment`."""
    anchor, offset = moment
    return anchor.timestamp() + offset


def exemplar_of(recorded: RunExemplar) -> Exemplar:
    """Return the exemplar a run recorded as prometheus-client's ``Exemplar``."""
    (trace_id, span_id), value, ended = recorded
    labels = {"trace_id": format(trace_id, "032x"), "span_id": format(span_id, "016x")}
    return Exemplar(labels, value, None if ended is None else unix_time(ended))


class CounterCell:
    """The value of one counter series, its latest exemplar and its rendered labels.

    :attr:`value` is a float, and listeners add floats to it (``+= 1.0``): the interpreter
    adds two floats in its specialised instruction, a float and an int through the generic
    number protocol, several times the cost on every event.
    """

    __slots__ = ("exemplar", "text", "value")

    def __init__(self, text: str = "") -> None:
        self.value = 0.0
        self.exemplar: RunExemplar | None = None
        self.text = text


class HistogramCell:
    """The per-bucket counts (not cumulative), sum, exemplars and rendered labels of a series.

    :attr:`last_index` is the bucket of the latest observation, a hint for the next: a series'
    values tend to fall in the same bucket run after run, which two comparisons confirm (see
    :attr:`MetricStore.lower_bounds`) where a search of the bounds costs a C call of several
    comparisons. It may be read and written without the lock: a stale hint is only checked.
    """

    __slots__ = ("counts", "exemplars", "last_index", "text", "total")

    def __init__(self, size: int, text: str = "") -> None:
        self.counts = [0] * size
        self.total = 0.0
        self.exemplars: list[RunExemplar | None] = [None] * size
        self.text = text
        self.last_index = 0

    def observe(self, bounds: Sequence[float], value: float, exemplar: RunExemplar | None) -> None:
        """Add one observation; the caller holds the store's lock."""
        index = bisect_left(bounds, value)
        self.counts[index] += 1
        self.total += value
        if exemplar is not None:
            self.exemplars[index] = exemplar


class MetricStore:
    """The accumulated event-driven series of one registry.

    Listeners look their cells up once (:meth:`counter`, :meth:`histogram`), keep them, and update
    them while holding :attr:`lock`.
    """

    def __init__(self, buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        finite = sorted(float(b) for b in buckets if not math.isinf(b))
        if not finite:
            raise ValueError(f"buckets must hold at least one finite bound, got {buckets!r}")
        self.buckets: tuple[float, ...] = tuple(finite)
        self.bounds: tuple[float, ...] = (*finite, math.inf)
        self.lower_bounds: tuple[float, ...] = (-math.inf, *finite)
        """The bound below each bucket: a value ``v`` is in bucket ``i`` (the index
        ``bisect_left(bounds, v)``) exactly when ``lower_bounds[i] < v <= bounds[i]``."""
        self.bucket_labels: list[str] = [floatToGoString(b) for b in self.bounds]  # type: ignore[no-untyped-call]
        """The ``le`` label value of each bucket."""
        self.lock = threading.Lock()
        self._counters: dict[str, dict[Labels, CounterCell]] = {name: {} for name in COUNTERS}
        self._histograms: dict[str, dict[Labels, HistogramCell]] = {n: {} for n in HISTOGRAMS}
        self._gauges: dict[str, dict[Labels, Moment]] = {name: {} for name in EVENT_GAUGES}

    def counter(self, name: str, labels: Labels) -> CounterCell:
        """Return the cell of a counter series, creating it at 0."""
        series = self._counters[name]
        cell = series.get(labels)
        if cell is None:
            text = label_text(COUNTERS[name][1], labels)
            with self.lock:
                cell = series.setdefault(labels, CounterCell(text))
        return cell

    def histogram(self, name: str, labels: Labels) -> HistogramCell:
        """Return the cell of a histogram series, creating it empty."""
        series = self._histograms[name]
        cell = series.get(labels)
        if cell is None:
            text = label_text(HISTOGRAMS[name][1], labels)
            with self.lock:
                cell = series.setdefault(labels, HistogramCell(len(self.bounds), text))
        return cell

    def gauge_series(self, name: str) -> dict[Labels, Moment]:
        """Return the series of an event-updated timestamp gauge, to be changed under :attr:`lock`.

        Values are kept as :data:`Moment` pairs and turned into Unix time when scraped, once per
        scrape rather than once per run.
        """
        return self._gauges[name]

    def forget_gauges(self, labels: Labels) -> None:
        """Drop the event-updated gauge series with these labels (a removed job's)."""
        with self.lock:
            for series in self._gauges.values():
                series.pop(labels, None)

    def describe(self) -> Iterator[Metric]:
        """Yield the families without samples, for the registry's duplicate-name check."""
        for name, (doc, _) in COUNTERS.items():
            yield Metric(name, doc, "counter")
        for name, (doc, _) in HISTOGRAMS.items():
            yield Metric(name, doc, "histogram")
        for name, (doc, _) in EVENT_GAUGES.items():
            yield Metric(name, doc, "gauge")

    def snapshot(self) -> Snapshot:
        """Copy every series under :attr:`lock`: counters as (labels, label text, value,
        exemplar), histograms as (labels, label text, per-bucket counts, sum, exemplars), and the
        timestamp gauges as (labels, moment), each family in the order of its table. The
        exemplars become prometheus-client's ``Exemplar`` after the lock is released."""
        with self.lock:
            counters = [
                [(labels, c.text, c.value, c.exemplar) for labels, c in series.items()]
                for series in self._counters.values()
            ]
            histograms = [
                [
                    (labels, h.text, list(h.counts), h.total, list(h.exemplars))
                    for labels, h in series.items()
                ]
                for series in self._histograms.values()
            ]
            gauges = [list(series.items()) for series in self._gauges.values()]
        return (
            [
                [
                    (labels, text, value, None if ex is None else exemplar_of(ex))
                    for labels, text, value, ex in rows
                ]
                for rows in counters
            ],
            [
                [
                    (
                        labels,
                        text,
                        counts,
                        total,
                        [None if ex is None else exemplar_of(ex) for ex in exemplars],
                    )
                    for labels, text, counts, total, exemplars in rows
                ]
                for rows in histograms
            ],
            gauges,
        )

    def collect(self) -> Iterator[Metric]:
        """Yield every family with its current samples (for prometheus-client's renderers)."""
        counters, histograms, gauges = self.snapshot()
        for (name, (doc, labelnames)), rows in zip(COUNTERS.items(), counters, strict=True):
            metric = Metric(name, doc, "counter")
            sample_name = name + "_total"
            metric.samples = [
                Sample(sample_name, dict(zip(labelnames, labels, strict=True)), value, None, ex)
                for labels, _, value, ex in rows
            ]
            yield metric
        bucket_labels = self.bucket_labels
        for (name, (doc, labelnames)), series in zip(HISTOGRAMS.items(), histograms, strict=True):
            metric = Metric(name, doc, "histogram")
            samples = metric.samples
            bucket_name, count_name, sum_name = name + "_bucket", name + "_count", name + "_sum"
            for labels, _, counts, total, exemplars in series:
                base = dict(zip(labelnames, labels, strict=True))
                cumulative = 0
                for le, count, exemplar in zip(bucket_labels, counts, exemplars, strict=True):
                    cumulative += count
                    samples.append(
                        Sample(bucket_name, {**base, "le": le}, cumulative, None, exemplar)
                    )
                samples.append(Sample(count_name, base, cumulative, None, None))
                samples.append(Sample(sum_name, base, total, None, None))
            yield metric
        for (name, (doc, labelnames)), values in zip(EVENT_GAUGES.items(), gauges, strict=True):
            metric = Metric(name, doc, "gauge")
            metric.samples = [
                Sample(
                    name, dict(zip(labelnames, labels, strict=True)), unix_time(moment), None, None
                )
                for labels, moment in values
            ]
            yield metric
