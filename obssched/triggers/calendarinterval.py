"""A trigger that fires every so many calendar days, weeks, months or years, at a wall time."""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Final

from obssched._timeutil import astimezone, get_localzone, timezone_repr
from obssched.exceptions import ArgumentOverflowError
from obssched.triggers._state import check_version, date_from_text, zone_from_text, zone_to_text
from obssched.triggers._zones import WallKind, classify_wall_time
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
            raise ValueError(f"{exc} (for {name})") from exc
    raise TypeError(f"{name} must be a date or ISO 8601 text, got {value!r}")


class CalendarIntervalTrigger(GridTrigger):
    """Fires on ``start_date`` and every ``years/months/weeks/days`` after it, at a fixed wall time.

    As in APScheduler 3, each date is the previous fire date plus the years and months (more
    of them while the day does not exist in the month, like 31 April) plus the weeks and days;
    the first is ``start_date`` itself, even when it is long past (``now`` is not consulted:
    runs missed since are the scheduler's to handle, by misfire grace time and coalescing).

    A day whose wall time is skipped by a DST change is skipped; a repeated wall time fires
    once, at its first occurrence. Without a ``start_date`` the schedule starts on the date of
    the first ``now`` the trigger is asked about (APScheduler uses the day the trigger was
    made; obssched triggers never read the clock).

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
            raise ValueError(
                "interval must be at least 1 day long (give years, months, weeks or days)"
            )
        self.years, self.months, self.weeks, self.days = years, months, weeks, days
        try:
            self._time = time(hour, minute, second)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{exc} (hour={hour!r}, minute={minute!r}, second={second!r})") from exc
        except OverflowError as exc:  # APScheduler 3.11 lets this through
            raise ArgumentOverflowError(
                "hour", hour, f"{exc} (hour={hour!r}, minute={minute!r}, second={second!r})"
            ) from exc
        # An empty name counts as none given, as in APScheduler 3.
        self.timezone = (
            astimezone(timezone or None) or astimezone(get_localzone()) or get_localzone()
        )
        self.start_date = _as_date(start_date, "start_date")
        self.end_date = _as_date(end_date, "end_date")
        if self.start_date and self.end_date and self.start_date > self.end_date:
            raise ValueError(
                f"end_date cannot be earlier than start_date ({self.end_date} < {self.start_date})"
            )
        self._init_jitter(jitter, rng)

    def _date_after(self, day: date) -> date | None:
        """Return the date one interval after ``day`` (``None`` past year 9999).

        Years and months are added first; while that lands on a day the month lacks (31 April),
        further intervals are added, keeping the day of month. Then come the weeks and days.
        """
        year, month = day.year, day.month
        while True:
            month += self.months
            year += self.years + (month - 1) // 12
            month = (month - 1) % 12 + 1
            if year > 9999:
                return None
            if day.day <= calendar.monthrange(year, month)[1]:
                break
        try:
            return date(year, month, day.day) + timedelta(days=self.days + 7 * self.weeks)
        except OverflowError:
            return None

    def _next_scheduled_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        # As in APScheduler 3, the schedule steps from the previous fire date (or is the start
        # date itself), whatever ``now`` is: runs missed since are the scheduler's business.
        if self.start_date is None:
            anchor = previous_fire_time if previous_fire_time is not None else now
            self.start_date = anchor.astimezone(self.timezone).date()
        if previous_fire_time is None:
            candidate: date | None = self.start_date
        else:
            candidate = self._date_after(previous_fire_time.astimezone(self.timezone).date())
        for _ in range(_MAX_SKIPPED_DATES):
            if candidate is None or (self.end_date is not None and candidate > self.end_date):
                return None
            wall = datetime.combine(candidate, self._time)
            if classify_wall_time(wall, self.timezone) is not WallKind.GAP:
                return wall.replace(tzinfo=self.timezone, fold=0)
            # The wall time does not exist that day (clocks jumped over it): skip the day.
            candidate = self._date_after(candidate)
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
