"""`obssched jobs` works where the job functions do not import, and shows every stored row."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, create_engine, select, update

from obssched.cli import ExitCode
from obssched.jobstores._sql.schema import define_tables

from .conftest import Workdir, clean_env, wait_until

pytestmark = [pytest.mark.realtime]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_IDS = {"exchange-rates", "clean-tmp", "nightly-backup", "weekly-digest", "search-index"}

JOBS = """
[[jobs]]
id = "report"
func = "clitasks:record"
trigger = "interval"
hours = 1
args = ["report.txt"]

[[jobs]]
id = "cleanup"
func = "clitasks:record"
trigger = "cron"
hour = "3"
args = ["cleanup.txt"]
"""


def obssched_script() -> str:
    """The ``obssched`` console script of this environment, as a user runs it."""
    script = Path(sys.executable).parent / "obssched"
    assert script.exists(), f"no console script at {script}"
    return str(script)


def listed_ids(stdout: str) -> set[str]:
    """The ids of the table ``obssched jobs list`` prints."""
    return {line.split()[0] for line in stdout.splitlines()[2:] if line.strip()}


def test_the_readme_jobs_list_line_works_after_running_the_example(tmp_path: Path) -> None:
    """`obssched run examples/jobs.toml`, then the README's `obssched jobs list --store
    sqlite:///obssched.sqlite` in the same directory lists the five example jobs, while the
    scheduler runs and after it stops."""
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    # Only the port is moved off the README's 9464, by environment, to run beside others.
    env = clean_env(OBSSCHED_METRICS_PORT="0")

    def jobs_list() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [obssched_script(), "jobs", "list", "--store", "sqlite:///obssched.sqlite"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    log = (tmp_path / "run.log").open("w+")
    scheduler = subprocess.Popen(
        [obssched_script(), "run", "examples/jobs.toml"],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(
            "the scheduler to start",
            lambda: "Serving metrics at" in (tmp_path / "run.log").read_text(),
            timeout=60,
        )
        beside = jobs_list()
        scheduler.send_signal(signal.SIGTERM)
        assert scheduler.wait(timeout=60) == 0
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
            scheduler.wait(timeout=30)
        log.close()
    after = jobs_list()
    for result in (beside, after):
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"5 job(s) in sqlite:///{tmp_path / 'obssched.sqlite'}")
        assert listed_ids(result.stdout) == EXAMPLE_IDS
        assert "cannot be loaded" not in result.stdout + result.stderr


@pytest.fixture
def stored(workdir: Workdir) -> Workdir:
    """The work directory's store holding JOBS, written by a short `obssched run`."""
    workdir.write("jobs.toml", JOBS)
    result = workdir.run(
        "run", "jobs.toml", "--store", workdir.store, "--no-metrics", "--duration", "0.2"
    )
    assert result.returncode == 0, result.stderr
    return workdir


def elsewhere(workdir: Workdir, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``obssched jobs ARGS --store STORE`` from a directory where ``clitasks`` does not
    import."""
    other = workdir.path / "elsewhere"
    other.mkdir(exist_ok=True)
    return subprocess.run(
        [*workdir.command("jobs", *args, "--store", workdir.store)],
        cwd=other,
        env=workdir.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_show_pause_resume_and_run_now_work_without_the_job_functions(stored: Workdir) -> None:
    """Every command works from a directory where the job functions do not import."""
    show = elsewhere(stored, "show", "report")
    assert show.returncode == 0, show.stderr
    assert "func:                clitasks:record" in show.stdout
    assert "state_version:       1" in show.stdout
    for action, said in (
        ("pause", "Paused job 'report': no next run"),
        ("resume", "Resumed job 'report': next run"),
        ("run-now", "Job 'report' is due now"),
    ):
        result = elsewhere(stored, action, "report")
        assert result.returncode == 0, result.stderr
        assert said in result.stdout
        assert "within a second" in result.stdout


def edit_state(workdir: Workdir, job_id: str, edit: Callable[[dict[str, Any]], object]) -> None:
    """Rewrite a stored row's JSON state with ``edit``."""
    engine = create_engine(workdir.store)
    jobs = define_tables(MetaData(), "obssched_jobs", None).jobs
    with engine.begin() as conn:
        data = json.loads(conn.execute(select(jobs.c.state).where(jobs.c.id == job_id)).scalar())
        edit(data)
        conn.execute(
            update(jobs).where(jobs.c.id == job_id).values(state=json.dumps(data).encode())
        )
    engine.dispose()


def break_row(workdir: Workdir, job_id: str) -> None:
    """Make a stored row undecodable (its state is no longer JSON)."""
    engine = create_engine(workdir.store)
    jobs = define_tables(MetaData(), "obssched_jobs", None).jobs
    with engine.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(state=b"garbage"))
    engine.dispose()


