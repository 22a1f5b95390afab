"""A scheduler that runs in a background thread (APScheduler 3's ``BackgroundScheduler``)."""

from __future__ import annotations

import threading
from typing import Any

from obssched.schedulers.blocking import BlockingScheduler, _Alarm
from obssched.util import asbool

__all__ = ["BackgroundScheduler"]


class BackgroundScheduler(BlockingScheduler):
    """A scheduler that runs its loop in a thread of its own; :meth:`start` returns at once.

    Extra option:
        daemon: run the loop in a daemon thread (default ``True``), so the program can exit
            without calling :meth:`shutdown`.
    """

    _thread: threading.Thread | None = None
    _daemon: bool = True

    def _configure(self, config: dict[str, Any]) -> None:
        self._daemon = asbool(config.pop("daemon", True))
        super()._configure(config)

    def start(self, *args: Any, **kwargs: Any) -> None:
        """Start the scheduler and its loop thread."""
        self._alarm = _Alarm()
        super(BlockingScheduler, self).start(*args, **kwargs)
        self._thread = threading.Thread(
            target=self._main_loop, name="obssched-scheduler", daemon=self._daemon
        )
        self._thread.start()

    def shutdown(self, wait: bool = True, *, timeout: float | None = None) -> None:
        """Stop the scheduler and wait for the loop thread to end (see
        :meth:`BaseScheduler.shutdown` for ``timeout``, which also bounds this wait)."""
        super().shutdown(wait, timeout=timeout)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            # The loop ends at its next wake-up, unless a listener it runs is stuck.
            thread.join(timeout)
        self._thread = None
