"""What an executor does about runs that take too long: job timeouts, and a shutdown that
waits only so long for the runs in flight.

A mixin of :class:`~obssched.executors.base.BaseExecutor`, kept apart so that the base class
stays about submitting and ending runs; it works on the executor's own in-flight registry.
"""

from __future__ import annotations

import threading
import traceback
from typing import TYPE_CHECKING, Any

from obssched._runs import RunInfo
from obssched.events import EVENT_JOB_ERROR, _timed_execution_event
from obssched.exceptions import JobAbandonedAtShutdownError, JobTimeoutError
from obssched.executors._runner import error_event
from obssched.executors._watchdog import Watchdog

if TYPE_CHECKING:
    from obssched._context import SchedulerContext
    from obssched.clock import Clock
    from obssched.events import JobExecutionEvent

__all__ = ["RunBounds"]

_SHUTDOWN_POLL = 0.01
"""Seconds between looks at the runs in flight while a bounded shutdown waits for them."""


class RunBounds:
    """Job timeouts and bounded shutdown, for :class:`~obssched.executors.base.BaseExecutor`."""

    _alias: str
    _clock: Clock
    _context: SchedulerContext
    _inflight: dict[int, list[Any]]
    _instances: dict[str, int]
    _lock: threading.Lock
    _running: dict[int, list[RunInfo]]
    _logger: Any
    _watchdog: Watchdog | None

    def _run_ended(self, run: RunInfo, event: JobExecutionEvent, *, last: bool) -> None:
        """End ``run`` once with ``event`` (the executor's own, see ``BaseExecutor``)."""
        raise NotImplementedError

    _timeout_from_submission = False
    """Whether a run's timeout counts from its submission (the executor does not see when its
    body starts) instead of from the start of its body."""

    def _watch(self, runs: list[RunInfo], timeout: float) -> None:
        watchdog = self._watchdog
        if watchdog is None:
            with self._lock:
                watchdog = self._watchdog
                if watchdog is None:
                    watchdog = self._watchdog = Watchdog(
                        self._clock,
                        self._inflight,
                        self._expire,
                        f"obssched-{self._alias}-watchdog",
                        from_submission=self._timeout_from_submission,
                    )
        watchdog.watch(runs, timeout)

    def check_timeouts(self) -> float | None:
        """End the runs that have passed their job's ``timeout`` now; return the seconds until
        the next run would (``None``: no run is watched).

        The executor's watchdog thread calls it on its own; a test driving the scheduler's clock
        by hand calls it after moving the clock.
        """
        watchdog = self._watchdog
        return None if watchdog is None else watchdog.check()

    def _expire(
        self, runs: list[RunInfo], run: RunInfo, timeout: float, started: float, now: float
    ) -> None:
        """End ``run``, past its ``timeout``, with :class:`JobTimeoutError` (and the later runs
        of its work item, which can no longer start in time, with the same error)."""
        exc = JobTimeoutError(run.job_id, timeout, run.scheduled_run_time, now - started)
        self._logger.error("%s", exc)
        formatted = "".join(traceback.format_exception_only(exc))
        last = runs[-1]
        index = runs.index(run)
        event = _timed_execution_event(EVENT_JOB_ERROR, run, None, exc, formatted, started, now)
        self._run_ended(run, event, last=run is last)
        for later in runs[index + 1 :]:
            if later.run_id in self._inflight:
                self._run_ended(later, error_event(later, exc, self._clock), last=later is last)
        self._stop_runs(runs)

    def _stop_runs(self, runs: list[RunInfo]) -> None:
        """Stop the body of the work item ``runs``, already ended, where the executor can.

        The default abandons it: a thread cannot be stopped from outside, so it finishes on its
        own and the late end of its run is logged and dropped.
        """

    def wait_for_runs(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds (of the scheduler's clock) for the runs in flight to
        end; return whether they all did.

        A run of the calling thread (a job that shuts its scheduler down) is not waited for.
        """
        clock = self._clock
        deadline = clock.monotonic() + timeout
        own = self._own_run_ids()
        pause = threading.Event()
        # The pauses also add up to the timeout, so that a clock nobody moves (a test's manual
        # clock) cannot keep a shutdown waiting for ever.
        paused = 0.0
        while any(run_id not in own for run_id in list(self._inflight)):
            remaining = min(deadline - clock.monotonic(), timeout - paused)
            if remaining <= 0:
                return False
            step = min(remaining, _SHUTDOWN_POLL)
            pause.wait(step)
            paused += step
        return True

    def abandon_runs(self, waited: float) -> list[RunInfo]:
        """End every run still in flight, but the calling thread's own, as abandoned at shutdown
        (:class:`~obssched.exceptions.JobAbandonedAtShutdownError`, ``waited`` being how long the
        shutdown waited for them) and stop their bodies where the executor can; return them.
        """
        own = self._own_run_ids()
        abandoned = [info for info, _ in list(self._inflight.values()) if info.run_id not in own]
        node = self._context.name
        for run in abandoned:
            exc = JobAbandonedAtShutdownError(run.job_id, node, [run.scheduled_run_time], waited)
            self._logger.warning("%s", exc)
            # The instance count goes with the rest: the executor is shutting down.
            self._run_ended(run, error_event(run, exc, self._clock), last=False)
        with self._lock:
            self._instances.clear()
        if abandoned:
            self._stop_runs(abandoned)
        self._stop_watchdog()
        return abandoned

    def _stop_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.stop()
            self._watchdog = None

    def _own_run_ids(self) -> set[int]:
        runs = self._running.get(threading.get_ident())
        return set() if runs is None else {run.run_id for run in runs}
