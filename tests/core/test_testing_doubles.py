"""The test doubles obssched ships for its users' tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from obssched.clock import Clock, SystemClock
from obssched.events import EVENT_JOB_ADDED, EVENT_SCHEDULER_STARTED, SchedulerEvent
from obssched.testing import EventRecorder, ManualClock


def test_manual_clock_starts_where_told() -> None:
    """A manual clock reads the time it was started at."""
    clock = ManualClock("2030-05-06T07:08:09+00:00", monotonic_start=100)
    assert (clock.now(), clock.monotonic()) == (datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC), 100)


def test_manual_clock_advances_wall_and_monotonic_together() -> None:
    """advance() moves both clocks by the same amount."""
    clock = ManualClock()
    start = clock.now()
    clock.advance(timedelta(minutes=1))
    clock.advance(0.5)
    assert (clock.now() - start, clock.monotonic()) == (timedelta(seconds=60.5), 60.5)


def test_manual_clock_refuses_to_go_backwards() -> None:
    """Negative steps and earlier targets raise ValueError."""
    clock = ManualClock()
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="backwards"):
        clock.set(clock.now() - timedelta(seconds=1))


def test_manual_clock_needs_an_aware_start() -> None:
    """A naive start time is refused."""
    with pytest.raises(ValueError, match="aware"):
        ManualClock(datetime(2024, 1, 1))


@pytest.mark.parametrize("clock", [ManualClock(), SystemClock()], ids=["manual", "system"])
def test_clocks_satisfy_the_protocol(clock: object) -> None:
    """Both clocks satisfy the Clock protocol and return aware UTC times."""
    assert isinstance(clock, Clock)
    assert clock.now().utcoffset() == timedelta(0)  # type: ignore[attr-defined]


def test_recorder_filters_and_waits() -> None:
    """The recorder keeps events in order, filters by mask and waits for counts."""
    recorder = EventRecorder()
    recorder(SchedulerEvent(EVENT_SCHEDULER_STARTED))
    recorder(SchedulerEvent(EVENT_JOB_ADDED))
    assert recorder.names == ["scheduler_started", "job_added"]
    assert [e.code for e in recorder.of(EVENT_JOB_ADDED)] == [EVENT_JOB_ADDED]
    assert len(recorder.wait_for_count(EVENT_JOB_ADDED, 1, timeout=0)) == 1
    with pytest.raises(TimeoutError, match="scheduler_started"):
        recorder.wait_for_count(EVENT_JOB_ADDED, 2, timeout=0.01)
