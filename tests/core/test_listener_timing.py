"""The event bus times its listeners (a sample of dispatches) and logs the slow ones."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from obssched._eventbus import TIMING_SAMPLE, EventBus
from obssched.events import EVENT_SCHEDULER_STARTED, SchedulerEvent
from obssched.testing import ManualClock

pytestmark = pytest.mark.faults

LOGGER = logging.getLogger("obssched.test.timing")


def taking(clock: ManualClock, seconds: float) -> Callable[[SchedulerEvent], None]:
    """Return a listener whose every call takes ``seconds`` on ``clock``."""

    def slow_listener(event: SchedulerEvent) -> None:
        clock.advance(seconds)

    return slow_listener


def dispatch(bus: EventBus, times: int) -> None:
    for _ in range(times):
        bus.dispatch(SchedulerEvent(EVENT_SCHEDULER_STARTED))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def test_one_dispatch_in_the_sample_is_timed_per_listener(clock: ManualClock) -> None:
    """Of TIMING_SAMPLE dispatches one is timed, each listener on its own."""
    bus = EventBus(LOGGER, lambda: clock)
    bus.add(taking(clock, 0.25), name="quarter")
    bus.add(taking(clock, 0.5), name="half")
    dispatch(bus, TIMING_SAMPLE)
    assert bus.timings() == {"quarter": (1, 0.25, 0.25), "half": (1, 0.5, 0.5)}


def test_totals_and_the_longest_call_accumulate(clock: ManualClock) -> None:
    """Timed calls add up, and the longest one is kept."""
    bus = EventBus(LOGGER, lambda: clock)
    durations = iter([0.0] * (TIMING_SAMPLE - 1) + [0.5] + [0.0] * (TIMING_SAMPLE - 1) + [0.25])

    def varying(event: SchedulerEvent) -> None:
        clock.advance(next(durations))

    bus.add(varying, name="varying")
    dispatch(bus, 2 * TIMING_SAMPLE)
    assert bus.timings() == {"varying": (2, 0.75, 0.5)}


def test_a_bus_without_a_clock_times_nothing() -> None:
    """A bus given no clock (a standalone one) keeps no timings."""
    bus = EventBus(LOGGER)
    bus.add(lambda event: None, name="quiet")
    dispatch(bus, TIMING_SAMPLE)
    assert bus.timings() == {"quiet": (0, 0.0, 0.0)}


def test_a_slow_listener_is_logged_once_a_minute(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Calls over the threshold are logged at most once per listener per minute."""
    # Every call takes long enough for one timed call each 16 s of the clock, whatever the
    # sample, and more than the threshold.
    took = 16.0 / TIMING_SAMPLE
    bus = EventBus(LOGGER, lambda: clock, slow_threshold=took / 2)
    bus.add(taking(clock, took), name="sluggish")
    caplog.set_level(logging.WARNING, LOGGER.name)
    # Timed calls at 16 s, 32 s, 48 s, 64 s and 80 s of the clock: logged at 16 s and 80 s.
    dispatch(bus, 5 * TIMING_SAMPLE)
    slow = [r.getMessage() for r in caplog.records if "sluggish" in r.getMessage()]
    assert len(slow) == 2
    assert slow[0].startswith(f"Listener sluggish took {took:.3f} s to handle an event")


def test_a_quick_listener_is_not_logged(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A call within the threshold is timed but not logged."""
    bus = EventBus(LOGGER, lambda: clock)
    bus.add(taking(clock, 0.9), name="brisk")
    caplog.set_level(logging.WARNING, LOGGER.name)
    dispatch(bus, TIMING_SAMPLE)
    assert caplog.records == []
