"""Bad input to triggers, zones and the argument serialiser raises a typed error naming the
bad value (APScheduler 3.11's type and text first, where it raised), and leaves nothing behind."""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import core_jobs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from obssched._serialization import dumps_args, loads_args
from obssched._timeutil import astimezone, convert_to_datetime
from obssched.events import EVENT_JOB_ADDED, EVENT_JOB_MODIFIED
from obssched.exceptions import (
    ArgumentOverflowError,
    InvalidArgumentError,
    SerializationError,
    TimeZoneNameError,
)
from obssched.testing import EventRecorder, ManualClock, ManualScheduler
from obssched.triggers.calendarinterval import CalendarIntervalTrigger
from obssched.triggers.cron import CronTrigger
from obssched.triggers.date import DateTrigger
from obssched.triggers.interval import IntervalTrigger

NOW = datetime(2024, 1, 1, tzinfo=UTC)
LATE = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
LONG_NAME = "x" * 300


class LargestDelay:
    """A jitter source that always picks the longest delay."""

    def uniform(self, a: float, b: float) -> float:
        return max(a, b)


def _raised(call: Any) -> BaseException:
    try:
        call()
    except Exception as exc:
        return exc
    raise AssertionError("did not raise")


# (module, class, kwargs, the obssched error, a text the message must contain)
APSCHEDULER_RAISED = [
    ("interval", "IntervalTrigger", {"seconds": 10**20}, ArgumentOverflowError, "seconds=10"),
    ("interval", "IntervalTrigger", {"days": 10**9}, ArgumentOverflowError, "days=1000000000"),
    ("interval", "IntervalTrigger", {"weeks": 1e300}, ArgumentOverflowError, "weeks=1e+300"),
    ("interval", "IntervalTrigger", {"seconds": math.inf}, ArgumentOverflowError, "seconds=inf"),
    ("interval", "IntervalTrigger", {"seconds": -math.inf}, ArgumentOverflowError, "-inf"),
    ("interval", "IntervalTrigger", {"seconds": math.nan}, InvalidArgumentError, "seconds=nan"),
    ("interval", "IntervalTrigger", {"timezone": LONG_NAME}, TimeZoneNameError, "characters"),
    ("interval", "IntervalTrigger", {"timezone": "a\0b"}, TimeZoneNameError, "'a\\x00b'"),
    ("interval", "IntervalTrigger", {"timezone": "../x"}, TimeZoneNameError, "'../x'"),
    ("interval", "IntervalTrigger", {"timezone": "/etc/x"}, TimeZoneNameError, "'/etc/x'"),
    ("cron", "CronTrigger", {"timezone": LONG_NAME}, TimeZoneNameError, "characters"),
    ("date", "DateTrigger", {"timezone": LONG_NAME}, TimeZoneNameError, "characters"),
    ("date", "DateTrigger", {"run_date": "yesterday"}, InvalidArgumentError, "'yesterday'"),
    ("date", "DateTrigger", {"run_date": "2024-13-01"}, InvalidArgumentError, "'2024-13-01'"),
    (
        "date",
        "DateTrigger",
        {"run_date": datetime(9999, 12, 31, 23, 59), "timezone": "Etc/GMT+5"},
        InvalidArgumentError,
        "run_date=datetime.datetime(9999, 12, 31, 23, 59)",
    ),
    ("calendarinterval", "CalendarIntervalTrigger", {"days": 1, "timezone": LONG_NAME},
     TimeZoneNameError, "characters"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("module", "name", "kwargs", "error", "names"),
    [pytest.param(*case, id=f"{case[1]}-{index}") for index, case in enumerate(APSCHEDULER_RAISED)],
)
def test_bad_argument_raises_apscheduler_type_and_text_then_names_the_value(
    module: str, name: str, kwargs: dict[str, Any], error: type[Exception], names: str
) -> None:
    """Where APScheduler 3.11 raised, obssched raises a subclass of its type and of ValueError,
    with a message that starts with its text and names the bad value."""
    ours = getattr(importlib.import_module(f"obssched.triggers.{module}"), name)
    theirs = getattr(importlib.import_module(f"apscheduler.triggers.{module}"), name)
    kwargs = {"timezone": "UTC", **kwargs}
    expected = _raised(lambda: theirs(**kwargs))
    raised = _raised(lambda: ours(**kwargs))
    assert isinstance(raised, error)
    assert isinstance(raised, type(expected))
    assert isinstance(raised, ValueError)
    assert str(raised).startswith(str(expected))
    assert names in str(raised)


@pytest.mark.parametrize(
    ("jitter", "error"),
    [
        pytest.param(math.nan, InvalidArgumentError, id="nan"),
        pytest.param(math.inf, ArgumentOverflowError, id="inf"),
        pytest.param(1e300, ArgumentOverflowError, id="1e300"),
        pytest.param(10**400, ArgumentOverflowError, id="huge-int"),
    ],
)
@pytest.mark.parametrize("make", [
    pytest.param(lambda j: IntervalTrigger(seconds=1, jitter=j, timezone="UTC"), id="interval"),
    pytest.param(lambda j: CronTrigger(hour=1, jitter=j, timezone="UTC"), id="cron"),
    pytest.param(lambda j: CalendarIntervalTrigger(days=1, jitter=j, timezone="UTC"),
                 id="calendarinterval"),
])  # fmt: skip
def test_jitter_that_no_date_can_hold_is_refused_when_the_trigger_is_made(
    make: Any, jitter: float, error: type[Exception]
) -> None:
    """NaN or a jitter longer than 999999999 days raises at construction (APScheduler 3.11
    raised OverflowError or ValueError at the first fire time)."""
    with pytest.raises(error, match="jitter"):
        make(jitter)


@pytest.mark.parametrize(
    ("trigger", "previous", "now"),
    [
        pytest.param(IntervalTrigger(hours=2, timezone="UTC"), None, LATE, id="interval-anchor"),
        pytest.param(
            IntervalTrigger(hours=2, start_date=LATE, timezone="UTC"), LATE, LATE, id="interval"
        ),
        pytest.param(
            IntervalTrigger(days=999999999, start_date=NOW, timezone="UTC"), NOW, NOW,
            id="interval-longest",
        ),
        pytest.param(IntervalTrigger(seconds=1, jitter=1e13, timezone="UTC",
                                     rng=LargestDelay()), None, NOW, id="interval-long-jitter"),
        pytest.param(CronTrigger(hour="*", timezone="Etc/GMT-5"), None,
                     datetime(9999, 12, 31, 22, tzinfo=UTC), id="cron-east"),
        pytest.param(CronTrigger(year=9999, month=12, day=31, hour=23, minute=59,
                                 timezone="Etc/GMT+5"), None, LATE, id="cron-west"),
        pytest.param(CalendarIntervalTrigger(days=1, timezone="UTC"), LATE, LATE,
                     id="calendar-next-day"),
        pytest.param(CalendarIntervalTrigger(years=10**20, timezone="UTC"), NOW, NOW,
                     id="calendar-huge-years"),
        pytest.param(CalendarIntervalTrigger(days=1, start_date="9999-12-31", hour=23,
                                             minute=30, timezone="Etc/GMT+5"), None, LATE,
                     id="calendar-west"),
    ],
)  # fmt: skip
def test_fire_time_past_year_9999_means_never(
    trigger: Any, previous: datetime | None, now: datetime
) -> None:
    """A next fire time beyond what a datetime holds (in UTC or the zone) is None, not an
    OverflowError (APScheduler 3.11 raised OverflowError or ValueError for most of these)."""
    assert trigger.get_next_fire_time(previous, now) is None


@pytest.mark.parametrize(
    ("module", "name", "kwargs"),
    [
        ("interval", "IntervalTrigger", {"seconds": 1}),
        ("cron", "CronTrigger", {"hour": 1}),
        ("calendarinterval", "CalendarIntervalTrigger", {"days": 1}),
    ],
    ids=["interval", "cron", "calendarinterval"],
)
def test_empty_zone_name_means_the_local_zone_as_in_apscheduler(
    module: str, name: str, kwargs: dict[str, Any]
) -> None:
    """Interval, cron and calendar triggers given timezone='' use the local zone, as
    APScheduler 3.11's do."""
    ours = getattr(importlib.import_module(f"obssched.triggers.{module}"), name)
    theirs = getattr(importlib.import_module(f"apscheduler.triggers.{module}"), name)
    assert theirs(**kwargs, timezone="").timezone is not None
    assert ours(**kwargs, timezone="").timezone == ours(**kwargs).timezone


def test_date_trigger_refuses_an_empty_zone_name_as_apscheduler_does() -> None:
    """DateTrigger(timezone='') raises TimeZoneNameError, a ValueError as APScheduler's."""
    with pytest.raises(TimeZoneNameError, match="normalized relative paths"):
        DateTrigger(run_date="2030-01-01", timezone="")


@pytest.mark.parametrize(
    "name",
    ["", "a\0b", "../x", "/etc/passwd", LONG_NAME],
    ids=["empty", "nul", "up", "abs", "long"],
)
def test_astimezone_refuses_invalid_zone_keys_as_apscheduler_does(name: str) -> None:
    """astimezone raises APScheduler's type (ValueError or OSError) and text for invalid keys,
    naming the key, as a TimeZoneNameError (both)."""
    from apscheduler.util import astimezone as their_astimezone

    expected = _raised(lambda: their_astimezone(name))
    raised = _raised(lambda: astimezone(name))
    assert isinstance(raised, TimeZoneNameError)
    assert isinstance(raised, type(expected))
    assert str(raised).startswith(str(expected))
    assert repr(name)[:20] in str(raised)


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def _cyclic() -> list[Any]:
    value: list[Any] = [1]
    value.append(value)
    return value


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        pytest.param((_nested(5000),), {}, id="deep-args"),
        pytest.param((), {"data": {"a": _nested(5000)}}, id="deep-kwargs"),
        pytest.param((_cyclic(),), {}, id="cyclic"),
        pytest.param((object(),), {}, id="object"),
        pytest.param(({1: "a"},), {}, id="int-key"),
    ],
)
def test_unstorable_arguments_raise_serialization_error(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Arguments JSON cannot hold raise SerializationError naming where they are, never
    RecursionError."""
    with pytest.raises(SerializationError, match=r"args\["):
        dumps_args(args, kwargs)


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -math.inf, 10**5000, -(10**5000), {"__obssched__": ["tuple", [1]]}],
    ids=["nan", "inf", "-inf", "huge-int", "huge-negative-int", "tag-lookalike"],
)
def test_values_json_cannot_spell_are_stored_tagged_and_read_back(value: Any) -> None:
    """NaN, infinities, ints too long for JSON text and dicts that look like tags round-trip
    through strict JSON."""
    text = dumps_args((value,), {})
    assert "NaN" not in text
    assert "Infinity" not in text
    (back,), _ = loads_args(text)
    assert back == value or (math.isnan(back) and math.isnan(value))


@pytest.mark.parametrize(
    "text", ["{", "[" * 100_000, '{"args": 5, "kwargs": {}}', '{"args": [{"__obssched__": 1}]}'],
    ids=["truncated", "deep", "args-not-list", "bad-tag"],
)  # fmt: skip
def test_unreadable_stored_arguments_raise_serialization_error(text: str) -> None:
    """Stored arguments that are not what dumps_args writes raise SerializationError."""
    with pytest.raises(SerializationError):
        loads_args(text)


@pytest.mark.parametrize(
    "trigger_args",
    [
        pytest.param({"trigger": "interval", "seconds": 10**20}, id="huge-interval"),
        pytest.param({"trigger": "interval", "seconds": 1, "jitter": math.inf}, id="inf-jitter"),
        pytest.param({"trigger": "cron", "timezone": LONG_NAME}, id="long-zone"),
        pytest.param({"trigger": "date", "run_date": "yesterday"}, id="bad-date"),
    ],
)
def test_a_trigger_that_fails_to_build_leaves_no_job(
    scheduler: Any, recorder: EventRecorder, trigger_args: dict[str, Any]
) -> None:
    """add_job with trigger arguments that raise adds no job and emits no event."""
    scheduler.start()
    with pytest.raises(ValueError, match=r"."):
        scheduler.add_job(core_jobs.record, **trigger_args)
    assert scheduler.get_jobs() == []
    assert recorder.of(EVENT_JOB_ADDED) == []


PROPERTY_SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
NUMBERS = st.one_of(
    st.integers(min_value=0, max_value=10**4),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
)
TEXTS = st.one_of(st.text(max_size=40), st.sampled_from(["UTC", "Europe/Paris", "", "..", "*/5"]))
DATES = st.one_of(st.none(), st.datetimes(), st.dates(), TEXTS)
ZONES = st.one_of(
    st.none(),
    st.sampled_from(["Europe/Paris", "America/St_Johns", "Pacific/Kiritimati", "Etc/GMT+12"]),
    TEXTS,
    st.sampled_from([timezone(timedelta(hours=14)), timezone(-timedelta(hours=23, minutes=59))]),
)
DOCUMENTED = (ValueError, TypeError)


@PROPERTY_SETTINGS
@given(weeks=NUMBERS, seconds=NUMBERS, start=DATES, zone=ZONES, jitter=st.none() | NUMBERS,
       now=st.datetimes(timezones=st.just(UTC)))  # fmt: skip
def test_interval_trigger_raises_only_documented_errors(
    weeks: float, seconds: float, start: Any, zone: Any, jitter: Any, now: datetime
) -> None:
    """Any interval, start, zone and jitter builds a trigger that answers, or raises ValueError
    or TypeError."""
    try:
        trigger = IntervalTrigger(
            weeks=weeks, seconds=seconds, start_date=start, timezone=zone or "UTC", jitter=jitter
        )
    except DOCUMENTED:
        return
    for previous in (None, now):
        fire_time = trigger.get_next_fire_time(previous, now)
        assert fire_time is None or fire_time.tzinfo is not None


@PROPERTY_SETTINGS
@given(fields=st.dictionaries(st.sampled_from(list(CronTrigger.FIELD_NAMES)),
                              st.one_of(st.integers(), TEXTS), max_size=3),
       start=DATES, zone=ZONES, jitter=st.none() | NUMBERS,
       now=st.datetimes(timezones=st.just(UTC)))  # fmt: skip
def test_cron_trigger_raises_only_documented_errors(
    fields: dict[str, Any], start: Any, zone: Any, jitter: Any, now: datetime
) -> None:
    """Any fields, start, zone and jitter build a trigger that answers, or raise ValueError
    or TypeError."""
    try:
        trigger = CronTrigger(**fields, start_date=start, timezone=zone or "UTC", jitter=jitter)
    except DOCUMENTED:
        return
    trigger.get_next_fire_time(None, now)


@PROPERTY_SETTINGS
@given(interval=st.lists(st.integers(min_value=0, max_value=10**25), min_size=4, max_size=4),
       start=st.one_of(st.none(), st.dates(), TEXTS), zone=ZONES, hour=NUMBERS,
       now=st.datetimes(timezones=st.just(UTC)))  # fmt: skip
def test_calendar_interval_trigger_raises_only_documented_errors(
    interval: list[int], start: Any, zone: Any, hour: Any, now: datetime
) -> None:
    """Any calendar interval, start date, zone and hour build a trigger that answers, or raise
    ValueError or TypeError."""
    years, months, weeks, days = interval
    try:
        trigger = CalendarIntervalTrigger(
            years=years,
            months=months,
            weeks=weeks,
            days=days,
            hour=hour,
            start_date=start,
            timezone=zone or "UTC",
        )
    except DOCUMENTED:
        return
    previous = trigger.get_next_fire_time(None, now)
    trigger.get_next_fire_time(previous, now)


@PROPERTY_SETTINGS
@given(run_date=DATES, zone=ZONES, now=st.datetimes(timezones=st.just(UTC)))
def test_date_trigger_raises_only_documented_errors(
    run_date: Any, zone: Any, now: datetime
) -> None:
    """Any run date and zone build a trigger that answers, or raise ValueError or TypeError."""
    try:
        trigger = DateTrigger(run_date=run_date, timezone=zone or "UTC")
    except DOCUMENTED:
        return
    trigger.get_next_fire_time(None, now)


@PROPERTY_SETTINGS
@given(name=st.one_of(st.text(), st.integers(), st.none(), st.binary()))
def test_astimezone_raises_only_documented_errors(name: Any) -> None:
    """astimezone of anything returns a zone or None, or raises ValueError or TypeError."""
    try:
        astimezone(name)
    except DOCUMENTED:
        pass


@PROPERTY_SETTINGS
@given(value=DATES | st.integers() | st.floats(), zone=ZONES)
def test_convert_to_datetime_raises_only_documented_errors(value: Any, zone: Any) -> None:
    """convert_to_datetime of anything returns an aware datetime or None, or raises
    ValueError or TypeError."""
    try:
        result = convert_to_datetime(value, zone, "value")
    except DOCUMENTED:
        return
    assert result is None or result.tzinfo is not None


JSON_LIKE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.dates()
    | st.datetimes() | st.binary() | st.timedeltas(),
    lambda children: st.lists(children) | st.tuples(children, children)
    | st.dictionaries(st.text() | st.integers(), children),
    max_leaves=30,
)  # fmt: skip


@PROPERTY_SETTINGS
@given(args=st.lists(JSON_LIKE, max_size=3), kwargs=st.dictionaries(st.text(), JSON_LIKE))
def test_serializer_round_trips_or_raises_serialization_error(
    args: list[Any], kwargs: dict[str, Any]
) -> None:
    """Any nested data either reads back equal (NaN aside) or raises SerializationError."""
    try:
        text = dumps_args(tuple(args), kwargs)
    except SerializationError:
        return
    back_args, back_kwargs = loads_args(text)
    assert repr(back_args) == repr(tuple(args))
    assert repr(back_kwargs) == repr(kwargs)


def test_date_outside_the_calendar_is_an_argument_error() -> None:
    """A date one day before year 1 in its zone raises ArgumentOverflowError or
    InvalidArgumentError naming the argument."""
    first = datetime.min  # noqa: DTZ901 (naive on purpose: read in the trigger's zone)
    with pytest.raises(ValueError, match="start_date"):
        IntervalTrigger(seconds=1, start_date=first, timezone="Europe/Paris")


def test_reschedule_with_a_trigger_that_fails_to_build_leaves_the_job_as_it_was(
    scheduler: Any, recorder: EventRecorder
) -> None:
    """reschedule_job with overflowing trigger arguments raises and changes nothing."""
    scheduler.start()
    job = scheduler.add_job(core_jobs.record, "interval", seconds=5, id="steady")
    before = (str(job.trigger), job.next_run_time)
    with pytest.raises(ArgumentOverflowError, match="seconds=100000000000000000000"):
        scheduler.reschedule_job("steady", trigger="interval", seconds=10**20)
    after = scheduler.get_job("steady")
    assert (str(after.trigger), after.next_run_time) == before
    assert recorder.of(EVENT_JOB_MODIFIED) == []


@pytest.fixture
def sql_scheduler(clock: ManualClock, tmp_path: Path) -> Iterator[ManualScheduler]:
    from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore

    store = SQLAlchemyJobStore(url=f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    sched = ManualScheduler(
        clock=clock, timezone="UTC", metrics=False, tracing=False, jobstores={"default": store}
    )
    sched.start()
    yield sched
    sched.shutdown()


def test_unstorable_arguments_leave_no_job_in_a_json_store(sql_scheduler: ManualScheduler) -> None:
    """add_job with arguments nested too deep for the JSON store raises SerializationError
    and stores nothing."""
    recorder = EventRecorder(sql_scheduler)
    with pytest.raises(SerializationError, match="nested more than"):
        sql_scheduler.add_job(
            core_jobs.record, "interval", seconds=1, args=[_nested(500)], id="deep"
        )
    assert sql_scheduler.get_jobs() == []
    assert recorder.of(EVENT_JOB_ADDED) == []


def test_unstorable_arguments_leave_a_stored_job_as_it_was(sql_scheduler: ManualScheduler) -> None:
    """modify_job with arguments that contain themselves raises SerializationError and the
    stored job keeps its arguments."""
    sql_scheduler.add_job(core_jobs.record, "interval", seconds=1, args=["kept"], id="job")
    recorder = EventRecorder(sql_scheduler)
    with pytest.raises(SerializationError, match="contains"):
        sql_scheduler.modify_job("job", args=[_cyclic()])
    assert sql_scheduler.get_job("job").args == ("kept",)
    assert recorder.of(EVENT_JOB_MODIFIED) == []


@pytest.mark.parametrize("grace", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_misfire_grace_time_is_refused(scheduler: Any, grace: float) -> None:
    """add_job with a non-finite misfire_grace_time raises TypeError naming it."""
    with pytest.raises(TypeError, match="misfire_grace_time must be either None or a positive"):
        scheduler.add_job(core_jobs.record, "interval", seconds=1, misfire_grace_time=grace)


def _outcome(call: Any) -> Exception | None:
    try:
        call()
    except Exception as exc:
        return exc
    return None


def _assert_raises_like_apscheduler(ours: Any, theirs: Any) -> None:
    expected, raised = _outcome(theirs), _outcome(ours)
    if expected is None:
        assert raised is None, f"obssched raised {raised!r} where APScheduler returned"
        return
    assert isinstance(raised, type(expected)), (raised, expected)
    assert str(raised).startswith(str(expected)), (raised, expected)


ZONE_NAMES = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["UTC", "Europe/Paris", "", "..", "a/../b", "local", LONG_NAME, "EST5EDT"]),
    st.integers(),
    st.none(),
)


@PROPERTY_SETTINGS
@given(name=ZONE_NAMES)
def test_astimezone_fails_where_apscheduler_fails_with_its_type_and_text(name: Any) -> None:
    """For any input, astimezone raises when and what APScheduler 3.11's raises (its type, a
    message starting with its text), and returns when it returns."""
    from apscheduler.util import astimezone as their_astimezone

    _assert_raises_like_apscheduler(lambda: astimezone(name), lambda: their_astimezone(name))


DATE_TEXTS = st.from_regex(
    r"\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{1,2}:\d{1,2}(\.\d{1,6})?(Z|[+-]\d\d:\d\d)?)?",
    fullmatch=True,
)


@PROPERTY_SETTINGS
@given(
    value=st.one_of(st.text(max_size=30), DATE_TEXTS, st.datetimes(), st.dates(), st.integers()),
    zone=st.sampled_from([UTC, "UTC", "Europe/Paris", "Etc/GMT-14", "Etc/GMT+12"]),
)
def test_convert_to_datetime_fails_where_apscheduler_fails_with_its_type_and_text(
    value: Any, zone: Any
) -> None:
    """For any input, convert_to_datetime raises when and what APScheduler 3.11's raises, and
    returns when it returns."""
    from apscheduler.util import convert_to_datetime as their_convert

    _assert_raises_like_apscheduler(
        lambda: convert_to_datetime(value, zone, "value"),
        lambda: their_convert(value, zone, "value"),
    )


ANY_VALUE = st.one_of(
    st.integers(min_value=0, max_value=10**4),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),
    st.text(max_size=8),
    st.none(),
    st.datetimes(),
    st.dates(),
    st.sampled_from(
        ["UTC", "Europe/Paris", "", "../x", LONG_NAME, "*/5", "last fri", "2024-01-01"]
    ),
)
ONE_ARGUMENT_CASES = {
    "interval": ("IntervalTrigger", {"seconds": 5}, ["weeks", "days", "hours", "minutes",
                 "seconds", "start_date", "end_date", "timezone", "jitter"]),
    "cron": ("CronTrigger", {"hour": 5}, ["year", "month", "day", "week", "day_of_week", "hour",
             "minute", "second", "start_date", "end_date", "timezone", "jitter"]),
    "date": ("DateTrigger", {"run_date": "2030-01-01"}, ["run_date", "timezone"]),
    "calendarinterval": ("CalendarIntervalTrigger", {"days": 1}, ["years", "months", "weeks",
                         "days", "hour", "minute", "second", "start_date", "timezone", "jitter"]),
}  # fmt: skip


def _reads_the_clock(module: str, error: Exception) -> bool:
    # APScheduler's interval trigger adds the interval to the current time when it is made; an
    # obssched trigger never reads the clock, and an interval past year 9999 just never fires.
    return module == "interval" and str(error) == "date value out of range"


@PROPERTY_SETTINGS
@given(module=st.sampled_from(sorted(ONE_ARGUMENT_CASES)), data=st.data())
def test_one_bad_trigger_argument_fails_as_in_apscheduler(module: str, data: Any) -> None:
    """A trigger given one arbitrary argument (the others valid) raises wherever APScheduler
    3.11's raises, with its type and a message starting with its text."""
    name, base, arguments = ONE_ARGUMENT_CASES[module]
    argument = data.draw(st.sampled_from(arguments))
    kwargs = {"timezone": "UTC", **base, argument: data.draw(ANY_VALUE)}
    ours = getattr(importlib.import_module(f"obssched.triggers.{module}"), name)
    theirs = getattr(importlib.import_module(f"apscheduler.triggers.{module}"), name)
    expected = _outcome(lambda: theirs(**kwargs))
    if expected is None or _reads_the_clock(module, expected):
        return
    raised = _outcome(lambda: ours(**kwargs))
    assert isinstance(raised, type(expected)), (raised, expected)
    assert str(raised).startswith(str(expected)), (raised, expected)


@pytest.mark.parametrize(
    "zone", [LONG_NAME, "a\0b", "", 0, "Mars/Base"], ids=["long", "nul", "empty", "int", "unknown"]
)
def test_scheduler_zone_fails_as_in_apscheduler(zone: Any) -> None:
    """A scheduler configured with an invalid zone raises what APScheduler 3.11's raises (its
    type, its text first)."""
    from apscheduler.schedulers.background import BackgroundScheduler as TheirScheduler

    from obssched.schedulers.background import BackgroundScheduler

    _assert_raises_like_apscheduler(
        lambda: BackgroundScheduler(timezone=zone), lambda: TheirScheduler(timezone=zone)
    )
    assert _outcome(lambda: BackgroundScheduler(timezone=zone)) is not None
