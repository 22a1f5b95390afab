"""Finding the next wall-clock time that satisfies a set of parsed cron fields.

The search works on naive wall-clock datetimes and knows nothing of time zones; the cron trigger
maps its answers onto real instants. Each step bisects a precomputed sorted tuple, so the cost is
proportional to the number of fields, not to the distance to the answer.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left
from datetime import date, datetime
from typing import Final

from obssched.triggers._fields import ParsedField

__all__ = ["CronSchedule"]

_CALENDAR_CYCLE_YEARS: Final = 400
"""The Gregorian calendar (leap years, weekdays, ISO weeks) repeats every 400 years, so a search
that found nothing in 401 years never will."""

_MAX_CACHED_MONTHS: Final = 512


class CronSchedule:
    """The fields of a cron expression, searchable for the next matching wall-clock time."""

    __slots__ = (
        "_day",
        "_day_cache",
        "_days_or_weekdays",
        "_hours",
        "_minutes",
        "_months",
        "_seconds",
        "_weekdays",
        "_weeks",
        "_years",
    )

    def __init__(self, fields: dict[str, ParsedField], *, days_or_weekdays: bool = False) -> None:
        self._years = fields["year"].values
        self._months = fields["month"].values
        self._day = fields["day"]
        self._weeks = None if fields["week"].is_wildcard else frozenset(fields["week"].values)
        weekdays = fields["day_of_week"]
        # Under crontab's OR rule even an all-days weekday list ("0-6") widens the days.
        every_weekday = len(weekdays.values) == 7 and not days_or_weekdays
        self._weekdays = None if every_weekday else frozenset(weekdays.values)
        self._hours = fields["hour"].values
        self._minutes = fields["minute"].values
        self._seconds = fields["second"].values
        self._days_or_weekdays = days_or_weekdays
        self._day_cache: dict[tuple[int, int], tuple[int, ...]] = {}

    def _tables(self) -> tuple[object, ...]:
        return (
            self._years,
            self._months,
            self._day,
            self._weeks,
            self._weekdays,
            self._hours,
            self._minutes,
            self._seconds,
            self._days_or_weekdays,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CronSchedule) and self._tables() == other._tables()

    def __hash__(self) -> int:
        return hash(self._tables())

    def can_ever_match(self) -> bool:
        """Tell whether some month has a day these fields allow (ignoring the weekday)."""
        if self._day.last_day or self._day.weekday_positions or self._days_or_weekdays:
            return True
        longest = max(31 if month != 2 else 29 for month in self._months)
        return bool(self._day.values) and self._day.values[0] <= longest

    def _days(self, year: int, month: int) -> tuple[int, ...]:
        key = (year, month)
        cached = self._day_cache.get(key)
        if cached is not None:
            return cached
        days = self._day.days_in_month(year, month)
        if self._weekdays is not None or self._weeks is not None:
            first_weekday, length = calendar.monthrange(year, month)
            weekdays, weeks = self._weekdays, self._weeks
            by_weekday = tuple(
                day
                for day in range(1, length + 1)
                if weekdays is None or (first_weekday + day - 1) % 7 in weekdays
            )
            if self._days_or_weekdays:
                days = tuple(sorted(set(days) | set(by_weekday)))
            else:
                allowed = set(by_weekday)
                days = tuple(day for day in days if day in allowed)
            if weeks is not None:
                days = tuple(
                    day for day in days if date(year, month, day).isocalendar().week in weeks
                )
        if len(self._day_cache) >= _MAX_CACHED_MONTHS:
            self._day_cache.clear()
        self._day_cache[key] = days
        return days

    def _next_date(self, year: int, month: int, day: int, last: date | None) -> date | None:
        """Return the first allowed date on or after ``year``-``month``-``day``."""
        give_up = min(year + _CALENDAR_CYCLE_YEARS, 9999)
        if last is not None:
            give_up = min(give_up, last.year)
        years, months = self._years, self._months
        while year <= give_up:
            index = bisect_left(years, year)
            if index == len(years):
                return None
            if years[index] != year:
                year, month, day = years[index], months[0], 1
                continue
            for month_index in range(bisect_left(months, month), len(months)):
                candidate_month = months[month_index]
                if candidate_month != month:
                    day = 1
                days = self._days(year, candidate_month)
                day_index = bisect_left(days, day)
                if day_index < len(days):
                    found = date(year, candidate_month, days[day_index])
                    return found if last is None or found <= last else None
            year, month, day = year + 1, 1, 1
        return None

    def _next_time(self, hour: int, minute: int, second: int) -> tuple[int, int, int] | None:
        """Return the first allowed time of day on or after ``hour:minute:second``."""
        hours, minutes, seconds = self._hours, self._minutes, self._seconds
        hour_index = bisect_left(hours, hour)
        if hour_index == len(hours):
            return None
        if hours[hour_index] != hour:
            return hours[hour_index], minutes[0], seconds[0]
        minute_index = bisect_left(minutes, minute)
        if minute_index < len(minutes):
            if minutes[minute_index] != minute:
                return hour, minutes[minute_index], seconds[0]
            second_index = bisect_left(seconds, second)
            if second_index < len(seconds):
                return hour, minute, seconds[second_index]
            if minute_index + 1 < len(minutes):
                return hour, minutes[minute_index + 1], seconds[0]
        if hour_index + 1 < len(hours):
            return hours[hour_index + 1], minutes[0], seconds[0]
        return None

    def next_match(self, wall: datetime, last: date | None = None) -> datetime | None:
        """Return the first allowed wall-clock time at or after ``wall`` (whole seconds).

        ``wall`` must not carry microseconds. The search stops after ``last`` (a date) and
        after one full calendar cycle, returning ``None``.
        """
        found = self._next_date(wall.year, wall.month, wall.day, last)
        if found is None:
            return None
        if found == wall.date():
            time_of_day = self._next_time(wall.hour, wall.minute, wall.second)
            if time_of_day is not None:
                return datetime(found.year, found.month, found.day, *time_of_day)  # noqa: DTZ001
            if found.toordinal() >= date.max.toordinal():
                return None
            following = date.fromordinal(found.toordinal() + 1)
            found = self._next_date(following.year, following.month, following.day, last)
            if found is None:
                return None
        hours, minutes, seconds = self._hours, self._minutes, self._seconds
        return datetime(  # noqa: DTZ001 (wall-clock time; the trigger attaches the zone)
            found.year, found.month, found.day, hours[0], minutes[0], seconds[0]
        )
