"""The executor interface (APScheduler 3's ``BaseExecutor``).

An executor accepts submissions from the scheduler and runs their job bodies. The base class
owns what every executor must get right: ``max_instances``, the in-flight registry behind
``scheduler.get_running_runs()``, dispatching the submission event before the body can finish,
and ending every submitted run with exactly one terminal event, even when the executor itself
fails.

The scheduler submits through APScheduler 3's :meth:`BaseExecutor.submit_job`, so a subclass
that overrides it is honoured; an executor that does not override it is handed obssched's extras
(the job store alias, coalesced run times) through :meth:`BaseExecutor.submit_runs`. APScheduler
3's hooks (``_do_submit_job``, ``_run_job_success``, ``_run_job_error``) and its module-level
:func:`run_job` and :func:`run_coroutine_job` keep working for executors written against them.
"""

from __future__ import annotations

import logging
import threading
from _thread import get_ident
from abc import ABC
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from obssched._context import context_of
from obssched._refs import get_callable_name
from obssched._runs import RunInfo, RunningRun
from obssched.events import (
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    EVENT_NAMES,
    JobExecutionEvent,
    JobSubmissionEvent,
    _init_submission_event,
    _new_event,
)
from obssched.exceptions import (
    MaxInstancesReachedError,
    RunTakenOverError,
)
from obssched.executors._apscheduler import run_coroutine_job, run_job
from obssched.executors._bounds import RunBounds
from obssched.executors._runner import (
    begin_body,
    end_body,
    error_event,
    taken_over_event,
    wall_time,
)
from obssched.executors._watchdog import Watchdog

if TYPE_CHECKING:
    from obssched._context import SchedulerContext
    from obssched._eventbus import EventBus
    from obssched.clock import Clock
    from obssched.events import SchedulerEvent
    from obssched.job import Job
    from obssched.schedulers.base import BaseScheduler

__all__ = ["BaseExecutor", "MaxInstancesReachedError", "run_coroutine_job", "run_job"]

_new_tuple = tuple.__new__

_FUNC_NAMES_KEPT = 256
"""Callables without a reference whose display names an executor remembers."""


