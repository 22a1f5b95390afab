"""Job bodies and triggers for the in-process cluster tests (stored by reference: in a module of
their own)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from obssched.triggers.base import BaseTrigger

PROBE: dict[str, Any] = {}
"""What :func:`read_start_mark` reads: the store (``store``) and where it appends (``seen``)."""


def read_start_mark() -> None:
    """Append the ``started_through`` of every ``_running`` row, as the body sees them."""
    store = PROBE["store"]
    running = store.tables.running
    with store.engine.connect() as conn:
        PROBE["seen"].extend(conn.execute(select(running.c.started_through)).scalars())


class CountingTrigger(BaseTrigger):
    """Fires every minute from ``start_date`` and counts the fire times it was asked for: a
    trigger whose state changes as it is used (as a trigger written for APScheduler 3 may)."""

    def __init__(self, start_date: datetime) -> None:
        self.start_date = start_date
        self.asked = 0

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        self.asked += 1
        if previous_fire_time is None:
            return self.start_date
        return previous_fire_time + timedelta(minutes=1)

    def __getstate__(self) -> dict[str, Any]:
        return {"start_date": self.start_date, "asked": self.asked}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.start_date = state["start_date"]
        self.asked = state["asked"]


ARGUMENT_BROKEN = {"now": False}
"""Whether a :class:`BreakableArgument` fails to unpickle (as one whose class changed does)."""


def rebuild_argument() -> BreakableArgument:
    """Unpickle a :class:`BreakableArgument`, or fail while ``ARGUMENT_BROKEN["now"]``."""
    if ARGUMENT_BROKEN["now"]:
        raise RuntimeError("the argument cannot be rebuilt now")
    return BreakableArgument()


class BreakableArgument:
    """A pickled job argument that unpickles until ``ARGUMENT_BROKEN["now"]`` is set."""

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return rebuild_argument, ()
