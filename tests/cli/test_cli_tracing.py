"""`run` and `demo` record spans by default, and export them as --trace-console and the OTEL_*
variables say (the export itself: test_otlp_export.py)."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest

from obssched.cli import ExitCode

from .conftest import Workdir, free_port, wait_until

pytestmark = [pytest.mark.realtime]

STACK = Path(__file__).resolve().parents[2] / "examples" / "stack"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
EXEMPLAR = re.compile(r"^obssched_job_run_duration_seconds_bucket\{[^}]*\} \S+ # \{([^}]*)\}", re.M)
TRACE_ID = re.compile(r'(\w+)="([0-9a-f]{32})"')


def trace_id_label(metrics: str) -> tuple[str, str] | None:
    """The (label name, value) of the first run-duration exemplar's trace id, if any."""
    for labels in EXEMPLAR.findall(metrics):
        found = TRACE_ID.search(labels)
        if found is not None:
            return found[1], found[2]
    return None


JOBS = """
[[jobs]]
id = "tick"
func = "clitasks:record"
trigger = "interval"
seconds = 0.5
args = ["ticks.txt"]
"""


def run(workdir: Workdir, *extra: str) -> tuple[int, str, str]:
    workdir.write("jobs.toml", JOBS)
    result = workdir.run(
        "run",
        "jobs.toml",
        "--store",
        "memory",
        "--metrics-port",
        str(free_port()),
        "--duration",
        "1.5",
        *extra,
    )
    return result.returncode, result.stdout, result.stderr


def openmetrics(url: str) -> str:
    """Scrape ``url`` as Prometheus does when it stores exemplars (OpenMetrics)."""
    request = urllib.request.Request(url, headers={"Accept": OPENMETRICS})
    with urllib.request.urlopen(request, timeout=5) as response:
        return str(response.read().decode())


def test_trace_console_prints_the_runs_spans(workdir: Workdir) -> None:
    """--trace-console prints each run's span to stdout, flushed at exit."""
    code, stdout, stderr = run(workdir, "--trace-console")
    assert code == ExitCode.OK, stderr
    assert '"trace_id"' in stdout
    assert "Tracing: console (stdout)" in stderr


def test_otlp_endpoint_selects_the_otlp_exporter(workdir: Workdir) -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT turns on OTLP/HTTP export; an absent collector is no crash."""
    workdir.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{free_port()}"
    workdir.env["OTEL_BSP_SCHEDULE_DELAY"] = "100"
    code, _, stderr = run(workdir)
    assert code == ExitCode.OK, stderr
    assert "Tracing: OTLP/HTTP (http://127.0.0.1:" in stderr


def test_no_exporter_by_default(workdir: Workdir) -> None:
    """Without an endpoint or --trace-console, nothing is exported and stdout stays empty."""
    code, stdout, stderr = run(workdir)
    assert code == ExitCode.OK, stderr
    assert stdout == ""
    assert "Tracing: no exporter" in stderr


def test_unsupported_exporter_is_a_usage_error(workdir: Workdir) -> None:
    """OTEL_TRACES_EXPORTER naming an exporter obssched lacks exits 2, naming it."""
    workdir.env["OTEL_TRACES_EXPORTER"] = "zipkin"
    code, _, stderr = run(workdir)
    assert code == ExitCode.USAGE
    assert "'zipkin'" in stderr


def test_run_serves_exemplars_with_trace_ids_by_default(workdir: Workdir, start) -> None:
    """`run` with no tracing option records spans, so /metrics has trace-id exemplars."""
    workdir.write("jobs.toml", JOBS)
    port = free_port()
    start("run", "jobs.toml", "--store", "memory", "--metrics-port", str(port))
    url = f"http://127.0.0.1:{port}/metrics"
    wait_until("an exemplar", lambda: trace_id_label(openmetrics(url)), timeout=30)


def test_no_tracing_records_no_spans(workdir: Workdir) -> None:
    """--no-tracing records no spans: even OTEL_TRACES_EXPORTER=console prints none."""
    workdir.write("jobs.toml", JOBS)
    port = free_port()
    workdir.env["OTEL_TRACES_EXPORTER"] = "console"
    result = workdir.run(
        "run", "jobs.toml", "--store", "memory", "--metrics-port", str(port),
        "--duration", "1.5", "--no-tracing",
    )  # fmt: skip
    assert result.returncode == ExitCode.OK, result.stderr
    assert workdir.lines("ticks.txt")
    assert '"trace_id"' not in result.stdout


@pytest.mark.slow
def test_demo_serves_exemplars_the_stack_links_to_traces(workdir: Workdir, start) -> None:
    """The demo with no options serves exemplars with trace ids, under the label that the example
    stack's Grafana data source links to the trace store by."""
    port = free_port()
    start("demo", "--store", "memory", "--metrics-port", str(port))
    url = f"http://127.0.0.1:{port}/metrics"
    label, _ = wait_until("an exemplar", lambda: trace_id_label(openmetrics(url)), timeout=60)
    datasources = (STACK / "grafana/provisioning/datasources/datasources.yml").read_text("utf-8")
    destination = re.search(r"exemplarTraceIdDestinations:\s*\n\s*- name: (\S+)", datasources)
    assert destination is not None
    assert label == destination[1]


@pytest.mark.slow
def test_demo_trace_console_prints_spans(workdir: Workdir) -> None:
    """The demo's own hint, --trace-console, prints the runs' spans."""
    result = workdir.run(
        "demo", "--store", "memory", "--metrics-port", str(free_port()), "--duration", "3",
        "--trace-console",
    )  # fmt: skip
    assert result.returncode == ExitCode.OK, result.stderr
    assert '"name": "run ping"' in result.stdout
