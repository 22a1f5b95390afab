"""Argument handling shared by the trigger constructors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, tzinfo

from obssched._timeutil import astimezone, convert_to_datetime, get_localzone

__all__ = ["check_window", "choose_zone", "to_aware"]


def choose_zone(
    timezone: str | tzinfo | None,
    *dates: object,
    local: Callable[[], tzinfo | str] = get_localzone,
    empty_is_local: bool = True,
) -> tzinfo:
    """Return ``timezone``, else the zone of the first aware datetime in ``dates``, else local.

    ``local`` gives the local zone; trigger modules pass their own module-level
    ``get_localzone`` so that tests which patch it there (as APScheduler's do) take effect.

    With ``empty_is_local`` an empty name (any false value) counts as none given, as in
    APScheduler 3's interval and cron triggers; its date trigger refuses one.

    Raises:
        ValueError: ``timezone`` is an unknown zone name.
    """
    zone = astimezone(timezone or None) if empty_is_local else astimezone(timezone)
    if zone is not None:
        return zone
    for value in dates:
        if isinstance(value, datetime) and value.tzinfo is not None:
            return astimezone(value.tzinfo) or value.tzinfo
    return astimezone(local()) or get_localzone()


def to_aware(value: datetime | date | str | None, tz: tzinfo, arg_name: str) -> datetime | None:
    """Turn ``value`` into an aware datetime; naive values are read in ``tz``.

    Aware values (and text with an offset) keep their own zone, as in APScheduler 3.
    """
    return convert_to_datetime(value, tz, arg_name)


def check_window(start: datetime | date | None, end: datetime | date | None) -> None:
    """Refuse an end date before the start date.

    Raises:
        ValueError: ``end`` is earlier than ``start``.
    """
    if start is not None and end is not None and end < start:
        raise ValueError(f"end_date ({end}) must not be earlier than start_date ({start})")
