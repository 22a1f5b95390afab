"""The run history: what it keeps of each run, and that it stays within its bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from obssched.console import RunHistory
from obssched.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    EVENT_SCHEDULER_STARTED,
    JobExecutionEvent,
    JobSubmissionEvent,
    SchedulerEvent,
)
from obssched.exceptions import JobTimeoutError
from obssched.testing import ManualClock

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def submitted(history: RunHistory, job: str, run_id: int, at: datetime = T0) -> None:
    """Feed the submission of a run."""
    history(
        JobSubmissionEvent(
            EVENT_JOB_SUBMITTED, job, "default", [at], job, "default", run_id, submitted_at=at
        )
    )


def ended(
    history: RunHistory,
    job: str,
    run_id: int,
    duration: float = 1.0,
    exception: BaseException | None = None,
    traceback: str | None = None,
    at: datetime = T0,
) -> None:
    """Feed the end of a run that started when it was submitted."""
    history(
        JobExecutionEvent(
            EVENT_JOB_ERROR if exception else EVENT_JOB_EXECUTED,
            job,
            "default",
            at,
            exception=exception,
            traceback=traceback,
            job_name=job,
            executor="default",
            run_id=run_id,
            submitted_at=at,
            started_at=at,
            finished_at=at + timedelta(seconds=duration),
            queue_wait=0.0,
            run_duration=duration,
        )
    )


def run(history: RunHistory, job: str, run_id: int, duration: float = 1.0) -> None:
    """Feed a whole successful run."""
    submitted(history, job, run_id)
    ended(history, job, run_id, duration)


def test_a_run_is_kept_from_submission_to_its_end() -> None:
    """A submitted run shows as running, then with its outcome and duration."""
    history = RunHistory(ManualClock())
    submitted(history, "j", 1)
    (record,) = history.runs("j")
    assert (record.run_id, record.outcome) == (1, None)
    ended(history, "j", 1, duration=2.5)
    assert (record.outcome, record.duration) == ("executed", 2.5)
    assert history.run(1) is record


def test_outcomes_are_counted_by_kind() -> None:
    """Executed, error, timeout, missed and refused runs are each counted."""
    history = RunHistory(ManualClock())
    run(history, "j", 1)
    submitted(history, "j", 2)
    ended(history, "j", 2, exception=ValueError("bad"))
    submitted(history, "j", 3)
    ended(history, "j", 3, exception=JobTimeoutError("j", 5.0, T0, 5.1))
    history(JobExecutionEvent(EVENT_JOB_MISSED, "j", "default", T0, job_name="j"))
    history(JobSubmissionEvent(EVENT_JOB_MAX_INSTANCES, "j", "default", [T0], "j", "default"))
    summary = history.job("j")
    assert summary is not None
    assert summary.counts == {
        "executed": 1,
        "error": 1,
        "timeout": 1,
        "missed": 1,
        "max_instances": 1,
    }
    assert summary.last_outcome == "max_instances"


def test_an_error_keeps_type_message_and_traceback() -> None:
    """A failed run's error keeps its type, message and traceback text."""
    history = RunHistory(ManualClock())
    submitted(history, "j", 1)
    ended(history, "j", 1, exception=KeyError("k"), traceback="Traceback...\nKeyError: 'k'\n")
    (error,) = history.errors("j")
    assert (error.run_id, error.exception_type, error.message) == (1, "KeyError", "'k'")
    assert error.traceback.endswith("KeyError: 'k'\n")
    assert history.runs("j")[0].error == "KeyError: 'k'"


def test_a_long_traceback_keeps_its_end() -> None:
    """A traceback longer than the limit keeps its last characters, where the error is."""
    history = RunHistory(ManualClock(), traceback_limit=100)
    submitted(history, "j", 1)
    ended(history, "j", 1, exception=ValueError("v"), traceback="x" * 500 + "ValueError: v")
    (error,) = history.errors("j")
    assert error.traceback.startswith("[413 characters cut]\n")
    assert error.traceback.endswith("ValueError: v")


