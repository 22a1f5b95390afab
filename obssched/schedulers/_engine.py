"""One step of the scheduling loop: submit what is due, report what was missed, say how long
to sleep."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from obssched.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_MODIFIED,
    EVENT_JOB_REMOVED,
    JobEvent,
    JobExecutionEvent,
    JobSubmissionEvent,
    SchedulerEvent,
    _job_event,
)
from obssched.exceptions import JobLookupError, MaxInstancesReachedError

if TYPE_CHECKING:
    from obssched.executors.base import BaseExecutor
    from obssched.job import Job
    from obssched.jobstores.base import BaseJobStore

__all__ = ["process_due_jobs", "run_times_until"]


def run_times_until(job: Job, now: datetime) -> tuple[list[datetime], datetime | None]:
    """Return the job's run times up to ``now`` and the first one after it.

    The trigger is asked once per run time: the call that ends the loop already yields the next
    run time, so it is not asked again.
    """
    run_times: list[datetime] = []
    next_run_time = job.next_run_time
    trigger = job.trigger
    while next_run_time is not None and next_run_time <= now:
        run_times.append(next_run_time)
        next_run_time = trigger.get_next_fire_time(next_run_time, now)
    return run_times, next_run_time


def process_due_jobs(
    jobstores: Mapping[str, BaseJobStore],
    executors: Mapping[str, BaseExecutor],
    now: datetime,
    dispatch: Callable[[SchedulerEvent], None],
    next_run_id: Callable[[], int],
    logger: logging.Logger,
    retry_interval: float,
) -> datetime | None:
    """Submit every run due at ``now`` and return when the next one is due (``None``: never).

    For each due job: run times later than ``misfire_grace_time`` are reported missed, the rest
    are submitted (only the last one when the job coalesces), the job's next run time is saved,
    and a job with no next run time is removed.
    """
    next_wakeup: datetime | None = None
    # Submissions are handed to the workers in batches, so a burst of due runs does not have
    # the loop thread and the worker threads trading the GIL on every run.
    # One list for both ends: an executor removed by another thread during the tick still
    # hands over (or fails, and so ends) the runs it was holding.
    batching = list(executors.values())
    for executor in batching:
        executor._begin_batch()
    try:
        for alias, store in list(jobstores.items()):
            store_next = _process_store(
                alias, store, executors, now, dispatch, next_run_id, logger, retry_interval
            )
            if store_next is not None and (next_wakeup is None or store_next < next_wakeup):
                next_wakeup = store_next
    finally:
        for executor in batching:
            executor._end_batch()
    return next_wakeup


def _process_store(
    alias: str,
    store: BaseJobStore,
    executors: Mapping[str, BaseExecutor],
    now: datetime,
    dispatch: Callable[[SchedulerEvent], None],
    next_run_id: Callable[[], int],
    logger: logging.Logger,
    retry_interval: float,
) -> datetime | None:
    """Process one store's due jobs; return its next run time (or when to retry it)."""
    batch = store.due_batch_size
    processed: set[str] = set()
    # The latest run time still within each misfire grace time in use, computed once a tick.
    limits: dict[float, datetime] = {}
    while True:
        try:
            due_jobs = store.acquire_due_jobs(now)
        except Exception:
            logger.exception("Error getting due jobs from job store %r", alias)
            return now + timedelta(seconds=retry_interval)
        repeated = False
        try:
            for job in due_jobs:
                job_id = job.id
                if job_id in processed:
                    # Still due after being processed: its store could not save it. Leave it
                    # to the next tick rather than spin on it.
                    repeated = True
                    continue
                processed.add(job_id)
                try:
                    _process_job(
                        job, alias, store, executors, now, dispatch, next_run_id, logger, limits
                    )
                except Exception:
                    logger.exception('Error processing job "%s"; pausing it', job)
                    _pause_broken_job(job, alias, store, dispatch, logger)
        finally:
            if due_jobs:
                store.release_jobs(due_jobs)
        # Every job processed here now runs after ``now`` or not at all, so a full batch means
        # more jobs may be due.
        if batch is None or len(due_jobs) < batch or repeated:
            break

    try:
        return store.get_next_run_time()
    except Exception:
        logger.exception("Error getting the next run time from job store %r", alias)
        return now + timedelta(seconds=retry_interval)


