"""A scheduler that runs in the foreground (APScheduler 3's ``BlockingScheduler``)."""

from __future__ import annotations

import threading
from typing import Any

from obssched.schedulers.base import STATE_STOPPED, BaseScheduler

__all__ = ["BlockingScheduler"]


class _Alarm:
    """What the loop sleeps on: rung from any thread, and remembered until slept on.

    A bare lock, held while no wakeup is pending. ``threading.Event.wait`` would build a
    Condition waiter on every sleep, and the loop sleeps once per tick.
    """

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()

    def ring(self) -> None:
        """End the current (or next) sleep."""
        try:
            self._lock.release()
        except RuntimeError:
            pass  # already rung, and not slept on since

    def sleep(self, seconds: float | None) -> bool:
        """Sleep until rung or until ``seconds`` have passed (``None``: until rung); return
        whether it was rung."""
        # By position: a keyword costs the C argument parser a lookup on every tick.
        return self._lock.acquire(True, -1 if seconds is None else seconds)


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
        wait_seconds: float | None = self._process_jobs() if self.running else None
        while self.state != STATE_STOPPED:
            if not alarm.sleep(wait_seconds):
                # A heartbeat: nothing was added, changed or finished that asked for a tick.
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
