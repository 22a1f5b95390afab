"""One step of the scheduling loop: submit what is due, report what was missed, say how long
to sleep.

This is the one path a run takes from a job store to an executor. Stores store and claim (and
may say what they decided, through :meth:`~obssched.jobstores.base.BaseJobStore.planned_run_times`
and :meth:`~obssched.jobstores.base.BaseJobStore.take_orphaned_runs`); only this module decides
``max_instances``, submits and emits the events that go with it.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from obssched._runtimes import run_times_until
from obssched._stages import StageErrors
from obssched.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_MODIFIED,
    EVENT_JOB_REMOVED,
    JobEvent,
    JobExecutionEvent,
    JobSubmissionEvent,
    _init_job_event,
    _new_event,
)
from obssched.exceptions import JobLookupError, MaxInstancesReachedError, TriggerError
from obssched.schedulers._submission import Dispatch, Submit, make_submitter

if TYPE_CHECKING:
    from obssched.clock import Clock
    from obssched.executors.base import BaseExecutor
    from obssched.job import Job
    from obssched.jobstores.base import BaseJobStore, OrphanedRun
    from obssched.schedulers._overlap import OverlapQueues

__all__ = ["BACKLOG_RECHECK", "NEVER", "Engine", "idle_wait", "run_times_until"]

BACKLOG_RECHECK = 0.001
"""Seconds before a tick that left runs queued behind busy pool workers looks at them again."""

NEVER = datetime.max.replace(tzinfo=UTC)
"""The quiet limit of stores that hold no scheduled run."""


def idle_wait(executors: Mapping[str, BaseExecutor], heartbeat: float) -> float:
    """Return how long a paused loop sleeps, nudging executors whose queued runs wait.

    Runs submitted before the pause may still wait for workers that a tick's end would have
    woken (see :meth:`BaseExecutor.nudge`): the loop keeps looking while they do.
    """
    backlog = [executor for executor in executors.values() if executor.has_backlog]
    for executor in backlog:
        executor.nudge()
    return BACKLOG_RECHECK if backlog else heartbeat


class Engine:
    """The scheduling step of one scheduler: where runs go, and what is worked out once and
    kept from one tick to the next (a busy scheduler ticks once per run or so)."""

    __slots__ = (
        "dispatch",
        "executors",
        "limits",
        "logger",
        "next_run_id",
        "now",
        "overlap",
        "stages",
        "submitters",
        "ticking",
    )

    def __init__(
        self,
        executors: Mapping[str, BaseExecutor],
        dispatch: Dispatch,
        next_run_id: Callable[[], int],
        logger: logging.Logger,
        stages: StageErrors,
        overlap: OverlapQueues | None = None,
    ) -> None:
        self.stages = stages
        self.overlap = overlap
        self.executors = executors
        self.now = NEVER
        self.dispatch = dispatch
        self.next_run_id = next_run_id
        self.logger = logger
        # What submits to each executor, by alias, with the executor it was made for: kept
        # while that executor stays under its alias (checked at the start of each tick).
        self.submitters: dict[str, tuple[BaseExecutor, Submit]] = {}
        # The latest run time still within each misfire grace time in use, this tick.
        self.limits: dict[float, datetime] = {}
        # Whether a tick is under way: ``now`` and ``limits`` are that tick's own.
        self.ticking = False

    def tick(
        self,
        jobstores: Mapping[str, BaseJobStore],
        clock: Clock,
        now: datetime,
        *,
        heartbeat: float,
        retry_interval: float,
    ) -> tuple[float, datetime, datetime | None]:
        """Submit every run due at ``now``; return the seconds to sleep, the wakeup planned and
        the quiet limit.

        The sleep ends at the earliest next run time of any store, at most ``heartbeat``
        seconds from now, and within milliseconds while an executor has queued runs that need
        another look. A failure is logged and counted in ``stages`` by the stage that failed; a
        store that fails is retried after ``retry_interval`` seconds, doubled on each failure
        in a row up to ``stages.retry_cap`` (``stages`` keeps that count from one tick to the
        next). Runs refused for ``max_instances`` are offered to ``overlap`` (see
        :mod:`obssched.schedulers._overlap`).

        The quiet limit is when the earliest run of the stores falls (:data:`NEVER` if none),
        when the sleep is a whole heartbeat, every store changes only through its scheduler and
        no run waits for an instance to end; ``None`` otherwise. Until it, a heartbeat nothing
        rang for needs no tick (see :meth:`BaseScheduler._quiet_heartbeat`).
        """
        if self.ticking:
            # A job run inline ticks its own scheduler: that tick gets an engine of its own, so
            # the rest of this tick's batch is still judged by this tick's ``now`` and limits.
            # (A test of ``ticking`` costs every tick less than saving and restoring them.)
            nested = Engine(
                self.executors,
                self.dispatch,
                self.next_run_id,
                self.logger,
                self.stages,
                self.overlap,
            )
            return nested.tick(
                jobstores, clock, now, heartbeat=heartbeat, retry_interval=retry_interval
            )
        started = clock.monotonic()
        self.now = now
        if self.limits:
            self.limits.clear()
        executors = self.executors
        submitters = self.submitters
        if submitters:
            # Once per tick rather than once per job: what submits to an executor that was
            # removed or replaced since the last tick goes (the tick keeps what it starts with).
            for alias, (executor, _) in list(submitters.items()):
                if executors.get(alias) is not executor:
                    del submitters[alias]
        overlap = self.overlap
        next_wakeup: datetime | None = None
        # Submissions are handed to the workers in batches, so a burst of due runs does not have
        # the loop thread and the worker threads trading the GIL on every run. One list for both
        # ends: an executor removed by another thread during the tick still hands over (or
        # fails, and so ends) the runs it was holding.
        batching = list(executors.values())
        for executor in batching:
            executor.begin_batch()
        self.ticking = True
        try:
            if overlap is not None and overlap.waiting:
                # First, so that runs that waited for an instance to end go before new ones.
                overlap.submit_waiting(self._submitter, self.stages)
            for alias, store in list(jobstores.items()):
                store_next = self._process_store(alias, store, retry_interval)
                if store_next is not None and (next_wakeup is None or store_next < next_wakeup):
                    next_wakeup = store_next
        finally:
            self.ticking = False
            for executor in batching:
                executor.end_batch()
        # The time spent in the tick is read off the monotonic clock: one reading instead of
        # two wall-clock datetimes and the timedelta arithmetic between them.
        elapsed = clock.monotonic() - started
        wait = heartbeat if next_wakeup is None else (next_wakeup - now).total_seconds()
        wait -= elapsed
        if wait > BACKLOG_RECHECK:
            for executor in batching:
                if executor.has_backlog:
                    # Runs wait for a pool whose awake workers may all be blocked; the next
                    # tick looks again and wakes more of them (see BaseExecutor.nudge).
                    wait = BACKLOG_RECHECK
                    next_wakeup = now + timedelta(seconds=elapsed + wait)
                    break
        quiet_until: datetime | None = None
        if wait >= heartbeat or next_wakeup is None:
            if (overlap is None or not overlap.waiting) and all(
                store.changes_only_through_scheduler for store in jobstores.values()
            ):
                quiet_until = NEVER if next_wakeup is None else next_wakeup
            wait = heartbeat
            next_wakeup = now + timedelta(seconds=elapsed + heartbeat)
        return (wait if wait > 0.0 else 0.0), next_wakeup, quiet_until

    def _process_store(
        self, alias: str, store: BaseJobStore, retry_interval: float
    ) -> datetime | None:
        """Process one store's orphaned and due runs; return its next run time (or when to
        retry it)."""
        logger = self.logger
        stages = self.stages
        if stages.store_retries:
            retry_at = stages.store_backing_off(alias, self.now)
            if retry_at is not None:
                # Still backing off: a store in an outage is not asked on every heartbeat.
                return retry_at
        try:
            orphans = store.take_orphaned_runs()
        except Exception:
            logger.exception("Error taking the orphaned runs of job store %r", alias)
            self.stages.failed("store")
            orphans = []
        for orphan in orphans:
            self._process_orphan(orphan, alias)

        batch = store.due_batch_size
        plans = store.plans_run_times
        processed: set[str] = set()
        while True:
            try:
                due_jobs = store.acquire_due_jobs(self.now)
            except Exception:
                logger.exception("Error getting due jobs from job store %r", alias)
                return self._retry_store(alias, retry_interval)
            repeated = False
            store_failed = False
            try:
                for job in due_jobs:
                    job_id = job.id
                    if job_id in processed:
                        # Still due after being processed: its store could not save it. Leave
                        # it to the next tick rather than spin on it.
                        repeated = True
                        continue
                    processed.add(job_id)
                    try:
                        self._process_job(job, alias, store, plans)
                    except _StoreFailure as failure:
                        # The store cannot save what this tick did: the rest waits for it to
                        # answer again, when its jobs are still due (at least once).
                        logger.error(
                            'Error saving job "%s" to job store %r',
                            job,
                            alias,
                            exc_info=failure.__cause__,
                        )
                        store_failed = True
                        break
                    except Exception:
                        logger.exception('Error processing job "%s"; pausing it', job)
                        self.stages.failed("store")
                        _pause_broken_job(job, alias, store, self.dispatch, logger)
            finally:
                if due_jobs:
                    store.release_jobs(due_jobs)
            if store_failed:
                return self._retry_store(alias, retry_interval)
            # Every job processed here now runs after ``now`` or not at all, so a full batch
            # means more jobs may be due.
            if batch is None or len(due_jobs) < batch or repeated:
                break

        try:
            next_run_time = store.get_next_run_time()
        except Exception:
            logger.exception("Error getting the next run time from job store %r", alias)
            return self._retry_store(alias, retry_interval)
        if stages.store_retries:
            stages.store_answered(alias)
        return next_run_time

    def _retry_store(self, alias: str, retry_interval: float) -> datetime:
        """Count a failure of the store ``alias``; return when to try it again (backing off)."""
        retry_at = self.stages.store_failed(alias, retry_interval, self.now)
        self.logger.warning("Retrying job store %r at %s", alias, retry_at)
        return retry_at

    def _process_job(self, job: Job, alias: str, store: BaseJobStore, plans: bool) -> None:
        known = self.submitters.get(job.executor)
        submit = known[1] if known is not None else self._submitter(job.executor)
        if submit is None:
            self.logger.error(
                'Executor lookup ("%s") failed for job "%s"; pausing the job until the executor '
                "exists",
                job.executor,
                job,
            )
            self.stages.failed("executor")
            _pause_broken_job(job, alias, store, self.dispatch, self.logger)
            return

        plan = store.planned_run_times(job) if plans else None
        coalesced: list[datetime] | None = None
        if plan is None:
            try:
                run_times, next_run_time = run_times_until(job, self.now)
            except Exception as exc:
                self._trigger_failed(job, alias, store, exc)
                return
            if self.stages.broken:
                self.stages.job_mended(job.id)
        else:
            run_times = plan.run_times
            next_run_time = plan.next_run_time
            if plan.missed:
                self._report_missed(job, alias, plan.missed, plan.coalesced)
            if plan.refused:
                if run_times:
                    self._refuse(job, alias, run_times, plan.coalesced)
                run_times = []
            else:
                # What the store left to coalesce or found missed is settled as for any job
                # (nothing, when the store did both).
                coalesced = plan.coalesced

        if run_times:
            # Coalesce, report the run times missed, submit the rest.
            if len(run_times) > 1 and job.coalesce:
                coalesced = [*(coalesced or ()), *run_times[:-1]]
                run_times = run_times[-1:]
            elif coalesced is None:
                coalesced = []
            grace = job.misfire_grace_time
            if grace is not None:
                limits = self.limits
                limit = limits.get(grace)
                if limit is None:
                    limit = limits[grace] = self.now - _grace_delta(grace)
                # Run times ascend, so none is missed unless the first one is.
                if run_times[0] < limit:
                    missed = [run_time for run_time in run_times if run_time < limit]
                    run_times = [run_time for run_time in run_times if run_time >= limit]
                    self._report_missed(job, alias, missed, coalesced)
            if run_times:
                try:
                    submit(job, run_times, jobstore=alias, coalesced=coalesced)
                except MaxInstancesReachedError:
                    self._overflow(job, alias, run_times, coalesced)
                except Exception:
                    self._submit_failed(job)

        if next_run_time is not None:
            if next_run_time.tzinfo is not None:
                # Triggers return aware datetimes; the validation of Job._modify is for users.
                job.next_run_time = next_run_time
            else:
                # Job._modify is APScheduler 3's contract between a job and its scheduler.
                job._modify(next_run_time=next_run_time)
            try:
                store.update_job(job)
            except JobLookupError:
                raise
            except Exception as exc:
                raise _StoreFailure from exc
        else:
            try:
                store.remove_job(job.id)
            except JobLookupError:
                return
            except Exception as exc:
                raise _StoreFailure from exc
            # Built with object.__new__ and the class's own __init__ (see obssched.events):
            # every date job's last run ends here.
            event: JobEvent = _new_event(JobEvent)
            _init_job_event(event, EVENT_JOB_REMOVED, job.id, alias, job.name, job.executor)
            self.dispatch(event)

    def _overflow(
        self, job: Job, alias: str, run_times: list[datetime], coalesced: list[datetime]
    ) -> None:
        """Settle runs an executor refused because the job has ``max_instances`` in flight:
        queued if the job's overlap policy lets them wait, else reported refused."""
        overlap = self.overlap
        refused = run_times if overlap is None else overlap.offer(job, alias, run_times, coalesced)
        if refused:
            self._refuse(job, alias, refused, coalesced if refused is run_times else [])

    def _submit_failed(self, job: Job) -> None:
        # As APScheduler 3 does: the runs are lost, the job keeps its schedule.
        self.logger.exception('Error submitting job "%s" to executor "%s"', job, job.executor)
        self.stages.failed("executor")

    def _trigger_failed(self, job: Job, alias: str, store: BaseJobStore, cause: Exception) -> None:
        """Report a trigger that raised as an error of its job, and pause the job."""
        due = job.next_run_time or self.now
        try:
            described = str(job.trigger)
        except Exception:  # a broken trigger may not describe itself either
            described = type(job.trigger).__name__
        error = TriggerError(job.id, described, cause)
        self.logger.error(
            'Error working out the run times of job "%s"; pausing it', job, exc_info=error
        )
        self.stages.failed("trigger")
        self.stages.job_broken(job.id, due)
        self.dispatch(
            JobExecutionEvent(
                EVENT_JOB_ERROR,
                job.id,
                alias,
                due,
                exception=error,
                traceback="".join(traceback.format_exception(cause)),
                job_name=job.name,
                executor=job.executor,
            )
        )
        _pause_broken_job(job, alias, store, self.dispatch, self.logger)

    def _refuse(
        self, job: Job, alias: str, run_times: list[datetime], coalesced: list[datetime]
    ) -> None:
        """Report runs refused because the job has ``max_instances`` runs in flight."""
        self.logger.warning(
            'Execution of job "%s" skipped: maximum number of running instances reached (%d)',
            job,
            job.max_instances,
        )
        self.dispatch(
            JobSubmissionEvent(
                EVENT_JOB_MAX_INSTANCES,
                job.id,
                alias,
                run_times,
                job_name=job.name,
                executor=job.executor,
                run_id=self.next_run_id(),
                coalesced_run_times=coalesced,
            )
        )

    def _report_missed(
        self, job: Job, alias: str, missed: list[datetime], coalesced: list[datetime]
    ) -> None:
        now = self.now
        for run_time in missed:
            self.logger.warning('Run time of job "%s" was missed by %s', job, now - run_time)
            self.dispatch(
                JobExecutionEvent(
                    EVENT_JOB_MISSED,
                    job.id,
                    alias,
                    run_time,
                    job_name=job.name,
                    executor=job.executor,
                    coalesced_run_times=coalesced if job.coalesce else (),
                )
            )

    def _process_orphan(self, orphan: OrphanedRun, alias: str) -> None:
        """Report a run lost with its scheduler, or submit it again."""
        error = orphan.error
        if error is not None:
            self.logger.error("%s", error)
            formatted = "".join(traceback.format_exception(error))
            for run_time in orphan.run_times:
                self.dispatch(
                    JobExecutionEvent(
                        EVENT_JOB_ERROR,
                        orphan.job_id,
                        alias,
                        run_time,
                        exception=error,
                        traceback=formatted,
                        job_name=orphan.job_name,
                        executor=orphan.executor,
                    )
                )
        job = orphan.job
        if job is None or not orphan.run_times:
            return
        submit = self._submitter(job.executor)
        if submit is None:
            self.logger.error(
                'Executor lookup ("%s") failed for the orphaned run of job "%s"; not running it',
                job.executor,
                job,
            )
            return
        self.logger.info('Running the orphaned run of job "%s" again', job)
        run_times = list(orphan.run_times)
        try:
            submit(job, run_times, jobstore=alias, coalesced=[])
        except MaxInstancesReachedError:
            self._overflow(job, alias, run_times, [])
        except Exception:
            self._submit_failed(job)

    def _submitter(self, executor_alias: str) -> Submit | None:
        """Return what submits to the executor ``executor_alias`` (``None``: no such
        executor), made once per executor."""
        executor = self.executors.get(executor_alias)
        submitters = self.submitters
        known = submitters.get(executor_alias)
        if known is not None and known[0] is executor:
            return known[1]
        if executor is None:
            # The executor was removed: so is what submitted to it (and the reference to it).
            submitters.pop(executor_alias, None)
            return None
        submit = make_submitter(executor, self.dispatch, self.next_run_id, self.logger)
        submitters[executor_alias] = (executor, submit)
        return submit


@lru_cache(maxsize=256)
def _grace_delta(grace: float) -> timedelta:
    # A tick that submits works out each grace time's limit, and timedelta(seconds=...) parses
    # its keyword and splits a float: several times the cost of the subtraction it serves. Jobs
    # share a handful of grace times, so each is built once.
    return timedelta(seconds=grace)


class _StoreFailure(Exception):
    """Raised from inside a job's processing when its store failed to save it."""


def _pause_broken_job(
    job: Job, alias: str, store: BaseJobStore, dispatch: Dispatch, logger: logging.Logger
) -> None:
    # A job that cannot be processed would be due again on every tick; pausing it keeps the
    # loop from spinning while keeping the job (and the evidence) in its store.
    try:
        # Job._modify is APScheduler 3's contract between a job and its scheduler.
        job._modify(next_run_time=None)
        store.update_job(job)
    except Exception:
        logger.exception('Could not pause job "%s" either', job)
        return
    dispatch(JobEvent(EVENT_JOB_MODIFIED, job.id, alias, job_name=job.name, executor=job.executor))
