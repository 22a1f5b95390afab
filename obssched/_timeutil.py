"""Time zone and datetime helpers shared by triggers, jobs and job stores."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "astimezone",
    "convert_to_datetime",
    "datetime_ceil",
    "datetime_repr",
    "datetime_to_utc_timestamp",
    "get_localzone",
    "localize",
    "normalize",
    "timezone_repr",
    "utc_timestamp_to_datetime",
]

_DATE_RE = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})"
    r"(?:[ T](?P<hour>\d{1,2}):(?P<minute>\d{1,2}):(?P<second>\d{1,2})"
    r"(?:\.(?P<microsecond>\d{1,6}))?"
    r"(?P<timezone>Z|[+-]\d\d:\d\d)?)?$"
)


# Zone names that mean UTC itself. They are read as ``datetime.UTC``: datetimes that share that
# one tzinfo object compare, subtract and convert without calling ``utcoffset`` (which the
# scheduler's loop would otherwise do several times per run on the many machines set to UTC).
_UTC_NAMES = frozenset(
    {
        "UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu",
        "GMT", "Etc/GMT", "Etc/GMT0", "Etc/GMT+0", "Etc/GMT-0", "GMT0", "GMT+0", "GMT-0",
        "Etc/Greenwich", "Greenwich",
    }
)  # fmt: skip


class UnknownTimeZoneError(ZoneInfoNotFoundError, ValueError):
    """A time zone name that is not known: a ``ValueError``, and the ``ZoneInfoNotFoundError``
    (a ``KeyError``) that APScheduler lets through."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def get_localzone() -> tzinfo:
    """Return the local time zone as a ``zoneinfo`` object (UTC when it cannot be determined).

    A local zone that is UTC under another name (``Etc/UTC``...) is returned as ``datetime.UTC``.
    """
    try:
        import tzlocal

        zone = tzlocal.get_localzone()
    except Exception:
        return UTC
    return (astimezone(zone) or UTC) if isinstance(zone, tzinfo) else UTC


def astimezone(obj: str | tzinfo | None) -> tzinfo | None:
    """Interpret ``obj`` as a time zone: an IANA name, a ``tzinfo`` or ``None``.

    Raises:
        TypeError: ``obj`` is neither text nor a ``tzinfo``.
        ValueError: the name is not a known time zone.
    """
    if obj is None:
        return None
    if isinstance(obj, str):
        if obj.upper() == "UTC" or obj in _UTC_NAMES:
            return UTC
        try:
            return ZoneInfo(obj)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise UnknownTimeZoneError(f"Unknown time zone: {obj!r}") from exc
    if isinstance(obj, tzinfo):
        if obj is UTC or obj == UTC or getattr(obj, "key", None) in _UTC_NAMES:
            return UTC
        return obj
    raise TypeError(f"Expected a time zone name or a tzinfo instance, got {obj!r}")


def localize(dt: datetime, tz: tzinfo) -> datetime:
    """Attach ``tz`` to the naive ``dt`` (or convert an aware one to ``tz``)."""
    if dt.tzinfo is not None:
        return dt.astimezone(tz)
    return dt.replace(tzinfo=tz)


def normalize(dt: datetime) -> datetime:
    """Return ``dt`` with its wall time made consistent with its UTC offset."""
    return datetime.fromtimestamp(dt.timestamp(), dt.tzinfo)


def convert_to_datetime(
    value: datetime | date | str | None, tz: tzinfo | None, arg_name: str
) -> datetime | None:
    """Turn ``value`` into an aware datetime.

    Accepts a ``datetime``, a ``date`` (midnight) or ISO 8601 text. Naive values are taken to be in
    ``tz``.

    Raises:
        TypeError: ``value`` is of an unsupported type.
        ValueError: the text is not a date, or a naive value came without a time zone.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, date):
        result = datetime.combine(value, datetime.min.time())
    elif isinstance(value, str):
        match = _DATE_RE.match(value.strip())
        if match is None:
            raise ValueError(f"Invalid date string for {arg_name}: {value!r}")
        parts = match.groupdict()
        offset = parts.pop("timezone")
        micro = parts.pop("microsecond") or "0"

        def num(key: str) -> int:
            return int(parts[key] or 0)

        try:
            result = datetime(  # noqa: DTZ001 (the zone is attached below)
                num("year"),
                num("month"),
                num("day"),
                num("hour"),
                num("minute"),
                num("second"),
                int(micro.ljust(6, "0")),
            )
        except ValueError as exc:
            raise ValueError(f"Invalid date string for {arg_name}: {value!r} ({exc})") from exc
        if offset == "Z":
            result = result.replace(tzinfo=UTC)
        elif offset:
            sign = 1 if offset[0] == "+" else -1
            hours, minutes = int(offset[1:3]), int(offset[4:6])
            delta = timedelta(hours=hours, minutes=minutes) * sign
            result = result.replace(tzinfo=timezone(delta))
    else:
        raise TypeError(f"Unsupported type for {arg_name}: {type(value).__name__} ({value!r})")

    if result.tzinfo is not None:
        return result
    if tz is None:
        raise ValueError(
            f'The "tz" argument must be given if {arg_name} ({value!r}) has no time zone'
        )
    return localize(result, tz)


def datetime_to_utc_timestamp(timeval: datetime | None) -> float | None:
    """Return the POSIX timestamp of ``timeval`` (``None`` stays ``None``)."""
    if timeval is not None:
        return timeval.timestamp()
    return None


def utc_timestamp_to_datetime(timestamp: float | None) -> datetime | None:
    """Return the aware UTC datetime of a POSIX timestamp (``None`` stays ``None``)."""
    if timestamp is not None:
        return datetime.fromtimestamp(timestamp, UTC)
    return None


def datetime_ceil(dateval: datetime) -> datetime:
    """Round ``dateval`` up to the next whole second."""
    if dateval.microsecond > 0:
        return dateval + timedelta(seconds=1, microseconds=-dateval.microsecond)
    return dateval


def timezone_repr(tz: tzinfo) -> str:
    """Return the IANA key of ``tz`` when it has one, else its ``repr``."""
    if isinstance(tz, ZoneInfo):
        return tz.key
    if tz is UTC:
        return "UTC"
    return repr(tz)


def datetime_repr(dateval: datetime | None) -> str:
    """Format a datetime the way job listings show it."""
    return dateval.strftime("%Y-%m-%d %H:%M:%S %Z") if dateval else "None"
