"""The direct /metrics writer means what prometheus-client's own formatters would have written."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry, Counter, Histogram, PlatformCollector
from prometheus_client import generate_latest as text_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from obssched.observability import attach_builtin
from obssched.observability._collector import collector_for
from obssched.observability._exposition import encode, render

from .conftest import FakeScheduler

NASTY = 'quote " backslash \\ newline \n unicode é'

FORMATS = {
    "text": (False, text_latest, parse_text),
    "openmetrics": (True, openmetrics_latest, parse_openmetrics),
}


@pytest.fixture
def busy(
    scheduler: FakeScheduler, registry: CollectorRegistry, provider: TracerProvider
) -> FakeScheduler:
    """A scheduler whose jobs succeeded, failed and have awkward names, beside user metrics."""
    attach_builtin(scheduler, registry=registry, tracer_provider=provider)
    report = scheduler.add_job("id-1", "report", trigger="cron[minute='*/5']")
    nasty = scheduler.add_job(f"id-{NASTY}", NASTY, trigger=f"date[{NASTY}]")
    scheduler.add_job("id-3", "paused", next_run_time=None)
    scheduler.run(report)
    scheduler.run(report, exception=KeyError("gone"))
    scheduler.run(nasty, duration=12.5)
    Counter("app_requests", "Requests served.", ["path"], registry=registry).labels("/").inc(3)
    Histogram("app_latency_seconds", "Latency.", registry=registry).observe(0.2)
    PlatformCollector(registry=registry)
    return scheduler


def meaning(metrics: Any) -> dict[str, Any]:
    """What a parsed exposition says: per family its type, help and samples (with exemplars)."""
    result = {}
    for family in metrics:
        samples = sorted(
            (
                sample.name,
                tuple(sorted(sample.labels.items())),
                sample.value,
                None
                if sample.exemplar is None
                else (
                    tuple(sorted(sample.exemplar.labels.items())),
                    sample.exemplar.value,
                    sample.exemplar.timestamp,
                ),
            )
            for sample in family.samples
        )
        result[family.name] = (family.type, family.documentation, samples)
    return result


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_same_meaning_as_prometheus_client(
    busy: FakeScheduler, registry: CollectorRegistry, fmt: str
) -> None:
    """Parsed, the direct writer's output equals prometheus-client's for the same registry."""
    openmetrics, generate, parse = FORMATS[fmt]
    ours = meaning(parse(render(registry, openmetrics).decode()))
    theirs = meaning(parse(generate(registry).decode()))
    assert ours == theirs
    assert "obssched_job_run_duration_seconds" in ours
    assert "app_requests" in ours
    assert "python_info" in ours


def test_openmetrics_exemplars_kept(busy: FakeScheduler, registry: CollectorRegistry) -> None:
    """OpenMetrics output carries the run spans' exemplars on buckets and counters."""
    families = meaning(parse_openmetrics(render(registry, openmetrics=True).decode()))
    buckets = families["obssched_job_run_duration_seconds"][2]
    executed = families["obssched_job_executed"][2]
    assert any(exemplar is not None for *_, exemplar in buckets)
    assert any(exemplar is not None for *_, exemplar in executed)


def test_openmetrics_single_eof(busy: FakeScheduler, registry: CollectorRegistry) -> None:
    """OpenMetrics output ends with exactly one ``# EOF`` line."""
    body = render(registry, openmetrics=True).decode()
    assert body.endswith("\n# EOF\n")
    assert body.count("# EOF") == 1


def test_label_values_round_trip(busy: FakeScheduler, registry: CollectorRegistry) -> None:
    """Quotes, backslashes, newlines and non-ASCII in label values are escaped and read back."""
    families = meaning(parse_text(render(registry).decode()))
    info = families["obssched_job_info"][2]
    assert any(dict(labels).get("job_id") == f"id-{NASTY}" for _, labels, _, _ in info)
    assert any(dict(labels).get("trigger") == f"date[{NASTY}]" for _, labels, _, _ in info)


def test_collect_still_complete(busy: FakeScheduler, registry: CollectorRegistry) -> None:
    """Outside a scrape, collect() still yields every family (for get_sample_value and others)."""
    collector = collector_for(registry, create=False)
    assert collector is not None
    names = {metric.name for metric in collector.collect()}
    assert {"obssched_job_executed", "obssched_job_info", "obssched_build_info"} <= names


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("", "text/plain; version=0.0.4; charset=utf-8"),
        ("application/openmetrics-text", "application/openmetrics-text; version=1.0.0"),
        (
            "application/openmetrics-text; version=1.0.0",
            "application/openmetrics-text; version=1.0.0",
        ),
    ],
    ids=["text", "openmetrics", "openmetrics-1.0.0"],
)
def test_encode_negotiates(
    busy: FakeScheduler, registry: CollectorRegistry, accept: str, expected: str
) -> None:
    """The format follows prometheus-client's negotiation of the Accept header."""
    body, content_type = encode(registry, accept)
    assert content_type.startswith(expected)
    assert b"obssched_job_info{" in body


def test_without_obssched_collector(registry: CollectorRegistry) -> None:
    """A registry obssched never attached to is rendered by prometheus-client alone."""
    Counter("app_requests", "Requests served.", registry=registry).inc()
    assert render(registry) == text_latest(registry)
    assert render(registry, openmetrics=True) == openmetrics_latest(registry)


class _Failing:
    """A user collector that fails, as prometheus-client's formatters would let it."""

    def collect(self) -> list[Metric]:
        raise RuntimeError("boom")


def test_other_collector_errors_propagate(busy: FakeScheduler, registry: CollectorRegistry) -> None:
    """A failing user collector fails the scrape, as it does with prometheus-client alone."""
    registry.register(_Failing())  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="boom"):
        render(registry)


@pytest.mark.promtool
def test_promtool_accepts_text(busy: FakeScheduler, registry: CollectorRegistry) -> None:
    """promtool check metrics finds nothing wrong with the directly written text format."""
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("OBSSCHED_REQUIRE_SERVICES") == "1":
            pytest.fail("promtool is required (OBSSCHED_REQUIRE_SERVICES=1) but not installed")
        pytest.skip("promtool not installed (Debian package prometheus)")
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=render(registry),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
