"""The scheduler API shared by every scheduler class (APScheduler 3's ``BaseScheduler``)."""

from __future__ import annotations

import logging
import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import IO, Any, TypeVar

from obssched._context import SchedulerContext
from obssched._eventbus import EventBus, Listener
from obssched._plugins import create_plugin
from obssched._runs import RunHook, RunningRun
from obssched.clock import Clock
from obssched.events import (
    EVENT_ALL,
    EVENT_ALL_JOBS_REMOVED,
    EVENT_EXECUTOR_ADDED,
    EVENT_EXECUTOR_REMOVED,
    EVENT_JOB_ADDED,
    EVENT_JOB_MODIFIED,
    EVENT_JOB_REMOVED,
    EVENT_JOBSTORE_ADDED,
    EVENT_JOBSTORE_REMOVED,
    EVENT_SCHEDULER_PAUSED,
    EVENT_SCHEDULER_RESUMED,
    EVENT_SCHEDULER_SHUTDOWN,
    EVENT_SCHEDULER_STARTED,
    JobEvent,
    SchedulerEvent,
)
from obssched.exceptions import (
    ConflictingIdError,
    JobLookupError,
    SchedulerAlreadyRunningError,
    SchedulerNotRunningError,
    UnknownAliasError,
)
from obssched.executors.base import BaseExecutor
from obssched.job import Job
from obssched.jobstores.base import BaseJobStore
from obssched.schedulers import _engine, _jobs, _transfer
from obssched.schedulers._components import Registry
from obssched.schedulers._config import SchedulerSettings, create_component, flatten_config
from obssched.triggers.base import BaseTrigger
from obssched.triggers.date import DateTrigger
from obssched.util import undefined

__all__ = ["STATE_PAUSED", "STATE_RUNNING", "STATE_STOPPED", "BaseScheduler"]

STATE_STOPPED = 0
"""The scheduler is stopped (constant of ``scheduler.state``)."""
STATE_RUNNING = 1
"""The scheduler is running and processes jobs."""
STATE_PAUSED = 2
"""The scheduler is running but does not process jobs."""

_F = TypeVar("_F", bound=Callable[..., Any])


