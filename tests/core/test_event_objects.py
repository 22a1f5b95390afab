"""The event classes' constructors: obssched's additions, by keyword or by position."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from obssched.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobExecutionEvent,
    JobSubmissionEvent,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_additions_by_position_follow_apschedulers_arguments() -> None:
    """obssched's additions may be passed by position, after APScheduler 3's arguments."""
    event = JobSubmissionEvent(EVENT_JOB_SUBMITTED, "j", "store", [at(0)], "tick", "pool", 7, at(1))
    assert (event.job_name, event.executor, event.run_id, event.submitted_at) == (
        "tick",
        "pool",
        7,
        at(1),
    )
    assert event.coalesced_run_times == ()


def test_job_event_additions_by_keyword() -> None:
    """A job event takes the job's name and executor by keyword, as before."""
    event = JobEvent(EVENT_JOB_SUBMITTED, "j", "store", job_name="tick", executor="pool")
    assert (event.job_id, event.jobstore, event.job_name, event.executor) == (
        "j",
        "store",
        "tick",
        "pool",
    )


def test_monotonic_times_give_the_run_timings() -> None:
    """Monotonic readings give the queue wait, the run time, and the start and end times."""
    event = JobExecutionEvent(
        EVENT_JOB_EXECUTED,
        "j",
        "default",
        at(0),
        submitted_at=at(1),
        monotonic_times=(100.0, 100.5, 102.5),
    )
    assert (event.queue_wait, event.run_duration, event.start_delay) == (0.5, 2.0, 1.5)
    assert (event.started_at, event.finished_at) == (at(1.5), at(3.5))


def test_monotonic_times_of_a_run_that_never_started() -> None:
    """A run that never started has no start or timings; its end is still worked out."""
    event = JobExecutionEvent(
        EVENT_JOB_ERROR,
        "j",
        "default",
        at(0),
        submitted_at=at(1),
        monotonic_times=(100.0, None, 100.25),
    )
    assert (event.queue_wait, event.run_duration, event.start_delay) == (None, None, None)
    assert (event.started_at, event.finished_at) == (None, at(1.25))
