"""A trigger that fires once."""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Any

from obssched._timeutil import datetime_repr, get_localzone
from obssched.triggers._settings import choose_zone, to_aware
from obssched.triggers._state import (
    check_version,
    datetime_from_text,
    datetime_to_text,
    zone_from_text,
    zone_to_text,
)
from obssched.triggers.base import GridTrigger

__all__ = ["DateTrigger"]

_STATE_VERSION = 1


def _local_zone() -> tzinfo:
    # Looked up at call time, so patching this module's ``get_localzone`` takes effect.
    return get_localzone()


class DateTrigger(GridTrigger):
    """Fires once, at ``run_date``.

    Args:
        run_date: when to fire, as a ``datetime``, a ``date`` or ISO 8601 text; naive values are
            read in ``timezone``. ``None`` fires as soon as the scheduler first asks (at the
            ``now`` it passes), since triggers never read the clock themselves.
        timezone: the zone for naive ``run_date`` values (default: the zone of ``run_date``,
            else the local zone).
    """

    __slots__ = ("run_date", "timezone")

    run_date: datetime | None
    timezone: tzinfo

    def __init__(
        self,
        run_date: datetime | date | str | None = None,
        timezone: str | tzinfo | None = None,
    ) -> None:
        self.timezone = choose_zone(timezone, run_date, local=_local_zone, empty_is_local=False)
        self.run_date = to_aware(run_date, self.timezone, "run_date")
        self._init_jitter(None, None)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """Return ``run_date`` (or ``now`` without one) until the trigger has fired, then
        ``None``: asked once per run, a fired trigger answers at once."""
        if previous_fire_time is not None:
            return None
        return super().get_next_fire_time(previous_fire_time, now)

    def _next_scheduled_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is not None:
            return None  # fires once, as in APScheduler 3, whatever time it fired at
        if self.run_date is None:
            # "Run once, now": the first time asked, whenever that is.
            return now.astimezone(self.timezone)
        return self.run_date

    def __getstate__(self) -> dict[str, Any]:
        return {
            "version": _STATE_VERSION,
            "run_date": datetime_to_text(self.run_date),
            "timezone": zone_to_text(self.timezone),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        check_version("date", state, _STATE_VERSION)
        self.timezone = zone_from_text(state["timezone"])
        self.run_date = datetime_from_text(state["run_date"], self.timezone)
        self._init_jitter(None, None)

    def __str__(self) -> str:
        return f"date[{datetime_repr(self.run_date)}]"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} (run_date={datetime_repr(self.run_date)!r})>"
