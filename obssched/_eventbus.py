"""Delivering events to listeners."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from obssched._refs import get_callable_name
from obssched.events import EVENT_ALL, EVENT_NAMES, SchedulerEvent

__all__ = ["EventBus", "Listener"]

Listener = Callable[[Any], Any]


class EventBus:
    """Holds ``(callback, mask)`` pairs and calls the matching callbacks for each event.

    A callback that raises is logged and counted (``error_counts``, keyed by its name, from zero
    when it is added); the other callbacks still get the event.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._lock = threading.Lock()
        # Replaced, never mutated, so dispatch can iterate without taking the lock.
        self._listeners: tuple[tuple[Listener, int], ...] = ()
        # The callbacks of each event code seen so far, in registration order: dispatch looks
        # the code up once instead of testing every listener's mask.
        self._by_code: dict[int, tuple[Listener, ...]] = {}
        self.mask = 0
        self.error_counts: dict[str, int] = {}

    def add(self, callback: Listener, mask: int = EVENT_ALL) -> None:
        """Deliver events whose code is in ``mask`` to ``callback``."""
        if not callable(callback):
            raise TypeError(f"Listener must be callable, got {callback!r}")
        if isinstance(mask, bool) or not isinstance(mask, int):
            raise TypeError(f"Listener mask must be an integer of EVENT_* bits, got {mask!r}")
        with self._lock:
            self._listeners = (*self._listeners, (callback, mask))
            self._recompute()
            # Counted from zero, so the first failure shows as an increase on the dashboards.
            self.error_counts.setdefault(get_callable_name(callback), 0)

    def remove(self, callback: Listener) -> None:
        """Stop delivering events to ``callback`` (every registration of it)."""
        with self._lock:
            self._listeners = tuple(
                (cb, mask) for cb, mask in self._listeners if cb is not callback
            )
            self._recompute()

    def _recompute(self) -> None:
        mask = 0
        for _, listener_mask in self._listeners:
            mask |= listener_mask
        self.mask = mask
        self._by_code = {code: self._matching(code) for code in EVENT_NAMES}

    def _matching(self, code: int) -> tuple[Listener, ...]:
        return tuple(callback for callback, mask in self._listeners if code & mask)

    def dispatch(self, event: SchedulerEvent) -> None:
        """Call every listener whose mask includes ``event.code``."""
        callbacks = self._by_code.get(event.code)
        if callbacks is None:  # a code outside the event table
            callbacks = self._matching(event.code)
        for callback in callbacks:
            try:
                callback(event)
            except Exception:
                self._failed(callback)

    def _failed(self, callback: Listener) -> None:
        name = get_callable_name(callback)
        with self._lock:
            self.error_counts[name] = self.error_counts.get(name, 0) + 1
        self._logger.exception("Error notifying listener %s", name)
