"""Specification of CronTrigger fire times, including across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import cronsim
import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from obssched.triggers._fields import parse_field
from obssched.triggers.cron import CronTrigger

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")


def fire_times(trigger: CronTrigger, after: datetime, count: int) -> list[datetime]:
    """Return the first ``count`` fire times strictly after ``after``."""
    result: list[datetime] = []
    previous = after
    for _ in range(count):
        following = trigger.get_next_fire_time(previous, previous)
        if following is None:
            break
        result.append(following)
        previous = following
    return result


def iso(times: list[datetime]) -> list[str]:
    """Render fire times with their offsets, so same-wall-time instants differ."""
    return [time.isoformat() for time in times]


@pytest.mark.parametrize(
    ("kwargs", "now", "expected"),
    [
        pytest.param({"hour": 3}, datetime(2024, 5, 1, 4), datetime(2024, 5, 2, 3), id="daily"),
        pytest.param(
            {"day": "last sun", "hour": 1},
            datetime(2024, 2, 1),
            datetime(2024, 2, 25, 1),
            id="last-sunday",
        ),
        pytest.param(
            {"month": "feb", "day": "last"},
            datetime(2023, 3, 1),
            datetime(2024, 2, 29),
            id="leap-day-is-last",
        ),
        pytest.param(
            {"week": 1, "day_of_week": "mon"},
            datetime(2024, 6, 1),
            datetime(2024, 12, 30),
            id="iso-week-1-in-december",
        ),
        pytest.param(
            {"second": "*/20"},
            datetime(2024, 1, 1, 0, 0, 41),
            datetime(2024, 1, 1, 0, 1),
            id="seconds-carry",
        ),
        pytest.param(
            {"year": 2025, "month": 12, "day": 31, "hour": 23, "minute": 59, "second": 59},
            datetime(2024, 1, 1),
            datetime(2025, 12, 31, 23, 59, 59),
            id="far-single-instant",
        ),
    ],
)
def test_next_fire_time(kwargs: dict[str, object], now: datetime, expected: datetime) -> None:
    """The first fire time is the earliest matching wall time at or after now."""
    trigger = CronTrigger(**kwargs, timezone="UTC")  # type: ignore[arg-type]
    result = trigger.get_next_fire_time(None, now.replace(tzinfo=UTC))
    assert result == expected.replace(tzinfo=UTC)


def test_now_that_matches_fires_now() -> None:
    """Without a previous fire time, a matching now is itself the next fire time."""
    trigger = CronTrigger(minute="*/5", timezone="UTC")
    now = datetime(2024, 1, 1, 10, 5, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, now) == now


def test_previous_fire_time_is_exclusive() -> None:
    """With a previous fire time (and now after it) the next one is strictly later."""
    trigger = CronTrigger(minute="*/5", timezone="UTC")
    previous = datetime(2024, 1, 1, 10, 5, tzinfo=UTC)
    following = trigger.get_next_fire_time(previous, previous)
    assert following == previous + timedelta(minutes=5)


def test_now_before_previous_fire_time_searches_from_now() -> None:
    """A now earlier than the previous fire time (a clock set back) searches from now."""
    trigger = CronTrigger(minute="*/5", timezone="UTC")
    previous = datetime(2024, 1, 1, 10, 5, tzinfo=UTC)
    following = trigger.get_next_fire_time(previous, previous - timedelta(hours=1))
    assert following == previous - timedelta(hours=1)


def test_fire_times_are_in_the_trigger_zone() -> None:
    """Fire times come back in the trigger's zone whatever zone now is given in."""
    trigger = CronTrigger(hour=9, timezone="Europe/Berlin")
    result = trigger.get_next_fire_time(None, datetime(2024, 1, 1, tzinfo=UTC))
    assert result is not None
    assert result.tzinfo == BERLIN
    assert result.hour == 9


