"""Specification of cron field expressions and their errors."""

from __future__ import annotations

import pytest

from obssched.triggers._fields import parse_field
from obssched.triggers.cron import CronTrigger


@pytest.mark.parametrize(
    ("field", "expression", "values"),
    [
        pytest.param("minute", "*/15", (0, 15, 30, 45), id="step"),
        pytest.param("hour", "3", (3,), id="single"),
        pytest.param("hour", "1-4", (1, 2, 3, 4), id="range"),
        pytest.param("minute", "10-30/10", (10, 20, 30), id="range-step"),
        pytest.param("minute", "50/5", (50, 55), id="start-step"),
        pytest.param("hour", "1,5,3", (1, 3, 5), id="list"),
        pytest.param("month", "jan,Mar-apr", (1, 3, 4), id="month-names"),
        pytest.param("day_of_week", "mon-fri", (0, 1, 2, 3, 4), id="weekday-names"),
        pytest.param("day_of_week", "6", (6,), id="keyword-6-is-sunday"),
        pytest.param("second", 7, (7,), id="integer"),
    ],
)
def test_expression_values(field: str, expression: str | int, values: tuple[int, ...]) -> None:
    """An expression allows exactly the values the APScheduler 3 syntax describes."""
    assert parse_field(field, expression).values == values


@pytest.mark.parametrize(
    ("expression", "values"),
    [
        pytest.param("0", (6,), id="0-sunday"),
        pytest.param("7", (6,), id="7-sunday"),
        pytest.param("1-5", (0, 1, 2, 3, 4), id="mon-fri"),
        pytest.param("sun", (6,), id="name"),
    ],
)
def test_crontab_weekdays(expression: str, values: tuple[int, ...]) -> None:
    """In crontab lines 0 and 7 are Sunday and 1 is Monday."""
    assert parse_field("day_of_week", expression, crontab=True).values == values


@pytest.mark.parametrize(
    ("expression", "days"),
    [
        pytest.param("last", (29,), id="last"),
        pytest.param("2nd fri", (9,), id="2nd-fri"),
        pytest.param("last sun", (25,), id="last-sun"),
        pytest.param("5th thu", (29,), id="5th-thu"),
        pytest.param("5th fri", (), id="no-5th-fri"),
        pytest.param("1,last", (1, 29), id="list-with-last"),
    ],
)
def test_month_dependent_days(expression: str, days: tuple[int, ...]) -> None:
    """Positional day expressions resolve per month (February 2024 here)."""
    assert parse_field("day", expression).days_in_month(2024, 2) == days


@pytest.mark.parametrize(
    ("field", "expression", "fragment"),
    [
        pytest.param("minute", "*/0", "'*/0'", id="zero-step"),
        pytest.param("minute", "61", "'61'", id="out-of-range"),
        pytest.param("day_of_week", "mon-", "'mon-'", id="dangling-range"),
        pytest.param("day", "6th fri", "'6th fri'", id="6th"),
        pytest.param("hour", "5-2", "'5-2'", id="descending"),
        pytest.param("month", "foo", "'foo'", id="unknown-name"),
        pytest.param("day", "last xyz", "'last xyz'", id="unknown-weekday"),
        pytest.param("second", "", "''", id="empty"),
        pytest.param("hour", "*-3", "'*-3'", id="star-range"),
    ],
)
def test_malformed_expression(field: str, expression: str, fragment: str) -> None:
    """A malformed expression raises ValueError naming the field and the text."""
    with pytest.raises(ValueError, match=f"'{field}'.*{fragment.replace('*', '[*]')}"):
        CronTrigger(**{field: expression}, timezone="UTC")


def test_wrong_crontab_field_count() -> None:
    """A crontab line without exactly five fields is refused with the line in the message."""
    with pytest.raises(ValueError, match=r"Wrong number of fields; got 4.*'0 9 \* \*'"):
        CronTrigger.from_crontab("0 9 * *", timezone="UTC")


def test_unknown_time_zone() -> None:
    """An unknown time zone name raises ValueError naming it."""
    with pytest.raises(ValueError, match="Mars/Olympus"):
        CronTrigger(hour=3, timezone="Mars/Olympus")


def test_end_before_start() -> None:
    """An end date before the start date is refused."""
    with pytest.raises(ValueError, match="end_date"):
        CronTrigger(hour=3, start_date="2024-02-01", end_date="2024-01-01", timezone="UTC")