class BaseScheduler(ABC):
    """Keeps job stores, executors and listeners, and offers the APScheduler 3 scheduler API.

    Options (as keyword arguments, or in ``gconfig`` under the ``obssched.`` or
    ``apscheduler.`` prefix): ``logger``, ``timezone``, ``jobstore_retry_interval``,
    ``job_defaults``, ``jobstores``, ``executors``, and obssched's own: ``clock`` (an
    :class:`obssched.clock.Clock`), ``name`` (the ``scheduler`` label of its metrics),
    ``heartbeat_interval`` (the longest the loop sleeps), ``metrics``, ``tracing``,
    ``metrics_registry``, ``tracer_provider``, ``trace_filter``, ``metrics_job_name_limit`` and
    ``metrics_buckets`` (see :mod:`obssched.observability`).
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
        self._events = EventBus(self._settings.logger)
        self._run_hooks: tuple[RunHook, ...] = ()
        self._pending_jobs: list[_jobs.PendingJob] = []
        self._context = SchedulerContext(
            name=lambda: self._settings.name,
            clock=lambda: self._settings.clock,
            events=self._events,
            logger=lambda: self._settings.logger,
            dispatch=self._event_dispatcher(),
            run_hooks=lambda: self._run_hooks,
            wakeup=self.wakeup,
            executors=self._executors,
            jobstores=self._jobstores,
        )
        self._observability: Any = None
        self.state = STATE_STOPPED
        self.last_wakeup_at: datetime | None = None
        self._planned_wakeup: datetime | None = None
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
        self._settings.update(config)
        self._events._logger = self._settings.logger
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
            for alias, store in self._jobstores.items():
                store.start(self, alias)
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
        self.state = STATE_PAUSED if paused else STATE_RUNNING
        self._logger.info("Scheduler started")
        self._dispatch_event(SchedulerEvent(EVENT_SCHEDULER_STARTED))
        if not paused:
            self.wakeup()

    def _check_pending_jobs(self) -> None:
        # Refuse to start, with nothing committed, rather than store jobs that cannot run.
        for job, jobstore, _ in self._pending_jobs:
            if jobstore not in self._jobstores:
                raise UnknownAliasError("job store", jobstore, list(self._jobstores))
            if job.executor not in self._executors:
                raise UnknownAliasError("executor", job.executor, list(self._executors))

    def shutdown(self, wait: bool = True) -> None:
        """Stop the scheduler, its executors (waiting for running jobs with ``wait``) and stores.

        Raises:
            SchedulerNotRunningError: the scheduler is not running.
        """
        if self.state == STATE_STOPPED:
            raise SchedulerNotRunningError
        self.state = STATE_STOPPED
        # A tick holds the job stores' lock while it submits; taking it here lets a tick in
        # progress hand its runs over before the executors stop taking them.
        with self._jobstores_lock:
            pass
        with self._executors_lock:
            for executor in self._executors.values():
                executor.shutdown(wait)
        with self._jobstores_lock:
            for store in self._jobstores.values():
                store.shutdown()
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

    # -- executors, job stores, listeners, run hooks ------------------------------------------

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
        self._events.add(callback, mask)

    def remove_listener(self, callback: Listener) -> None:
        """Stop calling ``callback``."""
        self._events.remove(callback)

    def add_run_hook(self, hook: RunHook) -> None:
        """Wrap every job body in ``hook`` (see :class:`obssched._runs.RunHook`)."""
        self._run_hooks = (*self._run_hooks, hook)

    def remove_run_hook(self, hook: RunHook) -> None:
        """Stop wrapping job bodies in ``hook``."""
        self._run_hooks = tuple(h for h in self._run_hooks if h is not hook)

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

    # -- jobs ---------------------------------------------------------------------------------

    def add_job(
        self,
        func: Callable[..., Any] | str,
        trigger: BaseTrigger | str | None = None,
        args: Iterable[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        id: str | None = None,
        name: str | None = None,
        misfire_grace_time: Any = undefined,
        coalesce: Any = undefined,
        max_instances: Any = undefined,
        next_run_time: Any = undefined,
        jobstore: str = "default",
        executor: str = "default",
        replace_existing: bool = False,
        *,
        recover: bool = False,
        **trigger_args: Any,
    ) -> Job:
        """Add a job and return it.

        ``func`` is a callable or a ``"module:qualname"`` reference; ``trigger`` a trigger
        instance or alias (``"date"``, ``"interval"``, ``"cron"``...) configured by
        ``trigger_args``. Options left ``undefined`` take the scheduler's ``job_defaults``.
        ``recover`` asks for a run abandoned by a dead scheduler to be run again (stores that
        detect abandoned runs, such as ``SQLAlchemyJobStore``, honour it).

        Raises:
            ConflictingIdError: ``id`` is taken and ``replace_existing`` is false.
            UnknownAliasError: the trigger, job store or executor alias is unknown.
        """
        job_kwargs: dict[str, Any] = {
            "trigger": self._create_trigger(trigger, trigger_args),
            "executor": executor,
            "func": func,
            "args": tuple(args) if args is not None else (),
            "kwargs": dict(kwargs) if kwargs is not None else {},
            "id": id,
            "name": name,
            "misfire_grace_time": misfire_grace_time,
            "coalesce": coalesce,
            "max_instances": max_instances,
            "next_run_time": next_run_time,
            "recover": recover,
        }
        if self.state != STATE_STOPPED:
            # Jobs of a running scheduler take the defaults now; pending ones take them at start,
            # so that configure() before start() still applies to them.
            for key, value in self._settings.job_defaults.items():
                if job_kwargs[key] is undefined:
                    job_kwargs[key] = value
        job_kwargs = {key: value for key, value in job_kwargs.items() if value is not undefined}
        job = Job(self, **job_kwargs)
        with self._jobstores_lock:
            if self.state == STATE_STOPPED:
                self._pending_jobs.append((job, jobstore, replace_existing))
                self._logger.info(
                    "Adding job tentatively -- it will be properly scheduled when the scheduler "
                    "starts"
                )
            else:
                self._real_add_job(job, jobstore, replace_existing)
        return job

    def scheduled_job(
        self,
        trigger: BaseTrigger | str | None,
        args: Iterable[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        id: str | None = None,
        name: str | None = None,
        misfire_grace_time: Any = undefined,
        coalesce: Any = undefined,
        max_instances: Any = undefined,
        next_run_time: Any = undefined,
        jobstore: str = "default",
        executor: str = "default",
        **trigger_args: Any,
    ) -> Callable[[_F], _F]:
        """Decorator form of :meth:`add_job`; the decorated function is returned unchanged."""

        def inner(func: _F) -> _F:
            self.add_job(
                func,
                trigger,
                args,
                kwargs,
                id,
                name,
                misfire_grace_time,
                coalesce,
                max_instances,
                next_run_time,
                jobstore,
                executor,
                True,
                **trigger_args,
            )
            return func

        return inner

    def modify_job(self, job_id: str, jobstore: str | None = None, **changes: Any) -> Job:
        """Change attributes of a job and return it.

        Raises:
            JobLookupError: no such job.
        """
        with self._jobstores_lock:
            job, store_alias = self._lookup_job(job_id, jobstore)
            job._modify(**changes)
            if store_alias:
                self._lookup_jobstore(store_alias).update_job(job)
        self._dispatch_event(self._job_event(EVENT_JOB_MODIFIED, job, store_alias))
        self._wake_for(job)
        return job

    def reschedule_job(
        self,
        job_id: str,
        jobstore: str | None = None,
        trigger: BaseTrigger | str | None = None,
        **trigger_args: Any,
    ) -> Job:
        """Give a job a new trigger and compute its next run time from now."""
        new_trigger = self._create_trigger(trigger, trigger_args)
        next_run_time = new_trigger.get_next_fire_time(None, self.clock.now())
        return self.modify_job(job_id, jobstore, trigger=new_trigger, next_run_time=next_run_time)

    def pause_job(self, job_id: str, jobstore: str | None = None) -> Job:
        """Pause a job: it keeps its trigger but has no next run time."""
        return self.modify_job(job_id, jobstore, next_run_time=None)

    def resume_job(self, job_id: str, jobstore: str | None = None) -> Job | None:
        """Resume a paused job; a job whose trigger has no more fire times is removed."""
        with self._jobstores_lock:
            job, store_alias = self._lookup_job(job_id, jobstore)
            next_run_time = job.trigger.get_next_fire_time(None, self.clock.now())
            if next_run_time is not None:
                return self.modify_job(job_id, store_alias, next_run_time=next_run_time)
            self.remove_job(job.id, store_alias)
            return None

    def get_jobs(self, jobstore: str | None = None, pending: bool | None = None) -> list[Job]:
        """Return the pending jobs and the stored ones (of ``jobstore`` only, if given).

        ``pending`` is accepted for APScheduler 3 compatibility and ignored, as there.
        """
        del pending
        with self._jobstores_lock:
            return _jobs.list_jobs(self._pending_jobs, self._jobstores, jobstore)

    def get_job(self, job_id: str, jobstore: str | None = None) -> Job | None:
        """Return the job with ``job_id``, or ``None``."""
        with self._jobstores_lock:
            try:
                return self._lookup_job(job_id, jobstore)[0]
            except JobLookupError:
                return None

    def remove_job(self, job_id: str, jobstore: str | None = None) -> None:
        """Remove a job so it runs no more.

        Raises:
            JobLookupError: no such job.
        """
        with self._jobstores_lock:
            removed, store_alias = _jobs.take_job(
                self._pending_jobs, self._jobstores, job_id, jobstore
            )
        if removed is None:  # a stored row that could not be loaded
            self._dispatch_event(JobEvent(EVENT_JOB_REMOVED, job_id, store_alias))
        else:
            self._dispatch_event(self._job_event(EVENT_JOB_REMOVED, removed, store_alias))
        self._logger.info("Removed job %s", job_id)

    def remove_all_jobs(self, jobstore: str | None = None) -> None:
        """Remove every job (of ``jobstore`` only, if given)."""
        with self._jobstores_lock:
            if self.state == STATE_STOPPED:
                if jobstore:
                    self._pending_jobs = [p for p in self._pending_jobs if p[1] != jobstore]
                else:
                    self._pending_jobs = []
            else:
                for alias, store in self._jobstores.items():
                    if jobstore in (None, alias):
                        store.remove_all_jobs()
        self._dispatch_event(SchedulerEvent(EVENT_ALL_JOBS_REMOVED, jobstore))

    def print_jobs(self, jobstore: str | None = None, out: IO[str] | None = None) -> None:
        """Print the jobs of every job store (or one) to ``out`` (standard output by default)."""
        _transfer.print_jobs(self, jobstore, out or sys.stdout)

    def export_jobs(
        self, outfile: str | os.PathLike[str] | IO[str], jobstore: str | None = None
    ) -> None:
        """Write the jobs (of one job store, if given) as JSON to a path or text file."""
        _transfer.export_jobs(self, outfile, jobstore)

    def import_jobs(
        self, infile: str | os.PathLike[str] | IO[str], jobstore: str = "default"
    ) -> None:
        """Add the jobs of a file written by :meth:`export_jobs` to ``jobstore``."""
        _transfer.import_jobs(self, infile, jobstore)

    # -- internals ----------------------------------------------------------------------------

    def _job_event(self, code: int, job: Job, jobstore: str | None) -> JobEvent:
        return JobEvent(code, job.id, jobstore, job_name=job.name, executor=job.executor)

    def _next_run_id(self) -> int:
        return self._context.next_run_id()

    def _dispatch_event(self, event: SchedulerEvent) -> None:
        self._events.dispatch(event)

    def _event_dispatcher(self) -> Callable[[SchedulerEvent], None]:
        """Return what delivers events: the bus itself, unless a subclass overrides
        :meth:`_dispatch_event` (the per-run paths then spare the indirection)."""
        if type(self)._dispatch_event is BaseScheduler._dispatch_event:
            return self._events.dispatch
        return self._dispatch_event

    def _lookup_executor(self, alias: str) -> BaseExecutor:
        return self._executor_registry.lookup(alias)

    def _lookup_jobstore(self, alias: str) -> BaseJobStore:
        return self._jobstore_registry.lookup(alias)

    def _lookup_job(self, job_id: str, jobstore_alias: str | None) -> tuple[Job, str | None]:
        return _jobs.find_job(self._pending_jobs, self._jobstores, job_id, jobstore_alias)

    def _real_add_job(self, job: Job, jobstore_alias: str, replace_existing: bool) -> None:
        store = self._lookup_jobstore(jobstore_alias)
        self._lookup_executor(job.executor)
        # The defaults were validated when configured and the trigger returns aware datetimes,
        # so they are set directly rather than through Job._modify (add_job is a hot path).
        for key, value in self._settings.job_defaults.items():
            if not hasattr(job, key):
                setattr(job, key, value)
        if not hasattr(job, "next_run_time"):
            job.next_run_time = job.trigger.get_next_fire_time(None, self.clock.now())
        try:
            store.add_job(job)
        except ConflictingIdError:
            if not replace_existing:
                raise
            store.update_job(job)
        job._jobstore_alias = jobstore_alias
        self._logger.info('Added job "%s" to job store "%s"', job.name, jobstore_alias)
        self._dispatch_event(self._job_event(EVENT_JOB_ADDED, job, jobstore_alias))
        self._wake_for(job)

    def _wake_for(self, job: Job) -> None:
        # Waking the loop for a job due after its planned wakeup would only make it look at
        # its stores again; with thousands of add_job calls that is thousands of ticks.
        if self.state != STATE_RUNNING or job.next_run_time is None:
            return
        planned = self._planned_wakeup
        if planned is None or job.next_run_time < planned:
            self.wakeup()

    def _create_trigger(self, trigger: Any, trigger_args: dict[str, Any]) -> BaseTrigger:
        if isinstance(trigger, BaseTrigger):
            return trigger
        if trigger is None:
            trigger = "date"
        elif not isinstance(trigger, str):
            raise TypeError(f"Expected a trigger instance or string, got {trigger!r} instead")
        trigger_args.setdefault("timezone", self.timezone)
        plugin = create_plugin("trigger", trigger, trigger_args)
        assert isinstance(plugin, BaseTrigger)
        created: BaseTrigger = plugin
        if isinstance(created, DateTrigger) and created.run_date is None:
            # "Run once, now", fixed when the job is made, as APScheduler's date trigger does:
            # the job's trigger then shows (and stores) the time it runs at.
            created.run_date = self._settings.clock.now().astimezone(created.timezone)
        return created

    def _process_jobs(self) -> float:
        """Run one tick of the scheduling loop; return the seconds to sleep until the next."""
        settings = self._settings
        clock = settings.clock
        now = clock.now()
        self.last_wakeup_at = now
        if self.state == STATE_PAUSED:
            self._planned_wakeup = None
            return _engine.idle_wait(self._executors, settings.heartbeat_interval)
        with self._jobstores_lock:
            wait, planned = _engine.run_tick(
                self._jobstores,
                self._executors,
                clock,
                now,
                heartbeat=settings.heartbeat_interval,
                retry_interval=settings.jobstore_retry_interval,
                dispatch=self._event_dispatcher(),
                next_run_id=self._context.next_run_id,
                logger=settings.logger,
            )
            # Set under the lock that add_job takes, so a job added right after this tick is
            # compared with the wakeup this tick really planned.
            self._planned_wakeup = planned
        return wait
