"""Differential tests: ``obssched.util`` against ``apscheduler.util`` 3.11 on the same input."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import apscheduler.util as theirs
import pytest
import pytz
from compat_outcomes import assert_same_error, assert_same_outcome, outcome

import obssched.util as ours


class _Local(tzinfo):
    """A zone that only knows itself as "local" (what some tzlocal versions returned)."""

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return "local"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("Europe/Berlin", id="name"),
        pytest.param("UTC", id="utc-name"),
        pytest.param(ZoneInfo("America/New_York"), id="zoneinfo"),
        pytest.param(pytz.timezone("Europe/Berlin"), id="pytz-zone"),
        pytest.param(pytz.timezone("Asia/Kolkata"), id="pytz-zone-half-hour"),
        pytest.param(timezone(timedelta(hours=2)), id="fixed-offset"),
        pytest.param(None, id="none"),
    ],
)
def test_astimezone_gives_the_same_zone(value: Any) -> None:
    """astimezone maps names, zoneinfo, pytz and fixed zones to equal zones."""
    mine, expected = ours.astimezone(value), theirs.astimezone(value)
    assert mine == expected or (mine is UTC and expected in (UTC, ZoneInfo("UTC")))


def test_astimezone_reads_a_pytz_fixed_offset_as_a_fixed_offset() -> None:
    """A pytz fixed offset becomes the datetime.timezone of that offset."""
    assert ours.astimezone(pytz.FixedOffset(-90)) == timezone(timedelta(minutes=-90))


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(_Local(), id="local"),
        pytest.param(tzinfo(), id="bare-tzinfo"),
        pytest.param(4, id="integer"),
        pytest.param("Mars/Olympus_Mons", id="unknown-name"),
    ],
)
def test_astimezone_refuses_what_apscheduler_refuses(value: Any) -> None:
    """Zones APScheduler refuses raise the same type with a message starting with its text."""
    assert_same_error(
        outcome(lambda: ours.astimezone(value)), outcome(lambda: theirs.astimezone(value))
    )


@pytest.mark.parametrize(
    ("value", "tz"),
    [
        pytest.param(datetime(2024, 5, 1, 12), ZoneInfo("Europe/Berlin"), id="naive"),
        pytest.param(date(2024, 5, 1), ZoneInfo("Europe/Berlin"), id="date"),
        pytest.param("2024-05-01", ZoneInfo("Europe/Berlin"), id="date-text"),
        pytest.param("2024-5-1 08:09:10", "Europe/Berlin", id="zone-as-text"),
        pytest.param("2024-05-01 08:09:10.5", UTC, id="fraction"),
        pytest.param("2024-05-01T08:09:10+02:00", UTC, id="explicit-offset"),
        pytest.param("2024-05-01 08:09:10Z", ZoneInfo("Europe/Berlin"), id="zulu"),
        pytest.param("2024-03-31 02:30:00", ZoneInfo("Europe/Berlin"), id="wall-time-in-gap"),
        pytest.param(datetime(2024, 5, 1, 12, tzinfo=UTC), None, id="aware-without-tz"),
        pytest.param("2024-05-01", pytz.timezone("Europe/Berlin"), id="pytz-zone"),
        pytest.param(None, None, id="none"),
        pytest.param("2024-13-01", UTC, id="month-out-of-range"),
        pytest.param("19700-12-1", UTC, id="not-a-date"),
        pytest.param(92123, UTC, id="unsupported-type"),
        pytest.param("2024-05-01", None, id="naive-without-tz"),
    ],
)
def test_convert_to_datetime_agrees(value: Any, tz: Any) -> None:
    """convert_to_datetime gives the same instant and offset, or the same error."""
    mine = outcome(lambda: ours.convert_to_datetime(value, tz, "start_date"))
    expected = outcome(lambda: theirs.convert_to_datetime(value, tz, "start_date"))
    assert_same_outcome(mine, expected)
    if mine.value is not None:
        assert mine.value.utcoffset() == expected.value.utcoffset()


def _plain(a: Any, b: Any, c: Any = 3) -> None:
    """A target with positional-or-keyword parameters."""


def _keyword_only(a: Any, *, b: Any, c: Any = 3) -> None:
    """A target with keyword-only parameters."""


def _positional_only(a: Any, b: Any, /, c: Any = 3) -> None:
    """A target with positional-only parameters."""


def _variadic(a: Any, *args: Any, **kwargs: Any) -> None:
    """A target taking anything after ``a``."""


@pytest.mark.parametrize(
    ("func", "args", "kwargs"),
    [
        pytest.param(_plain, (1, 2), {}, id="fits"),
        pytest.param(_plain, (1,), {}, id="missing"),
        pytest.param(_plain, (1, 2), {"a": 1}, id="in-both"),
        pytest.param(_plain, (1, 2, 3, 4), {}, id="too-many"),
        pytest.param(_plain, (1, 2), {"d": 4, "e": 5}, id="unknown-keywords"),
        pytest.param(_keyword_only, (1,), {}, id="missing-keyword-only"),
        pytest.param(_keyword_only, (1, 2), {"b": 2}, id="keyword-only-too-many"),
        pytest.param(_positional_only, (1,), {"b": 2}, id="positional-only-by-name"),
        pytest.param(_positional_only, (), {}, id="positional-only-missing"),
        pytest.param(_variadic, (1, 2, 3), {"x": 1}, id="variadic"),
        pytest.param(_variadic, (), {"a": 1}, id="variadic-by-name"),
        pytest.param(partial(_plain, 1), (2,), {}, id="partial"),
        pytest.param(os.getpid, (1,), {}, id="builtin"),
    ],
)
def test_check_callable_args_agrees(func: Any, args: Any, kwargs: Any) -> None:
    """check_callable_args accepts the same calls and refuses the rest with 3.11's exact text."""
    mine = outcome(lambda: ours.check_callable_args(func, args, kwargs))
    expected = outcome(lambda: theirs.check_callable_args(func, args, kwargs))
    assert_same_outcome(mine, expected)
    assert str(mine.error) == str(expected.error)


