"""`run` configures the OpenTelemetry SDK from --trace-console and the OTEL_* variables."""

from __future__ import annotations

import pytest

from obssched.cli import ExitCode

from .conftest import Workdir, free_port

pytestmark = [pytest.mark.realtime]

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
