"""The expressions a cron field is made of, with APScheduler 3's names and behaviour.

:class:`~obssched.triggers.cron.CronTrigger` searches with precomputed value tables; these
classes are what it shows (``str(trigger)``) and what validates each field, so that errors and
texts are those of APScheduler 3.
"""

from __future__ import annotations

import calendar
import re
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar, Final

if TYPE_CHECKING:
    from obssched.triggers.cron.fields import BaseField

__all__ = [
    "AllExpression",
    "LastDayOfMonthExpression",
    "MonthRangeExpression",
    "RangeExpression",
    "WeekdayPositionExpression",
    "WeekdayRangeExpression",
]

WEEKDAYS: Final = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
MONTHS: Final = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


def _optional_int(value: int | str | None) -> int | None:
    return None if value is None else int(value)


def _field_bounds(field_name: str) -> tuple[int, int]:
    from obssched.triggers.cron.fields import MAX_VALUES, MIN_VALUES

    return MIN_VALUES[field_name], MAX_VALUES[field_name]


class AllExpression:
    """``*`` or ``*/step``: every value of the field (every ``step``-th from its minimum)."""

    value_re: ClassVar[re.Pattern[str]] = re.compile(r"\*(?:/(?P<step>\d+))?$")

    def __init__(self, step: int | str | None = None) -> None:
        self.step = _optional_int(step)
        if self.step == 0:
            raise ValueError("Increment must be higher than 0")

    def validate_range(self, field_name: str) -> None:
        """Check the expression against the bounds of the field ``field_name``.

        Raises:
            ValueError: a value or the step does not fit the field.
        """
        self._check_bounds(*_field_bounds(field_name))

    def _check_bounds(self, minimum: int, maximum: int) -> None:
        self._check_step(maximum - minimum)

    def _check_step(self, span: int) -> None:
        if self.step and self.step > span:
            raise ValueError(
                f"the step value ({self.step}) is higher than the total range of the "
                f"expression ({span})"
            )

    def get_next_value(self, date: date, field: BaseField) -> int | None:
        """Return the first value at or after ``date``'s value of ``field``, or ``None``."""
        return _stepped(field.get_value(date), field.get_min(date), field.get_max(date), self.step)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, self.__class__) and self.step == other.step

    def __hash__(self) -> int:
        return hash((type(self), self.step))

    def __str__(self) -> str:
        return f"*/{self.step}" if self.step else "*"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.step})"


def _stepped(current: int, low: int, high: int, step: int | None) -> int | None:
    """Return the first of ``low, low + step, ...`` that is ``>= current`` and ``<= high``."""
    value = max(current, low)
    if step:
        value += -(value - low) % step
    return value if value <= high else None


class RangeExpression(AllExpression):
    """``a``, ``a-b``, ``a/step`` or ``a-b/step``."""

    value_re: ClassVar[re.Pattern[str]] = re.compile(
        r"(?P<first>\d+)(?:-(?P<last>\d+))?(?:/(?P<step>\d+))?$"
    )

    def __init__(
        self, first: int | str, last: int | str | None = None, step: int | str | None = None
    ) -> None:
        super().__init__(step)
        first_value = int(first)
        last_value = _optional_int(last)
        if last_value is None and step is None:
            last_value = first_value
        if last_value is not None and first_value > last_value:
            raise ValueError("The minimum value in a range must not be higher than the maximum")
        self.first: int = first_value
        self.last: int | None = last_value

    def _check_bounds(self, minimum: int, maximum: int) -> None:
        super()._check_bounds(minimum, maximum)
        if self.first < minimum:
            raise ValueError(
                f"the first value ({self.first}) is lower than the minimum value ({minimum})"
            )
        if self.last is not None and self.last > maximum:
            raise ValueError(
                f"the last value ({self.last}) is higher than the maximum value ({maximum})"
            )
        # As in APScheduler, a last value of 0 counts as open-ended here.
        self._check_step((self.last or maximum) - self.first)

    def get_next_value(self, date: date, field: BaseField) -> int | None:
        """Return the first value in the range at or after ``date``'s value, or ``None``."""
        low = max(field.get_min(date), self.first)
        high = field.get_max(date)
        if self.last is not None:
            high = min(high, self.last)
        return _stepped(field.get_value(date), low, high, self.step)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, self.__class__)
            and self.first == other.first
            and self.last == other.last
        )

    def __hash__(self) -> int:
        return hash((type(self), self.first, self.last))

    def _is_span(self) -> bool:
        return self.last is not None and self.last != self.first

    def __str__(self) -> str:
        text = f"{self.first}-{self.last}" if self._is_span() else str(self.first)
        return f"{text}/{self.step}" if self.step else text

    def __repr__(self) -> str:
        args = [str(self.first)]
        if self._is_span() or self.step:
            args.append(str(self.last))
        if self.step:
            args.append(str(self.step))
        return f"{type(self).__name__}({', '.join(args)})"


