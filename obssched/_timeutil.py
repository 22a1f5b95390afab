"""Time zone and datetime helpers shared by triggers, jobs and job stores."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from obssched.exceptions import ArgumentOverflowError, InvalidArgumentError, TimeZoneNameError

__all__ = [
    "astimezone",
    "convert_to_datetime",
    "datetime_ceil",
    "datetime_repr",
    "datetime_to_utc_timestamp",
    "datetime_utc_add",
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
    (a ``KeyError``, shown quoted as KeyErrors are) that APScheduler lets through."""


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


_LOCAL_ZONE_MESSAGE: Final = (
    "Unable to determine the name of the local timezone -- you must explicitly specify the name "
    "of the local timezone. Please refrain from using timezones like EST to prevent problems "
    "with daylight saving time. Instead, use a locale based timezone name (such as "
    "Europe/Helsinki)."
)


def astimezone(obj: str | tzinfo | None) -> tzinfo | None:
    """Interpret ``obj`` as a time zone: an IANA name, a ``tzinfo`` or ``None``.

    A pytz zone is replaced by the ``zoneinfo`` zone of the same name (a pytz fixed offset by a
    ``datetime.timezone``): pytz zones give wrong offsets unless every datetime goes through
    their ``localize()``, which the rest of obssched does not do.

    Raises:
        TypeError: ``obj`` is neither text nor a ``tzinfo``.
        ValueError: the zone calls itself ``"local"`` (its real name is unknown).
        ZoneInfoNotFoundError: the name is not a known time zone (also a ``ValueError``).
        TimeZoneNameError: the name is not a valid zone key (a ``ValueError`` and an
            ``OSError``).
        NotImplementedError: ``obj`` is a bare ``tzinfo()`` that cannot name itself.
    """
    if obj is None:
        return None
    if isinstance(obj, str):
        return _zone_named(obj)
    if isinstance(obj, ZoneInfo):
        return UTC if obj.key in _UTC_NAMES else obj
    if obj is UTC:
        return UTC
    if isinstance(obj, tzinfo):
        if obj.tzname(None) == "local":
            raise ValueError(_LOCAL_ZONE_MESSAGE)
        pytz_name = getattr(obj, "zone", _NOT_PYTZ)
        if pytz_name is not _NOT_PYTZ:
            if pytz_name:
                return _zone_named(str(pytz_name))
            offset = obj.utcoffset(None)
            if offset is None:
                raise ValueError(f"The pytz time zone {obj!r} has neither a name nor an offset")
            return UTC if not offset else timezone(offset)
        if obj == UTC:
            return UTC
        return obj
    raise TypeError(f"Expected tzinfo, got {type(obj).__name__} instead")


_NOT_PYTZ: Final = object()


def _zone_named(name: str) -> tzinfo:
    if name.upper() == "UTC" or name in _UTC_NAMES:
        return UTC
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError as exc:
        raise UnknownTimeZoneError(*exc.args) from exc
    except (ValueError, OSError) as exc:
        # Not even a valid key: "", "../x", "/etc/passwd" and NUL raise ValueError, a name
        # longer than a file name may be OSError. APScheduler lets either through; keep its
        # text first, and be both.
        raise TimeZoneNameError(
            "timezone", name, f"{exc} (the time zone name {shorten(name)} is not a valid key)"
        ) from exc


