"""An interval trigger asked again with the fire time it gave last answers as from scratch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from obssched.triggers.interval import IntervalTrigger

START = datetime(2024, 3, 30, 23, 0, tzinfo=UTC)


def chain(trigger: IntervalTrigger, steps: int, *, copy: bool) -> list[datetime]:
    """Ask ``steps`` times, passing back each answer (or an equal copy of it)."""
    now = START
    previous = trigger.get_next_fire_time(None, now)
    answers = [previous]
    for _ in range(steps):
        assert previous is not None
        passed = previous.replace() if copy else previous  # a new object, fold kept
        previous = trigger.get_next_fire_time(passed, now)
        answers.append(previous)
    return answers


@pytest.mark.parametrize(
    ("interval", "zone"),
    [
        (timedelta(minutes=37), "Europe/Berlin"),  # across the spring DST change
        (timedelta(seconds=0.37), "UTC"),
        (timedelta(days=1, microseconds=3), "America/New_York"),
    ],
    ids=["minutes-dst", "fractional-seconds", "day-and-microseconds"],
)
def test_stepping_from_the_last_answer_matches_the_grid(interval: timedelta, zone: str) -> None:
    """Passing back the very datetime it returned gives the same fire times as an equal copy."""

    def make() -> IntervalTrigger:
        return IntervalTrigger(
            seconds=interval.total_seconds(), start_date=START, timezone=ZoneInfo(zone)
        )

    stepped = chain(make(), 200, copy=False)
    from_scratch = chain(make(), 200, copy=True)
    assert stepped == from_scratch
    assert [moment.utcoffset() for moment in stepped if moment] == [
        moment.utcoffset() for moment in from_scratch if moment
    ]


def test_an_off_grid_previous_time_is_answered_from_the_grid() -> None:
    """A previous time that is not the last answer (a jittered one) lands back on the grid."""
    trigger = IntervalTrigger(minutes=10, start_date=START)
    first = trigger.get_next_fire_time(None, START)
    assert first == START
    late = START + timedelta(minutes=3)  # as if jitter had delayed the run
    assert trigger.get_next_fire_time(late, START) == START + timedelta(minutes=10)


def test_the_end_date_still_bounds_a_stepped_answer() -> None:
    """Stepping from the last answer never passes the end date."""
    trigger = IntervalTrigger(minutes=10, start_date=START, end_date=START + timedelta(minutes=15))
    first = trigger.get_next_fire_time(None, START)
    second = trigger.get_next_fire_time(first, START)
    assert second == START + timedelta(minutes=10)
    assert trigger.get_next_fire_time(second, START) is None


def test_a_subclass_that_skips_the_base_initializer_still_answers() -> None:
    """A subclass that sets the trigger's fields itself, as APScheduler 3 plugins may, works."""

    class Hourly(IntervalTrigger):
        __slots__ = ()

        def __init__(self) -> None:
            self.interval = timedelta(hours=1)
            self.timezone = UTC
            self.start_date = START
            self.end_date = None
            self._init_jitter(None, None)

    previous = START + timedelta(hours=1)
    assert Hourly().get_next_fire_time(previous, START) == START + timedelta(hours=2)
