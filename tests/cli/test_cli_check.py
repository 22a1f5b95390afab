"""`obssched check` accepts good files and reports every problem of bad ones with its place."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from obssched.cli import ExitCode
from obssched.cli._jobsfile import load_jobs_file, validate_jobs
from obssched.cli._run import _JobChecker
from obssched.triggers.cron import CronTrigger

from .conftest import Workdir

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

GOOD = """
[scheduler]
timezone = "UTC"

[[jobs]]
id = "tick"
func = "clitasks:record"
trigger = "interval"
seconds = 30
args = ["ticks.txt"]

[[jobs]]
id = "nightly"
func = "clitasks:record"
trigger = "cron"
hour = "3"
kwargs = { path = "nightly.txt", text = "night" }
"""

JOB = """
[[jobs]]
id = "bad"
func = "clitasks:record"
trigger = "interval"
seconds = 30
args = ["x.txt"]
"""


def test_good_file_passes_and_lists_its_jobs(workdir: Workdir) -> None:
    """A valid file exits 0 and lists each job with its trigger."""
    workdir.write("jobs.toml", GOOD)
    result = workdir.run("check", "jobs.toml")
    assert result.returncode == 0, result.stderr
    assert "OK, 2 job(s)" in result.stdout
    assert "cron[hour='3']" in result.stdout


def test_a_timeout_is_accepted_per_job_and_in_the_job_defaults(workdir: Workdir) -> None:
    """`timeout` is a job option in a [[jobs]] table and a key of [scheduler.job_defaults]."""
    text = GOOD.replace('timezone = "UTC"', 'timezone = "UTC"\njob_defaults = { timeout = 60 }')
    workdir.write("jobs.toml", text.replace("seconds = 30", "seconds = 30\ntimeout = 5"))
    result = workdir.run("check", "jobs.toml")
    assert result.returncode == 0, result.stderr
    assert "OK, 2 job(s)" in result.stdout


def test_example_jobs_file_passes() -> None:
    """examples/jobs.toml, the documented example, is valid."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "obssched", "check", str(EXAMPLES / "jobs.toml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "OK, 5 job(s)" in result.stdout


