"""Delivering events to listeners."""

from __future__ import annotations

import logging
import threading
from _thread import get_ident
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from obssched._refs import get_callable_name
from obssched.clock import Clock, SystemClock
from obssched.events import EVENT_ALL, EVENT_NAMES, SchedulerEvent

__all__ = ["SLOW_LISTENER_SECONDS", "TIMING_SAMPLE", "EventBus", "Listener", "ListenerTiming"]

SLOW_LISTENER_SECONDS = 1.0
"""A listener call taking longer than this is logged (once per listener per minute)."""

TIMING_SAMPLE = 32
"""One dispatch in this many is timed, listener by listener: two clock readings per listener
call on every event would cost more than the cheapest listeners themselves. (Every run sends
two or three events, so a listener that is slow on every call is still timed within a few
dozen runs; users' listeners held during a tick are timed on every call anyway.)"""

_SLOW_LOG_INTERVAL = 60.0


class ListenerTiming:
    """The timed calls of one listener: how many, their total and their longest, in seconds.

    Updated by whichever thread dispatches, without a lock: under concurrent dispatch a call
    may go uncounted, never counted twice.
    """

    __slots__ = ("count", "logged_at", "max", "name", "total")

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self.logged_at: float | None = None


Listener = Callable[[Any], Any]


class _Registration(NamedTuple):
    callback: Listener
    mask: int
    name: str
    routes: Mapping[int, Listener]
    """Callables that take the callback's place for particular event codes."""
    held: bool
    """Whether a holding thread's events reach it only at :meth:`EventBus.release`."""


