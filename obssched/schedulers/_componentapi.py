"""The scheduler API for its executors, job stores, listeners and run hooks."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from obssched._context import SchedulerContext
from obssched._eventbus import EventBus, Listener
from obssched._runs import RunHook, RunningRun
from obssched.events import (
    EVENT_ALL,
    EVENT_EXECUTOR_ADDED,
    EVENT_EXECUTOR_REMOVED,
    EVENT_JOBSTORE_ADDED,
    EVENT_JOBSTORE_REMOVED,
    SchedulerEvent,
)
from obssched.executors.base import BaseExecutor
from obssched.jobstores.base import BaseJobStore
from obssched.schedulers._registry import Registry, lookup
from obssched.schedulers._states import STATE_STOPPED

if TYPE_CHECKING:
    import threading

    from obssched.schedulers._engine import Engine

__all__ = ["ComponentsAPI"]


class ComponentsAPI:
    """Adding and removing executors, job stores, listeners and run hooks (part of
    :class:`~obssched.schedulers.base.BaseScheduler`)."""

    state: int
    _executor_registry: Registry[BaseExecutor]
    _jobstore_registry: Registry[BaseJobStore]
    _executors: dict[str, BaseExecutor]
    _jobstores: dict[str, BaseJobStore]
    _executors_lock: threading.RLock
    _events: EventBus
    _engine: Engine | None
    _context: SchedulerContext

    if TYPE_CHECKING:

        def _dispatch_event(self, event: SchedulerEvent) -> None: ...

        def wakeup(self) -> None: ...

    def add_executor(
        self, executor: BaseExecutor | str, alias: str = "default", **executor_opts: Any
    ) -> None:
        """Add an executor (an instance, or a plugin alias such as ``"threadpool"``).

        Raises:
            ValueError: an executor with ``alias`` exists already.
            UnknownAliasError: ``executor`` is an unknown plugin alias.
        """
        self._executor_registry.add(executor, alias, executor_opts, self._starter(alias))
        self._dispatch_event(SchedulerEvent(EVENT_EXECUTOR_ADDED, alias))

    def remove_executor(self, alias: str, shutdown: bool = True) -> None:
        """Remove the executor ``alias``, shutting it down unless told not to.

        Raises:
            KeyError: no such executor.
        """
        executor = self._executor_registry.remove(alias)
        # The engine keeps what submits to each executor: the next tick builds one that holds
        # no reference to this one (a paused or stopped scheduler ticks no more to drop it).
        self._engine = None
        if shutdown:
            executor.shutdown()
        self._dispatch_event(SchedulerEvent(EVENT_EXECUTOR_REMOVED, alias))

    def add_jobstore(
        self, jobstore: BaseJobStore | str, alias: str = "default", **jobstore_opts: Any
    ) -> None:
        """Add a job store (an instance, or a plugin alias such as ``"memory"``).

        Raises:
            ValueError: a job store with ``alias`` exists already.
            UnknownAliasError: ``jobstore`` is an unknown plugin alias.
        """
        self._jobstore_registry.add(jobstore, alias, jobstore_opts, self._starter(alias))
        self._dispatch_event(SchedulerEvent(EVENT_JOBSTORE_ADDED, alias))
        if self.state != STATE_STOPPED:
            self.wakeup()

    def remove_jobstore(self, alias: str, shutdown: bool = True) -> None:
        """Remove the job store ``alias`` (its jobs go with it).

        Raises:
            KeyError: no such job store.
        """
        store = self._jobstore_registry.remove(alias)
        if shutdown:
            store.shutdown()
        self._dispatch_event(SchedulerEvent(EVENT_JOBSTORE_REMOVED, alias))

    def _starter(self, alias: str) -> Callable[[Any], None] | None:
        """Return what starts a component added now: nothing while stopped."""
        if self.state == STATE_STOPPED:
            return None
        return lambda component: component.start(self, alias)

    def add_listener(self, callback: Listener, mask: int = EVENT_ALL) -> None:
        """Call ``callback(event)`` for every event whose code is in ``mask``."""
        # Held: during a tick, the loop's events reach it once the tick has handed every due
        # run to its executor, so a slow listener cannot hold runs back (APScheduler 3 too
        # dispatches a run's submission after handing it over).
        self._events.add(callback, mask, held=True)

    def remove_listener(self, callback: Listener) -> None:
        """Stop calling ``callback``."""
        self._events.remove(callback)

    def add_run_hook(self, hook: RunHook) -> None:
        """Wrap every job body in ``hook`` (see :class:`obssched._runs.RunHook`)."""
        context = self._context
        context.run_hooks = (*context.run_hooks, hook)

    def remove_run_hook(self, hook: RunHook) -> None:
        """Stop wrapping job bodies in ``hook``."""
        context = self._context
        context.run_hooks = tuple(h for h in context.run_hooks if h is not hook)

    def get_listener_errors(self) -> dict[str, int]:
        """Return how many times each listener (by name) has raised."""
        return dict(self._events.error_counts)

    def get_running_runs(self) -> list[RunningRun]:
        """Return the submitted runs that have not ended, across every executor."""
        with self._executors_lock:
            executors = list(self._executors.values())
        runs: list[RunningRun] = []
        for executor in executors:
            runs.extend(executor.get_running_runs())
        return runs

    # APScheduler 3's lookups read the scheduler's ``_executors``/``_jobstores`` dicts, and code
    # written against it (plugins, test suites) sets those: they are read here too.
    def _lookup_executor(self, alias: str) -> BaseExecutor:
        return lookup(self._executors, self._executor_registry.kind, alias)

    def _lookup_jobstore(self, alias: str) -> BaseJobStore:
        return lookup(self._jobstores, self._jobstore_registry.kind, alias)