@pytest.mark.parametrize(
    ("replace", "by", "field", "expected"),
    [
        ('func = "clitasks:record"', 'func = "clitasks:nothing"', "func", "unknown callable"),
        ('func = "clitasks:record"', 'func = "nosuchmodule:f"', "func", "No module named"),
        ('trigger = "interval"\nseconds = 30', 'trigger = "cron"\nhour = "25"', "hour", "25"),
        ("seconds = 30", "seconds = 30\nmax_instances = 0", "max_instances", "1 or more"),
        ("seconds = 30", "seconds = 30\ncolour = 'red'", "colour", "unexpected keyword"),
        ("seconds = 30", "seconds = 30\nexecutor = 'gpu'", "executor", "no executor named"),
        ('trigger = "interval"', 'trigger = "weekly"', "trigger", "unknown trigger 'weekly'"),
        ('args = ["x.txt"]', "args = [1, 2, 3]", "args", "positional arguments"),
        ('id = "bad"', 'id = "bad"\nreplace_existing = false', "replace_existing", "not allowed"),
        ('args = ["x.txt"]', "args = 5", "args", "must be an array, got int 5"),
        ("seconds = 30", "seconds = 30\njitter = 1e300", "jitter", "1e+300"),
        ("seconds = 30", "seconds = 1e300", "seconds", "too large"),
        ("seconds = 30", f"seconds = 30\ntimezone = '{'x' * 300}'", "timezone", "too long"),
        ("seconds = 30", "seconds = 30\ntimezone = '../x'", "timezone", "../x"),
        ("seconds = 30", "seconds = 30\ntimezone = 'Mars/Base'", "timezone", "Mars/Base"),
        ("seconds = 30", "seconds = 30\ntimezone = 5", "timezone", "got int 5"),
        ("seconds = 30", "seconds = 30\nmisfire_grace_time = nan", "misfire_grace_time", "nan"),
        ("seconds = 30", "seconds = 30\ntimeout = 0", "timeout", "above 0, got 0"),
        ('args = ["x.txt"]', f"args = [{'[' * 120}{']' * 120}, 't']", "args", "nested more"),
        (
            'trigger = "interval"\nseconds = 30',
            "crontab = '0 9 * *'",
            "crontab",
            "got 4, expected 5",
        ),
        ('trigger = "interval"\nseconds = 30', "crontab = '0 25 * * *'", "crontab", "(25)"),
        ('trigger = "interval"\nseconds = 30', "crontab = 9", "crontab", "got int 9"),
        ("seconds = 30", "crontab = '0 9 * * *'", "trigger", "does not go with crontab"),
        ('trigger = "interval"', "crontab = '0 9 * * *'", "seconds", "takes only a timezone"),
        (
            'trigger = "interval"\nseconds = 30',
            "crontab = '0 9 * * *'\ntimezone = 'Mars/Base'",
            "timezone",
            "Mars/Base",
        ),
        (
            'trigger = "interval"\nseconds = 30',
            "crontab = '0 9 * * *'\ntimezone = 1",
            "timezone",
            "got int 1",
        ),
    ],
    ids=[
        "unknown-function",
        "unknown-module",
        "cron-out-of-range",
        "bad-option",
        "unknown-trigger-argument",
        "unknown-executor",
        "unknown-trigger",
        "wrong-arguments",
        "replace-existing",
        "args-not-an-array",
        "huge-jitter",
        "huge-interval",
        "long-zone-name",
        "zone-key-outside-tzdata",
        "unknown-zone",
        "zone-not-text",
        "nan-grace-time",
        "zero-timeout",
        "nested-arguments",
        "crontab-short",
        "crontab-out-of-range",
        "crontab-not-text",
        "crontab-with-another-trigger",
        "crontab-with-trigger-fields",
        "crontab-unknown-zone",
        "crontab-zone-not-text",
    ],
)
def test_bad_job_is_reported_at_the_line_of_its_field(
    workdir: Workdir, replace: str, by: str, field: str, expected: str
) -> None:
    """Each kind of bad job exits 3 naming the file, the line that sets the field, the job and
    the field; never an unexpected error."""
    assert replace in JOB
    text = "# header\n" + JOB.replace(replace, by)
    line = next(
        number
        for number, content in enumerate(text.splitlines(), start=1)
        if content.startswith(f"{field} =")
    )
    workdir.write("jobs.toml", text)
    result = workdir.run("check", "jobs.toml")
    assert result.returncode == ExitCode.INVALID_JOBS_FILE, result.stderr
    assert f"jobs.toml:{line}: job 1 ('bad'), field '{field}'" in result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_a_crontab_line_is_a_cron_trigger_with_crontab_semantics(tmp_path: Path) -> None:
    """`crontab` makes the trigger CronTrigger.from_crontab makes, in the job's time zone."""
    path = tmp_path / "jobs.toml"
    path.write_text(
        '[[jobs]]\nid = "payday"\nfunc = "os:getcwd"\ncrontab = "0 9 1 * 7"\n'
        'timezone = "Europe/Paris"\n'
    )
    jobs_file = load_jobs_file(path)
    jobs = validate_jobs(jobs_file, _JobChecker(ZoneInfo("UTC")), ["default"], ["default"])
    assert jobs_file.problems == []
    expected = CronTrigger.from_crontab("0 9 1 * 7", timezone="Europe/Paris")
    assert jobs[0]["trigger"].__getstate__() == expected.__getstate__()


def test_a_crontab_line_without_a_zone_takes_the_scheduler_zone(tmp_path: Path) -> None:
    """Without its own `timezone`, a crontab job runs in the scheduler's time zone."""
    path = tmp_path / "jobs.toml"
    path.write_text('[[jobs]]\nfunc = "os:getcwd"\ntrigger = "cron"\ncrontab = "0 9 * * 1-5"\n')
    jobs_file = load_jobs_file(path)
    zone = ZoneInfo("Asia/Tokyo")
    jobs = validate_jobs(jobs_file, _JobChecker(zone), ["default"], ["default"])
    assert jobs_file.problems == []
    expected = CronTrigger.from_crontab("0 9 * * 1-5", timezone=zone)
    assert jobs[0]["trigger"].__getstate__() == expected.__getstate__()


def test_check_accepts_a_crontab_line_and_shows_its_first_run(workdir: Workdir) -> None:
    """`obssched check` passes a crontab job and lists it as a cron trigger."""
    workdir.write(
        "jobs.toml", '[[jobs]]\nid = "weekdays"\nfunc = "os:getcwd"\ncrontab = "0 9 * * 1-5"\n'
    )
    result = workdir.run("check", "jobs.toml")
    assert result.returncode == 0, result.stderr
    assert "day_of_week='1-5', hour='9', minute='0'" in result.stdout


