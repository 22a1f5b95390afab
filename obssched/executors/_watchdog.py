"""Ending runs that take longer than their job's ``timeout``: one timer thread per executor."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from obssched._runs import RunInfo
    from obssched.clock import Clock

__all__ = ["Watchdog"]

_UNSTARTED_POLL = 0.05
"""Seconds between looks at a watched run whose body has not started yet (its deadline counts
from its start, which the thread running it records without telling anyone)."""

Expire = Callable[[list["RunInfo"], "RunInfo", float, float, float], None]
"""``expire(runs, run, timeout, started, now)``: end ``run`` (of the work item ``runs``)."""


class Watchdog:
    """Watches the work items of jobs with a ``timeout`` and hands the overdue ones to ``expire``.

    Only submissions of jobs with a timeout are watched, so an executor whose jobs have none
    never starts the thread and pays nothing per run. The thread sleeps until the earliest
    deadline; :meth:`check` can also be called directly (tests drive it with a manual clock).

    Args:
        clock: the executor's clock (deadlines are monotonic readings of it).
        inflight: the executor's in-flight registry (run id -> [RunInfo, monotonic start]).
        expire: ends an overdue run and stops its body where the executor can.
        name: the thread's name.
        from_submission: count each deadline from the run's submission rather than from the
            start of its body (for executors that cannot see the start, such as a process
            pool).
    """

    def __init__(
        self,
        clock: Clock,
        inflight: dict[int, list[Any]],
        expire: Expire,
        name: str,
        *,
        from_submission: bool = False,
    ) -> None:
        self._clock = clock
        self._from_submission = from_submission
        self._inflight = inflight
        self._expire = expire
        self._name = name
        # first run id of a work item -> (its runs, the job's timeout)
        self._watched: dict[int, tuple[list[RunInfo], float]] = {}
        self._condition = threading.Condition()
        self._checking = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = False
        # Set by watch(), cleared by check(): a work item added while the thread checked may
        # have a nearer deadline than the one it is about to sleep until.
        self._added = False

    def watch(self, runs: list[RunInfo], timeout: float) -> None:
        """Watch the work item ``runs``: end each run whose body passes ``timeout`` seconds."""
        with self._condition:
            self._watched[runs[0].run_id] = (runs, timeout)
            self._added = True
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            self._condition.notify()

    def check(self) -> float | None:
        """End the overdue runs; return the seconds until the next deadline (``None``: none)."""
        with self._checking:
            with self._condition:
                self._added = False
                items = list(self._watched.items())
            inflight = self._inflight
            wait: float | None = None
            for key, (runs, timeout) in items:
                # A work item's runs run in order: its first unfinished one is the current one.
                current = next((run for run in runs if run.run_id in inflight), None)
                entry = None if current is None else inflight.get(current.run_id)
                if current is None or entry is None:
                    with self._condition:
                        self._watched.pop(key, None)
                    continue
                started = current.submitted_monotonic if self._from_submission else entry[1]
                if started is None:
                    remaining = _UNSTARTED_POLL
                else:
                    now = self._clock.monotonic()
                    remaining = started + timeout - now
                    if remaining <= 0:
                        with self._condition:
                            self._watched.pop(key, None)
                        self._expire(runs, current, timeout, started, now)
                        continue
                wait = remaining if wait is None else min(wait, remaining)
            return wait

    def stop(self) -> None:
        """Stop the thread (runs still watched are left to end on their own)."""
        with self._condition:
            self._stopped = True
            self._condition.notify()

    def _loop(self) -> None:
        while True:
            wait = self.check()
            with self._condition:
                if self._stopped:
                    self._thread = None
                    return
                if not self._added:
                    self._condition.wait(wait)