def test_an_undecodable_row_is_listed_marked_with_the_reason(stored: Workdir) -> None:
    """The table marks the row, and a note under it says why it cannot be loaded."""
    break_row(stored, "cleanup")
    result = elsewhere(stored, "list")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("2 job(s)")
    [row] = [line for line in result.stdout.splitlines() if line.startswith("cleanup ")]
    assert "CANNOT BE LOADED" in row
    assert "1 job(s) cannot be loaded" in result.stdout
    assert "  cleanup: its state is not JSON" in result.stdout


def test_an_undecodable_row_cannot_be_paused_and_the_error_says_why(stored: Workdir) -> None:
    """pause of an undecodable row exits 1, naming why and how to remove it."""
    break_row(stored, "cleanup")
    result = elsewhere(stored, "pause", "cleanup")
    assert result.returncode == ExitCode.FAILURE
    assert "Cannot pause job 'cleanup': its state is not JSON" in result.stderr
    assert "obssched jobs remove cleanup" in result.stderr


def test_an_undecodable_row_can_be_removed(stored: Workdir) -> None:
    """remove deletes an undecodable row; the list no longer shows it."""
    break_row(stored, "cleanup")
    result = elsewhere(stored, "remove", "cleanup")
    assert result.returncode == 0, result.stderr
    assert "Removed job 'cleanup'" in result.stdout
    assert [job["id"] for job in stored.jobs("list")] == ["report"]


def test_list_json_says_which_rows_load(stored: Workdir) -> None:
    """--json gives each row's loadable flag and problem."""
    break_row(stored, "cleanup")
    rows = {row["id"]: row for row in stored.jobs("list")}
    assert (rows["report"]["loadable"], rows["report"]["problem"]) == (True, None)
    assert rows["cleanup"]["loadable"] is False
    assert rows["cleanup"]["problem"].startswith("its state is not JSON")


def test_resume_of_a_finished_trigger_removes_the_job(stored: Workdir) -> None:
    """A job whose trigger will not fire again is removed by resume, which says so."""
    edit_state(stored, "report", lambda data: data["trigger"].update(end_date="2000-01-01"))
    result = elsewhere(stored, "resume", "report")
    assert result.returncode == 0, result.stderr
    assert "Job 'report' will never run again (its trigger is done), so it was removed" in (
        result.stdout
    )
    assert [job["id"] for job in stored.jobs("list")] == ["cleanup"]


def test_a_missing_id_exits_with_its_own_code_for_every_change(stored: Workdir) -> None:
    """pause of an id that is not stored exits 6, listing the ids that are."""
    result = elsewhere(stored, "pause", "nope")
    assert result.returncode == ExitCode.JOB_NOT_FOUND
    assert "no job with id 'nope'" in result.stderr
    assert "report" in result.stderr


def test_a_bad_timezone_is_a_usage_error(stored: Workdir) -> None:
    """--timezone with an unknown zone exits 2, naming the flag."""
    result = elsewhere(stored, "list", "--timezone", "Mars/Olympus")
    assert result.returncode == ExitCode.USAGE
    assert "--timezone" in result.stderr