def test_settings_problem_points_at_its_line(workdir: Workdir) -> None:
    """A bad scheduler-wide setting is reported at the line that sets it."""
    workdir.write("jobs.toml", "[scheduler]\nname = 'x'\nheartbeat = -1\n" + JOB)
    result = workdir.run("check", "jobs.toml")
    assert result.returncode == ExitCode.INVALID_JOBS_FILE
    assert "jobs.toml:3: [scheduler], field 'heartbeat'" in result.stderr


@pytest.mark.parametrize(
    ("settings", "where"),
    [
        pytest.param(
            "[scheduler.job_defaults]\ncoalesce = true\nmax_instances = 0\n",
            "[scheduler.job_defaults], field 'max_instances'",
            id="job-default",
        ),
        pytest.param(
            "[scheduler]\nname = 'x'\njob_defaults = { coalesce = 'maybe' }\n",
            "[scheduler.job_defaults], field 'coalesce'",
            id="job-default-inline",
        ),
        pytest.param(
            "[executors.default]\ntype = 'threadpool'\nmax_workers = 'ten'\n",
            "[executors.default], field 'max_workers'",
            id="executor-option",
        ),
        pytest.param(
            "[executors.default]\nmax_workers = 2\ntype = 'nonsense'\n",
            "[executors.default], field 'type'",
            id="executor-type",
        ),
        pytest.param(
            "[jobstores.default]\n\nurl = 'nope'\n",
            "[jobstores.default], field 'url'",
            id="jobstore-url",
        ),
    ],
)
def test_a_bad_scheduler_setting_is_reported_at_its_line(
    workdir: Workdir, settings: str, where: str
) -> None:
    """Job defaults, executors and job stores are checked one by one, each problem at the line
    of its key."""
    workdir.write("jobs.toml", settings + JOB)
    result = workdir.run("check", "jobs.toml")
    assert result.returncode == ExitCode.INVALID_JOBS_FILE
    line = settings.count("\n", 0, settings.rindex("=")) + 1
    assert f"jobs.toml:{line}: {where}" in result.stderr


def test_a_duplicate_id_taken_from_the_name_points_at_the_name(workdir: Workdir) -> None:
    """A job without an id whose name repeats another job's id is reported at its name."""
    second = JOB.replace('id = "bad"', 'name = "bad"')
    workdir.write("jobs.toml", JOB + second)
    result = workdir.run("check", "jobs.toml")
    line = (JOB + second).splitlines().index('name = "bad"') + 1
    assert f"jobs.toml:{line}: job 2 ('bad'), field 'name': the id 'bad' is used" in result.stderr


def test_every_problem_is_reported_at_once(workdir: Workdir) -> None:
    """Problems in several jobs and in the settings are all listed in one run."""
    first = JOB.replace("seconds = 30", "seconds = 'x'")
    second = JOB.replace('id = "bad"', 'id = "worse"').replace('["x.txt"]', "[1, 2, 3]")
    workdir.write("jobs.toml", "[scheduler]\nheartbeat = -1\n" + first + second)
    result = workdir.run("check", "jobs.toml")
    assert result.returncode == ExitCode.INVALID_JOBS_FILE
    assert "3 problems" in result.stderr
    assert "[scheduler], field 'heartbeat'" in result.stderr
    assert "job 1 ('bad'), field 'seconds'" in result.stderr
    assert "job 2 ('worse'), field 'args'" in result.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such jobs file"),
        ("[[jobs]\nfunc = ", "not a valid TOML file"),
        ("[schedule]\nname = 'x'", "unknown table or key"),
        ("x = " + "[" * 5000 + "]" * 5000, "nested too deeply"),
    ],
    ids=["missing", "malformed", "unknown-table", "nested-too-deep"],
)
def test_unreadable_file_exits_with_the_jobs_file_code(
    workdir: Workdir, content: str | None, expected: str
) -> None:
    """A missing, malformed or misnamed file gets one paragraph, code 3, no traceback."""
    if content is not None:
        workdir.write("jobs.toml", content)
    result = workdir.run("check", "jobs.toml")
    assert result.returncode == ExitCode.INVALID_JOBS_FILE
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback(workdir: Workdir) -> None:
    """--debug adds the traceback to the one-paragraph error."""
    result = workdir.run("check", "missing.toml", "--debug")
    assert result.returncode == ExitCode.INVALID_JOBS_FILE
    assert "Traceback" in result.stderr