def _process_job(
    job: Job,
    alias: str,
    store: BaseJobStore,
    executors: Mapping[str, BaseExecutor],
    now: datetime,
    dispatch: Callable[[SchedulerEvent], Any],
    next_run_id: Callable[[], int],
    logger: logging.Logger,
    limits: dict[float, datetime],
) -> None:
    executor = executors.get(job.executor)
    if executor is None:
        logger.error(
            'Executor lookup ("%s") failed for job "%s"; pausing the job until the executor exists',
            job.executor,
            job,
        )
        _pause_broken_job(job, alias, store, dispatch, logger)
        return

    planned = store.planned_run_times(job) if store.plans_run_times else None
    run_times, next_run_time = (
        (planned.run_times, planned.next_run_time)
        if planned is not None
        else run_times_until(job, now)
    )
    if run_times:
        coalesced: list[datetime] = []
        if len(run_times) > 1 and job.coalesce:
            coalesced, run_times = run_times[:-1], run_times[-1:]
        grace = job.misfire_grace_time
        if grace is not None:
            limit = limits.get(grace)
            if limit is None:
                limit = limits[grace] = now - timedelta(seconds=grace)
            # Run times ascend, so none is missed unless the first one is.
            if run_times[0] < limit:
                missed = [run_time for run_time in run_times if run_time < limit]
                run_times = [run_time for run_time in run_times if run_time >= limit]
                _report_missed(job, alias, missed, coalesced, now, dispatch, logger)
        if run_times:
            try:
                executor._submit(job, alias, run_times, coalesced)
            except MaxInstancesReachedError:
                logger.warning(
                    'Execution of job "%s" skipped: maximum number of running instances reached '
                    "(%d)",
                    job,
                    job.max_instances,
                )
                dispatch(
                    JobSubmissionEvent(
                        EVENT_JOB_MAX_INSTANCES,
                        job.id,
                        alias,
                        run_times,
                        job_name=job.name,
                        executor=job.executor,
                        run_id=next_run_id(),
                        coalesced_run_times=coalesced,
                    )
                )

    if next_run_time is not None:
        if next_run_time.tzinfo is not None:
            # Triggers return aware datetimes; the validation of Job._modify is for users.
            job.next_run_time = next_run_time
        else:
            job._modify(next_run_time=next_run_time)
        store.update_job(job)
    else:
        try:
            store.remove_job(job.id)
        except JobLookupError:
            return
        dispatch(_job_event(EVENT_JOB_REMOVED, job.id, alias, job.name, job.executor))


def _report_missed(
    job: Job,
    alias: str,
    missed: list[datetime],
    coalesced: list[datetime],
    now: datetime,
    dispatch: Callable[[SchedulerEvent], Any],
    logger: logging.Logger,
) -> None:
    for run_time in missed:
        logger.warning('Run time of job "%s" was missed by %s', job, now - run_time)
        dispatch(
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


def _pause_broken_job(
    job: Job,
    alias: str,
    store: BaseJobStore,
    dispatch: Callable[[SchedulerEvent], Any],
    logger: logging.Logger,
) -> None:
    # A job that cannot be processed would be due again on every tick; pausing it keeps the
    # loop from spinning while keeping the job (and the evidence) in its store.
    try:
        job._modify(next_run_time=None)
        store.update_job(job)
    except Exception:
        logger.exception('Could not pause job "%s" either', job)
        return
    dispatch(JobEvent(EVENT_JOB_MODIFIED, job.id, alias, job_name=job.name, executor=job.executor))
