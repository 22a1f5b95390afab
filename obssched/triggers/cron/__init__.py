"""A trigger that fires when the wall clock matches a cron expression."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from datetime import timezone as fixed_offset_zone
from typing import Any, ClassVar, Final

from obssched._timeutil import datetime_repr, get_localzone
from obssched.triggers._cronsearch import CronSchedule
from obssched.triggers._fields import DEFAULT_VALUES, FIELD_NAMES, ParsedField, parse_field
from obssched.triggers._settings import check_window, choose_zone, to_aware
from obssched.triggers._state import (
    check_version,
    datetime_from_text,
    datetime_to_text,
    zone_from_text,
    zone_to_text,
)
from obssched.triggers._zones import (
    WallKind,
    classify_wall_time,
    fold_bounds,
    gap_end,
    is_second_pass,
)
from obssched.triggers.base import GridTrigger, RandomSource
from obssched.triggers.cron.fields import FIELD_CLASSES, BaseField, make_field

__all__ = ["CronTrigger"]

_STATE_VERSION: Final = 1
_CRONTAB_FIELDS: Final = ("minute", "hour", "day", "month", "day_of_week")
_MAX_CACHED_DAYS: Final = 1024
_MAX_DST_STEPS: Final = 8
"""Each step of the search crosses at most one DST change; a handful always suffices."""


def _ceil_to_second(wall: datetime) -> datetime:
    if wall.microsecond:
        return wall + timedelta(microseconds=1_000_000 - wall.microsecond)
    return wall


def _local_zone() -> tzinfo:
    # Looked up at call time, so patching this module's ``get_localzone`` takes effect.
    return get_localzone()


class CronTrigger(GridTrigger):
    """Fires when the wall clock in ``timezone`` matches every field.

    Each field takes an APScheduler 3 expression: ``*``, ``*/a``, ``a``, ``a-b``, ``a-b/c``,
    comma-separated lists, month and weekday names; ``day`` also takes ``xth y`` (``2nd fri``),
    ``last y`` (``last sun``) and ``last``. Fields more significant than the least significant
    one given default to ``*``, the others to their minimum (``week`` and ``day_of_week``
    always default to ``*``); with no field given, every field is ``*``. ``day_of_week``
    counts from 0 = Monday. :attr:`fields` holds the :mod:`~obssched.triggers.cron.fields`
    objects APScheduler 3 exposes there, whose texts ``str()`` and ``repr()`` show.

    As in APScheduler 3, a ``now`` earlier than the previous fire time (a clock set back)
    searches from ``now``, ``start_date`` bounds only the first fire time, and jitter never
    pushes a fire time past ``end_date``.

    Across DST changes the trigger behaves like Debian's cron: when both ``hour`` and ``minute``
    are fixed (not starting with ``*``), a skipped wall time fires once at the end of the gap and
    a repeated one fires once, at its first occurrence. Otherwise the expression describes a
    recurring pattern and fires at every real instant whose wall time matches, so a job every
    hour fires every real hour.

    Args:
        year, month, day, week, day_of_week, hour, minute, second: the field expressions.
        start_date: no fire time is earlier than this.
        end_date: no fire time is later than this.
        timezone: the zone of the wall clock (default: the zone of ``start_date``, else local).
        jitter: delay each fire time by a random amount of up to this many seconds.
        rng: the random number generator for jitter (default: the :mod:`random` module).
    """

    FIELD_NAMES: ClassVar[tuple[str, ...]] = FIELD_NAMES
    """The fields, most significant first."""
    FIELDS_MAP: ClassVar[dict[str, type[BaseField]]] = FIELD_CLASSES
    """The field class of each field name."""

    __slots__ = (
        "_can_match",
        "_crontab",
        "_explicit",
        "_fixed_time",
        "_schedule",
        "_single_offset",
        "_steady_days",
        "end_date",
        "fields",
        "start_date",
        "timezone",
    )

    fields: list[BaseField]
    start_date: datetime | None
    end_date: datetime | None
    timezone: tzinfo

    def __init__(
        self,
        year: int | str | None = None,
        month: int | str | None = None,
        day: int | str | None = None,
        week: int | str | None = None,
        day_of_week: int | str | None = None,
        hour: int | str | None = None,
        minute: int | str | None = None,
        second: int | str | None = None,
        start_date: datetime | date | str | None = None,
        end_date: datetime | date | str | None = None,
        timezone: str | tzinfo | None = None,
        jitter: float | None = None,
        *,
        rng: RandomSource | None = None,
    ) -> None:
        given = {
            "year": year,
            "month": month,
            "day": day,
            "week": week,
            "day_of_week": day_of_week,
            "hour": hour,
            "minute": minute,
            "second": second,
        }
        self._configure(
            {name: value for name, value in given.items() if value is not None},
            crontab=False,
            timezone=timezone,
            start_date=start_date,
            end_date=end_date,
        )
        self._init_jitter(jitter, rng)

    @classmethod
    def from_crontab(cls, expr: str, timezone: str | tzinfo | None = None) -> CronTrigger:
        """Create a trigger from a standard 5-field crontab line.

        Unlike the keyword arguments, this follows crontab itself: in ``day_of_week`` 0 and 7
        are Sunday, and when both the day of month and the day of week are restricted (neither
        starts with ``*``) a day matching either one fires, as in Vixie cron.

        Raises:
            ValueError: the line does not have 5 fields, or a field is malformed.
        """
        if not isinstance(expr, str):
            raise TypeError(f"from_crontab() takes a str, got {expr!r}")
        values = expr.split()
        if len(values) != len(_CRONTAB_FIELDS):
            raise ValueError(
                f"Wrong number of fields; got {len(values)}, expected {len(_CRONTAB_FIELDS)} "
                f"(in {expr!r})"
            )
        trigger = cls.__new__(cls)
        trigger._configure(
            dict(zip(_CRONTAB_FIELDS, values, strict=True)),
            crontab=True,
            timezone=timezone,
            start_date=None,
            end_date=None,
        )
        trigger._init_jitter(None, None)
        return trigger

    def _configure(
        self,
        given: dict[str, int | str],
        *,
        crontab: bool,
        timezone: str | tzinfo | None,
        start_date: datetime | date | str | None,
        end_date: datetime | date | str | None,
    ) -> None:
        self.timezone = choose_zone(timezone, start_date, end_date, local=_local_zone)
        self.start_date = to_aware(start_date, self.timezone, "start_date")
        self.end_date = to_aware(end_date, self.timezone, "end_date")
        check_window(self.start_date, self.end_date)
        self._crontab = crontab
        self._explicit = tuple(name for name in FIELD_NAMES if name in given)
        remaining = set(given)
        parsed: dict[str, ParsedField] = {}
        self.fields = []
        for name in FIELD_NAMES:
            if name in given:
                remaining.discard(name)
                expression: int | str = given[name]
            elif remaining or not given or name in ("week", "day_of_week"):
                expression = "*"
            else:
                expression = DEFAULT_VALUES[name]
            # The APScheduler-style field validates and names the expression; the parsed one
            # holds the value tables the search bisects.
            self.fields.append(
                make_field(name, expression, is_default=name not in given, crontab=crontab)
            )
            parsed[name] = parse_field(name, expression, crontab=crontab)
        days_or_weekdays = (
            crontab and not parsed["day"].is_wildcard and not parsed["day_of_week"].is_wildcard
        )
        self._schedule = CronSchedule(parsed, days_or_weekdays=days_or_weekdays)
        self._fixed_time = not parsed["hour"].is_wildcard and not parsed["minute"].is_wildcard
        self._single_offset = isinstance(self.timezone, fixed_offset_zone)
        self._can_match = self._schedule.can_ever_match()
        self._steady_days: dict[date, bool] = {}

    def _is_steady_day(self, day: date) -> bool:
        """Tell whether the UTC offset stays the same all through ``day`` (cached)."""
        steady = self._steady_days.get(day)
        if steady is None:
            tz = self.timezone
            midnight = datetime.combine(day, time(), tz)
            offsets = {
                midnight.utcoffset(),
                (midnight.astimezone(UTC) + timedelta(hours=12)).astimezone(tz).utcoffset(),
                (midnight.astimezone(UTC) + timedelta(hours=24)).astimezone(tz).utcoffset(),
                datetime.combine(day + timedelta(days=1), time(), tz).utcoffset(),
            }
            steady = len(offsets) == 1
            if len(self._steady_days) >= _MAX_CACHED_DAYS:
                self._steady_days.clear()
            self._steady_days[day] = steady
        return steady

    def _next_scheduled_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        now_utc = now.astimezone(UTC)
        if previous_fire_time is None:
            bound = now_utc
            if self.start_date is not None:
                bound = max(bound, self.start_date.astimezone(UTC))
        else:
            # As in APScheduler 3: a ``now`` before the previous fire time (a clock set back)
            # searches from ``now``, and the start date only bounds the first fire time.
            bound = self._search_start(previous_fire_time, now)
            if now_utc < previous_fire_time.astimezone(UTC):
                bound = now_utc
        end_utc = None if self.end_date is None else self.end_date.astimezone(UTC)
        if end_utc is not None and bound > end_utc:
            return None
        found = self._first_match_at_or_after(bound, self.end_date)
        if found is None or (end_utc is not None and found.astimezone(UTC) > end_utc):
            return None
        return found

    def _next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """Return the next time to fire (jitter never pushes it past ``end_date``)."""
        next_fire_time = self._next_scheduled_time(previous_fire_time, now)
        if next_fire_time is None or not self.jitter:
            return next_fire_time
        jittered = self._apply_jitter(next_fire_time, self.jitter, now)
        assert jittered is not None
        return jittered if self.end_date is None else min(jittered, self.end_date)

    def _first_match_at_or_after(self, bound: datetime, end: datetime | None) -> datetime | None:
        tz, schedule = self.timezone, self._schedule
        if not self._can_match:
            return None
        last_date = None if end is None else end.date()
        cursor = bound.astimezone(tz)
        wall = cursor.replace(tzinfo=None)
        if self._single_offset or self._is_steady_day(wall.date()):
            found = schedule.next_match(_ceil_to_second(wall), last_date)
            if found is None:
                return None
            if self._single_offset or self._is_steady_day(found.date()):
                return found.replace(tzinfo=tz)
        for _ in range(_MAX_DST_STEPS):
            found = schedule.next_match(_ceil_to_second(cursor.replace(tzinfo=None)), last_date)
            if found is None:
                return None
            if cursor.fold == 1 and is_second_pass(cursor):
                repeat_start, repeat_end = fold_bounds(cursor)
                if found < repeat_end:
                    if not self._fixed_time:
                        return found.replace(tzinfo=tz, fold=1)
                    # Fixed times fired in the first pass; resume after the repeated hour.
                    cursor = repeat_end.replace(tzinfo=tz)
                    continue
            elif not self._fixed_time and cursor.utcoffset() != cursor.replace(fold=1).utcoffset():
                # In the first pass of a repeated hour: its second pass comes before anything
                # after it, so look there before the match found beyond it.
                repeat_start, repeat_end = fold_bounds(cursor)
                if found >= repeat_end:
                    repeated = schedule.next_match(repeat_start, last_date)
                    if repeated is not None and repeated < repeat_end:
                        return repeated.replace(tzinfo=tz, fold=1)
            kind = classify_wall_time(found, tz)
            if kind is not WallKind.GAP:
                return found.replace(tzinfo=tz, fold=0)
            after_gap = gap_end(found, tz)
            if self._fixed_time:
                return after_gap
            cursor = after_gap
        return None

    def __getstate__(self) -> dict[str, Any]:
        return {
            "version": _STATE_VERSION,
            "fields": {field.name: str(field) for field in self.fields},
            "explicit": list(self._explicit),
            "crontab": self._crontab,
            "start_date": datetime_to_text(self.start_date),
            "end_date": datetime_to_text(self.end_date),
            "timezone": zone_to_text(self.timezone),
            "jitter": self.jitter,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        check_version("cron", state, _STATE_VERSION)
        zone = zone_from_text(state["timezone"])
        fields: dict[str, int | str] = state["fields"]
        self._configure(
            fields,
            crontab=bool(state["crontab"]),
            timezone=zone,
            start_date=datetime_from_text(state["start_date"], zone),
            end_date=datetime_from_text(state["end_date"], zone),
        )
        self._explicit = tuple(name for name in FIELD_NAMES if name in state["explicit"])
        for field in self.fields:
            field.is_default = field.name not in self._explicit
        self._init_jitter(state["jitter"], None)

    def _shown_fields(self) -> list[str]:
        return [f"{field.name}='{field}'" for field in self.fields if not field.is_default]

    def __str__(self) -> str:
        return f"cron[{', '.join(self._shown_fields())}]"

    def __repr__(self) -> str:
        options = self._shown_fields()
        if self.start_date is not None:
            options.append(f"start_date={datetime_repr(self.start_date)!r}")
        if self.end_date is not None:
            options.append(f"end_date={datetime_repr(self.end_date)!r}")
        if self.jitter:
            options.append(f"jitter={self.jitter}")
        options.append(f"timezone='{self.timezone}'")
        return f"<{type(self).__name__} ({', '.join(options)})>"
