"""Job functions the job store tests store by reference."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from obssched.triggers.base import BaseTrigger

CALLS: list[tuple[Any, ...]] = []


def record(*args: Any, **kwargs: Any) -> None:
    """Remember the call (in this process)."""
    CALLS.append((args, kwargs))


def noop() -> None:
    """Do nothing."""


STARTS: list[str] = []
RELEASE = threading.Event()


def hold(tag: str) -> None:
    """Note the start, then wait until the test sets RELEASE."""
    STARTS.append(tag)
    RELEASE.wait(20)


class FailingTrigger(BaseTrigger):
    """Fires once at ``start_date``, then raises: a trigger that breaks while its job is due."""

    def __init__(self, start_date: datetime) -> None:
        self.start_date = start_date

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is None:
            return self.start_date
        raise RuntimeError("planned trigger failure")

    def __getstate__(self) -> dict[str, Any]:
        return {"start_date": self.start_date}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.start_date = state["start_date"]
