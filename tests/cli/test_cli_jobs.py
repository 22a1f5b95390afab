"""`obssched jobs ...` changes the store of a scheduler running in another process."""

from __future__ import annotations

import json

import pytest

from obssched.cli import ExitCode

from .conftest import Background, Workdir, free_port, get, wait_until

pytestmark = [pytest.mark.realtime]

JOBS = """
[scheduler]
heartbeat = 3600  # only the wakeup that `obssched jobs` causes makes a change seen sooner

[[jobs]]
id = "hourly"
func = "clitasks:record"
trigger = "interval"
hours = 1
args = ["hourly.txt"]

[[jobs]]
id = "daily"
func = "clitasks:record"
trigger = "cron"
hour = "3"
args = ["daily.txt"]
"""


@pytest.fixture
def running(workdir: Workdir, start) -> tuple[Background, str]:
    """A scheduler running JOBS against the work directory's SQLite store."""
    workdir.write("jobs.toml", JOBS)
    port = free_port()
    process = start("run", "jobs.toml", "--store", workdir.store, "--metrics-port", str(port))
    base = f"http://127.0.0.1:{port}"
    wait_until("the scheduler", lambda: get(f"{base}/healthz")[0] == 200, timeout=30)
    return process, base


def test_run_now_makes_the_running_scheduler_run_the_job(
    workdir: Workdir, running: tuple[Background, str]
) -> None:
    """run-now sets the next run time to now; the scheduler, woken by it, runs the job long
    before its hour-long heartbeat."""
    result = workdir.run("jobs", "run-now", "hourly", "--store", workdir.store)
    assert result.returncode == 0, result.stderr
    assert "is due now" in result.stdout
    wait_until("the job to run", lambda: workdir.lines("hourly.txt"), timeout=10)
    job = workdir.jobs("show", "hourly")
    assert job["next_run_in"].startswith("in ")


def test_pause_and_resume(workdir: Workdir, running: tuple[Background, str]) -> None:
    """pause clears the next run time; resume sets it again from the trigger."""
    paused = workdir.jobs("pause", "daily")
    assert paused["state"] == "paused"
    assert paused["next_run_time"] is None
    assert workdir.jobs("show", "daily")["state"] == "paused"
    resumed = workdir.jobs("resume", "daily")
    assert resumed["state"] == "scheduled"
    assert "T03:00:00" in resumed["next_run_time"]


def test_remove_takes_the_job_off_the_running_scheduler(
    workdir: Workdir, running: tuple[Background, str]
) -> None:
    """remove deletes the row; the scheduler's status page stops listing the job."""
    _, base = running
    assert workdir.jobs("remove", "daily") == {"removed": "daily"}
    assert [job["id"] for job in workdir.jobs("list")] == ["hourly"]
    wait_until(
        "the status page to drop the job",
        lambda: [j["id"] for j in json.loads(get(f"{base}/status.json")[1])["jobs"]] == ["hourly"],
        timeout=10,
    )


def test_list_prints_a_table_with_outcomes(
    workdir: Workdir, running: tuple[Background, str]
) -> None:
    """The readable list has a row per job, and the last outcome given --status-url."""
    _, base = running
    workdir.run("jobs", "run-now", "hourly", "--store", workdir.store)
    wait_until(
        "an outcome",
        lambda: [
            job
            for job in json.loads(get(f"{base}/status.json")[1])["jobs"]
            if job["id"] == "hourly" and job.get("last_outcome")
        ],
        timeout=10,
    )
    result = workdir.run("jobs", "list", "--store", workdir.store, "--status-url", base)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("2 job(s) in sqlite:///")
    assert lines[1].split() == [
        "ID",
        "NAME",
        "FUNC",
        "TRIGGER",
        "NEXT",
        "RUN",
        "STATE",
        "VERSION",
        "LAST",
        "OUTCOME",
    ]
    assert any(line.startswith("hourly") and "executed" in line for line in lines[2:])


def test_unknown_job_has_its_own_exit_code(workdir: Workdir) -> None:
    """An id that is not in the store exits 6, listing the ids that are."""
    workdir.write("jobs.toml", JOBS)
    assert (
        workdir.run(
            "run", "jobs.toml", "--store", workdir.store, "--no-metrics", "--duration", "0.2"
        ).returncode
        == 0
    )
    result = workdir.run("jobs", "show", "nope", "--store", workdir.store)
    assert result.returncode == ExitCode.JOB_NOT_FOUND
    assert "no job with id 'nope'" in result.stderr
    assert "daily, hourly" in result.stderr or "hourly, daily" in result.stderr


def test_memory_store_cannot_be_administered(workdir: Workdir) -> None:
    """--store memory is a usage error: that store lives inside the scheduler's process."""
    result = workdir.run("jobs", "list", "--store", "memory")
    assert result.returncode == ExitCode.USAGE
    assert "persistent store" in result.stderr