def test_naive_start_date_is_in_trigger_zone() -> None:
    """A naive start date is read in the trigger's zone."""
    trigger = CronTrigger(hour="*", start_date="2024-01-01 05:30:00", timezone="Europe/Berlin")
    result = trigger.get_next_fire_time(None, datetime(2023, 1, 1, tzinfo=UTC))
    assert result == datetime(2024, 1, 1, 6, tzinfo=BERLIN)


def test_end_date_stops_the_schedule() -> None:
    """No fire time is later than the end date."""
    trigger = CronTrigger(hour=3, end_date="2024-01-02 00:00:00", timezone="UTC")
    previous = datetime(2024, 1, 1, 3, tzinfo=UTC)
    assert trigger.get_next_fire_time(previous, previous) is None


@pytest.mark.parametrize(
    "trigger",
    [
        pytest.param(CronTrigger(month=2, day=30, timezone="UTC"), id="february-30"),
        pytest.param(CronTrigger(year=2000, timezone="UTC"), id="year-in-the-past"),
        pytest.param(
            CronTrigger(
                day="5th fri",
                start_date="2024-02-01",
                end_date="2024-02-28",
                timezone="UTC",
            ),
            id="no-5th-friday-in-window",
        ),
        pytest.param(
            CronTrigger(month=4, day=31, day_of_week="mon", timezone="UTC"), id="april-31"
        ),
    ],
)
def test_never_fires(trigger: CronTrigger) -> None:
    """A trigger that can never fire returns None (promptly, not after scanning centuries)."""
    assert trigger.get_next_fire_time(None, datetime(2024, 1, 1, tzinfo=UTC)) is None


def test_crontab_day_fields_or() -> None:
    """In crontab lines a restricted day of month and day of week fire on either."""
    trigger = CronTrigger.from_crontab("0 0 13 * 5", timezone="UTC")
    times = fire_times(trigger, datetime(2024, 9, 1, tzinfo=UTC), 3)
    assert [time.day for time in times] == [6, 13, 20]


def test_keyword_day_fields_and() -> None:
    """With keyword arguments day and day_of_week must both match (Friday the 13th)."""
    trigger = CronTrigger(day=13, day_of_week="fri", timezone="UTC")
    assert trigger.get_next_fire_time(None, datetime(2024, 1, 1, tzinfo=UTC)) == datetime(
        2024, 9, 13, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("expression", "start", "expected"),
    [
        pytest.param(
            "30 2 * * *",
            datetime(2024, 3, 31, 0, tzinfo=BERLIN),
            ["2024-03-31T03:00:00+02:00", "2024-04-01T02:30:00+02:00"],
            id="skipped-fixed-time-fires-after-gap",
        ),
        pytest.param(
            "30 2 * * *",
            datetime(2024, 10, 27, 0, tzinfo=BERLIN),
            ["2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00"],
            id="repeated-fixed-time-fires-once",
        ),
        pytest.param(
            "0 * * * *",
            datetime(2024, 10, 27, 1, 30, tzinfo=BERLIN),
            ["2024-10-27T02:00:00+02:00", "2024-10-27T02:00:00+01:00", "2024-10-27T03:00:00+01:00"],
            id="hourly-fires-every-real-hour-in-autumn",
        ),
        pytest.param(
            "0 * * * *",
            datetime(2024, 3, 31, 0, 30, tzinfo=BERLIN),
            ["2024-03-31T01:00:00+01:00", "2024-03-31T03:00:00+02:00"],
            id="hourly-fires-every-real-hour-in-spring",
        ),
        pytest.param(
            "0,30 2,3 * * *",
            datetime(2024, 3, 31, 0, tzinfo=BERLIN),
            ["2024-03-31T03:00:00+02:00", "2024-03-31T03:30:00+02:00"],
            id="gap-and-real-time-coincide-once",
        ),
        pytest.param(
            "15 2 * * *",
            datetime(2024, 10, 6, 0, tzinfo=LORD_HOWE),
            ["2024-10-06T02:30:00+11:00", "2024-10-07T02:15:00+11:00"],
            id="half-hour-gap",
        ),
        pytest.param(
            "45 1 * * *",
            datetime(2024, 4, 7, 0, tzinfo=LORD_HOWE),
            ["2024-04-07T01:45:00+11:00", "2024-04-08T01:45:00+10:30"],
            id="half-hour-repeat-fixed",
        ),
        pytest.param(
            "45 * * * *",
            datetime(2024, 4, 7, 1, tzinfo=LORD_HOWE),
            ["2024-04-07T01:45:00+11:00", "2024-04-07T01:45:00+10:30", "2024-04-07T02:45:00+10:30"],
            id="half-hour-repeat-wildcard",
        ),
    ],
)
def test_dst(expression: str, start: datetime, expected: list[str]) -> None:
    """Across DST, fixed times fire once (gaps: after the gap); patterns fire per real time."""
    trigger = CronTrigger.from_crontab(expression, timezone=start.tzinfo)
    assert iso(fire_times(trigger, start, len(expected))) == expected


