"""Parsing of cron field expressions into the sets of values they allow.

Every expression is parsed once, at construction, into sorted tuples so the search in
:mod:`obssched.triggers._cronsearch` can bisect instead of scanning.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final

__all__ = [
    "DEFAULT_VALUES",
    "FIELD_NAMES",
    "FIELD_RANGES",
    "ParsedField",
    "parse_field",
]

FIELD_NAMES: Final = (
    "year",
    "month",
    "day",
    "week",
    "day_of_week",
    "hour",
    "minute",
    "second",
)

FIELD_RANGES: Final[dict[str, tuple[int, int]]] = {
    "year": (1970, 9999),
    "month": (1, 12),
    "day": (1, 31),
    "week": (1, 53),
    "day_of_week": (0, 6),
    "hour": (0, 23),
    "minute": (0, 59),
    "second": (0, 59),
}

DEFAULT_VALUES: Final[dict[str, str]] = {
    "year": "*",
    "month": "1",
    "day": "1",
    "week": "*",
    "day_of_week": "*",
    "hour": "0",
    "minute": "0",
    "second": "0",
}

MONTH_NAMES: Final = (
    "jan",
    "feb",
    "mar",
    "apr",
    "may",
    "jun",
    "jul",
    "aug",
    "sep",
    "oct",
    "nov",
    "dec",
)
WEEKDAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ORDINALS: Final = {"1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "5th": 5}

_RANGE_RE: Final = re.compile(r"^(?P<first>\*|\w+)(?:-(?P<last>\w+))?(?:/(?P<step>\w+))?$")
_WEEKDAY_POSITION_RE: Final = re.compile(r"^(?P<which>\w+)\s+(?P<weekday>\w+)$")


@dataclass(frozen=True, slots=True)
class ParsedField:
    """One cron field: its source text and the values it allows.

    ``values`` holds the fixed values. For the ``day`` field, ``last_day`` and
    ``weekday_positions`` add values that depend on the month: ``(n, weekday)`` pairs where
    ``n`` is 1-5 or ``-1`` for the last such weekday of the month.
    """

    name: str
    expression: str
    values: tuple[int, ...]
    is_wildcard: bool
    last_day: bool = False
    weekday_positions: tuple[tuple[int, int], ...] = field(default=())

    def __str__(self) -> str:
        return self.expression

    def days_in_month(self, year: int, month: int) -> tuple[int, ...]:
        """Return the sorted days of ``year``-``month`` this ``day`` field allows."""
        first_weekday, length = calendar.monthrange(year, month)
        if not self.last_day and not self.weekday_positions:
            if self.values and self.values[-1] > length:
                return tuple(day for day in self.values if day <= length)
            return self.values
        days = {day for day in self.values if day <= length}
        if self.last_day:
            days.add(length)
        for position, weekday in self.weekday_positions:
            first = 1 + (weekday - first_weekday) % 7
            if position == -1:
                days.add(first + 7 * ((length - first) // 7))
            elif first + 7 * (position - 1) <= length:
                days.add(first + 7 * (position - 1))
        return tuple(sorted(days))


def _error(name: str, text: str, reason: str) -> ValueError:
    return ValueError(f"Invalid expression for cron field {name!r}: {text!r} ({reason})")


def _names_for(name: str, crontab: bool) -> dict[str, int]:
    if name == "month":
        return {month: number for number, month in enumerate(MONTH_NAMES, start=1)}
    if name == "day_of_week":
        if crontab:
            return {day: (number + 1) % 7 for number, day in enumerate(WEEKDAY_NAMES)}
        return {day: number for number, day in enumerate(WEEKDAY_NAMES)}
    return {}


def _to_int(
    name: str, whole: str, token: str, names: dict[str, int], bounds: tuple[int, int]
) -> int:
    if token in names:
        return names[token]
    if not token.isdigit():
        raise _error(name, whole, f"{token!r} is neither a number nor a known name")
    value = int(token)
    low, high = bounds
    if not low <= value <= high:
        raise _error(name, whole, f"{value} is outside the range {low}-{high}")
    return value


def _parse_range(
    name: str, whole: str, part: str, bounds: tuple[int, int], names: dict[str, int]
) -> range:
    match = _RANGE_RE.match(part)
    if match is None:
        raise _error(name, whole, f"cannot parse {part!r}")
    first, last, step_text = match.group("first", "last", "step")
    low, high = bounds
    step = 1
    if step_text is not None:
        if not step_text.isdigit() or int(step_text) == 0:
            raise _error(name, whole, f"the step {step_text!r} must be a positive integer")
        step = int(step_text)
    if first == "*":
        if last is not None:
            raise _error(name, whole, "'*' cannot start a range")
        return range(low, high + 1, step)
    start = _to_int(name, whole, first, names, bounds)
    if last is None:
        stop = high if step_text is not None else start
    else:
        stop = _to_int(name, whole, last, names, bounds)
        if stop < start:
            raise _error(name, whole, f"the range {part!r} must ascend")
    return range(start, stop + 1, step)


def parse_field(name: str, expression: object, *, crontab: bool = False) -> ParsedField:
    """Parse the cron ``expression`` of the field ``name``.

    With ``crontab=True`` the ``day_of_week`` field follows crontab: 0 and 7 are Sunday (the
    values are still returned with 0 meaning Monday).

    Parsed fields are immutable and shared: ten thousand jobs with ``year='*'`` hold one tuple
    of allowed years between them, not ten thousand (each would be some 8,000 integers).

    Raises:
        ValueError: the expression is malformed; the message names the field and the text.
    """
    if isinstance(expression, int | str) and not isinstance(expression, bool):
        return _parse_field_cached(name, expression, crontab)
    return _parse_field(name, expression, crontab=crontab)


@lru_cache(maxsize=2048)
def _parse_field_cached(name: str, expression: int | str, crontab: bool) -> ParsedField:
    return _parse_field(name, expression, crontab=crontab)


def _parse_field(name: str, expression: object, *, crontab: bool = False) -> ParsedField:
    if name not in FIELD_RANGES:
        raise ValueError(f"Unknown cron field {name!r}")
    if isinstance(expression, bool) or not isinstance(expression, int | str):
        raise TypeError(f"The cron field {name!r} takes an int or a str, got {expression!r}")
    text = str(expression).strip()
    if not text:
        raise _error(name, text, "the expression is empty")
    lowered = text.lower()
    bounds = FIELD_RANGES[name]
    if crontab and name == "day_of_week":
        bounds = (0, 7)
    names = _names_for(name, crontab)
    values: set[int] = set()
    last_day = False
    positions: list[tuple[int, int]] = []
    for raw_part in lowered.split(","):
        part = raw_part.strip()
        if name == "day" and part == "last":
            last_day = True
            continue
        position = _WEEKDAY_POSITION_RE.match(part) if name == "day" else None
        if position is not None:
            which, weekday = position.group("which", "weekday")
            if which not in _ORDINALS and which != "last":
                raise _error(name, text, f"{which!r} must be one of 1st-5th or 'last'")
            if weekday not in WEEKDAY_NAMES:
                raise _error(name, text, f"{weekday!r} is not a weekday name")
            positions.append((_ORDINALS.get(which, -1), WEEKDAY_NAMES.index(weekday)))
            continue
        values.update(_parse_range(name, text, part, bounds, names))
    if crontab and name == "day_of_week":
        values = {(value - 1) % 7 for value in values}
    return ParsedField(
        name=name,
        expression=text,
        values=tuple(sorted(values)),
        is_wildcard=lowered.startswith("*"),
        last_day=last_day,
        weekday_positions=tuple(sorted(set(positions))),
    )
