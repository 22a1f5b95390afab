"""The scheduler API shared by every scheduler class (APScheduler 3's ``BaseScheduler``)."""

from __future__ import annotations

import logging
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from obssched._context import SchedulerContext
from obssched._eventbus import EventBus
from obssched._timeutil import get_localzone
from obssched.clock import Clock
from obssched.events import (
    EVENT_EXECUTOR_ADDED,
    EVENT_JOBSTORE_ADDED,
    EVENT_SCHEDULER_PAUSED,
    EVENT_SCHEDULER_RESUMED,
    EVENT_SCHEDULER_SHUTDOWN,
    EVENT_SCHEDULER_STARTED,
    SchedulerEvent,
)
from obssched.exceptions import (
    SchedulerAlreadyRunningError,
    SchedulerNotRunningError,
    UnknownAliasError,
)
from obssched.executors.base import BaseExecutor
from obssched.jobstores.base import BaseJobStore
from obssched.schedulers import _engine, _jobs
from obssched.schedulers._componentapi import ComponentsAPI
from obssched.schedulers._config import SchedulerSettings, create_component, flatten_config
from obssched.schedulers._jobapi import JobsAPI
from obssched.schedulers._overlap import OverlapQueues
from obssched.schedulers._registry import Registry
from obssched.schedulers._states import STATE_PAUSED, STATE_RUNNING, STATE_STOPPED

__all__ = ["STATE_PAUSED", "STATE_RUNNING", "STATE_STOPPED", "BaseScheduler"]


def _local_zone() -> Any:
    # The module's get_localzone is looked up at each call, as APScheduler 3's scheduler looks
    # up its own: tests written for it patch schedulers.base.get_localzone to fix the zone.
    return get_localzone()


