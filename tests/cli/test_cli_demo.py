"""`obssched demo` produces every outcome the dashboards show, within seconds."""

from __future__ import annotations

import json
import re
import signal
import subprocess

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


def banner_count(stdout: str) -> int:
    """The number of jobs the banner says the demo runs."""
    match = re.search(r"obssched demo is running (\d+) jobs", stdout)
    assert match, stdout
    return int(match.group(1))


def test_demo_terminal_shows_job_errors_on_one_line_and_the_log_file_in_full(
    workdir: Workdir, start
) -> None:
    """A failing job is one line on the terminal; the log file holds its traceback."""
    process = start("demo", "--metrics-port", "0", "--store", workdir.store)
    error_line = 'Job "fetch_rates" raised an exception: DemoUpstreamDownError: rates service'
    wait_until("a job error on the terminal", lambda: error_line in process.stderr, timeout=60)
    process.signal(signal.SIGTERM)
    assert process.wait(timeout=60) == ExitCode.OK, process.stderr
    log = (workdir.path / "state" / "obssched" / "demo.log").read_text()
    assert "Traceback" not in process.stderr
    assert "Traceback" in log
    assert "DemoUpstreamDownError" in log
    assert f"log           {workdir.path / 'state' / 'obssched' / 'demo.log'}" in process.stdout


def test_the_banner_and_the_log_count_the_same_jobs(workdir: Workdir) -> None:
    """The banner's job count is the log's, and the number of jobs the demo adds."""
    result = workdir.run("demo", "--duration", "1", "--metrics-port", "0", "-v")
    assert result.returncode == ExitCode.OK, result.stderr
    logged = re.search(r"Scheduler 'demo' running (\d+) job\(s\)", result.stderr)
    assert logged, result.stderr
    added = set(re.findall(r'Added job "([^"]+)"', result.stderr))
    assert banner_count(result.stdout) == int(logged.group(1)) == len(added) == 7


def test_verbose_demo_prints_the_banner_after_startup_and_tracebacks_on_the_terminal(
    workdir: Workdir,
) -> None:
    """With -v the terminal has the whole log; the banner comes after the startup records and
    before the first run."""
    output = workdir.path / "terminal.log"
    with output.open("w") as terminal:
        process = subprocess.Popen(
            workdir.command("demo", "--metrics-port", "0", "-v"),
            cwd=workdir.path,
            env=workdir.env,
            stdout=terminal,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(
                "a run and a traceback",
                lambda: (
                    {"Running job", "Traceback"}
                    <= set(re.findall(r"Running job|Traceback", output.read_text()))
                ),
                timeout=60,
            )
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == ExitCode.OK
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
    text = output.read_text()
    banner = text.index("obssched demo is running")
    assert text.index("Serving metrics at") < banner < text.index("Running job")


def test_a_log_file_that_cannot_be_written_leaves_the_log_on_the_terminal(
    workdir: Workdir,
) -> None:
    """When demo.log cannot be opened the demo still runs, logging to the terminal in full."""
    (workdir.path / "state" / "obssched" / "demo.log").mkdir(parents=True)
    result = workdir.run("demo", "--duration", "1", "--metrics-port", "0")
    assert result.returncode == ExitCode.OK, result.stderr
    assert "Cannot write the log file" in result.stderr
    assert "Scheduler 'demo' running" in result.stderr
    assert "  log  " not in result.stdout
