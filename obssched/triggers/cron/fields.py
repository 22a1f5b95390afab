"""The fields of a cron trigger, with APScheduler 3's names and behaviour.

Each field holds the parsed :mod:`~obssched.triggers.cron.expressions` of one option of
:class:`~obssched.triggers.cron.CronTrigger`; ``str(field)`` is the normalised expression the
trigger shows.
"""

from __future__ import annotations

import calendar
import re
from datetime import date
from typing import Any, ClassVar, Final

from obssched._timeutil import shorten
from obssched.triggers.cron.expressions import (
    AllExpression,
    LastDayOfMonthExpression,
    MonthRangeExpression,
    RangeExpression,
    WeekdayPositionExpression,
    WeekdayRangeExpression,
)

__all__ = [
    "DEFAULT_VALUES",
    "MAX_VALUES",
    "MIN_VALUES",
    "BaseField",
    "DayOfMonthField",
    "DayOfWeekField",
    "MonthField",
    "WeekField",
]

MIN_VALUES: Final[dict[str, int]] = {
    "year": 1970,
    "month": 1,
    "day": 1,
    "week": 1,
    "day_of_week": 0,
    "hour": 0,
    "minute": 0,
    "second": 0,
}
"""The smallest value of each field."""

MAX_VALUES: Final[dict[str, int]] = {
    "year": 9999,
    "month": 12,
    "day": 31,
    "week": 53,
    "day_of_week": 6,
    "hour": 23,
    "minute": 59,
    "second": 59,
}
"""The largest value of each field."""

DEFAULT_VALUES: Final[dict[str, int | str]] = {
    "year": "*",
    "month": 1,
    "day": 1,
    "week": "*",
    "day_of_week": "*",
    "hour": 0,
    "minute": 0,
    "second": 0,
}
"""The value of a field less significant than every given one."""

SEPARATOR: Final = re.compile(" *, *")


class BaseField:
    """One option of a cron trigger: a comma-separated list of expressions.

    Args:
        name: the option (``"hour"``, ``"day_of_week"``...).
        exprs: its expression, as text or a number.
        is_default: whether the value was filled in rather than given.

    Raises:
        ValueError: an expression is malformed or does not fit the field.
    """

    REAL: ClassVar[bool] = True
    """Whether the field is an attribute of ``datetime`` (``week`` and ``day_of_week`` are not)."""
    COMPILERS: ClassVar[list[type[AllExpression]]] = [AllExpression, RangeExpression]
    """The expression types the field accepts, tried in order."""

    def __init__(self, name: str, exprs: int | str, is_default: bool = False) -> None:
        self.name = name
        self.is_default = is_default
        self.compile_expressions(exprs)

    def get_min(self, dateval: date) -> int:
        """Return the smallest value of the field."""
        return MIN_VALUES[self.name]

    def get_max(self, dateval: date) -> int:
        """Return the largest value of the field (around ``dateval``)."""
        return MAX_VALUES[self.name]

    def get_value(self, dateval: date) -> int:
        """Return the field's value in ``dateval``."""
        value: int = getattr(dateval, self.name)
        return value

    def get_next_value(self, dateval: date) -> int | None:
        """Return the smallest value at or after ``dateval``'s that an expression allows."""
        values = [expr.get_next_value(dateval, self) for expr in self.expressions]
        found = [value for value in values if value is not None]
        return min(found) if found else None

    def compile_expressions(self, exprs: int | str) -> None:
        """Parse the comma-separated ``exprs`` into :attr:`expressions`."""
        self.expressions: list[AllExpression] = []
        for expr in SEPARATOR.split(str(exprs).strip()):
            self.compile_expression(expr)

    def compile_expression(self, expr: str) -> None:
        """Parse one expression and append it to :attr:`expressions`.

        Raises:
            ValueError: no expression type accepts ``expr``, or it does not fit the field.
        """
        detail = f" (field {self.name!r}, expression {shorten(expr)})"
        for compiler in self.COMPILERS:
            match = compiler.value_re.match(expr)
            if match is None:
                continue
            arguments: dict[str, Any] = match.groupdict()
            try:
                compiled = compiler(**arguments)
            except ValueError as exc:
                raise ValueError(f"{exc}{detail}") from None
            try:
                compiled._check_bounds(*self._bounds())
            except ValueError as exc:
                raise ValueError(f"Error validating expression {expr!r}: {exc}{detail}") from None
            self.expressions.append(compiled)
            return
        raise ValueError(f'Unrecognized expression "{expr}" for field "{self.name}"{detail}')

    def _bounds(self) -> tuple[int, int]:
        return MIN_VALUES[self.name], MAX_VALUES[self.name]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BaseField) and self.expressions == other.expressions

    def __hash__(self) -> int:
        return hash((self.name, tuple(self.expressions)))

    def __str__(self) -> str:
        return ",".join(str(expr) for expr in self.expressions)

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self.name}', '{self}')"


class WeekField(BaseField):
    """The ISO week number."""

    REAL = False

    def get_value(self, dateval: date) -> int:
        """Return the ISO week of ``dateval``."""
        return dateval.isocalendar()[1]


class DayOfMonthField(BaseField):
    """The day of the month; also takes ``last`` and ``xth weekday``."""

    COMPILERS: ClassVar[list[type[AllExpression]]] = [
        *BaseField.COMPILERS,
        WeekdayPositionExpression,
        LastDayOfMonthExpression,
    ]

    def get_max(self, dateval: date) -> int:
        """Return the number of days in ``dateval``'s month."""
        return calendar.monthrange(dateval.year, dateval.month)[1]


class DayOfWeekField(BaseField):
    """The day of the week, 0 = Monday; also takes names (``mon-fri``)."""

    REAL = False
    COMPILERS: ClassVar[list[type[AllExpression]]] = [*BaseField.COMPILERS, WeekdayRangeExpression]

    def get_value(self, dateval: date) -> int:
        """Return the weekday of ``dateval`` (0 = Monday)."""
        return dateval.weekday()


class MonthField(BaseField):
    """The month; also takes names (``jan-mar``)."""

    COMPILERS: ClassVar[list[type[AllExpression]]] = [*BaseField.COMPILERS, MonthRangeExpression]


class _CrontabDayOfWeekField(DayOfWeekField):
    """``day_of_week`` of a crontab line, where 7 is also Sunday."""

    def _bounds(self) -> tuple[int, int]:
        return 0, 7


FIELD_CLASSES: Final[dict[str, type[BaseField]]] = {
    "year": BaseField,
    "month": MonthField,
    "day": DayOfMonthField,
    "week": WeekField,
    "day_of_week": DayOfWeekField,
    "hour": BaseField,
    "minute": BaseField,
    "second": BaseField,
}


def make_field(name: str, exprs: int | str, *, is_default: bool, crontab: bool) -> BaseField:
    """Build the field ``name`` of a cron trigger (of a crontab line when ``crontab``)."""
    cls = _CrontabDayOfWeekField if crontab and name == "day_of_week" else FIELD_CLASSES[name]
    return cls(name, exprs, is_default)
