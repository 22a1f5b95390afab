"""Whose tracer provider wins: the library never sets one, and an application's is used as it is,
by the library and by the command alike.

The global provider can be set once per process, so each test runs a fresh interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from obssched.cli import ExitCode

from .conftest import Workdir, clean_env, free_port

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

_MANUAL_RUN = """
from prometheus_client import CollectorRegistry
from obssched.testing import ManualClock, ManualScheduler

def run_one_job(registry):
    clock = ManualClock()
    scheduler = ManualScheduler(clock=clock, metrics_registry=registry)
    scheduler.start()
    scheduler.add_job(print, "interval", seconds=10, args=["-"], name="work")
    clock.advance(10)
    scheduler.tick()
    scheduler.shutdown()
"""

_LIBRARY_ALONE = (
    _MANUAL_RUN
    + """
from opentelemetry import trace
run_one_job(CollectorRegistry())
print(type(trace.get_tracer_provider()).__name__)
"""
)

_APPLICATION_PROVIDER = (
    _MANUAL_RUN
    + """
import json
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
registry = CollectorRegistry()
run_one_job(registry)
exemplars = [
    sample.exemplar.labels["trace_id"]
    for family in registry.collect()
    for sample in family.samples
    if sample.name == "obssched_job_run_duration_seconds_bucket" and sample.exemplar
]
runs = [s for s in exporter.get_finished_spans() if s.name == "run work"]
print(json.dumps({
    "names": sorted(s.name for s in exporter.get_finished_spans()),
    "run_trace_ids": [format(s.context.trace_id, "032x") for s in runs],
    "exemplar_trace_ids": exemplars,
}))
"""
)

_COMMAND_UNDER_AN_APPLICATION_PROVIDER = """
import json, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

from obssched.cli import main

code = main(sys.argv[1:])
names = sorted({s.name for s in exporter.get_finished_spans()})
print(json.dumps({"code": code, "names": names, "same": trace.get_tracer_provider() is provider}))
"""


def python(script: str) -> str:
    """Run ``script`` in a fresh interpreter; return its stdout (it must exit 0)."""
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_library_sets_no_global_provider() -> None:
    """A traced scheduler running jobs leaves the global provider the API's proxy."""
    assert python(_LIBRARY_ALONE).splitlines()[-1] == "ProxyTracerProvider"


def test_an_applications_global_provider_gets_the_spans() -> None:
    """With the SDK installed, the provider the application sets globally records the runs,
    and the metrics' exemplars carry its trace ids."""
    result = json.loads(python(_APPLICATION_PROVIDER).splitlines()[-1])
    assert result["names"] == ["run work"]
    assert result["exemplar_trace_ids"]
    assert set(result["exemplar_trace_ids"]) == set(result["run_trace_ids"])


@pytest.mark.realtime
def test_the_command_uses_the_provider_the_process_has(workdir: Workdir) -> None:
    """Under an application's provider (as opentelemetry-instrument sets one), the command traces
    with it and does not apply the OTEL_* variables over it."""
    workdir.write(
        "jobs.toml",
        '[[jobs]]\nid = "tick"\nname = "tick"\nfunc = "clitasks:record"\ntrigger = "interval"\n'
        'seconds = 0.3\nargs = ["ticks.txt"]\n',
    )
    args = ("run", "jobs.toml", "--store", "memory", "--metrics-port", str(free_port()))
    result = subprocess.run(
        [sys.executable, "-c", _COMMAND_UNDER_AN_APPLICATION_PROVIDER, *args, "--duration", "1.5"],
        cwd=workdir.path,
        env=clean_env(OTEL_TRACES_EXPORTER="console"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert outcome["code"] == ExitCode.OK, result.stderr
    assert "run tick" in outcome["names"]
    assert outcome["same"]
    assert '"trace_id"' not in result.stdout  # the console exporter was not added
    assert "Tracing: the application's TracerProvider" in result.stderr


@pytest.mark.realtime
@pytest.mark.slow
def test_console_example_prints_nested_spans() -> None:
    """examples/tracing_console.py prints each run's span, with its queue wait, and the job's
    own span."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "tracing_console.py"), "1.5"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for name in ("run work", "query the database"):
        assert f'"name": "{name}"' in result.stdout
    assert '"obssched.queue_wait"' in result.stdout
