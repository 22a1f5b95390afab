"""A scheduler that runs in the foreground (APScheduler 3's ``BlockingScheduler``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from obssched.schedulers.base import STATE_STOPPED, BaseScheduler

__all__ = ["BlockingScheduler"]


class _Alarm:
    """What the loop sleeps on: rung from any thread, and remembered until slept on.

    A bare lock, held while no wakeup is pending. ``threading.Event.wait`` would build a
    Condition waiter on every sleep, and the loop sleeps once per tick.
    """

    __slots__ = ("_lock", "sleep")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self.sleep: Callable[[bool, float], bool] = self._lock.acquire
        """``sleep(True, seconds)``: sleep until rung or until ``seconds`` have passed (-1:
        until rung); return whether it was rung. The lock's own acquire, called by position:
        a Python method around it cost a frame on every tick and every quiet heartbeat, and a
        keyword costs the C argument parser a lookup."""

    def ring(self) -> None:
        """End the current (or next) sleep."""
        try:
            self._lock.release()
        except RuntimeError:
            pass  # already rung, and not slept on since


class BlockingScheduler(BaseScheduler):
    """A scheduler whose :meth:`start` runs the scheduling loop and returns at shutdown."""

    _alarm: _Alarm | None = None

    def start(self, *args: Any, **kwargs: Any) -> None:
        """Start the scheduler and run its loop in this thread until :meth:`shutdown`."""
        self._alarm = _Alarm()
        super().start(*args, **kwargs)
        self._main_loop()

    def shutdown(self, wait: bool = True, *, timeout: float | None = None) -> None:
        """Stop the scheduler; :meth:`start` returns in the thread that called it.

        ``timeout`` bounds the wait for running jobs (see :meth:`BaseScheduler.shutdown`).
        """
        super().shutdown(wait, timeout=timeout)
        if self._alarm is not None:
            self._alarm.ring()

    def _main_loop(self) -> None:
        alarm = self._alarm
        assert alarm is not None
        sleep = alarm.sleep
        # None (from a subclass's _process_jobs, as APScheduler 3's may return): until rung.
        wait_seconds: float | None = self._process_jobs() if self.running else None
        while self.state != STATE_STOPPED:
            # A timed-out sleep is a heartbeat or a run's due time; only a heartbeat nothing
            # was added, changed or finished for (the last tick left a quiet limit) may need
            # no tick.
            if (
                not sleep(True, -1 if wait_seconds is None else wait_seconds)
                and self._quiet_until is not None
            ):
                quiet = self._quiet_heartbeat()
                if quiet is not None:
                    wait_seconds = quiet
                    continue
            if self.state == STATE_STOPPED:
                break
            wait_seconds = self._process_jobs()

    def wakeup(self) -> None:
        """Make the loop run a tick now."""
        if self._alarm is not None:
            self._alarm.ring()
