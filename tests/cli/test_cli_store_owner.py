"""`obssched run` refuses a store that a scheduler in another process serves."""

from __future__ import annotations

import signal

import pytest

from obssched.cli import ExitCode

from .conftest import Background, Workdir, free_port, get, wait_until

pytestmark = [pytest.mark.realtime, pytest.mark.faults]

JOBS = """
[scheduler]
heartbeat = 0.5

[[jobs]]
id = "often"
func = "clitasks:record"
trigger = "interval"
seconds = 1
args = ["often.txt"]
"""


@pytest.fixture
def running(workdir: Workdir, start) -> Background:
    """A scheduler running JOBS against the work directory's SQLite store."""
    workdir.write("jobs.toml", JOBS)
    port = free_port()
    process = start("run", "jobs.toml", "--store", workdir.store, "--metrics-port", str(port))
    base = f"http://127.0.0.1:{port}"
    wait_until("the scheduler", lambda: get(f"{base}/healthz")[0] == 200, timeout=30)
    return process


def test_a_second_run_exits_naming_the_process_that_serves_the_store(
    workdir: Workdir, running: Background
) -> None:
    """The second `obssched run` on the same file exits with the store's exit code, naming the
    first process and the way out."""
    result = workdir.run(
        "run", "jobs.toml", "--store", workdir.store, "--no-metrics", "--duration", "5"
    )
    assert result.returncode == ExitCode.STORE_UNAVAILABLE, result.stderr
    assert "StoreInUseError" in result.stderr
    assert f"process {running.process.pid} on host" in result.stderr
    assert "cluster=True" in result.stderr
    assert running.process.poll() is None


def test_admin_commands_work_beside_the_scheduler_that_serves_the_store(
    workdir: Workdir, running: Background
) -> None:
    """`obssched jobs` opens the store without taking it from the running scheduler."""
    assert [job["id"] for job in workdir.jobs("list")] == ["often"]
    assert workdir.jobs("pause", "often")["state"] == "paused"
    assert workdir.jobs("resume", "often")["state"] == "scheduled"
    result = workdir.run(
        "run", "jobs.toml", "--store", workdir.store, "--no-metrics", "--duration", "5"
    )
    assert result.returncode == ExitCode.STORE_UNAVAILABLE, result.stderr


def test_a_run_after_the_first_stopped_starts_at_once(
    workdir: Workdir, running: Background
) -> None:
    """A clean shutdown releases the store: the next `obssched run` is not refused."""
    running.signal(signal.SIGTERM)
    assert running.wait(timeout=30) == ExitCode.OK
    result = workdir.run(
        "run", "jobs.toml", "--store", workdir.store, "--no-metrics", "--duration", "0.2"
    )
    assert result.returncode == ExitCode.OK, result.stderr
