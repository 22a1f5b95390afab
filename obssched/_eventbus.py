"""Delivering events to listeners."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from obssched._refs import get_callable_name
from obssched.events import EVENT_ALL, EVENT_NAMES, SchedulerEvent

__all__ = ["EventBus", "Listener"]

Listener = Callable[[Any], Any]


class _Registration(NamedTuple):
    callback: Listener
    mask: int
    name: str
    routes: Mapping[int, Listener]
    """Callables that take the callback's place for particular event codes."""


class EventBus:
    """Holds ``(callback, mask)`` pairs and calls the matching callbacks for each event.

    A callback that raises is logged and counted (``error_counts``, keyed by its name, from zero
    when it is added); the other callbacks still get the event.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._lock = threading.Lock()
        # Replaced, never mutated, so dispatch can iterate without taking the lock.
        self._registrations: tuple[_Registration, ...] = ()
        # The callables of each event code, in registration order: dispatch looks the code up
        # once instead of testing every listener's mask.
        self._by_code: dict[int, tuple[Listener, ...]] = {}
        # Listener names by id() of each callable dispatch may call (for counting failures).
        self._names: dict[int, str] = {}
        self.mask = 0
        self.error_counts: dict[str, int] = {}
        # Every code gets its (empty) tuple now, so dispatch never falls back to _matching.
        self._recompute()

    def add(
        self,
        callback: Listener,
        mask: int = EVENT_ALL,
        *,
        name: str | None = None,
        routes: Mapping[int, Listener] | None = None,
    ) -> None:
        """Deliver events whose code is in ``mask`` to ``callback``.

        ``routes`` maps event codes to callables called instead of ``callback`` for those codes
        (a listener that already knows what it does with each event spares itself the lookup);
        ``name`` is what its failures are counted under (default: the callback's name).
        """
        if not callable(callback):
            raise TypeError(f"Listener must be callable, got {callback!r}")
        if isinstance(mask, bool) or not isinstance(mask, int):
            raise TypeError(f"Listener mask must be an integer of EVENT_* bits, got {mask!r}")
        name = name or get_callable_name(callback)
        with self._lock:
            registration = _Registration(callback, mask, name, dict(routes or {}))
            self._registrations = (*self._registrations, registration)
            self._recompute()
            # Counted from zero, so the first failure shows as an increase on the dashboards.
            self.error_counts.setdefault(name, 0)

    def reroute(self, callback: Listener, routes: Mapping[int, Listener] | None) -> None:
        """Replace the routes of ``callback``'s registrations, atomically for dispatch."""
        with self._lock:
            self._registrations = tuple(
                r._replace(routes=dict(routes or {})) if r.callback == callback else r
                for r in self._registrations
            )
            self._recompute()

    def remove(self, callback: Listener) -> None:
        """Stop delivering events to ``callback`` (every registration of it).

        Callbacks are compared with ``==``, as APScheduler does: ``remove(obj.method)`` removes
        what ``add(obj.method)`` added, although each attribute access makes a new bound method.
        """
        with self._lock:
            self._registrations = tuple(r for r in self._registrations if r.callback != callback)
            self._recompute()

    @property
    def callbacks(self) -> tuple[Listener, ...]:
        """The registered callbacks, in registration order (one entry per registration)."""
        return tuple(r.callback for r in self._registrations)

    def _recompute(self) -> None:
        mask = 0
        names: dict[int, str] = {}
        for registration in self._registrations:
            mask |= registration.mask
            names[id(registration.callback)] = registration.name
            for route in registration.routes.values():
                names[id(route)] = registration.name
        self.mask = mask
        self._names = names
        self._by_code = {code: self._matching(code) for code in EVENT_NAMES}

    def _matching(self, code: int) -> tuple[Listener, ...]:
        return tuple(r.routes.get(code, r.callback) for r in self._registrations if code & r.mask)

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
        name = self._names.get(id(callback)) or get_callable_name(callback)
        with self._lock:
            self.error_counts[name] = self.error_counts.get(name, 0) + 1
        self._logger.exception("Error notifying listener %s", name)