class BaseExecutor(RunBounds, ABC):
    """Runs submitted jobs; subclasses implement :meth:`_do_submit_runs`."""

    _scheduler: BaseScheduler
    _alias: str
    _clock: Clock
    _now: Callable[[], datetime]
    _monotonic: Callable[[], float]
    _events: EventBus
    _next_run_id: Callable[[], int]
    _dispatch: Callable[[SchedulerEvent], None]
    _context: SchedulerContext

    def __init__(self) -> None:
        self._instances: dict[str, int] = {}
        # Whether _run_job_success is the base class's (an instance may still replace it).
        self._plain_success = type(self)._run_job_success is _BASE_SUCCESS
        self._submitted = 0
        # run id -> [RunInfo, monotonic start of its body, or None while it waits]. Only the
        # thread running a body writes its start, so that needs no lock; the running and
        # pending counts are read off this registry instead of being kept beside it.
        self._inflight: dict[int, list[Any]] = {}
        self._lock = threading.Lock()
        self._logger = logging.getLogger("obssched.executors")
        # Work items handed to an APScheduler-3-style _do_submit_job, oldest first per job: with
        # max_instances > 1 a job can have several at once, and its callbacks end the oldest.
        self._compat_runs: dict[str, list[list[RunInfo]]] = {}
        # Started with the first submission of a job that has a timeout.
        self._watchdog: Watchdog | None = None
        # The work item each thread runs, by thread id, so that a shutdown from inside a job
        # does not wait for (or abandon) the run that called it. (A dict rather than a
        # threading.local: setting a thread-local attribute twice per work item cost more than
        # the rest of the hand-over to a worker.)
        self._running: dict[int, list[RunInfo]] = {}
        self._func_names: dict[int, tuple[Any, str]] = {}

    def start(self, scheduler: BaseScheduler, alias: str) -> None:
        """Called by the scheduler when it starts or when the executor is added to it."""
        self._scheduler = scheduler
        self._alias = alias
        self._logger = logging.getLogger(f"obssched.executors.{alias}")
        context = self._context = context_of(scheduler)
        clock = self._clock = context.clock
        # The clock's methods, looked up once: SystemClock's are static methods, which the
        # interpreter's attribute cache does not specialise, and every run reads the clock.
        self._now = clock.now
        self._monotonic = clock.monotonic
        # Looked up once: every run's events go through these.
        self._events = context.events
        self._next_run_id = context.next_run_id
        self._dispatch = context.dispatch
        self._announce_submissions = context.announces_submissions
        # Whether runs end straight in an event, or through a _run_job_success that a subclass
        # or this instance replaced (looked at once, here: every run's end reads it).
        # (Through the bound method, not by looking in self.__dict__: reading an instance's
        # __dict__ leaves its attributes out of the interpreter's attribute cache for good,
        # and every run reads a dozen of them.)
        success = self._run_job_success
        self._plain_success = (
            getattr(success, "__func__", None) is _BASE_SUCCESS
            and getattr(success, "__self__", None) is self
        )

    def shutdown(self, wait: bool = True) -> None:
        """Stop accepting work; with ``wait``, return once every submitted run has ended."""

    @property
    def max_workers(self) -> int | None:
        """How many job bodies can run at once (``None`` if the executor sets no bound)."""
        return None

    @property
    def running_jobs(self) -> int:
        """How many job bodies are running right now."""
        return sum(1 for _, started in list(self._inflight.values()) if started is not None)

    @property
    def pending_jobs(self) -> int:
        """How many submitted runs wait for a worker."""
        return sum(1 for _, started in list(self._inflight.values()) if started is None)

    @property
    def submitted_runs(self) -> int:
        """How many runs this executor has accepted since it was created."""
        return self._submitted

    def get_running_runs(self) -> list[RunningRun]:
        """Return the runs submitted to this executor that have not ended yet."""
        return [
            RunningRun(info, None if started is None else wall_time(info, started))
            for info, started in list(self._inflight.values())
        ]

    def submit_job(self, job: Job, run_times: Sequence[datetime]) -> None:
        """Submit ``job`` to run once per run time, in order (APScheduler 3's entry point).

        The scheduler calls this for executors that override it; others are handed the same
        submission with obssched's extras through :meth:`submit_runs`.

        Raises:
            MaxInstancesReachedError: the job already has ``max_instances`` runs in flight.
        """
        # The job carries its store's alias, as APScheduler 3's executors expect (their
        # _do_submit_job hands job._jobstore_alias to run_job).
        jobstore = job._jobstore_alias or "default"
        grace = job.misfire_grace_time
        if grace is None:
            self.submit_runs(job, run_times, jobstore=jobstore)
            return
        # APScheduler 3's executors report a run time past the job's grace time missed instead
        # of running it (obssched's scheduler filters them out before it submits).
        now = self._clock.now()
        limit = now - timedelta(seconds=grace)
        missed = [run_time for run_time in run_times if run_time < limit]
        due = [run_time for run_time in run_times if run_time >= limit]
        if due:
            self.submit_runs(job, due, jobstore=jobstore)
        elif self._instances.get(job.id, 0) >= job.max_instances:
            raise MaxInstancesReachedError(job)
        for run_time in missed:
            self._logger.warning('Run time of job "%s" was missed by %s', job, now - run_time)
            self._dispatch(
                JobExecutionEvent(
                    EVENT_JOB_MISSED,
                    job.id,
                    jobstore,
                    run_time,
                    job_name=job.name,
                    executor=job.executor,
                )
            )

    def submit_runs(
        self,
        job: Job,
        run_times: Sequence[datetime],
        *,
        jobstore: str,
        coalesced: Sequence[datetime] = (),
    ) -> list[RunInfo]:
        """Submit one work item that runs ``job`` once per run time, in order; return its runs.

        What :meth:`submit_job` does, with what obssched adds: ``jobstore`` is the alias of the
        store the job came from and ``coalesced`` the earlier run times folded into these by
        ``coalesce`` (both reported in the events). Each run's ``EVENT_JOB_SUBMITTED`` is
        dispatched before the run is handed to a worker.

        Raises:
            MaxInstancesReachedError: nothing was submitted.
        """
        job_id = job.id
        limit = job.max_instances
        counts = self._instances
        lock = self._lock
        count = len(run_times)
        # No calls while the lock is held (see MetricsListener._ended): subscripts only.
        lock.acquire()
        try:
            instances = counts[job_id] if job_id in counts else 0  # noqa: SIM401 (no call under the lock)
            if instances < limit:
                counts[job_id] = instances + 1
                self._submitted += count
        finally:
            lock.release()
        if instances >= limit:
            raise MaxInstancesReachedError(job)

        # Read into locals first: a call straight off an instance attribute is a method lookup
        # the interpreter does not specialise.
        now, monotonic = self._now, self._monotonic
        submitted_at = now()
        submitted_mono = monotonic()
        func_name = job.func_ref or self._func_name(job.func)
        job_name = job.name
        alias = self._alias
        trigger = job.trigger
        next_run_id = self._next_run_id
        inflight = self._inflight
        events = self._events
        announce = self._announce_submissions and events.mask & EVENT_JOB_SUBMITTED
        runs: list[RunInfo] = []
        for run_time in run_times:
            run_id = next_run_id()
            # tuple.__new__ is what the named tuple's own constructor calls, minus a Python frame
            run: RunInfo = _new_tuple(
                RunInfo,
                (
                    run_id,
                    job_id,
                    job_name,
                    func_name,
                    jobstore,
                    alias,
                    trigger,
                    run_time,
                    submitted_at,
                    submitted_mono,
                ),
            )
            inflight[run_id] = [run, None]
            if announce:
                # Built with object.__new__ and the class's own __init__ (see obssched.events).
                event: JobSubmissionEvent = _new_event(JobSubmissionEvent)
                _init_submission_event(
                    event,
                    EVENT_JOB_SUBMITTED,
                    job_id,
                    jobstore,
                    [run_time],
                    job_name,
                    alias,
                    run_id,
                    submitted_at,
                    () if runs else coalesced,
                )
                events.dispatch(event)
            runs.append(run)
        try:
            self._do_submit_runs(job, runs)
        except BaseException as exc:
            self._logger.exception('Error submitting job "%s" to executor %r', job, self._alias)
            for run in runs:
                self._run_ended(run, error_event(run, exc, self._clock), last=run is runs[-1])
        else:
            if job.timeout is not None:
                self._watch(runs, job.timeout)
        return runs

    def _func_name(self, func: Any) -> str:
        """Return the display name of a callable that has no ``module:qualname`` reference (a
        partial, a lambda, a bound method), worked out once per callable: the inspect calls
        behind it cost more than the rest of a submission. At most ``_FUNC_NAMES_KEPT``
        callables are remembered (each kept alive by its entry, so its id is not reused)."""
        names = self._func_names
        known = names.get(id(func))
        if known is not None and known[0] is func:
            return known[1]
        name = get_callable_name(func)
        if len(names) >= _FUNC_NAMES_KEPT:
            names.clear()
        names[id(func)] = (func, name)
        return name

    def _do_submit_runs(self, job: Job, runs: list[RunInfo]) -> None:
        """Hand ``runs`` of ``job`` to workers; each must end through :meth:`_run_ended`.

        The default delegates to APScheduler 3's ``_do_submit_job`` so executors written for it
        keep working.
        """
        self._compat_runs.setdefault(job.id, []).append(runs)
        self._do_submit_job(job, [run.scheduled_run_time for run in runs])

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        """APScheduler 3's submission hook; override :meth:`_do_submit_runs` instead."""
        raise NotImplementedError(f"{type(self).__name__} must implement _do_submit_runs")

    def _run_in_this_thread(self, job: Job, runs: list[RunInfo]) -> None:
        """Run the bodies of ``runs`` one after another in the calling thread, ending each."""
        hooks = self._context.run_hooks
        monotonic = self._monotonic
        logger = self._logger
        log_runs = logger.isEnabledFor(logging.INFO)
        func, args, kwargs = job.func, job.args, job.kwargs
        last = runs[-1]
        inflight = self._inflight
        running = self._running
        thread = get_ident()
        # A body may run another work item of this executor in its own thread (an inline
        # executor whose job ticks a scheduler); the outer item's runs are put back after it.
        outer = running.get(thread)
        running[thread] = runs
        try:
            for run in runs:
                entry = inflight.get(run[0])  # run.run_id (see _run_ended)
                if entry is None:
                    continue  # ended before its body started (its work item was cancelled)
                try:
                    started, managers = begin_body(run, entry, hooks, monotonic, logger, log_runs)
                except RunTakenOverError as exc:
                    # Another cluster node took it over: it ends here without its body.
                    self._run_ended(
                        run, taken_over_event(run, exc, monotonic(), logger), last=run is last
                    )
                    continue
                try:
                    retval = func(*args, **kwargs)
                except BaseException as exc:
                    event = end_body(run, started, managers, None, exc, monotonic, logger, log_runs)
                else:
                    event = end_body(
                        run, started, managers, retval, None, monotonic, logger, log_runs
                    )
                self._run_ended(run, event, last=run is last)
        finally:
            if outer is None:
                del running[thread]
            else:
                running[thread] = outer

    def begin_batch(self) -> None:
        """A scheduler tick starts submitting: the executor may hold submissions back until
        :meth:`end_batch`, to hand them to its workers in fewer, larger hand-overs."""

    def end_batch(self) -> None:
        """The tick is done submitting: hand over whatever was held back."""

    def nudge(self) -> None:
        """Wake more workers if queued runs have waited without progress (see
        :attr:`has_backlog`); the scheduler calls it between ticks that submit nothing, such as
        while it is paused."""

    @property
    def has_backlog(self) -> bool:
        """Whether submitted runs wait that another look soon could start; while it holds, the
        scheduler looks again (calling :meth:`nudge`) within milliseconds instead of sleeping
        until the next run time."""
        return False

    def _run_ended(
        self, run: RunInfo, event: JobExecutionEvent, *, last: bool, callback: bool = True
    ) -> None:
        """End ``run`` with its terminal ``event``; ``last`` marks the work item's final run.

        The event is dispatched, or handed to an overridden ``_run_job_success`` (unless
        ``callback`` is false: the event comes from that callback).

        A run ends once: a second end (a body that finished after its executor had already
        ended the run, as an asyncio executor shutting down does) is logged and dropped.
        """
        # Indexing a named tuple is specialised by the interpreter, reading its fields by name
        # (a descriptor each) is not: run[0] is run.run_id, run[1] run.job_id.
        if self._inflight.pop(run[0], None) is None:
            self._logger.warning(
                'Run %d of job "%s" had already ended; dropping its later %s event',
                run.run_id,
                run.job_name,
                EVENT_NAMES.get(event.code, event.code),
            )
            return
        if last:
            job_id = run[1]
            counts = self._instances
            lock = self._lock
            lock.acquire()
            try:
                if job_id in counts:
                    remaining = counts[job_id] - 1
                    if remaining > 0:
                        counts[job_id] = remaining
                    else:
                        del counts[job_id]
            finally:
                lock.release()
        if not callback or self._plain_success:
            self._dispatch(event)
        else:
            # A subclass (or an instance) that replaced APScheduler 3's completion callback is
            # handed every run's event, as APScheduler's own executors hand theirs.
            self._run_job_success(run.job_id, [event])

    def _take_compat_runs(self, job_id: str) -> list[RunInfo]:
        items = self._compat_runs.get(job_id)
        if not items:
            return []
        runs = items.pop(0)
        if not items:
            del self._compat_runs[job_id]
        return runs

    def _run_job_success(self, job_id: str, events: list[JobExecutionEvent]) -> None:
        """APScheduler 3's completion callback, for executors written against it."""
        runs = self._take_compat_runs(job_id)
        for index, event in enumerate(events):
            if index < len(runs):
                event.run_id = runs[index].run_id
                self._run_ended(runs[index], event, last=index == len(events) - 1, callback=False)
            else:
                self._dispatch(event)

    def _run_job_error(self, job_id: str, exc: BaseException, traceback: Any = None) -> None:
        """APScheduler 3's failure callback, for executors written against it."""
        runs = self._take_compat_runs(job_id)
        for run in runs:
            self._run_ended(run, error_event(run, exc, self._clock), last=run is runs[-1])
        self._logger.error("Error running job %s", job_id, exc_info=exc)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


_BASE_SUCCESS = BaseExecutor._run_job_success
