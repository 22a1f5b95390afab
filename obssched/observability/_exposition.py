"""Rendering ``/metrics``: obssched's families written directly, the registry's others delegated.

prometheus-client's formatters re-validate and re-escape every label name and value of every
sample on each scrape; with thousands of jobs that dominates a scrape. The obssched collector's
families are therefore rendered here (in the text format 0.0.4 or OpenMetrics 1.0, exemplars
included) from label text prepared once per series, and prometheus-client renders whatever else
the registry holds (process and platform collectors, the application's own metrics) as before.

A scrape may ask for some sample names only (``?name[]=...``): families then keep the samples of
those names and are left out when none remain, as prometheus-client's ``restricted_registry``
does; the direct writer filters its own families the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from prometheus_client.exposition import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CONTENT_TYPE_PLAIN_1_0_0,
    choose_encoder,
    generate_latest,
)
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.registry import Collector, CollectorRegistry

from obssched.observability._collector import (
    LISTENER_DURATION,
    LISTENER_ERROR_LABELS,
    LISTENER_ERRORS,
    RegistryCollector,
    collector_for,
)
from obssched.observability._format import (
    family_header,
    format_exemplar,
    format_value,
    label_text,
    sample_name,
)
from obssched.observability._metrics import (
    COUNTERS,
    EVENT_GAUGES,
    HISTOGRAMS,
    MetricStore,
    unix_time,
)
from obssched.observability._sources import GAUGES, SCRAPED_COUNTERS

__all__ = ["encode", "render", "write_collector"]

_OPENMETRICS_1 = "application/openmetrics-text; version=1.0.0;"

_COMMON_VALUES = {0.0: "0.0", 1.0: "1.0"}
"""Values most scrape-time samples take (info gauges, idle jobs), formatted once."""

_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("_count", "_sum"),
}
"""The sample names each kind of family the writer renders has, as suffixes of its name."""

Write = Callable[[str], None]


def render(
    registry: CollectorRegistry, openmetrics: bool = False, names: Collection[str] | None = None
) -> bytes:
    """Render a registry in the text format 0.0.4, or in OpenMetrics 1.0 (ending in ``# EOF``).

    Args:
        registry: the registry to render.
        openmetrics: render OpenMetrics 1.0 rather than the text format.
        names: render only the samples of these names (``None``: all of them), keeping a family
            when any of its samples is kept, as prometheus-client's ``restricted_registry``.
    """
    generate = generate_openmetrics if openmetrics else generate_latest
    return _render(registry, openmetrics, generate, names)


def encode(
    registry: CollectorRegistry, accept: str, names: Collection[str] | None = None
) -> tuple[bytes, str]:
    """Render a registry in the format the ``Accept`` header asks for; return it and its type.

    The format is negotiated by prometheus-client's rules (``choose_encoder``). The text formats
    0.0.4 and 1.0.0 and OpenMetrics 1.0.0 are written directly (obssched's names need no
    escaping, so every escaping scheme renders them alike); any other format is left entirely to
    prometheus-client. ``names`` restricts the samples as in :func:`render`.
    """
    encoder, content_type = choose_encoder(accept)
    if content_type == CONTENT_TYPE_PLAIN_0_0_4 or content_type.startswith(
        CONTENT_TYPE_PLAIN_1_0_0
    ):
        return _render(registry, False, encoder, names), content_type
    if content_type.startswith(_OPENMETRICS_1):
        return _render(registry, True, encoder, names), content_type
    return encoder(_restricted(registry, names)), content_type


def _restricted(registry: CollectorRegistry, names: Collection[str] | None) -> Collector:
    return registry if names is None else registry.restricted_registry(names)


def _render(
    registry: CollectorRegistry,
    openmetrics: bool,
    generate: Callable[[Collector], bytes],
    names: Collection[str] | None,
) -> bytes:
    collector = collector_for(registry, create=False)
    if collector is None:
        return generate(_restricted(registry, names))
    out: list[str] = []
    write_collector(collector, out, openmetrics, names)
    with collector.rendering():
        rest = generate(_restricted(registry, names))
    return "".join(out).encode() + rest


class _Families:
    """Where the writer puts each family: straight into the output, or, when only some sample
    names are asked for, into a scratch list filtered when the family ends."""

    def __init__(self, out: list[str], openmetrics: bool, names: Collection[str] | None) -> None:
        self._out = out
        self.openmetrics = openmetrics
        self._names = None if names is None else frozenset(names)
        self._header = ""
        self._pending: list[str] | None = None

    def start(self, name: str, doc: str, kind: str) -> Write | None:
        """Begin a family; return where its samples go, or ``None`` when none can be kept."""
        self.end()
        header = family_header(name, doc, kind, self.openmetrics)
        if self._names is None:
            self._out.append(header)
            return self._out.append
        if self._names.isdisjoint(name + suffix for suffix in _SUFFIXES[kind]):
            return None
        self._header = header
        self._pending = []
        return self._pending.append

    def end(self) -> None:
        """Finish the family begun last: keep its asked-for samples, and it if any remain."""
        if self._pending is None or self._names is None:
            return
        names = self._names
        # Only a newline ends a sample line: escaping keeps it out of label values.
        kept = [
            line + "\n"
            for line in "".join(self._pending).split("\n")
            if line and sample_name(line) in names
        ]
        self._pending = None
        if kept:
            self._out.append(self._header)
            self._out.extend(kept)


def write_collector(
    collector: RegistryCollector,
    out: list[str],
    openmetrics: bool,
    names: Collection[str] | None = None,
) -> None:
    """Append every family of an obssched collector, rendered in either format, to ``out``.

    ``names`` restricts the samples as in :func:`render`.
    """
    families = _Families(out, openmetrics, names)
    _write_store(collector.store, families)
    rows, errors = collector.rows()
    write = families.start("obssched_listener_errors", LISTENER_ERRORS, "counter")
    if write is not None:
        for labels, value in errors:
            text = label_text(LISTENER_ERROR_LABELS, labels)
            write(f"obssched_listener_errors_total{{{text}}} {format_value(value)}\n")
    duration = "obssched_listener_duration_seconds"
    write = families.start(duration, LISTENER_DURATION, "summary")
    if write is not None:
        for labels, count, total in collector.listener_durations():
            text = label_text(LISTENER_ERROR_LABELS, labels)
            write(
                f"{duration}_count{{{text}}} {count}\n"
                f"{duration}_sum{{{text}}} {format_value(total)}\n"
            )
    # Rendered label text is kept from one scrape to the next, for the series still present:
    # a job's labels rarely change between scrapes, and escaping is most of the rendering.
    caches = collector.label_texts
    for name, (doc, labelnames) in GAUGES.items():
        write = families.start(name, doc, "gauge")
        if write is None:
            continue
        previous = caches.get(name, {})
        current: dict[tuple[str, ...], str] = {}
        for labels, value in rows[name]:
            known = previous.get(labels)
            text = label_text(labelnames, labels) if known is None else known
            current[labels] = text
            shown = _COMMON_VALUES.get(value)
            write(f"{name}{{{text}}} {format_value(value) if shown is None else shown}\n")
        caches[name] = current
    for name, (doc, labelnames) in SCRAPED_COUNTERS.items():
        write = families.start(name, doc, "counter")
        if write is None:
            continue
        for labels, value in rows[name]:
            text = label_text(labelnames, labels)
            write(f"{name}_total{{{text}}} {format_value(value)}\n")
    families.end()


def _write_store(store: MetricStore, families: _Families) -> None:
    """Append the event-driven families: series render their labels once, when created, so a
    scrape formats numbers and joins strings, and builds no Sample objects for prometheus-client
    to validate again."""
    counters, histograms, gauges = store.snapshot()
    openmetrics = families.openmetrics
    for (name, (doc, _)), rows in zip(COUNTERS.items(), counters, strict=True):
        write = families.start(name, doc, "counter")
        if write is None:
            continue
        sample = name + "_total{"
        for _, text, value, exemplar in rows:
            if openmetrics and exemplar is not None:
                write(f"{sample}{text}}} {format_value(value)}{format_exemplar(exemplar)}\n")
            else:
                write(f"{sample}{text}}} {format_value(value)}\n")
    bucket_texts = [f'le="{le}"' for le in store.bucket_labels]
    for (name, (doc, _)), series in zip(HISTOGRAMS.items(), histograms, strict=True):
        write = families.start(name, doc, "histogram")
        if write is None:
            continue
        bucket, count, total_name = name + "_bucket{", name + "_count{", name + "_sum{"
        for _, text, counts, total, exemplars in series:
            prefix = f"{bucket}{text}," if text else bucket
            cumulative = 0
            if openmetrics:
                for le, observed, exemplar in zip(bucket_texts, counts, exemplars, strict=True):
                    cumulative += observed
                    shown = "" if exemplar is None else format_exemplar(exemplar)
                    write(f"{prefix}{le}}} {cumulative}.0{shown}\n")
            else:
                for le, observed in zip(bucket_texts, counts, strict=True):
                    cumulative += observed
                    write(f"{prefix}{le}}} {cumulative}.0\n")
            write(f"{count}{text}}} {cumulative}.0\n{total_name}{text}}} {format_value(total)}\n")
    for (name, (doc, labelnames)), values in zip(EVENT_GAUGES.items(), gauges, strict=True):
        write = families.start(name, doc, "gauge")
        if write is None:
            continue
        for labels, moment in values:
            text = label_text(labelnames, labels)
            write(f"{name}{{{text}}} {format_value(unix_time(moment))}\n")
