"""Any ``str`` is a job name: odd ones are made safe once, so no scrape or span fails on them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.parser import text_string_to_metric_families as parse_text

from obssched.observability import make_wsgi_app
from obssched.observability._names import LABEL_VALUE_LIMIT, JobNames, safe_text
from obssched.testing import ManualClock, ManualScheduler

from . import jobs
from .test_exposition import OPENMETRICS, call_wsgi

ODD_NAMES = {
    "lone-surrogate": "bad\ud800name",
    "control-characters": "tab\tbell\x07escape\x1bnul\x00",
    "very-long": "x" * 5000,
}


@pytest.fixture
def manual(
    registry: CollectorRegistry, provider: TracerProvider
) -> Iterator[tuple[ManualScheduler, ManualClock]]:
    """A started manual scheduler with metrics and tracing on the test's registry and provider."""
    clock = ManualClock()
    scheduler = ManualScheduler(clock=clock, metrics_registry=registry, tracer_provider=provider)
    scheduler.start()
    yield scheduler, clock
    scheduler.shutdown()


def scrape_ok(registry: CollectorRegistry) -> list[str]:
    """Scrape in both formats, assert 200 and a valid exposition; return the job_name values."""
    app = make_wsgi_app(registry)
    status, _, text = call_wsgi(app, "/metrics")
    assert status == "200 OK"
    status, _, openmetrics = call_wsgi(app, "/metrics", OPENMETRICS)
    assert status == "200 OK"
    list(text_string_to_metric_families(openmetrics.decode()))
    return [
        sample.labels["job_name"]
        for family in parse_text(text.decode())
        for sample in family.samples
        if "job_name" in sample.labels
    ]


@pytest.mark.parametrize("name", list(ODD_NAMES.values()), ids=list(ODD_NAMES))
def test_scrapes_stay_200_with_an_odd_job_name(
    manual: tuple[ManualScheduler, ManualClock], registry: CollectorRegistry, name: str
) -> None:
    """A job with an odd name runs, is scraped, is removed, and every scrape answers 200."""
    scheduler, clock = manual
    scheduler.add_job(jobs.current_trace, "interval", seconds=10, name=name, id="odd")
    clock.advance(10)
    scheduler.tick()
    assert safe_text(name) in scrape_ok(registry)
    scheduler.remove_job("odd")
    scrape_ok(registry)
    scrape_ok(registry)


def test_odd_job_id_is_scraped(
    manual: tuple[ManualScheduler, ManualClock], registry: CollectorRegistry
) -> None:
    """A job id with a lone surrogate shows in obssched_job_info, escaped, and fails nothing."""
    scheduler, _ = manual
    scheduler.add_job(jobs.current_trace, "interval", seconds=10, name="odd", id="id\udcff")
    labels = {"scheduler": "default", "job_name": "odd", "job_id": "id\\udcff"}
    found = [
        sample
        for family in registry.collect()
        for sample in family.samples
        if sample.name == "obssched_job_info" and labels.items() <= sample.labels.items()
    ]
    assert len(found) == 1
    scrape_ok(registry)


@pytest.mark.parametrize("name", list(ODD_NAMES.values()), ids=list(ODD_NAMES))
def test_spans_get_safe_text(
    manual: tuple[ManualScheduler, ManualClock], exporter: InMemorySpanExporter, name: str
) -> None:
    """Span names and attributes of a run of an oddly named job encode as UTF-8 and stay bounded."""
    scheduler, clock = manual
    scheduler.add_job(jobs.current_trace, "interval", seconds=10, name=name, id="odd\ud800")
    clock.advance(10)
    scheduler.tick()
    spans = exporter.get_finished_spans()
    assert spans
    for span in spans:
        span.name.encode()
        assert len(span.name) <= LABEL_VALUE_LIMIT + len("execute ")
        for value in (span.attributes or {}).values():
            if isinstance(value, str):
                value.encode()
                assert len(value) <= LABEL_VALUE_LIMIT


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("bad\ud800name", "bad\\ud800name"),
        ("a\x1bb", "a\\x1bb"),
        ("line\nbreak", "line\nbreak"),
        ("café ☕", "café ☕"),
    ],
    ids=["surrogate", "escape", "newline-kept", "unicode-kept"],
)
def test_label_value_is_made_safe_at_admission(name: str, label: str) -> None:
    """Unprintable characters are written as escapes; printable text and newlines are kept."""
    assert JobNames().label(name) == label


def test_long_names_stay_distinct() -> None:
    """Two long names sharing their start keep two bounded label values."""
    names = JobNames()
    first, second = names.label("x" * 300 + "a"), names.label("x" * 300 + "b")
    assert first != second
    assert max(len(first), len(second)) <= LABEL_VALUE_LIMIT


def test_forgetting_a_job_frees_its_label_with_the_last_user() -> None:
    """A forgotten job frees its label only when no other job uses it; an unknown job frees none."""
    names = JobNames()
    names.job_added("a", "report")
    names.job_added("b", "report")
    with names.lock:
        assert names.forget("a") is None
        assert names.forget("unknown") is None
        assert names.forget("b") == "report"
    assert names.users == {}
