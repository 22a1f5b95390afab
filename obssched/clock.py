"""The clocks the scheduler reads time from.

This is the only module that reads the real wall clock or the monotonic clock; everything else
asks the :class:`Clock` it was given, so tests can drive time with
:class:`obssched.testing.ManualClock`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """A source of wall-clock and monotonic time."""

    def now(self) -> datetime:
        """Return the current time as a timezone-aware UTC datetime."""
        ...

    def monotonic(self) -> float:
        """Return seconds from an arbitrary origin that never go backwards."""
        ...


class SystemClock:
    """The real clocks of this process.

    :meth:`now` and :meth:`monotonic` are the interpreter's own C functions (static methods):
    the loop and the executors read a clock several times per run, and a Python method around
    each reading cost more than the reading itself. Subclasses may override either, and reach
    these through ``super().now()`` (not ``SystemClock.now(self)``: a static method takes no
    instance).
    """

    __slots__ = ()

    now: Callable[[], datetime] = staticmethod(partial(datetime.now, UTC))
    """Return the current wall-clock time in UTC."""
    monotonic: Callable[[], float] = staticmethod(time.monotonic)
    """Return the value of :func:`time.monotonic`."""

    def __repr__(self) -> str:
        return "SystemClock()"
