"""The clocks the scheduler reads time from.

This is the only module that reads the real wall clock or the monotonic clock; everything else
asks the :class:`Clock` it was given, so tests can drive time with
:class:`obssched.testing.ManualClock`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
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
    """The real clocks of this process."""

    __slots__ = ()

    def now(self) -> datetime:
        """Return the current wall-clock time in UTC."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Return the value of :func:`time.monotonic`."""
        return time.monotonic()

    def __repr__(self) -> str:
        return "SystemClock()"