class EventBus:
    """Holds ``(callback, mask)`` pairs and calls the matching callbacks for each event.

    A callback that raises is logged and counted (``error_counts``, keyed by its name, from zero
    when it is added); the other callbacks still get the event.
    """

    def __init__(
        self,
        logger: logging.Logger,
        clock: Callable[[], Clock] | None = None,
        *,
        slow_threshold: float = SLOW_LISTENER_SECONDS,
    ) -> None:
        self._logger = logger
        self._clock = clock
        self.slow_threshold = slow_threshold
        """Seconds past which a listener call is logged as slow."""
        # Dispatches left before the next timed one (unsynchronised: a race only moves the
        # sample by one).
        self._countdown = TIMING_SAMPLE
        # Timings by id() of each callable dispatch may call; one object per listener name.
        self._timings: dict[int, ListenerTiming] = {}
        self._timings_by_name: dict[str, ListenerTiming] = {}
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
        # The thread holding back held listeners' events (see hold()), those events, and the
        # runs they belong to: another thread's later event of such a run queues behind them.
        self._holder: int | None = None
        self._nested_holds = 0  # holds the holder took inside its own (a job ticking its loop)
        self._held: deque[tuple[tuple[Listener, ...], SchedulerEvent]] = deque()
        self._held_runs: set[int] = set()
        self._held_mask = 0
        self._hold_lock = threading.Lock()
        self._held_by_code: dict[int, tuple[Listener, ...]] = {}
        self._prompt_by_code: dict[int, tuple[Listener, ...]] = {}
        # Every code gets its (empty) tuple now, so dispatch never falls back to _matching.
        self._recompute()

    def add(
        self,
        callback: Listener,
        mask: int = EVENT_ALL,
        *,
        name: str | None = None,
        routes: Mapping[int, Listener] | None = None,
        held: bool = False,
    ) -> None:
        """Deliver events whose code is in ``mask`` to ``callback``.

        ``routes`` maps event codes to callables called instead of ``callback`` for those codes
        (a listener that already knows what it does with each event spares itself the lookup);
        ``name`` is what its failures are counted under (default: the callback's name).
        ``held``: events dispatched by a thread that :meth:`hold` s the bus reach ``callback``
        only when it calls :meth:`release` (the scheduler's loop holds its users' listeners
        while a tick hands runs to the executors).
        """
        if not callable(callback):
            raise TypeError(f"Listener must be callable, got {callback!r}")
        if isinstance(mask, bool) or not isinstance(mask, int):
            raise TypeError(f"Listener mask must be an integer of EVENT_* bits, got {mask!r}")
        name = name or get_callable_name(callback)
        with self._lock:
            registration = _Registration(callback, mask, name, dict(routes or {}), held)
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
        mask = held_mask = 0
        names: dict[int, str] = {}
        for registration in self._registrations:
            mask |= registration.mask
            if registration.held:
                held_mask |= registration.mask
            names[id(registration.callback)] = registration.name
            for route in registration.routes.values():
                names[id(route)] = registration.name
        self.mask = mask
        self._held_mask = held_mask
        self._names = names
        by_name = self._timings_by_name
        self._timings = {
            key: by_name.setdefault(name, ListenerTiming(name)) for key, name in names.items()
        }
        self._by_code = {code: self._matching(code) for code in EVENT_NAMES}
        self._held_by_code = {code: self._matching(code, held=True) for code in EVENT_NAMES}
        self._prompt_by_code = {code: self._matching(code, held=False) for code in EVENT_NAMES}

    def _matching(self, code: int, held: bool | None = None) -> tuple[Listener, ...]:
        return tuple(
            r.routes.get(code, r.callback)
            for r in self._registrations
            if code & r.mask and (held is None or r.held == held)
        )

    def hold(self) -> None:
        """Hold back the calling thread's events from held listeners until :meth:`release`.

        Listeners added with ``held=False`` still get them at once. Events other threads
        dispatch meanwhile reach every listener at once, except the events of a run whose
        earlier event is held: those queue behind it, so each listener still sees a run's
        events in order. One thread holds at a time (the scheduling loop). The holder may hold
        again (a job that ticks its scheduler): until the matching release, which delivers
        nothing, the outer hold goes on.
        """
        thread = get_ident()
        if self._holder == thread:
            self._nested_holds += 1
            return
        self._holder = thread

    def release(self) -> None:
        """Deliver the held events in the order they were dispatched, then stop holding (once
        each nested :meth:`hold` was released)."""
        if self._nested_holds:
            self._nested_holds -= 1
            return
        held = self._held
        if not held and not self._held_runs:
            # Nothing was held, so no run has an event queued and no other thread queues one
            # (see _hold): the lock is not needed to stop holding.
            self._holder = None
            return
        lock = self._hold_lock
        monotonic: Callable[[], float] | None = None
        try:
            while True:
                with lock:
                    if not held:
                        self._holder = None
                        if self._held_runs:
                            self._held_runs.clear()
                        return
                    callbacks, event = held.popleft()
                if monotonic is None:
                    monotonic = self._monotonic()
                # Held listeners are users' own: each of their calls is timed, so one that
                # blocks the loop is seen at once.
                self._dispatch_timed(event, callbacks, monotonic)
        except BaseException:
            # A listener raised KeyboardInterrupt or SystemExit (Exception is caught per call):
            # stop holding, so later events are not queued for ever, and deliver what was held
            # before the interruption goes on.
            with lock:
                self._holder = None
                self._held_runs.clear()
                rest = list(held)
                held.clear()
            for callbacks, event in rest:
                self._dispatch_timed(event, callbacks, monotonic or self._monotonic())
            raise

    def _monotonic(self) -> Callable[[], float]:
        return (self._clock() if self._clock is not None else SystemClock()).monotonic

    def _hold(self, event: SchedulerEvent, callbacks: tuple[Listener, ...]) -> tuple[Listener, ...]:
        """Queue ``event`` for its held listeners if it must wait; return whom to call now."""
        code = event.code
        run_id = getattr(event, "run_id", None)
        thread = get_ident()
        if self._holder != thread and run_id not in self._held_runs:
            return callbacks
        held = self._held_by_code.get(code)
        if held is None:
            held = self._matching(code, held=True)
        if not held:
            return callbacks
        with self._hold_lock:
            holder = self._holder
            if holder is None or (holder != thread and run_id not in self._held_runs):
                # Released meanwhile, and the run's events with it: the release that follows
                # may have found nothing held and returned without the lock (see release).
                return callbacks
            self._held.append((held, event))
            if run_id is not None:
                self._held_runs.add(run_id)
        prompt = self._prompt_by_code.get(code)
        return prompt if prompt is not None else self._matching(code, held=False)

    def timings(self) -> dict[str, tuple[int, float, float]]:
        """Return the timed listener calls by listener name: (calls, total seconds, longest).

        One dispatch in :data:`TIMING_SAMPLE` is timed, with the scheduler's monotonic clock.
        """
        return {
            name: (timing.count, timing.total, timing.max)
            for name, timing in list(self._timings_by_name.items())
        }

    def dispatch(self, event: SchedulerEvent) -> None:
        """Call every listener whose mask includes ``event.code``."""
        code = event.code
        callbacks = self._by_code.get(code)
        if callbacks is None:  # a code outside the event table
            callbacks = self._matching(code)
        holder = self._holder
        if (
            holder is not None
            and code & self._held_mask
            and (self._held_runs or holder == get_ident())
        ):
            callbacks = self._hold(event, callbacks)
        countdown = self._countdown - 1
        if countdown:
            self._countdown = countdown
        else:
            self._countdown = TIMING_SAMPLE
            if self._clock is not None:
                self._dispatch_timed(event, callbacks, self._clock().monotonic)
                return
        for callback in callbacks:
            try:
                callback(event)
            except Exception:
                self._failed(callback)

    def _dispatch_timed(
        self,
        event: SchedulerEvent,
        callbacks: tuple[Listener, ...],
        monotonic: Callable[[], float],
    ) -> None:
        timings = self._timings
        for callback in callbacks:
            started = monotonic()
            try:
                callback(event)
            except Exception:
                self._failed(callback)
            ended = monotonic()
            elapsed = ended - started
            timing = timings.get(id(callback))
            if timing is None:  # removed while this dispatch ran
                continue
            timing.count += 1
            timing.total += elapsed
            if elapsed > timing.max:
                timing.max = elapsed
            if elapsed > self.slow_threshold:
                self._slow(timing, elapsed, ended)

    def _slow(self, timing: ListenerTiming, elapsed: float, now: float) -> None:
        logged_at = timing.logged_at
        if logged_at is not None and now - logged_at < _SLOW_LOG_INTERVAL:
            return
        timing.logged_at = now
        self._logger.warning(
            "Listener %s took %.3f s to handle an event (more than %s s): it delays the "
            "scheduling loop and the executors that dispatch events",
            timing.name,
            elapsed,
            self.slow_threshold,
        )

    def _failed(self, callback: Listener) -> None:
        name = self._names.get(id(callback)) or get_callable_name(callback)
        with self._lock:
            self.error_counts[name] = self.error_counts.get(name, 0) + 1
        self._logger.exception("Error notifying listener %s", name)
