"""`obssched demo` produces every outcome the dashboards show, within seconds."""

from __future__ import annotations

import json
import re

import pytest

from obssched.cli import ExitCode

from .conftest import Workdir, free_port, get, wait_until

pytestmark = [pytest.mark.realtime, pytest.mark.slow]

DEMO_SECONDS = 30
EXPECTED = [
    ("obssched_job_executed_total", "ping"),
    ("obssched_job_executed_total", "build_report"),
    ("obssched_job_errored_total", "flaky_sync"),
    ("obssched_job_max_instances_total", "export_snapshot"),
    ("obssched_job_missed_total", "late_reminder"),
]


def counted(metrics: str, name: str, job: str) -> bool:
    """Whether a sample of ``name`` for ``job`` is above zero."""
    pattern = re.compile(rf'^{name}\{{[^}}]*job_name="{job}"[^}}]*\}} ([0-9.e+]+)', re.MULTILINE)
    return any(float(value) > 0 for value in pattern.findall(metrics))


def test_demo_shows_every_outcome_and_stops_after_its_duration(workdir: Workdir, start) -> None:
    """Within 25 s: successes, a slow run, an error, a max_instances refusal, a missed run."""
    port = free_port()
    process = start(
        "demo",
        "--duration",
        str(DEMO_SECONDS),
        "--metrics-port",
        str(port),
        "--store",
        workdir.store,
    )
    base = f"http://127.0.0.1:{port}"

    def missing() -> list[tuple[str, str]]:
        status, metrics = get(f"{base}/metrics")
        return [pair for pair in EXPECTED if status != 200 or not counted(metrics, *pair)]

    wait_until("every outcome", lambda: not missing(), timeout=25, poll=1)
    status = json.loads(get(f"{base}/status.json")[1])
    names = {job["name"] for job in status["jobs"]} | {j["id"] for j in status["departed_jobs"]}
    assert {"ping", "flaky_sync", "build_report", "export_snapshot", "rotate_logs"} <= names
    assert "late_reminder" in names
    assert process.wait(timeout=DEMO_SECONDS + 30) == ExitCode.OK, process.stderr
    assert f"{base}/metrics" in process.stdout
    assert f'targets: ["127.0.0.1:{port}"]' in process.stdout


def test_demo_defaults_to_a_store_in_the_state_directory(workdir: Workdir) -> None:
    """Without --store the demo keeps its SQLite file under $XDG_STATE_HOME/obssched."""
    result = workdir.run("demo", "--duration", "1", "--metrics-port", str(free_port()))
    assert result.returncode == ExitCode.OK, result.stderr
    assert (workdir.path / "state" / "obssched" / "demo.sqlite").exists()
    assert "demo.sqlite" in result.stdout