def test_a_long_message_keeps_its_start() -> None:
    """A message longer than the limit keeps its first characters, here and in the run's error."""
    history = RunHistory(ManualClock(), message_limit=100)
    submitted(history, "j", 1)
    ended(history, "j", 1, exception=ValueError("v" * 2_000_000), traceback="tb")
    (error,) = history.errors("j")
    assert error.message == "v" * 100 + " [1999900 characters cut]"
    assert history.runs("j")[0].error == "ValueError: " + error.message


def test_percentiles_are_over_the_kept_runs() -> None:
    """p50 and p95 are nearest-rank percentiles of the kept runs' durations."""
    history = RunHistory(ManualClock())
    for run_id in range(1, 21):
        run(history, "j", run_id, duration=float(run_id))
    summary = history.job("j")
    assert summary is not None
    assert (summary.duration_p50, summary.duration_p95) == (10.0, 19.0)


def test_runs_per_job_are_bounded() -> None:
    """A job keeps its last runs_per_job runs, and forgets the older ones' ids."""
    history = RunHistory(ManualClock(), runs_per_job=3)
    for run_id in range(1, 6):
        run(history, "j", run_id)
    assert [r.run_id for r in history.runs("j")] == [5, 4, 3]
    assert history.run(1) is None
    summary = history.job("j")
    assert summary is not None
    assert summary.counts["executed"] == 5


def test_errors_per_job_are_bounded() -> None:
    """A job keeps its last errors_per_job errors."""
    history = RunHistory(ManualClock(), errors_per_job=2)
    for run_id in range(1, 5):
        submitted(history, "j", run_id)
        ended(history, "j", run_id, exception=ValueError(str(run_id)))
    assert [e.message for e in history.errors("j")] == ["4", "3"]


@pytest.mark.parametrize("jobs", [10, 10_000], ids=["10-jobs", "10000-jobs"])
def test_runs_and_errors_in_all_stay_within_their_bounds(jobs: int) -> None:
    """However many jobs run, at most max_runs runs and max_errors errors are kept."""
    history = RunHistory(ManualClock(), runs_per_job=50, max_runs=5_000, max_errors=100)
    run_id = 0
    for round_ in range(max(1, 20_000 // jobs)):
        for job in range(jobs):
            run_id += 1
            submitted(history, f"job-{job}", run_id)
            failure = ValueError("x") if (run_id + round_) % 7 == 0 else None
            ended(history, f"job-{job}", run_id, exception=failure, traceback="tb")
    runs, errors = history.kept()
    assert runs <= 5_000
    assert errors <= 100
    assert len(history) == jobs
    assert history.run(1) is None


def test_jobs_are_bounded_least_recently_active_first() -> None:
    """Past max_jobs, the job whose last event is oldest is forgotten."""
    history = RunHistory(ManualClock(), max_jobs=2)
    run(history, "a", 1)
    run(history, "b", 2)
    run(history, "a", 3)
    run(history, "c", 4)
    assert sorted(history) == ["a", "c"]


def test_an_end_without_its_submission_is_still_kept() -> None:
    """A run whose submission was not seen (attached mid-run) is kept from its end."""
    history = RunHistory(ManualClock())
    ended(history, "j", 7)
    (record,) = history.runs("j")
    assert (record.run_id, record.outcome) == (7, "executed")


def test_start_time_is_when_the_scheduler_started() -> None:
    """started_at is set by the scheduler's start event."""
    clock = ManualClock()
    history = RunHistory(clock)
    clock.advance(5)
    history(SchedulerEvent(EVENT_SCHEDULER_STARTED))
    assert history.started_at == clock.now()


def test_an_unprintable_exception_does_not_lose_the_run() -> None:
    """An exception whose str() raises is kept with a placeholder message."""

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    history = RunHistory(ManualClock())
    submitted(history, "j", 1)
    ended(history, "j", 1, exception=Unprintable())
    assert history.errors("j")[0].message == "<unprintable message: RuntimeError>"