# --- property tests ---------------------------------------------------------------------------


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    number = st.integers(low, high)
    return st.one_of(
        st.just("*"),
        st.integers(1, max(1, (high - low) // 2)).map(lambda step: f"*/{step}"),
        number.map(str),
        # cronsim misreads degenerate ranges such as "0-0/1", so ranges here always ascend.
        st.tuples(number, number, st.integers(1, 4))
        # APScheduler refuses a step longer than the range it steps through.
        .filter(lambda t: t[0] != t[1] and t[2] <= abs(t[1] - t[0]))
        .map(lambda t: f"{min(t[0], t[1])}-{max(t[0], t[1])}/{t[2]}"),
        st.lists(number, min_size=2, max_size=3).map(lambda values: ",".join(map(str, values))),
    )


crontab_lines = st.tuples(
    _field(0, 59), _field(0, 23), _field(1, 28), _field(1, 12), _field(0, 7)
).map(" ".join)

starts = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 31)).map(
    lambda start: start.replace(microsecond=0)
)

#: Days with DST changes, where the interesting cases are.
dst_days = st.sampled_from(
    [
        (BERLIN, datetime(2024, 3, 31)),
        (BERLIN, datetime(2024, 10, 27)),
        (NEW_YORK, datetime(2024, 3, 10)),
        (NEW_YORK, datetime(2024, 11, 3)),
        (LORD_HOWE, datetime(2024, 4, 7)),
        (LORD_HOWE, datetime(2024, 10, 6)),
    ]
)


@settings(max_examples=100, deadline=None)
@given(expression=crontab_lines, start=starts, zone=st.sampled_from([BERLIN, NEW_YORK, UTC]))
def test_agrees_with_cronsim(expression: str, start: datetime, zone: ZoneInfo) -> None:
    """Fire times of crontab lines agree with cronsim (Debian cron semantics) and increase."""
    aware = start.replace(tzinfo=zone)
    ours = fire_times(CronTrigger.from_crontab(expression, timezone=zone), aware, 6)
    oracle = cronsim.CronSim(expression, aware)
    assert iso(ours) == [next(oracle).isoformat() for _ in ours]
    instants = [time.astimezone(UTC) for time in ours]
    assert instants == sorted(set(instants))
    if zone is UTC:
        assert all(croniter.match(expression, time.replace(tzinfo=None)) for time in ours)


