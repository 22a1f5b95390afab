"""The scheduler API for jobs: adding, changing, finding, removing, exporting them."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any, TypeVar, cast

from obssched._plugins import create_plugin
from obssched.events import (
    EVENT_ALL_JOBS_REMOVED,
    EVENT_JOB_ADDED,
    EVENT_JOB_MODIFIED,
    EVENT_JOB_REMOVED,
    JobEvent,
    SchedulerEvent,
)
from obssched.exceptions import ConflictingIdError, JobLookupError, SchedulerNotStartedError
from obssched.job import Job
from obssched.schedulers import _jobs, _transfer
from obssched.schedulers._states import STATE_RUNNING, STATE_STOPPED
from obssched.triggers.base import BaseTrigger
from obssched.triggers.date import DateTrigger
from obssched.util import undefined

if TYPE_CHECKING:
    import logging
    import threading

    from obssched.clock import Clock
    from obssched.executors.base import BaseExecutor
    from obssched.jobstores.base import BaseJobStore
    from obssched.schedulers._config import SchedulerSettings
    from obssched.schedulers.base import BaseScheduler

__all__ = ["JobsAPI"]

_F = TypeVar("_F", bound=Callable[..., Any])

_LATE_DEFAULTS: dict[str, Any] = {"timeout": None, "overlap": "skip", "overlap_queue_limit": 1}
"""obssched's job options that a job added while the scheduler is stopped takes from
``job_defaults`` at start, with the value each has when ``job_defaults`` sets none."""


class JobsAPI:
    """Adding, changing, finding, removing, printing, exporting and importing jobs (part of
    :class:`~obssched.schedulers.base.BaseScheduler`)."""

    state: int
    _settings: SchedulerSettings
    _pending_jobs: list[_jobs.PendingJob]
    _jobstores: dict[str, BaseJobStore]
    _jobstores_lock: threading.RLock
    _planned_wakeup: datetime | None
    _quiet_until: datetime | None

    if TYPE_CHECKING:

        @property
        def clock(self) -> Clock: ...

        @property
        def timezone(self) -> Any: ...

        @property
        def _logger(self) -> logging.Logger: ...

        def _dispatch_event(self, event: SchedulerEvent) -> None: ...

        def _lookup_executor(self, alias: str) -> BaseExecutor: ...

        def _lookup_jobstore(self, alias: str) -> BaseJobStore: ...

        def wakeup(self) -> None: ...

    @property
    def _whole(self) -> BaseScheduler:
        # This class is only ever a part of BaseScheduler.
        return cast("BaseScheduler", self)

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
        timeout: Any = undefined,
        overlap: Any = undefined,
        overlap_queue_limit: Any = undefined,
        **trigger_args: Any,
    ) -> Job:
        """Add a job and return it.

        ``func`` is a callable or a ``"module:qualname"`` reference; ``trigger`` a trigger
        instance or alias (``"date"``, ``"interval"``, ``"cron"``...) configured by
        ``trigger_args``. Options left ``undefined`` take the scheduler's ``job_defaults``.
        ``recover`` asks for a run abandoned by a dead scheduler to be run again (stores that
        detect abandoned runs, such as ``SQLAlchemyJobStore``, honour it). ``timeout`` bounds
        how many seconds a run may take (``None``: no limit): a run past it ends with
        :class:`~obssched.exceptions.JobTimeoutError` and frees its ``max_instances`` slot.
        ``overlap`` says what happens to a run due while ``max_instances`` runs are in flight:
        ``"skip"`` (the default) refuses it (``EVENT_JOB_MAX_INSTANCES``), ``"queue"`` makes it
        wait (``EVENT_JOB_QUEUED``) until one of them ends, at most ``overlap_queue_limit``
        runs (default 1) at a time.

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
            "timeout": timeout,
            "overlap": overlap,
            "overlap_queue_limit": overlap_queue_limit,
        }
        if self.state != STATE_STOPPED:
            # Jobs of a running scheduler take the defaults now; pending ones take them at start,
            # so that configure() before start() still applies to them.
            for key, value in self._settings.job_defaults.items():
                if job_kwargs[key] is undefined:
                    job_kwargs[key] = value
        job_kwargs = {key: value for key, value in job_kwargs.items() if value is not undefined}
        job = Job(self._whole, **job_kwargs)
        if self.state == STATE_STOPPED:
            # Left unset, as the other options, so that start() gives it job_defaults' values.
            for key in _LATE_DEFAULTS:
                if key not in job_kwargs:
                    delattr(job, key)
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
        *,
        timeout: Any = undefined,
        overlap: Any = undefined,
        overlap_queue_limit: Any = undefined,
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
                timeout=timeout,
                overlap=overlap,
                overlap_queue_limit=overlap_queue_limit,
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
            # Job._modify is APScheduler 3's contract between a job and its scheduler.
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
        _transfer.print_jobs(self._whole, jobstore, out or sys.stdout)

    def export_jobs(
        self, outfile: str | os.PathLike[str] | IO[str], jobstore: str | None = None
    ) -> None:
        """Write the jobs (of one job store, if given) as JSON to a path or text file.

        Raises:
            SchedulerNotStartedError: the scheduler is stopped (a ``RuntimeError``, as in
                APScheduler 3: the stores are read only once started).
        """
        if self.state == STATE_STOPPED:
            raise SchedulerNotStartedError("job export")
        _transfer.export_jobs(self._whole, outfile, jobstore)

    def import_jobs(
        self, infile: str | os.PathLike[str] | IO[str], jobstore: str = "default"
    ) -> None:
        """Add the jobs of a file written by :meth:`export_jobs` to ``jobstore``."""
        _transfer.import_jobs(self._whole, infile, jobstore)

    def _job_event(self, code: int, job: Job, jobstore: str | None) -> JobEvent:
        return JobEvent(code, job.id, jobstore, job_name=job.name, executor=job.executor)

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
        for key, default in _LATE_DEFAULTS.items():
            if not hasattr(job, key):
                setattr(job, key, default)  # a pending job, and job_defaults sets no value
        if not hasattr(job, "next_run_time"):
            job.next_run_time = job.trigger.get_next_fire_time(None, self.clock.now())
        try:
            store.add_job(job)
        except ConflictingIdError:
            if not replace_existing:
                raise
            store.update_job(job)
        # APScheduler 3's name for the job's store; plugins and user code read it.
        job._jobstore_alias = jobstore_alias
        self._logger.info('Added job "%s" to job store "%s"', job.name, jobstore_alias)
        self._dispatch_event(self._job_event(EVENT_JOB_ADDED, job, jobstore_alias))
        self._wake_for(job)

    def _wake_for(self, job: Job) -> None:
        # Waking the loop for a job due after its planned wakeup would only make it look at
        # its stores again; with thousands of add_job calls that is thousands of ticks.
        if self.state != STATE_RUNNING or job.next_run_time is None:
            return
        quiet_until = self._quiet_until
        if quiet_until is not None and job.next_run_time < quiet_until:
            # The loop's quiet heartbeats must end at this job's run. Under the lock the tick
            # sets the limit under, so that two changes cannot undo each other's lowering; and
            # before the planned wakeup is read (see BaseScheduler._quiet_heartbeat).
            with self._jobstores_lock:
                quiet_until = self._quiet_until
                if quiet_until is not None and job.next_run_time < quiet_until:
                    self._quiet_until = job.next_run_time
        planned = self._planned_wakeup
        if planned is None or job.next_run_time < planned:
            self.wakeup()

    def _create_trigger(self, trigger: Any, trigger_args: dict[str, Any]) -> BaseTrigger:
        if isinstance(trigger, BaseTrigger):
            return trigger
        if trigger is None:
            trigger = "date"
        elif not isinstance(trigger, str):
            raise TypeError(
                f"Expected a trigger instance or string, got {type(trigger).__name__} instead"
            )
        trigger_args.setdefault("timezone", self.timezone)
        plugin = create_plugin("trigger", trigger, trigger_args)
        assert isinstance(plugin, BaseTrigger)
        created: BaseTrigger = plugin
        if isinstance(created, DateTrigger) and created.run_date is None:
            # "Run once, now", fixed when the job is made, as APScheduler's date trigger does:
            # the job's trigger then shows (and stores) the time it runs at.
            created.run_date = self._settings.clock.now().astimezone(created.timezone)
        return created
