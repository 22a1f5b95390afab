"""Specification of the date, interval, calendar interval and combining triggers."""

from __future__ import annotations

import itertools
import json
import pickle
import random
import statistics
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from obssched.triggers import TRIGGER_ALIASES, BaseTrigger
from obssched.triggers._state import trigger_from_dict, trigger_to_dict
from obssched.triggers.calendarinterval import CalendarIntervalTrigger
from obssched.triggers.combining import AndTrigger, OrTrigger
from obssched.triggers.cron import CronTrigger
from obssched.triggers.date import DateTrigger
from obssched.triggers.interval import IntervalTrigger

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2024, 1, 1, tzinfo=UTC)


def test_date_trigger_fires_once() -> None:
    """A date trigger fires at its run date, then never again."""
    trigger = DateTrigger("2024-05-01 10:00:00", timezone="Europe/Berlin")
    first = trigger.get_next_fire_time(None, NOW)
    assert first == datetime(2024, 5, 1, 10, tzinfo=BERLIN)
    assert trigger.get_next_fire_time(first, NOW) is None


def test_date_trigger_without_run_date_fires_now() -> None:
    """Without a run date the trigger fires at the now it is first given."""
    assert DateTrigger(timezone="UTC").get_next_fire_time(None, NOW) == NOW


def test_date_trigger_without_run_date_fires_only_once() -> None:
    """Once it has fired, a trigger without a run date has no next time, however late asked."""
    trigger = DateTrigger(timezone="UTC")
    assert trigger.get_next_fire_time(NOW, NOW + timedelta(seconds=5)) is None


def test_interval_fires_every_real_hour_across_dst() -> None:
    """An hourly interval fires every real hour through the autumn change."""
    trigger = IntervalTrigger(hours=1, start_date="2024-10-27 01:00:00", timezone=BERLIN)
    times: list[datetime] = []
    previous = None
    for _ in range(4):
        previous = trigger.get_next_fire_time(previous, NOW)
        assert previous is not None
        times.append(previous)
    gaps = {b.astimezone(UTC) - a.astimezone(UTC) for a, b in itertools.pairwise(times)}
    assert gaps == {timedelta(hours=1)}


def test_interval_first_time_is_on_the_grid() -> None:
    """Without a previous time, the first fire time is the next grid point at or after now."""
    trigger = IntervalTrigger(minutes=10, start_date=datetime(2024, 1, 1, tzinfo=UTC))
    now = datetime(2024, 1, 1, 0, 25, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, now) == datetime(2024, 1, 1, 0, 30, tzinfo=UTC)


def test_interval_end_date() -> None:
    """No interval fire time is later than the end date."""
    trigger = IntervalTrigger(hours=1, start_date=NOW, end_date=NOW + timedelta(minutes=90))
    assert trigger.get_next_fire_time(NOW + timedelta(hours=1), NOW) is None


def test_interval_jitter_does_not_drift() -> None:
    """A 10 s interval with 5 s jitter averages 10 s gaps, not 12.5 s as in APScheduler 3."""
    trigger = IntervalTrigger(seconds=10, start_date=NOW, jitter=5, rng=random.Random(42))
    times: list[datetime] = []
    previous = None
    for _ in range(1000):
        previous = trigger.get_next_fire_time(previous, NOW)
        assert previous is not None
        times.append(previous)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert statistics.mean(gaps) == pytest.approx(10, abs=0.1)
    assert all(
        timedelta(0) <= time - (NOW + timedelta(seconds=10 * index)) <= timedelta(seconds=5)
        for index, time in enumerate(times)
    )


def test_cron_jitter_stays_within_bound() -> None:
    """Cron jitter delays each fire time by at most the jitter and keeps the schedule."""
    trigger = CronTrigger(minute="*", timezone="UTC", jitter=30, rng=random.Random(1))
    previous = None
    for minute in range(50):
        previous = trigger.get_next_fire_time(previous, previous or NOW)
        assert previous is not None
        base = NOW + timedelta(minutes=minute)
        assert base <= previous <= base + timedelta(seconds=30)


@pytest.mark.parametrize(
    "make",
    [
        lambda: IntervalTrigger(seconds=60, start_date=NOW, rng=random.Random(3)),
        lambda: CronTrigger(minute="*", timezone="UTC", rng=random.Random(3)),
        lambda: CalendarIntervalTrigger(
            days=1, start_date=NOW, timezone="UTC", rng=random.Random(3)
        ),
    ],
    ids=["interval", "cron", "calendarinterval"],
)
def test_jitter_set_on_a_built_trigger_applies_and_unset_gives_the_grid(make: object) -> None:
    """A grid trigger built without jitter answers its grid times, before and after a state
    round trip; jitter assigned afterwards (as APScheduler 3 allows) delays later answers."""
    trigger = make()  # type: ignore[operator]
    restored = type(trigger).__new__(type(trigger))
    restored.__setstate__(trigger.__getstate__())
    first = trigger.get_next_fire_time(None, NOW)
    assert first == restored.get_next_fire_time(None, NOW) == NOW
    trigger.jitter = 30
    jittered = [trigger.get_next_fire_time(None, NOW) for _ in range(5)]
    assert all(time is not None and NOW <= time <= NOW + timedelta(seconds=30) for time in jittered)
    assert any(time != NOW for time in jittered)


