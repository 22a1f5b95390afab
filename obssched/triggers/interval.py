"""A trigger that fires at fixed intervals of real (elapsed) time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from obssched._timeutil import datetime_repr, get_localzone
from obssched.exceptions import ArgumentOverflowError, InvalidArgumentError
from obssched.triggers._settings import check_window, choose_zone, to_aware
from obssched.triggers._state import (
    check_version,
    datetime_from_text,
    datetime_to_text,
    zone_from_text,
    zone_to_text,
)
from obssched.triggers.base import GridTrigger, RandomSource

__all__ = ["IntervalTrigger"]

_STATE_VERSION = 1
_ONE_MICROSECOND = timedelta(microseconds=1)


def _local_zone() -> tzinfo:
    # Looked up at call time, so patching this module's ``get_localzone`` takes effect.
    return get_localzone()


def _interval(**parts: float) -> timedelta:
    try:
        return timedelta(**parts)
    except (OverflowError, ValueError) as exc:
        # Too long for a timedelta (or infinite), or NaN: timedelta's text, as APScheduler
        # lets it through, then the parts that made it.
        given = ", ".join(f"{name}={value!r}" for name, value in parts.items() if value)
        culprit = next(
            (name for name, value in parts.items() if _breaks_timedelta(name, value)), "seconds"
        )
        error = ArgumentOverflowError if isinstance(exc, OverflowError) else InvalidArgumentError
        raise error(
            culprit,
            parts[culprit],
            f"{exc} (interval {given}; an interval is at most 999999999 days long)",
        ) from exc


def _breaks_timedelta(name: str, value: float) -> bool:
    try:
        timedelta(**{name: value})
    except (OverflowError, ValueError):
        return True
    return False


class IntervalTrigger(GridTrigger):
    """Fires every ``interval`` of elapsed time from ``start_date`` until ``end_date``.

    Fire times are ``start_date + k * interval`` measured in real time, so an hourly job fires
    every real hour across DST changes. Without a ``start_date`` the grid starts one interval
    after the first ``now`` the trigger is asked about (when the scheduler adds the job), and
    that start is then kept, as APScheduler 3 does with the creation time.

    Args:
        weeks, days, hours, minutes, seconds: the length of the interval (zero means 1 second).
            Together at most 999999999 days; longer, infinite or NaN lengths raise
            :class:`~obssched.exceptions.ArgumentOverflowError` (an ``OverflowError``, as in
            APScheduler 3, and a ``ValueError``) or
            :class:`~obssched.exceptions.InvalidArgumentError`.
        start_date: the first fire time; ``datetime``, ``date`` or ISO 8601 text.
        end_date: no fire time is later than this.
        timezone: the zone of returned fire times and of naive dates (default: the zone of
            ``start_date``, else the local zone).
        jitter: delay each fire time by a random amount of up to this many seconds.
        rng: the random number generator for jitter (default: the :mod:`random` module).
    """

    __slots__ = ("_last_fire", "end_date", "interval", "start_date", "timezone")

    interval: timedelta
    start_date: datetime | None
    end_date: datetime | None
    timezone: tzinfo

    def __init__(
        self,
        weeks: float = 0,
        days: float = 0,
        hours: float = 0,
        minutes: float = 0,
        seconds: float = 0,
        start_date: datetime | date | str | None = None,
        end_date: datetime | date | str | None = None,
        timezone: str | tzinfo | None = None,
        jitter: float | None = None,
        *,
        rng: RandomSource | None = None,
    ) -> None:
        interval = _interval(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
        if interval < timedelta(0):
            raise ValueError(f"The interval must not be negative, got {interval}")
        self.interval = interval or timedelta(seconds=1)
        self.timezone = choose_zone(timezone, start_date, end_date, local=_local_zone)
        self.start_date = to_aware(start_date, self.timezone, "start_date")
        self.end_date = to_aware(end_date, self.timezone, "end_date")
        check_window(self.start_date, self.end_date)
        self._init_jitter(jitter, rng)
        self._last_fire: datetime | None = None

    def _next_scheduled_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if self.start_date is None:
            if previous_fire_time is not None:
                anchor = previous_fire_time.astimezone(UTC)
            else:
                anchor = now.astimezone(UTC) + self.interval
            self.start_date = anchor.astimezone(self.timezone)
        interval = self.interval
        try:
            last = self._last_fire
        except AttributeError:
            last = None  # a subclass that set its fields without IntervalTrigger.__init__
        if previous_fire_time is not None and previous_fire_time is last:
            # The grid point this trigger answered last time: the next one is an interval on.
            # (Finding the grid step from scratch takes four timedelta operations on Python
            # integers, several times the cost of this addition; the scheduler asks once per
            # run, passing back what it was given.)
            next_fire_time = previous_fire_time.astimezone(UTC) + interval
        else:
            start = self.start_date.astimezone(UTC)
            bound = self._search_start(previous_fire_time, now)
            steps = 0
            if bound > start:
                elapsed = (bound - start) // _ONE_MICROSECOND
                steps = -(-elapsed // (interval // _ONE_MICROSECOND))
            next_fire_time = start + interval * steps
        if self.end_date is not None and next_fire_time > self.end_date.astimezone(UTC):
            return None
        answer = self._last_fire = next_fire_time.astimezone(self.timezone)
        return answer

    def _next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """Return the next time to fire; as in APScheduler 3, ``None`` once jitter would push
        it past ``end_date``."""
        next_fire_time = self._next_scheduled_time(previous_fire_time, now)
        if next_fire_time is None or not self.jitter:
            return next_fire_time
        jittered = self._apply_jitter(next_fire_time, self.jitter, now)
        if jittered is not None and self.end_date is not None and jittered > self.end_date:
            return None
        return jittered

    def __getstate__(self) -> dict[str, Any]:
        return {
            "version": _STATE_VERSION,
            "interval": [self.interval.days, self.interval.seconds, self.interval.microseconds],
            "start_date": datetime_to_text(self.start_date),
            "end_date": datetime_to_text(self.end_date),
            "timezone": zone_to_text(self.timezone),
            "jitter": self.jitter,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        check_version("interval", state, _STATE_VERSION)
        days, seconds, microseconds = state["interval"]
        self.interval = timedelta(days=days, seconds=seconds, microseconds=microseconds)
        self.timezone = zone_from_text(state["timezone"])
        self.start_date = datetime_from_text(state["start_date"], self.timezone)
        self.end_date = datetime_from_text(state["end_date"], self.timezone)
        self._init_jitter(state["jitter"], None)
        self._last_fire = None

    @property
    def interval_length(self) -> float:
        """The interval in seconds, as APScheduler 3 exposes it (worked out when read rather
        than stored: a stored job costs no more memory than APScheduler 3's)."""
        return self.interval.total_seconds()

    def __str__(self) -> str:
        return f"interval[{self.interval!s}]"

    def __repr__(self) -> str:
        options = [f"interval={self.interval!r}"]
        if self.start_date is not None:
            options.append(f"start_date={datetime_repr(self.start_date)!r}")
        if self.end_date is not None:
            options.append(f"end_date={datetime_repr(self.end_date)!r}")
        if self.jitter:
            options.append(f"jitter={self.jitter}")
        options.append(f"timezone='{self.timezone}'")
        return f"<{type(self).__name__} ({', '.join(options)})>"