def _index_of(names: list[str], name: str, what: str) -> int:
    try:
        return names.index(name.lower())
    except ValueError:
        raise ValueError(f'Invalid {what} "{name}"') from None


class MonthRangeExpression(RangeExpression):
    """``jan`` or ``jan-mar``: months by name."""

    value_re: ClassVar[re.Pattern[str]] = re.compile(
        r"(?P<first>[a-z]+)(?:-(?P<last>[a-z]+))?", re.IGNORECASE
    )

    def __init__(self, first: str, last: str | None = None) -> None:
        first_number = _index_of(MONTHS, first, "month name") + 1
        last_number = _index_of(MONTHS, last, "month name") + 1 if last else None
        super().__init__(first_number, last_number)

    def _names(self) -> list[str]:
        names = [MONTHS[self.first - 1]]
        if self._is_span():
            assert self.last is not None
            names.append(MONTHS[self.last - 1])
        return names

    def __str__(self) -> str:
        return "-".join(self._names())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(repr(name) for name in self._names())})"


class WeekdayRangeExpression(RangeExpression):
    """``mon`` or ``mon-fri``: weekdays by name."""

    value_re: ClassVar[re.Pattern[str]] = re.compile(
        r"(?P<first>[a-z]+)(?:-(?P<last>[a-z]+))?", re.IGNORECASE
    )

    def __init__(self, first: str, last: str | None = None) -> None:
        first_number = _index_of(WEEKDAYS, first, "weekday name")
        last_number = _index_of(WEEKDAYS, last, "weekday name") if last else None
        super().__init__(first_number, last_number)

    def _names(self) -> list[str]:
        names = [WEEKDAYS[self.first]]
        if self._is_span():
            assert self.last is not None
            names.append(WEEKDAYS[self.last])
        return names

    def __str__(self) -> str:
        return "-".join(self._names())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(repr(name) for name in self._names())})"


class WeekdayPositionExpression(AllExpression):
    """``2nd fri`` or ``last sun``: the n-th (or last) given weekday of the month."""

    options: ClassVar[list[str]] = ["1st", "2nd", "3rd", "4th", "5th", "last"]
    value_re: ClassVar[re.Pattern[str]] = re.compile(
        r"(?P<option_name>1st|2nd|3rd|4th|5th|last) +(?P<weekday_name>(?:\d+|\w+))",
        re.IGNORECASE,
    )

    def __init__(self, option_name: str, weekday_name: str) -> None:
        super().__init__(None)
        self.option_num = _index_of(self.options, option_name, "weekday position")
        self.weekday = _index_of(WEEKDAYS, weekday_name, "weekday name")

    def get_next_value(self, date: date, field: Any) -> int | None:
        """Return the day of ``date``'s month this expression picks, if not before ``date``."""
        first_weekday, month_length = calendar.monthrange(date.year, date.month)
        first_match = 1 + (self.weekday - first_weekday) % 7
        if self.option_num < 5:
            day = first_match + 7 * self.option_num
        else:
            day = first_match + 7 * ((month_length - first_match) // 7)
        return day if date.day <= day <= month_length else None

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, WeekdayPositionExpression)
            and super().__eq__(other)
            and (self.option_num, self.weekday) == (other.option_num, other.weekday)
        )

    def __hash__(self) -> int:
        return hash((type(self), self.option_num, self.weekday))

    def __str__(self) -> str:
        return f"{self.options[self.option_num]} {WEEKDAYS[self.weekday]}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self).split()[0]!r}, {WEEKDAYS[self.weekday]!r})"


class LastDayOfMonthExpression(AllExpression):
    """``last``: the last day of the month."""

    value_re: ClassVar[re.Pattern[str]] = re.compile(r"last", re.IGNORECASE)

    def __init__(self) -> None:
        super().__init__(None)

    def get_next_value(self, date: date, field: Any) -> int | None:
        """Return the last day of ``date``'s month."""
        return calendar.monthrange(date.year, date.month)[1]

    def __str__(self) -> str:
        return "last"

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
