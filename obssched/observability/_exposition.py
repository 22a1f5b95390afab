"""Rendering ``/metrics``: obssched's families written directly, the registry's others delegated.

prometheus-client's formatters re-validate and re-escape every label name and value of every
sample on each scrape; with thousands of jobs that dominates a scrape. The obssched collector
therefore renders its own families (in the text format 0.0.4 or OpenMetrics 1.0, exemplars
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

from obssched.observability._collector import collector_for

__all__ = ["encode", "render"]

_OPENMETRICS_1 = "application/openmetrics-text; version=1.0.0;"


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
    collector.write(out, openmetrics)
    with collector.rendering():
        rest = generate(registry)
    return "".join(out).encode() + rest