def _brute_force(
    minute: str, hour: str, zone: ZoneInfo, start: datetime, end: datetime
) -> list[str]:
    """Scan every real minute and apply the documented DST rule directly.

    Field parsing is trusted here (cronsim checks it); what is checked is the DST rule.
    """
    minutes = set(parse_field("minute", minute).values)
    hours = set(parse_field("hour", hour).values)

    def matches(wall: datetime) -> bool:
        return wall.minute in minutes and wall.hour in hours

    fixed = not minute.startswith("*") and not hour.startswith("*")
    result: list[str] = []
    instant = start.astimezone(UTC).replace(second=0) + timedelta(minutes=1)
    previous_local = (instant - timedelta(minutes=1)).astimezone(zone)
    while instant <= end:
        local = instant.astimezone(zone)
        wall = local.replace(tzinfo=None)
        skipped_match = False
        jump = local.utcoffset() - previous_local.utcoffset()  # type: ignore[operator]
        if fixed and jump > timedelta(0):
            gap_wall = previous_local.replace(tzinfo=None) + timedelta(minutes=1)
            while gap_wall < wall:
                skipped_match = skipped_match or matches(gap_wall)
                gap_wall += timedelta(minutes=1)
        second_pass = local.fold == 1 and local.utcoffset() != local.replace(fold=0).utcoffset()
        if (matches(wall) and not (fixed and second_pass)) or skipped_match:
            result.append(local.isoformat())
        previous_local, instant = local, instant + timedelta(minutes=1)
    return result


@settings(max_examples=30, deadline=None)
@given(
    minute=_field(0, 59),
    hour=_field(0, 23),
    day=dst_days,
    offset=st.integers(-60, 150),
)
def test_dst_days_match_brute_force(
    minute: str, hour: str, day: tuple[ZoneInfo, datetime], offset: int
) -> None:
    """On DST days, fire times equal a minute-by-minute scan applying the documented rule."""
    zone, midnight = day
    start = midnight.replace(tzinfo=zone) + timedelta(minutes=offset)
    end = (midnight + timedelta(hours=4)).replace(tzinfo=zone)
    trigger = CronTrigger.from_crontab(f"{minute} {hour} * * *", timezone=zone)
    ours = [
        time
        for time in fire_times(trigger, start, 400)
        if time.astimezone(UTC) <= end.astimezone(UTC)
    ]
    assert iso(ours) == _brute_force(minute, hour, zone, start, end)


@settings(max_examples=60, deadline=None)
@given(
    day=st.sampled_from(["*", "1", "15", "last", "2nd fri", "last sun", "5th mon", "1-7"]),
    weekday=st.sampled_from(["*", "mon", "sat,sun", "tue-thu"]),
    hour=st.sampled_from(["*", "0", "2", "2-3", "*/5"]),
    minute=st.sampled_from(["0", "*/20", "30", "15,45"]),
    start=starts,
    zone=st.sampled_from([BERLIN, NEW_YORK, LORD_HOWE]),
)
def test_results_satisfy_every_field(
    day: str, weekday: str, hour: str, minute: str, start: datetime, zone: ZoneInfo
) -> None:
    """Keyword triggers return strictly increasing times whose wall time satisfies each field."""
    trigger = CronTrigger(day=day, day_of_week=weekday, hour=hour, minute=minute, timezone=zone)
    fields = {
        name: parse_field(name, expression)
        for name, expression in (
            ("day", day),
            ("day_of_week", weekday),
            ("hour", hour),
            ("minute", minute),
        )
    }
    times = fire_times(trigger, start.replace(tzinfo=zone), 5)
    instants = [time.astimezone(UTC) for time in times]
    assert instants == sorted(set(instants))
    for time in times:
        assert time.astimezone(zone).replace(tzinfo=None) == time.replace(tzinfo=None)
        just_before = (time.astimezone(UTC) - timedelta(seconds=1)).astimezone(zone)
        if just_before.utcoffset() != time.utcoffset():
            continue  # a skipped wall time, moved to the end of the DST gap
        assert time.day in fields["day"].days_in_month(time.year, time.month)
        assert time.weekday() in fields["day_of_week"].values
        assert time.hour in fields["hour"].values
        assert time.minute in fields["minute"].values


def test_cron_triggers_share_parsed_fields() -> None:
    """Parsing one field expression twice gives one shared parsed field (and value tuple)."""
    assert parse_field("year", "*") is parse_field("year", "*")