def test_calendar_interval_skips_missing_days() -> None:
    """A monthly schedule from 31 January skips months without a 31st."""
    trigger = CalendarIntervalTrigger(months=1, hour=3, start_date="2024-01-31", timezone="UTC")
    times: list[date] = []
    previous = None
    for _ in range(3):
        fire_time = trigger.get_next_fire_time(previous, NOW)
        assert fire_time is not None
        times.append(fire_time.date())
        previous = fire_time
    assert times == [date(2024, 1, 31), date(2024, 3, 31), date(2024, 5, 31)]


def test_calendar_interval_skips_the_day_its_time_is_skipped_by_dst() -> None:
    """A daily wall time skipped by a spring DST change skips that day, as in APScheduler 3."""
    trigger = CalendarIntervalTrigger(
        days=1, hour=2, minute=30, start_date="2024-03-30", timezone=BERLIN
    )
    previous = datetime(2024, 3, 30, 2, 30, tzinfo=BERLIN)
    assert trigger.get_next_fire_time(previous, NOW) == datetime(2024, 4, 1, 2, 30, tzinfo=BERLIN)


def test_calendar_interval_starts_on_a_past_start_date() -> None:
    """The first fire time is the start date's even when now is later, as in APScheduler 3."""
    trigger = CalendarIntervalTrigger(days=2, hour=1, start_date="2016-03-31", timezone="UTC")
    assert trigger.get_next_fire_time(None, NOW) == datetime(2016, 3, 31, 1, tzinfo=UTC)


def test_and_trigger_finds_common_time() -> None:
    """An AND trigger fires where all of its triggers agree."""
    trigger = AndTrigger(
        [CronTrigger(minute="*/15", timezone="UTC"), CronTrigger(minute="*/20", timezone="UTC")]
    )
    assert trigger.get_next_fire_time(None, NOW + timedelta(minutes=1)) == NOW + timedelta(hours=1)


def test_and_trigger_that_never_agrees_gives_up() -> None:
    """Triggers that can never coincide make the AND trigger return None instead of hanging."""
    trigger = AndTrigger(
        [CronTrigger(minute=0, timezone="UTC"), CronTrigger(minute=30, timezone="UTC")]
    )
    assert trigger.get_next_fire_time(None, NOW) is None


def test_or_trigger_takes_earliest() -> None:
    """An OR trigger fires at the earliest next time of its triggers."""
    trigger = OrTrigger(
        [CronTrigger(hour=5, timezone="UTC"), DateTrigger(NOW + timedelta(hours=1))]
    )
    assert trigger.get_next_fire_time(None, NOW) == NOW + timedelta(hours=1)


SAMPLES = [
    pytest.param(DateTrigger("2024-05-01 10:00:00", timezone="Europe/Berlin"), id="date"),
    pytest.param(
        IntervalTrigger(
            minutes=5,
            start_date="2024-01-01",
            end_date="2025-01-01",
            jitter=2,
            timezone="Europe/Berlin",
        ),
        id="interval",
    ),
    pytest.param(
        CronTrigger(day="last fri", hour="9-17", start_date="2024-01-01", timezone="UTC"),
        id="cron",
    ),
    pytest.param(CronTrigger.from_crontab("0 9 13 * 5", timezone="Europe/Berlin"), id="crontab"),
    pytest.param(
        CronTrigger(hour=1, timezone=timezone(timedelta(hours=-3, minutes=-30))),
        id="fixed-offset",
    ),
    pytest.param(
        CalendarIntervalTrigger(months=2, hour=4, start_date="2024-01-31", timezone="UTC"),
        id="calendarinterval",
    ),
    pytest.param(
        OrTrigger([AndTrigger([CronTrigger(hour=3, timezone="UTC")]), DateTrigger(NOW)], 4),
        id="nested-combining",
    ),
]


def upcoming(trigger: BaseTrigger) -> list[datetime | None]:
    """Return a few un-jittered fire times, enough to compare two triggers' behaviour."""
    times: list[datetime | None] = []
    previous = None
    for _ in range(4):
        previous = trigger._next_scheduled_time(previous, NOW)
        times.append(previous)
        if previous is None:
            break
    return times


@pytest.mark.parametrize("trigger", SAMPLES)
def test_json_round_trip(trigger: BaseTrigger) -> None:
    """A trigger survives trigger_to_dict, JSON and trigger_from_dict unchanged."""
    data = json.loads(json.dumps(trigger_to_dict(trigger)))
    restored = trigger_from_dict(data)
    assert data["type"] in TRIGGER_ALIASES
    assert repr(restored) == repr(trigger)
    assert upcoming(restored) == upcoming(trigger)


