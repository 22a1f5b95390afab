"""A trigger that fires every so many calendar days, weeks, months or years, at a wall time."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Final

from obssched._timeutil import astimezone, get_localzone, timezone_repr
from obssched.triggers._settings import check_window
from obssched.triggers._state import check_version, date_from_text, zone_from_text, zone_to_text
from obssched.triggers._zones import resolve_wall_time
from obssched.triggers.base import GridTrigger, RandomSource

__all__ = ["CalendarIntervalTrigger"]

_STATE_VERSION: Final = 1
_MAX_SKIPPED_DATES: Final = 1_000
"""Invalid dates (31st of short months, 29 February) are skipped; this many in a row is plenty
(a 29 February start with ``years=100`` skips at most 7)."""


def _as_date(value: date | str | None, name: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"Invalid date string for {name}: {value!r}") from exc
    raise TypeError(f"{name} must be a date or ISO 8601 text, got {value!r}")


class CalendarIntervalTrigger(GridTrigger):
    """Fires on ``start_date`` and every ``years/months/weeks/days`` after it, at a fixed wall time.

    The k-th date is ``start_date`` plus ``k`` times the years and months (skipped when that
    day does not exist in the month, like 31 April) plus ``k`` times the weeks and days. Dates
    are always counted from ``start_date``, so skipped dates do not shift the schedule.

    A wall time skipped by a DST change fires at the first instant after the gap; a repeated
    one fires once, at its first occurrence. Without a ``start_date`` the schedule starts on the
    date of the first ``now`` the trigger is asked about, which is then kept.

    Args:
        years, months, weeks, days: the calendar interval (at least one must be positive).
        hour, minute, second: the wall time to fire at.
        start_date: the first date (``date`` or ISO 8601 text).
        end_date: the last possible date.
        timezone: the zone of the wall time (default: local).
        jitter: delay each fire time by a random amount of up to this many seconds.
        rng: the random number generator for jitter (default: the :mod:`random` module).
    """

    __slots__ = (
        "_time",
        "days",
        "end_date",
        "months",
        "start_date",
        "timezone",
        "weeks",
        "years",
    )

    years: int
    months: int
    weeks: int
    days: int
    start_date: date | None
    end_date: date | None
    timezone: tzinfo
    _time: time

    def __init__(
        self,
        *,
        years: int = 0,
        months: int = 0,
        weeks: int = 0,
        days: int = 0,
        hour: int = 0,
        minute: int = 0,
        second: int = 0,
        start_date: date | str | None = None,
        end_date: date | str | None = None,
        timezone: str | tzinfo | None = None,
        jitter: float | None = None,
        rng: RandomSource | None = None,
    ) -> None:
        for name, value in (("years", years), ("months", months), ("weeks", weeks), ("days", days)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if years == months == weeks == days == 0:
            raise ValueError("The interval must be positive: give years, months, weeks or days")
        self.years, self.months, self.weeks, self.days = years, months, weeks, days
        try:
            self._time = time(hour, minute, second)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"Invalid time of day hour={hour!r}, minute={minute!r}, second={second!r}: {exc}"
            ) from exc
        self.timezone = astimezone(timezone) or get_localzone()
        self.start_date = _as_date(start_date, "start_date")
        self.end_date = _as_date(end_date, "end_date")
        check_window(self.start_date, self.end_date)
        self._init_jitter(jitter, rng)

    def _date_at(self, start: date, step: int) -> date | None:
        total_months = start.month - 1 + step * (12 * self.years + self.months)
        year, month = start.year + total_months // 12, total_months % 12 + 1
        if year > 9999 or start.day > calendar.monthrange(year, month)[1]:
            return None
        shifted = date(year, month, start.day)
        try:
            return shifted + timedelta(days=step * (7 * self.weeks + self.days))
        except OverflowError:
            return None

    def _estimate_step(self, start: date, target: date) -> int:
        month_step = 12 * self.years + self.months
        day_step = 7 * self.weeks + self.days
        if month_step:
            months_between = (target.year - start.year) * 12 + target.month - start.month
            return max(0, months_between // month_step - 1)
        return max(0, (target - start).days // day_step - 1)

    def _next_scheduled_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        bound = self._search_start(previous_fire_time, now)
        if self.start_date is None:
            anchor = previous_fire_time if previous_fire_time is not None else now
            self.start_date = anchor.astimezone(self.timezone).date()
        start = self.start_date
        step = self._estimate_step(start, bound.astimezone(self.timezone).date())
        skipped = 0
        while skipped < _MAX_SKIPPED_DATES:
            candidate = self._date_at(start, step)
            step += 1
            if candidate is None:
                if step * (12 * self.years + self.months) // 12 + start.year > 9999:
                    return None
                skipped += 1
                continue
            if self.end_date is not None and candidate > self.end_date:
                return None
            wall = datetime.combine(candidate, self._time)
            fire_time = resolve_wall_time(wall, self.timezone)
            if fire_time.astimezone(UTC) >= bound:
                return fire_time
            skipped = 0
        return None

    def __getstate__(self) -> dict[str, Any]:
        return {
            "version": _STATE_VERSION,
            "interval": [self.years, self.months, self.weeks, self.days],
            "time": [self._time.hour, self._time.minute, self._time.second],
            "start_date": None if self.start_date is None else self.start_date.isoformat(),
            "end_date": None if self.end_date is None else self.end_date.isoformat(),
            "timezone": zone_to_text(self.timezone),
            "jitter": self.jitter,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        check_version("calendarinterval", state, _STATE_VERSION)
        self.years, self.months, self.weeks, self.days = state["interval"]
        self._time = time(*state["time"])
        self.timezone = zone_from_text(state["timezone"])
        self.start_date = date_from_text(state["start_date"])
        self.end_date = date_from_text(state["end_date"])
        self._init_jitter(state["jitter"], None)

    def _options(self) -> list[str]:
        options = [
            f"{name}={value}"
            for name, value in (
                ("years", self.years),
                ("months", self.months),
                ("weeks", self.weeks),
                ("days", self.days),
            )
            if value
        ]
        options.append(f"time={self._time.isoformat()!r}")
        if self.start_date is not None:
            options.append(f"start_date={self.start_date.isoformat()!r}")
        if self.end_date is not None:
            options.append(f"end_date={self.end_date.isoformat()!r}")
        options.append(f"timezone={timezone_repr(self.timezone)!r}")
        return options

    def __str__(self) -> str:
        return self.__repr__()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self._options())})"
