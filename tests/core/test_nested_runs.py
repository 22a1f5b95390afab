"""A job body that runs another work item of its executor in its own thread."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from obssched.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
)
from obssched.executors.pool import ThreadPoolExecutor
from obssched.testing import EventRecorder, ManualClock, ManualScheduler


def test_a_job_that_ticks_its_own_scheduler_ends_both_runs_without_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An inline job whose body ticks its scheduler ends its run and the inner one, once each."""
    clock = ManualClock("2024-01-01T00:00:00+00:00")
    scheduler = ManualScheduler(clock=clock, timezone="UTC", metrics=False, tracing=False)
    recorder = EventRecorder()
    scheduler.add_listener(recorder, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    def inner() -> None:
        pass

    def outer() -> None:
        scheduler.add_job(inner, "date", run_date=clock.now(), id="inner")
        scheduler.tick()

    scheduler.start()
    scheduler.add_job(outer, "date", run_date=datetime(2024, 1, 1, 0, 0, 1, tzinfo=UTC), id="outer")
    clock.advance(2)
    with caplog.at_level(logging.WARNING):
        scheduler.tick()
    scheduler.shutdown()
    assert [(event.code, event.job_id) for event in recorder.events] == [
        (EVENT_JOB_EXECUTED, "inner"),
        (EVENT_JOB_EXECUTED, "outer"),
    ]
    assert [record.getMessage() for record in caplog.records] == []


def test_a_tick_started_by_a_job_leaves_the_time_of_the_tick_that_ran_it() -> None:
    """The rest of a tick's batch is judged by that tick's time, not by the time of a tick that
    one of its jobs started after moving the clock on."""
    clock = ManualClock("2024-01-01T00:00:00+00:00")
    scheduler = ManualScheduler(clock=clock, timezone="UTC", metrics=False, tracing=False)
    recorder = EventRecorder()
    scheduler.add_listener(recorder, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED)

    def outer() -> None:
        clock.advance(5)
        scheduler.tick()

    def later() -> None:
        pass

    scheduler.start()
    scheduler.add_job(outer, "date", run_date=datetime(2024, 1, 1, 0, 0, 1, tzinfo=UTC), id="outer")
    scheduler.add_job(
        later,
        "date",
        run_date=datetime(2024, 1, 1, 0, 0, 1, 500000, tzinfo=UTC),
        id="later",
        misfire_grace_time=1,
    )
    clock.advance(2)
    scheduler.tick()
    scheduler.shutdown()
    assert sorted((event.code, event.job_id) for event in recorder.events) == [
        (EVENT_JOB_EXECUTED, "later"),
        (EVENT_JOB_EXECUTED, "outer"),
    ]


def test_a_tick_started_by_a_job_leaves_the_outer_ticks_events_held_until_it_ends() -> None:
    """Listeners get the outer tick's events after that tick, in order: a job later in the tick
    runs before any of them reached a listener."""
    clock = ManualClock("2024-01-01T00:00:00+00:00")
    scheduler = ManualScheduler(clock=clock, timezone="UTC", metrics=False, tracing=False)
    recorder = EventRecorder()
    scheduler.add_listener(recorder, EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED)
    seen_by_later: list[int] = []

    def outer() -> None:
        scheduler.tick()

    def later() -> None:
        seen_by_later.append(len(recorder.events))

    scheduler.start()
    scheduler.add_job(outer, "date", run_date=datetime(2024, 1, 1, 0, 0, 1, tzinfo=UTC), id="outer")
    scheduler.add_job(
        later, "date", run_date=datetime(2024, 1, 1, 0, 0, 1, 500000, tzinfo=UTC), id="later"
    )
    clock.advance(2)
    scheduler.tick()
    scheduler.shutdown()
    assert seen_by_later == [0]
    assert [(event.code, event.job_id) for event in recorder.events] == [
        (EVENT_JOB_SUBMITTED, "outer"),
        (EVENT_JOB_EXECUTED, "outer"),
        (EVENT_JOB_SUBMITTED, "later"),
        (EVENT_JOB_EXECUTED, "later"),
    ]


@pytest.mark.realtime
def test_a_tick_started_by_a_job_leaves_the_runs_held_for_a_thread_pool_to_run() -> None:
    """Runs a tick held back for a thread pool before one of its jobs started another tick
    are still handed to the pool, and end."""
    clock = ManualClock("2024-01-01T00:00:00+00:00")
    scheduler = ManualScheduler(clock=clock, timezone="UTC", metrics=False, tracing=False)
    scheduler.add_executor(ThreadPoolExecutor(2), "pool")
    recorder = EventRecorder()
    scheduler.add_listener(recorder, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    def work() -> None:
        pass

    def outer() -> None:
        scheduler.tick()

    scheduler.start()
    for job_id in ("p0", "p1"):
        scheduler.add_job(
            work,
            "date",
            run_date=datetime(2024, 1, 1, 0, 0, 1, tzinfo=UTC),
            id=job_id,
            executor="pool",
        )
    scheduler.add_job(
        outer, "date", run_date=datetime(2024, 1, 1, 0, 0, 1, 500000, tzinfo=UTC), id="outer"
    )
    clock.advance(2)
    scheduler.tick()
    scheduler.shutdown(wait=True)
    assert sorted((event.code, event.job_id) for event in recorder.events) == [
        (EVENT_JOB_EXECUTED, "outer"),
        (EVENT_JOB_EXECUTED, "p0"),
        (EVENT_JOB_EXECUTED, "p1"),
    ]
