"""Test doubles for code that uses obssched: a manual clock, an event recorder, an inline
executor and a scheduler driven tick by tick.

Example::

    clock = ManualClock("2024-01-01T00:00:00+00:00")
    scheduler = ManualScheduler(clock=clock, metrics=False, tracing=False)
    recorder = EventRecorder(scheduler)
    scheduler.add_job(task, "interval", seconds=10)
    scheduler.start()
    clock.advance(10)
    scheduler.tick()
    assert recorder.codes == [...]
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from obssched.events import EVENT_ALL, EVENT_NAMES, SchedulerEvent
from obssched.executors.base import BaseExecutor
from obssched.executors.debug import DebugExecutor
from obssched.schedulers.base import BaseScheduler

__all__ = ["EventRecorder", "InlineExecutor", "ManualClock", "ManualScheduler"]


class ManualClock:
    """A clock that only moves when told to, and never backwards.

    Wall time and monotonic time advance together.

    Args:
        start: the initial wall-clock time (aware datetime or ISO 8601 text with an offset).
        monotonic_start: the initial monotonic reading.
    """

    def __init__(
        self, start: datetime | str = "2024-01-01T00:00:00+00:00", monotonic_start: float = 0.0
    ) -> None:
        now = datetime.fromisoformat(start) if isinstance(start, str) else start
        if now.tzinfo is None:
            raise ValueError(f"ManualClock needs an aware start time, got {start!r}")
        self._now = now
        self._monotonic = monotonic_start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the clock's current wall-clock time."""
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        """Return the clock's current monotonic reading."""
        with self._lock:
            return self._monotonic

    def advance(self, seconds: float | timedelta) -> datetime:
        """Move the clock forward by ``seconds``; return the new time.

        Raises:
            ValueError: ``seconds`` is negative.
        """
        delta = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
        if delta < timedelta(0):
            raise ValueError(f"ManualClock cannot go backwards (asked to advance by {seconds!r})")
        with self._lock:
            self._now += delta
            self._monotonic += delta.total_seconds()
            return self._now

    def set(self, moment: datetime | str) -> datetime:
        """Move the clock forward to ``moment``; return it.

        Raises:
            ValueError: ``moment`` is earlier than the clock's time.
        """
        target = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
        current = self.now()
        if target < current:
            raise ValueError(
                f"ManualClock cannot go backwards (from {current.isoformat()} to {target!r})"
            )
        return self.advance(target - current)

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()!r})"


class EventRecorder:
    """A listener that keeps every event it receives, in order; thread-safe.

    Args:
        scheduler: if given, the recorder adds itself to it as a listener.
        mask: the events to record.
    """

    def __init__(self, scheduler: BaseScheduler | None = None, mask: int = EVENT_ALL) -> None:
        self.events: list[Any] = []
        self._condition = threading.Condition()
        if scheduler is not None:
            scheduler.add_listener(self, mask)

    def __call__(self, event: SchedulerEvent) -> None:
        with self._condition:
            self.events.append(event)
            self._condition.notify_all()

    @property
    def codes(self) -> list[int]:
        """The codes of the recorded events, in order."""
        with self._condition:
            return [event.code for event in self.events]

    @property
    def names(self) -> list[str]:
        """The names of the recorded events (``"job_executed"``...), in order."""
        return [EVENT_NAMES.get(code, str(code)) for code in self.codes]

    def of(self, mask: int) -> list[Any]:
        """Return the recorded events whose code is in ``mask``."""
        with self._condition:
            return [event for event in self.events if event.code & mask]

    def clear(self) -> None:
        """Forget every recorded event."""
        with self._condition:
            self.events.clear()

    def wait_for(self, predicate: Callable[[list[Any]], bool], timeout: float = 10.0) -> list[Any]:
        """Block until ``predicate(events)`` holds; return the events.

        Raises:
            TimeoutError: it did not hold within ``timeout`` seconds.
        """
        with self._condition:
            if not self._condition.wait_for(lambda: predicate(self.events), timeout):
                names = [EVENT_NAMES.get(event.code, str(event.code)) for event in self.events]
                raise TimeoutError(f"Events never matched within {timeout}s; got {names}")
            return list(self.events)

    def wait_for_count(self, mask: int, count: int, timeout: float = 10.0) -> list[Any]:
        """Block until at least ``count`` events in ``mask`` were recorded; return those."""
        self.wait_for(
            lambda events: sum(1 for event in events if event.code & mask) >= count, timeout
        )
        return self.of(mask)


class InlineExecutor(DebugExecutor):
    """Runs each job body in the thread that submits it (a scheduler tick), deterministically."""


class ManualScheduler(BaseScheduler):
    """A scheduler with no loop of its own: each :meth:`tick` runs one scheduling step.

    Its default executor is an :class:`InlineExecutor`, so a tick runs due jobs to completion.
    """

    def __init__(self, gconfig: dict[str, Any] | None = None, **options: Any) -> None:
        self.wakeups = 0
        super().__init__(gconfig, **options)

    def wakeup(self) -> None:
        """Count the request; the test decides when to :meth:`tick`."""
        self.wakeups += 1

    def tick(self) -> float:
        """Run one scheduling step; return the seconds it would sleep before the next."""
        return self._process_jobs()

    def _create_default_executor(self) -> BaseExecutor:
        return InlineExecutor()