@pytest.mark.parametrize("trigger", SAMPLES)
def test_pickle_round_trip(trigger: BaseTrigger) -> None:
    """A trigger survives pickle unchanged."""
    restored = pickle.loads(pickle.dumps(trigger))
    assert repr(restored) == repr(trigger)
    assert upcoming(restored) == upcoming(trigger)


def test_newer_state_version_is_refused() -> None:
    """State from a newer obssched raises a ValueError naming both versions."""
    data = trigger_to_dict(CronTrigger(hour=3, timezone="UTC"))
    data["version"] = 99
    with pytest.raises(ValueError, match=r"version 99.*up to 1"):
        trigger_from_dict(data)


def test_aliases_resolve_to_trigger_classes() -> None:
    """Every alias names a BaseTrigger subclass."""
    from obssched._refs import ref_to_obj

    assert all(issubclass(ref_to_obj(ref), BaseTrigger) for ref in TRIGGER_ALIASES.values())


@pytest.mark.parametrize(
    ("trigger", "text"),
    [
        pytest.param(
            CronTrigger(month="6-8,11-12", day="3rd fri", hour="0-3", timezone="UTC"),
            "cron[month='6-8,11-12', day='3rd fri', hour='0-3']",
            id="cron",
        ),
        pytest.param(
            CronTrigger.from_crontab("0 9 * * 1-5", timezone="UTC"),
            "cron[month='*', day='*', day_of_week='1-5', hour='9', minute='0']",
            id="crontab",
        ),
        pytest.param(
            IntervalTrigger(minutes=1, timezone="UTC"), "interval[0:01:00]", id="interval"
        ),
        pytest.param(
            DateTrigger("2024-01-01 10:00:00", timezone="Europe/Berlin"),
            "date[2024-01-01 10:00:00 CET]",
            id="date",
        ),
    ],
)
def test_str_matches_apscheduler(trigger: BaseTrigger, text: str) -> None:
    """str() shows the trigger the way APScheduler 3 does."""
    assert str(trigger) == text


class EveryFewMinutes(BaseTrigger):
    """A trigger of the user's own, implementing only get_next_fire_time as APScheduler allows."""

    def __init__(self, minutes: int, since: datetime) -> None:
        self.minutes = minutes
        self.since = since

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime:
        return max(previous_fire_time or self.since, now) + timedelta(minutes=self.minutes)


def test_trigger_of_own_class_survives_dict_round_trip() -> None:
    """A user's trigger class is stored by reference, its state as tagged JSON, and restored."""
    data = json.loads(json.dumps(trigger_to_dict(EveryFewMinutes(5, NOW))))
    restored = trigger_from_dict(data)
    assert isinstance(restored, EveryFewMinutes)
    assert (restored.minutes, restored.since) == (5, NOW)


def test_combining_trigger_with_own_child_pickles() -> None:
    """An OrTrigger holding a user's trigger pickles and keeps answering alike."""
    trigger = OrTrigger([CronTrigger(hour=1, timezone="UTC"), EveryFewMinutes(10, NOW)])
    restored = pickle.loads(pickle.dumps(trigger))
    assert restored.get_next_fire_time(None, NOW) == trigger.get_next_fire_time(None, NOW)


def test_trigger_of_unimportable_class_cannot_be_stored() -> None:
    """A trigger class defined inside a function has no reference, so storing it is refused."""

    class Local(BaseTrigger):
        def get_next_fire_time(self, previous_fire_time: object, now: datetime) -> datetime:
            return now

    with pytest.raises(TypeError, match="cannot be stored"):
        trigger_to_dict(Local())


@pytest.mark.parametrize(
    ("trigger", "expected_when_past_end"),
    [
        pytest.param(
            CronTrigger(
                second="*",
                end_date=NOW + timedelta(seconds=30),
                jitter=3600,
                rng=random.Random(0),
            ),
            NOW + timedelta(seconds=30),
            id="cron-clamps-to-end",
        ),
        pytest.param(
            IntervalTrigger(
                seconds=1,
                start_date=NOW,
                end_date=NOW + timedelta(seconds=30),
                jitter=3600,
                rng=random.Random(0),
            ),
            None,
            id="interval-ends",
        ),
    ],
)
def test_jitter_never_passes_end_date(trigger: BaseTrigger, expected_when_past_end: object) -> None:
    """Jitter past end_date clamps a cron time to end_date and ends an interval, as in 3.11."""
    answers = {trigger.get_next_fire_time(None, NOW + timedelta(seconds=29)) for _ in range(5)}
    end = NOW + timedelta(seconds=30)
    assert all(answer is None or answer <= end for answer in answers)
    assert expected_when_past_end in answers
