"""A scheduler that runs in the foreground (APScheduler 3's ``BlockingScheduler``)."""

from __future__ import annotations

import threading
from typing import Any

from obssched.schedulers.base import STATE_STOPPED, BaseScheduler

__all__ = ["BlockingScheduler"]


class BlockingScheduler(BaseScheduler):
    """A scheduler whose :meth:`start` runs the scheduling loop and returns at shutdown."""

    _event: threading.Event | None = None

    def start(self, *args: Any, **kwargs: Any) -> None:
        """Start the scheduler and run its loop in this thread until :meth:`shutdown`."""
        if self._event is None or self._event.is_set():
            self._event = threading.Event()
        super().start(*args, **kwargs)
        self._main_loop()

    def shutdown(self, wait: bool = True) -> None:
        """Stop the scheduler; :meth:`start` returns in the thread that called it."""
        super().shutdown(wait)
        if self._event is not None:
            self._event.set()

    def _main_loop(self) -> None:
        event = self._event
        assert event is not None
        wait_seconds: float | None = self._process_jobs() if self.running else None
        while self.state != STATE_STOPPED:
            event.wait(wait_seconds)
            event.clear()
            if self.state == STATE_STOPPED:
                break
            wait_seconds = self._process_jobs()

    def wakeup(self) -> None:
        """Make the loop run a tick now."""
        if self._event is not None:
            self._event.set()
