"""Mapping wall-clock times onto real instants across DST changes.

``zoneinfo`` answers "what offset applies to this wall time with this fold" but does not expose
transition instants, so the two helpers that need one find it by bisecting the few hours around
the wall time, where only one transition can lie.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from enum import Enum
from typing import Final

__all__ = [
    "WallKind",
    "classify_wall_time",
    "fold_bounds",
    "gap_end",
    "is_second_pass",
    "resolve_wall_time",
]

_ONE_SECOND: Final = timedelta(seconds=1)


class WallKind(Enum):
    """How a wall-clock time maps onto real instants."""

    NORMAL = "normal"
    """Exactly one instant."""
    GAP = "gap"
    """No instant: the clocks jumped over it."""
    FOLD = "fold"
    """Two instants: the clocks went back over it."""


def _offsets(wall: datetime, tz: tzinfo) -> tuple[timedelta, timedelta]:
    first = wall.replace(tzinfo=tz, fold=0).utcoffset()
    second = wall.replace(tzinfo=tz, fold=1).utcoffset()
    assert first is not None
    assert second is not None
    return first, second


def classify_wall_time(wall: datetime, tz: tzinfo) -> WallKind:
    """Tell whether the naive ``wall`` happens once, never or twice in ``tz``."""
    first, second = _offsets(wall, tz)
    if first == second:
        return WallKind.NORMAL
    # PEP 495: fold=0 takes the offset from before the transition, fold=1 the one after.
    return WallKind.GAP if first < second else WallKind.FOLD


def _first_instant_with_offset(
    tz: tzinfo, after: datetime, until: datetime, offset: timedelta
) -> datetime:
    """Return the first whole-second UTC instant in ``(after, until]`` with ``offset``."""
    low = after.replace(microsecond=0)
    high = until.replace(microsecond=0)
    if high < until:
        high += _ONE_SECOND
    while high - low > _ONE_SECOND:
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(tz).utcoffset() == offset:
            high = middle
        else:
            low = middle
    return high


def gap_end(wall: datetime, tz: tzinfo) -> datetime:
    """Return the first real instant after the non-existent wall time ``wall``, in ``tz``."""
    before, after = _offsets(wall, tz)
    naive = wall.replace(tzinfo=None)
    earliest = (naive - after).replace(tzinfo=UTC)
    latest = (naive - before).replace(tzinfo=UTC)
    return _first_instant_with_offset(tz, earliest, latest, after).astimezone(tz)


def is_second_pass(moment: datetime) -> bool:
    """Tell whether the aware ``moment`` lies in the repeated hour after clocks went back."""
    return moment.fold == 1 and moment.utcoffset() != moment.replace(fold=0).utcoffset()


def fold_bounds(moment: datetime) -> tuple[datetime, datetime]:
    """Return the wall times ``[start, end)`` that repeat around the ambiguous aware ``moment``."""
    tz = moment.tzinfo
    assert tz is not None
    naive = moment.replace(tzinfo=None)
    before, after = _offsets(naive, tz)
    earliest = (naive - before).replace(tzinfo=UTC)
    latest = (naive - after).replace(tzinfo=UTC)
    transition = _first_instant_with_offset(tz, earliest, latest, after)
    start = (transition + after).replace(tzinfo=None)
    return start, start + (before - after)


def resolve_wall_time(wall: datetime, tz: tzinfo) -> datetime:
    """Return the instant for the naive ``wall`` in ``tz``.

    A repeated time resolves to its first occurrence, a skipped one to the end of the gap.
    """
    kind = classify_wall_time(wall, tz)
    if kind is WallKind.GAP:
        return gap_end(wall, tz)
    return wall.replace(tzinfo=tz, fold=0)
