"""A jobs file sets a job's overlap policy, and `obssched check` names a bad one."""

from __future__ import annotations

import pytest

from obssched.cli import ExitCode

from .conftest import Workdir

JOB = """
[scheduler]
timezone = "UTC"
job_defaults = { overlap = "queue" }

[[jobs]]
id = "poll"
func = "clitasks:record"
trigger = "interval"
seconds = 30
args = ["x.txt"]
overlap_queue_limit = 3
"""


def test_the_overlap_policy_is_accepted(workdir: Workdir) -> None:
    """`overlap` and `overlap_queue_limit` are job options, also in [scheduler.job_defaults]."""
    workdir.write("jobs.toml", JOB)
    result = workdir.run("check", "jobs.toml")
    assert result.returncode == 0, result.stderr
    assert "OK, 1 job(s)" in result.stdout


@pytest.mark.parametrize(
    ("line", "field", "named"),
    [
        ('overlap = "sometimes"', "overlap", "'sometimes'"),
        ("overlap_queue_limit = 0", "overlap_queue_limit", "got 0"),
    ],
    ids=["policy", "limit"],
)
def test_a_bad_value_points_at_its_field(
    workdir: Workdir, line: str, field: str, named: str
) -> None:
    """A bad policy or limit is an invalid file (exit 3) naming the field and the value."""
    workdir.write("jobs.toml", JOB.replace("overlap_queue_limit = 3", line))
    result = workdir.run("check", "jobs.toml")
    assert result.returncode == ExitCode.INVALID_JOBS_FILE, result.stderr
    assert f"field '{field}'" in result.stderr
    assert named in result.stderr
