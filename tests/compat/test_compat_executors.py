"""Differential tests: APScheduler 3's ``run_job`` helper on APScheduler 3.11 and on obssched,
the same job object on both, outcomes compared."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime
from typing import Any

import pytest
from compat_outcomes import assert_same_outcome, outcome


class JobWithoutGraceTime:
    """A job-like object as a plugin might hand over: no ``misfire_grace_time`` attribute."""

    id = "abc"
    name = "abc"
    max_instances = 1
    _jobstore_alias = "foo"
    args = (2,)
    kwargs: dict[str, Any] = {}  # noqa: RUF012 (read only)

    @staticmethod
    def func(value: int) -> int:
        return value * 2


def _run_job(lib: str, run_times: list[datetime]) -> Any:
    run_job = importlib.import_module(f"{lib}.executors.base").run_job
    events = run_job(JobWithoutGraceTime(), "foo", run_times, f"{lib}.test")
    return [(event.code, event.job_id, event.jobstore, event.retval) for event in events]


@pytest.mark.parametrize(
    "run_times",
    [[], [datetime(2030, 1, 1, tzinfo=UTC)]],
    ids=["no-run-times", "one-run-time"],
)
def test_run_job_with_a_job_lacking_misfire_grace_time(run_times: list[datetime]) -> None:
    """run_job of a job without ``misfire_grace_time`` returns no events when there is nothing
    to run, and raises APScheduler's AttributeError when there is."""
    ours = outcome(lambda: _run_job("obssched", run_times))
    theirs = outcome(lambda: _run_job("apscheduler", run_times))
    assert_same_outcome(ours, theirs)