def shorten(value: object, limit: int = 60) -> str:
    """Return ``repr(value)``, cut to about ``limit`` characters, for error messages."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 20]}...{text[-10:]} ({len(text)} characters)"


def localize(dt: datetime, tz: tzinfo) -> datetime:
    """Attach ``tz`` to the naive ``dt`` (or convert an aware one to ``tz``).

    A wall time skipped by a DST change moves forward by the size of the gap, as APScheduler's
    ``localize`` does; a pytz zone is read as its ``zoneinfo`` equivalent.
    """
    zone = astimezone(tz) if hasattr(tz, "localize") else tz
    assert zone is not None
    if dt.tzinfo is not None:
        return dt.astimezone(zone)
    return normalize(dt.replace(tzinfo=zone))


def normalize(dt: datetime) -> datetime:
    """Return ``dt`` with its wall time made consistent with its UTC offset."""
    return datetime.fromtimestamp(dt.timestamp(), dt.tzinfo)


def convert_to_datetime(
    value: datetime | date | str | None, tz: tzinfo | str | None, arg_name: str
) -> datetime | None:
    """Turn ``value`` into an aware datetime.

    Accepts a ``datetime``, a ``date`` (midnight) or ISO 8601 text (``Y-m-d``, optionally with
    ``H:M:S[.micro]`` and an offset ``Z``/``+HH:MM``). Aware values keep their own zone or
    offset; naive ones are read in ``tz`` (a ``tzinfo`` or a zone name).

    Raises:
        TypeError: ``value`` is of an unsupported type.
        ValueError: the text is not a date, or a naive value came without a time zone.
        ArgumentOverflowError: the value in ``tz`` lies outside years 1 to 9999 (also an
            ``OverflowError`` and a ``ValueError``).
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, date):
        result = datetime.combine(value, datetime.min.time())
    elif isinstance(value, str):
        result = _parse_date_text(value, arg_name)
    else:
        raise TypeError(f"Unsupported type for {arg_name}: {type(value).__name__}")

    if result.tzinfo is not None:
        return result
    if tz is None:
        raise ValueError(
            f'The "tz" argument must be specified if {arg_name} has no timezone information'
        )
    zone = astimezone(tz)
    assert zone is not None
    try:
        return localize(result, zone)
    except OverflowError as exc:  # a wall time within a day of year 1 or 9999
        raise ArgumentOverflowError(
            arg_name, value, f"{exc} ({arg_name}={shorten(value)} in {zone})"
        ) from exc
    except ValueError as exc:
        raise InvalidArgumentError(
            arg_name, value, f"{exc} ({arg_name}={shorten(value)} in {zone})"
        ) from exc


def _parse_date_text(value: str, arg_name: str) -> datetime:
    match = _DATE_RE.match(value)
    if match is None:
        raise InvalidArgumentError(
            arg_name, value, f"Invalid date string: {arg_name}={shorten(value)}"
        )
    parts = match.groupdict()
    offset = parts.pop("timezone")
    micro = parts.pop("microsecond") or "0"

    def num(key: str) -> int:
        return int(parts[key] or 0)

    # Out-of-range parts ("2009-13-40", "+24:00") raise datetime's own ValueError, as in
    # APScheduler, which reads the offset first.
    try:
        zone: tzinfo | None = None
        if offset == "Z":
            zone = UTC
        elif offset:
            sign = 1 if offset[0] == "+" else -1
            hours, minutes = int(offset[1:3]), int(offset[4:6])
            zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
        return datetime(
            num("year"),
            num("month"),
            num("day"),
            num("hour"),
            num("minute"),
            num("second"),
            int(micro),
            tzinfo=zone,
        )
    except ValueError as exc:
        raise InvalidArgumentError(arg_name, value, f"{exc}: {arg_name}={shorten(value)}") from exc


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


def datetime_utc_add(dateval: datetime, tdelta: timedelta) -> datetime:
    """Add ``tdelta`` to ``dateval`` in real (UTC) time, keeping ``dateval``'s zone.

    Plain addition moves the wall clock, which is off by the shift across a DST change.
    """
    zone = dateval.tzinfo
    if zone is None:
        return dateval + tdelta
    return (dateval.astimezone(UTC) + tdelta).astimezone(zone)


def datetime_ceil(dateval: datetime) -> datetime:
    """Round ``dateval`` up to the next whole second."""
    if dateval.microsecond > 0:
        return dateval + timedelta(seconds=1, microseconds=-dateval.microsecond)
    return dateval


def timezone_repr(tz: tzinfo) -> str:
    """Return the IANA key of ``tz`` when it has one, else its ``repr``."""
    if isinstance(tz, ZoneInfo):
        return tz.key
    return repr(tz)


def datetime_repr(dateval: datetime | None) -> str:
    """Format a datetime the way job listings show it."""
    return dateval.strftime("%Y-%m-%d %H:%M:%S %Z") if dateval else "None"
