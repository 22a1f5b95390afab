"""/metrics served by obssched's app and by prometheus-client's handler, side by side on one
registry: the same samples for every negotiated format, the same ``name[]`` filtering, the same
gzip bodies once decompressed."""

from __future__ import annotations

import collections
import gzip
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    Summary,
)
from prometheus_client import make_wsgi_app as prometheus_wsgi_app
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from obssched.observability import attach_builtin, make_asgi_app, make_wsgi_app
from obssched.observability._format import sample_name

from .conftest import FakeScheduler
from .test_exposition import call_asgi, call_wsgi

NASTY = 'quote " backslash \\ newline \n unicode é'

PROMETHEUS_2 = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
PROMETHEUS_3 = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
    "application/openmetrics-text;version=0.0.1;q=0.4,"
    "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
)

ACCEPTS = {
    "none": "",
    "text": "text/plain",
    "text-0.0.4": "text/plain; version=0.0.4",
    "text-1.0.0": "text/plain; version=1.0.0; escaping=allow-utf-8",
    "text-1.0.0-underscores": "text/plain;version=1.0.0;escaping=underscores",
    "openmetrics": "application/openmetrics-text",
    "openmetrics-1.0.0": "application/openmetrics-text; version=1.0.0",
    "openmetrics-0.0.1": "application/openmetrics-text; version=0.0.1",
    "openmetrics-2.0.0": "application/openmetrics-text; version=2.0.0",
    "prometheus-2": PROMETHEUS_2,
    "prometheus-3": PROMETHEUS_3,
    "browser": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
}

NAME_SETS = {
    "counter": (["obssched_job_executed_total"], {"obssched_job_executed_total"}),
    "family-names-only": (["obssched_job_executed", "app_requests"], set()),
    "histogram-buckets": (
        ["obssched_job_run_duration_seconds_bucket", "app_latency_seconds_bucket"],
        {"obssched_job_run_duration_seconds_bucket", "app_latency_seconds_bucket"},
    ),
    "histogram-count-and-gauges": (
        ["obssched_job_run_duration_seconds_count", "obssched_jobs", "app_temperature"],
        {"obssched_job_run_duration_seconds_count", "obssched_jobs", "app_temperature"},
    ),
    # python_info comes from a collector without describe(), which restricted_registry leaves out.
    "info": (
        ["obssched_job_info", "obssched_build_info", "python_info", "app_version_info"],
        {"obssched_job_info", "obssched_build_info", "app_version_info"},
    ),
    "target-info": (["target_info", "app_requests_total"], {"target_info", "app_requests_total"}),
    "summary-and-listeners": (
        ["app_wait_seconds_sum", "obssched_listener_errors_total"],
        {"app_wait_seconds_sum"},
    ),
    "unknown": (["no_such_metric"], set()),
}
"""Sample names asked for, and those a filtered scrape of the ``busy`` registry holds."""

PARTIAL_HISTOGRAMS = {"histogram-buckets", "histogram-count-and-gauges"}
"""Name sets keeping part of a histogram: not valid OpenMetrics (no ``+Inf`` bucket, or no
buckets), from prometheus-client as from obssched, so compared as the text format only."""


@pytest.fixture
def busy(
    scheduler: FakeScheduler, registry: CollectorRegistry, provider: TracerProvider
) -> FakeScheduler:
    """A scheduler whose jobs succeeded and failed, beside one metric of every other kind."""
    attach_builtin(scheduler, registry=registry, tracer_provider=provider)
    report = scheduler.add_job("id-1", "report", trigger="cron[minute='*/5']")
    nasty = scheduler.add_job(f"id-{NASTY}", NASTY, trigger=f"date[{NASTY}]")
    scheduler.add_job("id-3", "paused", next_run_time=None)
    scheduler.run(report)
    scheduler.run(report, exception=KeyError("gone"))
    scheduler.run(nasty, duration=12.5)
    Counter("app_requests", "Requests served.", ["path"], registry=registry).labels("/").inc(3)
    Histogram("app_latency_seconds", "Latency.", registry=registry).observe(0.2)
    Gauge("app_temperature", 'Degrees "C".', registry=registry).set(21.5)
    Summary("app_wait_seconds", "Waits.", registry=registry).observe(1.5)
    Info("app_version", "Version.", registry=registry).info({"version": "1.2"})
    Enum("app_mode", "Mode.", states=["on", "off"], registry=registry).state("off")
    PlatformCollector(registry=registry)
    registry.set_target_info({"env": "test"})
    return scheduler


Call = Callable[..., tuple[int, dict[str, str], bytes]]


def wsgi(app: Any, **options: str) -> tuple[int, dict[str, str], bytes]:
    """GET /metrics from a WSGI app: status, lower-cased headers and body."""
    status, headers, body = call_wsgi(app, "/metrics", **options)
    return int(status.split()[0]), {k.lower(): v for k, v in headers.items()}, body


