"""The trigger contract: a pure ``get_next_fire_time(previous_fire_time, now)``."""

from __future__ import annotations

import math
import random
from abc import ABCMeta, abstractmethod
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from obssched._timeutil import shorten
from obssched.exceptions import ArgumentOverflowError, InvalidArgumentError

__all__ = ["BaseTrigger", "GridTrigger", "RandomSource", "next_unjittered_time"]

_ONE_MICROSECOND = timedelta(microseconds=1)
_LONGEST_JITTER: Final = timedelta.max.total_seconds()
"""Jitter is a ``timedelta``; longer ones cannot be represented (nor added to any date)."""


class RandomSource(Protocol):
    """What jitter needs from a random number generator (``random.Random`` or the module)."""

    def uniform(self, a: float, b: float) -> float:
        """Return a random number between ``a`` and ``b``."""
        ...


class BaseTrigger(metaclass=ABCMeta):
    """Decides when a job runs: the contract every trigger implements.

    Triggers are pure: the answer depends only on the trigger's settings and the two arguments.
    A trigger of one's own needs only :meth:`get_next_fire_time`, as in APScheduler 3.
    """

    __slots__ = ("_rng", "jitter")

    jitter: float | None
    _rng: RandomSource

    @abstractmethod
    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """Return the next time to fire, or ``None`` if the trigger never fires again.

        Args:
            previous_fire_time: the time the trigger last fired (as reported, jitter included),
                or ``None`` if it has not fired yet.
            now: the current time.
        """

    def _apply_jitter(
        self, next_fire_time: datetime | None, jitter: float | None, now: datetime
    ) -> datetime | None:
        """Delay ``next_fire_time`` by a random amount of up to ``jitter`` seconds."""
        if next_fire_time is None or not jitter:
            return next_fire_time
        rng = getattr(self, "_rng", random)
        delay = timedelta(seconds=rng.uniform(0, jitter))
        # Added in UTC: wall-clock addition drops ``fold`` and would move a time in the
        # repeated hour after clocks go back by a whole hour.
        return (next_fire_time.astimezone(UTC) + delay).astimezone(next_fire_time.tzinfo)


class GridTrigger(BaseTrigger):
    """The built-in triggers: a fixed grid of fire times, with jitter added on top.

    Jitter does not accumulate. Every grid trigger computes its schedule from a fixed grid (a
    start date plus whole intervals, or the fields of a cron expression), and asks it for the
    first un-jittered time strictly after ``previous_fire_time``. A jittered previous time lies
    at most ``jitter`` seconds after its un-jittered one, so as long as the jitter is shorter
    than the gap between fire times, the answer is the same as if the un-jittered time had been
    passed. Combining triggers ask their grid children for un-jittered times directly.
    """

    __slots__ = ()

    def _init_jitter(self, jitter: float | None, rng: RandomSource | None) -> None:
        if jitter is not None:
            if isinstance(jitter, bool) or not isinstance(jitter, int | float):
                raise TypeError(f"jitter must be a number of seconds, got {jitter!r}")
            if isinstance(jitter, float) and math.isnan(jitter):
                raise InvalidArgumentError(
                    "jitter", jitter, f"jitter must be a number of seconds, got {jitter!r}"
                )
            if jitter < 0:
                raise ValueError(f"jitter must not be negative, got {jitter!r}")
            if jitter > _LONGEST_JITTER:
                raise ArgumentOverflowError(
                    "jitter",
                    jitter,
                    f"jitter must be at most {_LONGEST_JITTER:.0f} seconds (999999999 days), "
                    f"got {shorten(jitter)}",
                )
        self.jitter = jitter or None
        self._rng = rng if rng is not None else random

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """Return the next time to fire, or ``None`` if the trigger never fires again.

        A fire time after the end of year 9999 (the last a ``datetime`` holds, in UTC or in
        the trigger's zone) counts as never.

        Args:
            previous_fire_time: the time the trigger last fired (as reported, jitter included),
                or ``None`` if it has not fired yet.
            now: the current time; the first fire time is not earlier than this.
        """
        try:
            if self.jitter is None:
                # Most triggers have no jitter: their grid's answer is final, and asking for it
                # directly saves a frame on every run of every interval or cron job.
                next_fire_time = self._next_scheduled_time(previous_fire_time, now)
            else:
                next_fire_time = self._next_fire_time(previous_fire_time, now)
            if next_fire_time is not None and next_fire_time.year in (1, 9999):
                # A wall time that exists in the zone but not in UTC (late on 9999-12-31
                # west of Greenwich) could not be compared or stored: beyond range too.
                next_fire_time.astimezone(UTC)
        except OverflowError:
            return None
        return next_fire_time

    def _next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """Return the next fire time, jitter included; may overflow past year 9999.

        Asked only when :attr:`jitter` is set (without it, the un-jittered time is the answer).
        """
        next_fire_time = self._next_scheduled_time(previous_fire_time, now)
        return self._apply_jitter(next_fire_time, self.jitter, now)

    @abstractmethod
    def _next_scheduled_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """Return the next un-jittered fire time (see :meth:`get_next_fire_time`)."""

    @staticmethod
    def _search_start(previous_fire_time: datetime | None, now: datetime) -> datetime:
        """Return the earliest instant the next fire time may be, in UTC.

        Arithmetic and comparisons between datetimes sharing a ``tzinfo`` use wall time and
        ignore ``fold``, which is wrong across a DST change; working in UTC avoids that.
        """
        if previous_fire_time is not None:
            return previous_fire_time.astimezone(UTC) + _ONE_MICROSECOND
        return now.astimezone(UTC)

    @abstractmethod
    def __getstate__(self) -> dict[str, Any]:
        """Return the trigger's settings as plain JSON-serialisable data."""

    @abstractmethod
    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore the settings returned by :meth:`__getstate__`."""


def next_unjittered_time(
    trigger: BaseTrigger, previous_fire_time: datetime | None, now: datetime
) -> datetime | None:
    """Ask ``trigger`` for its next fire time, without jitter when it is a grid trigger."""
    if isinstance(trigger, GridTrigger):
        try:
            return trigger._next_scheduled_time(previous_fire_time, now)
        except OverflowError:  # past year 9999: never
            return None
    return trigger.get_next_fire_time(previous_fire_time, now)