class _Owner:
    """Holds methods of every kind."""

    def method(self) -> None:
        """An instance method."""

    @classmethod
    def class_method(cls) -> None:
        """A class method."""

    @staticmethod
    def static_method() -> None:
        """A static method."""

    def __call__(self) -> None:
        """Makes instances callable."""


class _Unimportable:
    """A class whose module cannot be imported."""

    @classmethod
    def class_method(cls) -> None:
        """A class method."""


_Unimportable.__module__ = "no_such_module_anywhere"


def _nested() -> Any:
    def inner() -> None:
        """A nested function."""

    return inner


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param(_plain, id="function"),
        pytest.param(_Owner.method, id="unbound-method"),
        pytest.param(_Owner().method, id="bound-method"),
        pytest.param(_Owner.class_method, id="class-method"),
        pytest.param(_Owner.static_method, id="static-method"),
        pytest.param(_Owner, id="class"),
        pytest.param(_Owner(), id="callable-instance"),
        pytest.param(_Unimportable.class_method, id="unimportable-module"),
        pytest.param(timedelta, id="builtin-class"),
        pytest.param(os.getpid, id="builtin-function"),
        pytest.param(partial(_plain, 1), id="partial"),
        pytest.param(lambda: None, id="lambda"),
        pytest.param(_nested(), id="nested"),
        pytest.param(object(), id="not-callable"),
    ],
)
def test_obj_to_ref_and_get_callable_name_agree(obj: Any) -> None:
    """obj_to_ref and get_callable_name give 3.11's text for every kind of callable."""
    assert_same_outcome(
        outcome(lambda: ours.obj_to_ref(obj)), outcome(lambda: theirs.obj_to_ref(obj))
    )
    assert_same_outcome(
        outcome(lambda: ours.get_callable_name(obj)),
        outcome(lambda: theirs.get_callable_name(obj)),
    )


@pytest.mark.parametrize(
    "ref",
    [
        pytest.param("datetime:timedelta", id="class"),
        pytest.param("os.path:join", id="function"),
        pytest.param("no_such_module_anywhere:x", id="module-missing"),
        pytest.param("datetime:nothing_here", id="attribute-missing"),
        pytest.param("no_colon_here", id="no-colon"),
        pytest.param(42, id="not-text"),
    ],
)
def test_ref_to_obj_agrees(ref: Any) -> None:
    """ref_to_obj resolves the same objects and raises the same errors."""
    assert_same_outcome(
        outcome(lambda: ours.ref_to_obj(ref)), outcome(lambda: theirs.ref_to_obj(ref))
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("asbool", " Yes ", id="asbool-text"),
        pytest.param("asbool", "maybe", id="asbool-bad"),
        pytest.param("asint", "12", id="asint"),
        pytest.param("asint", None, id="asint-none"),
        pytest.param("datetime_ceil", datetime(2024, 1, 1, 0, 0, 0, 5, tzinfo=UTC), id="ceil"),
        pytest.param("datetime_to_utc_timestamp", datetime(2024, 1, 1, tzinfo=UTC), id="ts"),
        pytest.param("utc_timestamp_to_datetime", 1_700_000_000.25, id="from-ts"),
        pytest.param("timedelta_seconds", timedelta(days=1, microseconds=5), id="seconds"),
        pytest.param("datetime_repr", datetime(2024, 1, 1, tzinfo=UTC), id="repr"),
        pytest.param("timezone_repr", ZoneInfo("Europe/Berlin"), id="zone-repr"),
        pytest.param("asdate", "2024-02-29", id="asdate"),
    ],
)
def test_small_helpers_agree(name: str, value: Any) -> None:
    """The small conversion helpers return what 3.11's return (or raise what they raise)."""
    assert_same_outcome(
        outcome(lambda: getattr(ours, name)(value)), outcome(lambda: getattr(theirs, name)(value))
    )


def test_localize_agrees_for_a_pytz_zone() -> None:
    """localize with a pytz zone gives the instant and offset pytz's localize gives."""
    zone = pytz.timezone("Europe/Berlin")
    wall = datetime(2024, 7, 1, 12)
    assert ours.localize(wall, zone) == theirs.localize(wall, zone)
    assert ours.localize(wall, zone).utcoffset() == timedelta(hours=2)


def test_util_has_every_public_helper_of_apscheduler() -> None:
    """Every public function (and UTC) of apscheduler.util 3.11 exists in obssched.util."""
    import inspect

    names = [
        name
        for name, value in vars(theirs).items()
        if not name.startswith("_")
        and inspect.isfunction(value)
        and value.__module__ == "apscheduler.util"
    ]
    assert [name for name in [*names, "UTC", "undefined"] if not hasattr(ours, name)] == []


def test_datetime_utc_add_agrees_across_dst() -> None:
    """datetime_utc_add adds real time across a DST change, as in 3.11."""
    moment = datetime(2024, 3, 31, 1, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    assert str(ours.datetime_utc_add(moment, timedelta(hours=1))) == str(
        theirs.datetime_utc_add(moment, timedelta(hours=1))
    )