def ours_and_theirs(
    registry: CollectorRegistry, kind: str, **options: str
) -> tuple[tuple[int, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]:
    """The same request to obssched's app (WSGI or ASGI) and to prometheus-client's."""
    if kind == "wsgi":
        ours = wsgi(make_wsgi_app(registry), **options)
    else:
        code, raw, body = call_asgi(make_asgi_app(registry), "/metrics", **options)
        ours = code, {k.decode(): v.decode() for k, v in raw.items()}, body
    return ours, wsgi(prometheus_wsgi_app(registry), **options)


def meaning(body: bytes, content_type: str) -> dict[str, Any]:
    """What an exposition says, read by the parser of its type: per family its type, help and
    samples (with exemplars), in no particular order."""
    parse = parse_openmetrics if content_type.startswith("application/openmetrics") else parse_text
    result = {}
    for family in parse(body.decode()):
        samples = sorted(
            (
                sample.name,
                tuple(sorted(sample.labels.items())),
                sample.value,
                None
                if sample.exemplar is None
                else (tuple(sorted(sample.exemplar.labels.items())), sample.exemplar.value),
            )
            for sample in family.samples
        )
        result[family.name] = (family.type, family.documentation, samples)
    return result


KINDS = pytest.mark.parametrize("kind", ["wsgi", "asgi"])


@KINDS
@pytest.mark.parametrize("accept", ACCEPTS.values(), ids=ACCEPTS.keys())
def test_same_format_and_samples(
    busy: FakeScheduler, registry: CollectorRegistry, kind: str, accept: str
) -> None:
    """Every Accept header gets the content type prometheus-client picks, and the same samples."""
    (status, headers, body), (_, their_headers, their_body) = ours_and_theirs(
        registry, kind, accept=accept
    )
    assert status == 200
    assert headers["content-type"] == their_headers["content-type"]
    ours = meaning(body, headers["content-type"])
    assert ours == meaning(their_body, their_headers["content-type"])
    assert {"obssched_job_run_duration_seconds", "obssched_job_info", "app_mode"} <= ours.keys()


@pytest.mark.parametrize("accept", ["", "application/openmetrics-text"], ids=["text", "om"])
def test_openmetrics_and_text_bodies_end_alike(
    busy: FakeScheduler, registry: CollectorRegistry, accept: str
) -> None:
    """Both end their body the same way (OpenMetrics with a single ``# EOF``)."""
    (_, _, body), (_, _, their_body) = ours_and_theirs(registry, "wsgi", accept=accept)
    assert body.count(b"# EOF") == their_body.count(b"# EOF")
    assert body[-6:] == their_body[-6:]


def sample_names(exposition: dict[str, Any]) -> set[str]:
    """The sample names a parsed exposition holds."""
    return {sample[0] for _, _, samples in exposition.values() for sample in samples}


FILTERS = [
    pytest.param(names, kept, accept, id=f"{key}-{fmt}")
    for key, (names, kept) in NAME_SETS.items()
    for fmt, accept in (("text", ""), ("om", "application/openmetrics-text"))
    if fmt == "text" or key not in PARTIAL_HISTOGRAMS
]


@KINDS
@pytest.mark.parametrize(("names", "kept", "accept"), FILTERS)
def test_same_filtering(
    busy: FakeScheduler,
    registry: CollectorRegistry,
    kind: str,
    names: list[str],
    kept: set[str],
    accept: str,
) -> None:
    """``?name[]=`` keeps the same samples and families as prometheus-client's
    ``restricted_registry``: the samples of the names asked for, in the families that have one."""
    query = "&".join(f"name[]={name}" for name in names)
    (_, headers, body), (_, _, their_body) = ours_and_theirs(
        registry, kind, accept=accept, query=query
    )
    ours = meaning(body, headers["content-type"])
    assert ours == meaning(their_body, headers["content-type"])
    assert sample_names(ours) == kept


@KINDS
@pytest.mark.parametrize("key", sorted(PARTIAL_HISTOGRAMS))
def test_same_partial_histograms_in_openmetrics(
    busy: FakeScheduler, registry: CollectorRegistry, kind: str, key: str
) -> None:
    """Part of a histogram asked for in OpenMetrics gives the same sample lines, by name."""
    names, kept = NAME_SETS[key]
    query = "&".join(f"name[]={name}" for name in names)
    (_, _, body), (_, _, their_body) = ours_and_theirs(
        registry, kind, accept="application/openmetrics-text", query=query
    )

    def lines_by_name(body: bytes) -> collections.Counter[str]:
        lines = body.decode().splitlines()
        return collections.Counter(sample_name(line) for line in lines if line[:1] != "#")

    assert lines_by_name(body) == lines_by_name(their_body)
    assert lines_by_name(body).keys() == kept


@KINDS
def test_empty_name_is_no_filter(
    busy: FakeScheduler, registry: CollectorRegistry, kind: str
) -> None:
    """An empty ``name[]`` restricts nothing, as with prometheus-client."""
    (_, headers, body), (_, _, their_body) = ours_and_theirs(registry, kind, query="name[]=")
    ours = meaning(body, headers["content-type"])
    assert ours == meaning(their_body, headers["content-type"])
    assert "obssched_job_info" in ours


@KINDS
@pytest.mark.parametrize("accept", ["", "application/openmetrics-text"], ids=["text", "om"])
@pytest.mark.parametrize("query", ["", "name[]=obssched_job_executed_total"], ids=["all", "one"])
def test_same_gzip(
    busy: FakeScheduler, registry: CollectorRegistry, kind: str, accept: str, query: str
) -> None:
    """Both gzip when the client accepts it, and the bodies decompress to the same samples."""
    (_, headers, body), (_, their_headers, their_body) = ours_and_theirs(
        registry, kind, accept=accept, query=query, accept_encoding="gzip"
    )
    assert headers["content-encoding"] == their_headers["content-encoding"] == "gzip"
    content_type = headers["content-type"]
    assert meaning(gzip.decompress(body), content_type) == meaning(
        gzip.decompress(their_body), content_type
    )