class BaseScheduler(JobsAPI, ComponentsAPI, ABC):
    """Keeps job stores, executors and listeners, and offers the APScheduler 3 scheduler API.

    The job API comes from :class:`~obssched.schedulers._jobapi.JobsAPI`, the executor, store,
    listener and run-hook API from :class:`~obssched.schedulers._componentapi.ComponentsAPI`;
    this class holds the configuration, the life cycle and the loop's tick.

    Options (as keyword arguments, or in ``gconfig`` under the ``obssched.`` or
    ``apscheduler.`` prefix): ``logger``, ``timezone``, ``jobstore_retry_interval``,
    ``job_defaults``, ``jobstores``, ``executors``, and obssched's own: ``clock`` (an
    :class:`obssched.clock.Clock`), ``name`` (the ``scheduler`` label of its metrics),
    ``heartbeat_interval`` (the longest the loop sleeps), ``metrics``, ``tracing``,
    ``metrics_registry``, ``tracer_provider``, ``trace_filter``, ``metrics_job_name_limit``,
    ``metrics_buckets`` and ``metrics_health_limit`` (how long a store may fail, or jobs stay
    overdue, before ``/healthz`` turns unhealthy; see :mod:`obssched.observability`).
    """

    def __init__(self, gconfig: Mapping[str, Any] | None = None, **options: Any) -> None:
        self._settings = SchedulerSettings()
        self._executor_registry: Registry[BaseExecutor] = Registry(
            "executor", "executor", BaseExecutor
        )
        self._jobstore_registry: Registry[BaseJobStore] = Registry(
            "job store", "jobstore", BaseJobStore
        )
        # The dicts and locks themselves, under the names the loop and observers read.
        self._executors = self._executor_registry.items
        self._executors_lock = self._executor_registry.lock
        self._jobstores = self._jobstore_registry.items
        self._jobstores_lock = self._jobstore_registry.lock
        self._events = EventBus(self._settings.logger, lambda: self._settings.clock)
        self._pending_jobs: list[_jobs.PendingJob] = []
        self._context = SchedulerContext(
            name=lambda: self._settings.name,
            clock=lambda: self._settings.clock,
            events=self._events,
            logger=lambda: self._settings.logger,
            dispatch=self._event_dispatcher(),
            # Looked up at each call: a subclass or a test may replace wakeup on the instance.
            wakeup=lambda: self.wakeup(),
            executors=self._executors,
            jobstores=self._jobstores,
        )
        self._overlap = OverlapQueues(self._context)
        self._observability: Any = None
        self.state = STATE_STOPPED
        self.last_wakeup_at: datetime | None = None
        self._planned_wakeup: datetime | None = None
        # Before this time no store has a run due and nothing else needs a tick; None: unknown.
        # Set by each tick under the job stores' lock, lowered by a change that may be due
        # earlier (see JobsAPI._wake_for).
        self._quiet_until: datetime | None = None
        # The heartbeat as a timedelta, set at start (configure() is refused while running):
        # built from a float on each quiet heartbeat it cost a third of that heartbeat's work.
        self._heartbeat_delta = timedelta(0)
        self.configure(gconfig or {}, **options)

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError(
            "Schedulers cannot be serialized. Ensure that you are not passing a "
            "scheduler instance as an argument to a job, or scheduling an instance "
            "method where the instance contains a scheduler as an attribute."
        )

    # -- configuration -----------------------------------------------------------------------

    @property
    def timezone(self) -> Any:
        """The default time zone of triggers and naive datetimes."""
        return self._settings.timezone

    @property
    def clock(self) -> Clock:
        """The :class:`~obssched.clock.Clock` the scheduler reads time from."""
        return self._settings.clock

    @property
    def name(self) -> str:
        """The scheduler's name: the ``scheduler`` label of its metrics."""
        return self._settings.name

    @property
    def heartbeat_interval(self) -> float:
        """The longest the scheduling loop sleeps, in seconds, while the scheduler runs."""
        return self._settings.heartbeat_interval

    @property
    def context(self) -> SchedulerContext:
        """What this scheduler hands the executors, job stores and listeners it starts: its
        clock, event bus, run ids, run hooks and read-only views of its components."""
        return self._context

    @property
    def _job_defaults(self) -> dict[str, Any]:
        # APScheduler 3's name for the job defaults (its tests and subclasses read it).
        return self._settings.job_defaults

    @property
    def _logger(self) -> logging.Logger:
        return self._settings.logger

    def configure(
        self, gconfig: Mapping[str, Any] | None = None, prefix: str = "obssched.", **options: Any
    ) -> None:
        """Apply configuration; only allowed while the scheduler is stopped.

        Raises:
            SchedulerAlreadyRunningError: the scheduler is running.
        """
        if self.state != STATE_STOPPED:
            raise SchedulerAlreadyRunningError
        config = flatten_config(gconfig or {}, prefix, options)
        self._configure(config)

    def _configure(self, config: dict[str, Any]) -> None:
        executors = config.pop("executors", {})
        jobstores = config.pop("jobstores", {})
        self._settings.update(config, _local_zone)
        self._events._logger = self._settings.logger
        # Built by the next tick, with the logger configured here.
        self._engine: _engine.Engine | None = None
        if config:
            # APScheduler ignores options it does not know (BlockingScheduler(daemon=True) is
            # common); a program written for it must still run, so they are named and ignored.
            self._settings.logger.warning(
                "Ignoring unknown scheduler options: %s", ", ".join(sorted(config))
            )
        for alias, value in executors.items():
            self._executors[alias] = create_component("executor", alias, value, BaseExecutor)
        for alias, value in jobstores.items():
            self._jobstores[alias] = create_component("jobstore", alias, value, BaseJobStore)

    # -- life cycle --------------------------------------------------------------------------

    def start(self, paused: bool = False) -> None:
        """Start the scheduler; with ``paused``, jobs are not processed until :meth:`resume`.

        Raises:
            SchedulerAlreadyRunningError: the scheduler is running already.
        """
        if self.state != STATE_STOPPED:
            raise SchedulerAlreadyRunningError
        self._attach_builtin_observability()
        # The defaults made here are announced, as APScheduler does, before the pending jobs.
        with self._executors_lock:
            default_executor = "default" not in self._executors
            if default_executor:
                self._executors["default"] = self._create_default_executor()
            for alias, executor in self._executors.items():
                executor.start(self, alias)
        if default_executor:
            self._dispatch_event(SchedulerEvent(EVENT_EXECUTOR_ADDED, "default"))
        with self._jobstores_lock:
            default_store = "default" not in self._jobstores
            if default_store:
                self._jobstores["default"] = self._create_default_jobstore()
            started: list[BaseJobStore] = []
            try:
                for alias, store in self._jobstores.items():
                    store.start(self, alias)
                    started.append(store)
            except BaseException:
                # A store that refuses to start (in use by another scheduler, an unmigrated
                # table) leaves nothing running: no worker threads, heartbeats or listeners.
                self._undo_start(started)
                raise
            if default_store:
                self._dispatch_event(SchedulerEvent(EVENT_JOBSTORE_ADDED, "default"))
            self._check_pending_jobs()
            pending, self._pending_jobs = self._pending_jobs, []
            if self._observability is not None:
                # The stores can be read now; the pending jobs get theirs by their added events.
                self._observability.count_stored_jobs()
            for index, (job, jobstore, replace_existing) in enumerate(pending):
                try:
                    self._real_add_job(job, jobstore, replace_existing)
                except BaseException:
                    # The jobs not committed stay pending rather than vanish with the error.
                    self._pending_jobs[:0] = pending[index:]
                    raise
        self._planned_wakeup = None
        self._quiet_until = None
        self._heartbeat_delta = timedelta(seconds=self._settings.heartbeat_interval)
        self.state = STATE_PAUSED if paused else STATE_RUNNING
        self._logger.info("Scheduler started")
        self._dispatch_event(SchedulerEvent(EVENT_SCHEDULER_STARTED))
        if not paused:
            self.wakeup()

    def _undo_start(self, stores: list[BaseJobStore]) -> None:
        """Stop what a start that failed had started: ``stores``, the executors and the
        built-in observability."""
        for store in stores:
            try:
                store.shutdown()
            except Exception:
                self._logger.exception("Could not shut down a job store after a failed start")
        for executor in list(self._executors.values()):
            try:
                executor.shutdown(wait=False)
            except Exception:
                self._logger.exception("Could not shut down an executor after a failed start")
        if self._observability is not None:
            self._observability.detach()

    def _check_pending_jobs(self) -> None:
        # Refuse to start, with nothing committed, rather than store jobs that cannot run.
        for job, jobstore, _ in self._pending_jobs:
            if jobstore not in self._jobstores:
                raise UnknownAliasError("job store", jobstore, list(self._jobstores))
            if job.executor not in self._executors:
                raise UnknownAliasError("executor", job.executor, list(self._executors))

    def shutdown(self, wait: bool = True, *, timeout: float | None = None) -> None:
        """Stop the scheduler, its executors (waiting for running jobs with ``wait``) and stores.

        With ``wait`` and a ``timeout`` (seconds), it returns by then: each run still going is
        ended with one ``EVENT_JOB_ERROR`` whose exception is
        :class:`~obssched.exceptions.JobAbandonedAtShutdownError` (a thread finishes on its own,
        its result dropped; a coroutine is cancelled; a worker process terminated), and the job
        stores are shut down after. Called from inside a job, it does not wait for that job.

        Raises:
            SchedulerNotRunningError: the scheduler is not running.
            ValueError: ``timeout`` is not a positive, finite number.
        """
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            raise ValueError(
                f"timeout must be a positive, finite number of seconds, got {timeout!r}"
            )
        if self.state == STATE_STOPPED:
            raise SchedulerNotRunningError
        self.state = STATE_STOPPED
        # A tick holds the job stores' lock while it submits; taking it here lets a tick in
        # progress hand its runs over before the executors stop taking them.
        with self._jobstores_lock:
            pass
        bounded = wait and timeout is not None
        with self._executors_lock:
            executors = list(self._executors.values())
        for executor in executors:
            executor.shutdown(wait and not bounded)
        if bounded:
            assert timeout is not None
            clock = self.clock
            deadline = clock.monotonic() + timeout
            for executor in executors:
                executor.wait_for_runs(max(deadline - clock.monotonic(), 0.0))
            for executor in executors:
                executor.abandon_runs(timeout)
        with self._jobstores_lock:
            for store in self._jobstores.values():
                store.shutdown()
        self._overlap.drop_waiting()
        # With what it submits to the executors: a restart builds another.
        self._engine = None
        self._logger.info("Scheduler has been shut down")
        self._dispatch_event(SchedulerEvent(EVENT_SCHEDULER_SHUTDOWN))
        if self._observability is not None:
            # What start() subscribed goes with the shutdown event; a restart attaches it again.
            self._observability.detach()

    def pause(self) -> None:
        """Stop processing jobs until :meth:`resume` (jobs already running go on).

        Raises:
            SchedulerNotRunningError: the scheduler is not running.
        """
        if self.state == STATE_STOPPED:
            raise SchedulerNotRunningError
        if self.state == STATE_RUNNING:
            self.state = STATE_PAUSED
            self._logger.info("Paused scheduler job processing")
            self._dispatch_event(SchedulerEvent(EVENT_SCHEDULER_PAUSED))

    def resume(self) -> None:
        """Resume processing jobs after :meth:`pause`.

        Raises:
            SchedulerNotRunningError: the scheduler is not running.
        """
        if self.state == STATE_STOPPED:
            raise SchedulerNotRunningError
        if self.state == STATE_PAUSED:
            self.state = STATE_RUNNING
            self._logger.info("Resumed scheduler job processing")
            self._dispatch_event(SchedulerEvent(EVENT_SCHEDULER_RESUMED))
            self.wakeup()

    @property
    def running(self) -> bool:
        """``True`` unless the scheduler is stopped (a paused scheduler is running)."""
        return self.state != STATE_STOPPED

    @abstractmethod
    def wakeup(self) -> None:
        """Make the scheduling loop run a tick soon (jobs may have become due)."""

    def _create_default_executor(self) -> BaseExecutor:
        from obssched.executors.pool import ThreadPoolExecutor

        return ThreadPoolExecutor()

    def _create_default_jobstore(self) -> BaseJobStore:
        from obssched.jobstores.memory import MemoryJobStore

        return MemoryJobStore()

    def _attach_builtin_observability(self) -> None:
        if self._observability is not None:
            self._observability.attach()
            return
        options = self._settings.observability
        if not (options["metrics"] or options["tracing"]):
            return
        # Imported here: the scheduler core itself does not depend on the observability stack.
        from obssched.observability import attach_builtin

        self._observability = attach_builtin(self, **options)

    # -- internals ----------------------------------------------------------------------------

    def _create_engine(self) -> _engine.Engine:
        context = self._context
        return _engine.Engine(
            self._executors,
            context.dispatch,
            context.next_run_id,
            self._settings.logger,
            context.stage_errors,
            self._overlap,
        )

    def _next_run_id(self) -> int:
        return self._context.next_run_id()

    def _create_lock(self) -> threading.RLock:
        """Return a new reentrant lock (APScheduler 3's hook; its executors call it)."""
        return threading.RLock()

    def _dispatch_event(self, event: SchedulerEvent) -> None:
        self._events.dispatch(event)

    def _event_dispatcher(self) -> Callable[[SchedulerEvent], None]:
        """Return what delivers events: the bus itself, unless a subclass overrides
        :meth:`_dispatch_event` (the per-run paths then spare the indirection)."""
        if type(self)._dispatch_event is BaseScheduler._dispatch_event:
            return self._events.dispatch
        return self._dispatch_event

    def _quiet_heartbeat(self) -> float | None:
        """On a wakeup nothing rang for: if no tick is needed before the next heartbeat, note
        the wakeup and return how long to sleep; ``None`` when a tick is needed.

        A heartbeat's tick would look at every store to find nothing due; when the last tick
        left a quiet limit past the next heartbeat, only the wakeup is recorded (what
        ``/healthz`` and the last-wakeup gauge read to tell a live loop from a stuck one).
        """
        if self._quiet_until is None or self.state != STATE_RUNNING:
            # Most wakeups of a busy loop: a run is due (no clock read spent on them).
            return None
        settings = self._settings
        heartbeat = settings.heartbeat_interval
        now = settings.clock.now()
        planned = now + self._heartbeat_delta
        # The planned wakeup first, the limit (again) after, without the job stores' lock: a
        # change that read the previous planned wakeup (and so did not ring) lowered the limit
        # before it read it, so the comparison below sees that change (see JobsAPI._wake_for).
        self._planned_wakeup = planned
        quiet_until = self._quiet_until
        if quiet_until is None or planned >= quiet_until:
            return None
        self.last_wakeup_at = now
        return heartbeat

    def _process_jobs(self) -> float:
        """Run one tick of the scheduling loop; return the seconds to sleep until the next."""
        settings = self._settings
        clock = settings.clock
        now = clock.now()
        self.last_wakeup_at = now
        if self.state == STATE_PAUSED:
            self._planned_wakeup = None
            self._quiet_until = None
            return _engine.idle_wait(self._executors, settings.heartbeat_interval)
        # Users' listeners get the loop's events once the tick is over (see add_listener), still
        # under the job stores' lock, as APScheduler 3 dispatches a tick's events: what another
        # thread does with the stores or the scheduler meanwhile (remove_job, shutdown) is
        # reported after them.
        events = self._events
        engine = self._engine
        if engine is None:
            engine = self._engine = self._create_engine()
        with self._jobstores_lock:
            events.hold()
            try:
                wait, planned, quiet_until = engine.tick(
                    self._jobstores,
                    clock,
                    now,
                    heartbeat=settings.heartbeat_interval,
                    retry_interval=settings.jobstore_retry_interval,
                )
                # Set under the lock that add_job takes, so a job added right after this tick
                # is compared with the wakeup this tick really planned.
                self._planned_wakeup = planned
                self._quiet_until = quiet_until
            finally:
                events.release()
        return wait
