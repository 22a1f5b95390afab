"""A scheduler for asyncio applications (APScheduler 3's ``AsyncIOScheduler``)."""

from __future__ import annotations

import asyncio
from typing import Any

from obssched.executors.base import BaseExecutor
from obssched.schedulers.base import BaseScheduler
from obssched.util import maybe_ref

__all__ = ["AsyncIOScheduler"]


class AsyncIOScheduler(BaseScheduler):
    """A scheduler that runs on an asyncio event loop.

    Extra option:
        event_loop: the loop to run on (an object or a reference); by default the loop running
            when :meth:`start` is called.
    """

    _eventloop: asyncio.AbstractEventLoop | None = None
    _timeout: asyncio.TimerHandle | None = None

    @property
    def event_loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the scheduler runs on (``None`` until it is known)."""
        return self._eventloop

    def start(self, paused: bool = False) -> None:
        """Start the scheduler on its event loop (call it from the loop, or pass ``event_loop``)."""
        if self._eventloop is None or self._eventloop.is_closed():
            # A loop from an earlier asyncio.run() is closed: this start runs on the current one.
            self._eventloop = asyncio.get_running_loop()
        super().start(paused)

    def shutdown(self, wait: bool = True, *, timeout: float | None = None) -> None:
        """Stop the scheduler and cancel its timer (see :meth:`BaseScheduler.shutdown` for
        ``timeout``)."""
        super().shutdown(wait, timeout=timeout)
        self._stop_timer()

    def _configure(self, config: dict[str, Any]) -> None:
        self._eventloop = maybe_ref(config.pop("event_loop", None)) or self._eventloop
        super()._configure(config)

    def _start_timer(self, wait_seconds: float | None) -> None:
        self._stop_timer()
        if wait_seconds is not None and self._eventloop is not None:
            self._timeout = self._eventloop.call_later(wait_seconds, self._tick)

    def _stop_timer(self) -> None:
        if self._timeout is not None:
            self._timeout.cancel()
            self._timeout = None

    def wakeup(self) -> None:
        """Run a tick on the event loop soon; safe to call from any thread."""
        if self._eventloop is not None:
            self._eventloop.call_soon_threadsafe(self._tick)

    def _tick(self) -> None:
        self._stop_timer()
        if self.running:
            self._start_timer(self._process_jobs())

    def _create_default_executor(self) -> BaseExecutor:
        from obssched.executors.asyncio import AsyncIOExecutor

        return AsyncIOExecutor()
