"""Triggers that combine other triggers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from obssched.triggers._state import check_version, trigger_from_dict, trigger_to_dict
from obssched.triggers.base import BaseTrigger, GridTrigger, RandomSource, next_unjittered_time

__all__ = ["AndTrigger", "BaseCombiningTrigger", "OrTrigger"]

_STATE_VERSION: Final = 1
_MAX_AND_ROUNDS: Final = 10_000
"""Triggers that never agree would otherwise be searched forever; give up after this many."""
_ONE_MICROSECOND: Final = timedelta(microseconds=1)


class BaseCombiningTrigger(GridTrigger):
    """Shared parts of :class:`AndTrigger` and :class:`OrTrigger`."""

    __slots__ = ("triggers",)

    triggers: list[BaseTrigger]
    _alias: str = ""

    def __init__(
        self,
        triggers: Sequence[BaseTrigger],
        jitter: float | None = None,
        *,
        rng: RandomSource | None = None,
    ) -> None:
        if not triggers:
            raise ValueError(f"{type(self).__name__} needs at least one trigger")
        for trigger in triggers:
            if not isinstance(trigger, BaseTrigger):
                raise TypeError(f"{type(self).__name__} combines triggers, got {trigger!r}")
        self.triggers = list(triggers)
        self._init_jitter(jitter, rng)

    def __getstate__(self) -> dict[str, Any]:
        return {
            "version": _STATE_VERSION,
            "triggers": [trigger_to_dict(trigger) for trigger in self.triggers],
            "jitter": self.jitter,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        check_version(self._alias, state, _STATE_VERSION)
        self.triggers = [trigger_from_dict(data) for data in state["triggers"]]
        self._init_jitter(state["jitter"], None)

    def __str__(self) -> str:
        return f"{self._alias}[{', '.join(str(trigger) for trigger in self.triggers)}]"

    def __repr__(self) -> str:
        jitter = f", jitter={self.jitter}" if self.jitter else ""
        return f"<{type(self).__name__}({self.triggers!r}{jitter})>"


class AndTrigger(BaseCombiningTrigger):
    """Fires at the times all of the given triggers agree on.

    The search gives up (returning ``None``) after 10,000 rounds of disagreement, so triggers
    that can never coincide do not hang the scheduler. The children's own jitter is ignored.
    """

    __slots__ = ()
    _alias = "and"

    def _next_scheduled_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        previous, current = previous_fire_time, now
        for _ in range(_MAX_AND_ROUNDS):
            times = [next_unjittered_time(trigger, previous, current) for trigger in self.triggers]
            if any(time is None for time in times):
                return None
            instants = [time.astimezone(UTC) for time in times if time is not None]
            latest = max(instants)
            if min(instants) == latest:
                return times[0]
            # Ask every trigger for its first time at or after the latest candidate.
            previous, current = latest - _ONE_MICROSECOND, latest
        return None


class OrTrigger(BaseCombiningTrigger):
    """Fires whenever any of the given triggers fires (the earliest of their next times)."""

    __slots__ = ()
    _alias = "or"

    def _next_scheduled_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        times = [
            time
            for trigger in self.triggers
            if (time := next_unjittered_time(trigger, previous_fire_time, now)) is not None
        ]
        return min(times, key=lambda time: time.astimezone(UTC)) if times else None
