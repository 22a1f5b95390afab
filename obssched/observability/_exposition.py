"""Rendering ``/metrics``: obssched's families written directly, the registry's others delegated.

prometheus-client's formatters re-validate and re-escape every label name and value of every
sample on each scrape; with thousands of jobs that dominates a scrape. The obssched collector's
families are therefore rendered here (in the text format 0.0.4 or OpenMetrics 1.0, exemplars
included) from label text prepared once per series, and prometheus-client renders whatever else
the registry holds (process and platform collectors, the application's own metrics) as before.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client.exposition import (
    CONTENT_TYPE_PLAIN_0_0_4,
    choose_encoder,
    generate_latest,
)
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.registry import CollectorRegistry

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


def render(registry: CollectorRegistry, openmetrics: bool = False) -> bytes:
    """Render a registry in the text format 0.0.4, or in OpenMetrics 1.0 (ending in ``# EOF``)."""
    return _render(registry, openmetrics, generate_openmetrics if openmetrics else generate_latest)


def encode(registry: CollectorRegistry, accept: str) -> tuple[bytes, str]:
    """Render a registry in the format the ``Accept`` header asks for; return it and its type.

    The format is negotiated by prometheus-client's rules; formats other than the text format
    0.0.4 and OpenMetrics 1.0.0 are left entirely to prometheus-client.
    """
    encoder, content_type = choose_encoder(accept)
    if content_type == CONTENT_TYPE_PLAIN_0_0_4:
        return _render(registry, False, encoder), content_type
    if content_type.startswith(_OPENMETRICS_1):
        return _render(registry, True, encoder), content_type
    return encoder(registry), content_type


def _render(
    registry: CollectorRegistry, openmetrics: bool, generate: Callable[[CollectorRegistry], bytes]
) -> bytes:
    collector = collector_for(registry, create=False)
    if collector is None:
        return generate(registry)
    out: list[str] = []
    write_collector(collector, out, openmetrics)
    with collector.rendering():
        rest = generate(registry)
    return "".join(out).encode() + rest


def write_collector(collector: RegistryCollector, out: list[str], openmetrics: bool) -> None:
    """Append every family of an obssched collector, rendered in either format, to ``out``."""
    _write_store(collector.store, out, openmetrics)
    rows, errors = collector.rows()
    write = out.append
    write(family_header("obssched_listener_errors", LISTENER_ERRORS, "counter", openmetrics))
    for labels, value in errors:
        text = label_text(LISTENER_ERROR_LABELS, labels)
        write(f"obssched_listener_errors_total{{{text}}} {format_value(value)}\n")
    duration = "obssched_listener_duration_seconds"
    write(family_header(duration, LISTENER_DURATION, "summary", openmetrics))
    for labels, count, total in collector.listener_durations():
        text = label_text(LISTENER_ERROR_LABELS, labels)
        write(
            f"{duration}_count{{{text}}} {count}\n{duration}_sum{{{text}}} {format_value(total)}\n"
        )
    # Rendered label text is kept from one scrape to the next, for the series still present:
    # a job's labels rarely change between scrapes, and escaping is most of the rendering.
    caches = collector.label_texts
    for name, (doc, labelnames) in GAUGES.items():
        write(family_header(name, doc, "gauge", openmetrics))
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
        write(family_header(name, doc, "counter", openmetrics))
        for labels, value in rows[name]:
            text = label_text(labelnames, labels)
            write(f"{name}_total{{{text}}} {format_value(value)}\n")


def _write_store(store: MetricStore, out: list[str], openmetrics: bool) -> None:
    """Append the event-driven families: series render their labels once, when created, so a
    scrape formats numbers and joins strings, and builds no Sample objects for prometheus-client
    to validate again."""
    counters, histograms, gauges = store.snapshot()
    write = out.append
    for (name, (doc, _)), rows in zip(COUNTERS.items(), counters, strict=True):
        write(family_header(name, doc, "counter", openmetrics))
        sample = name + "_total{"
        for _, text, value, exemplar in rows:
            if openmetrics and exemplar is not None:
                write(f"{sample}{text}}} {format_value(value)}{format_exemplar(exemplar)}\n")
            else:
                write(f"{sample}{text}}} {format_value(value)}\n")
    bucket_texts = [f'le="{le}"' for le in store.bucket_labels]
    for (name, (doc, _)), series in zip(HISTOGRAMS.items(), histograms, strict=True):
        write(family_header(name, doc, "histogram", openmetrics))
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
        write(family_header(name, doc, "gauge", openmetrics))
        for labels, moment in values:
            text = label_text(labelnames, labels)
            write(f"{name}{{{text}}} {format_value(unix_time(moment))}\n")
