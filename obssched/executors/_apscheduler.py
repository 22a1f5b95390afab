"""APScheduler 3's helpers for executors written against it: :func:`run_job` and
:func:`run_coroutine_job` run a job in the calling thread (or task) and return the events,
with APScheduler 3.11's behaviour (a run time past the grace time is reported missed)."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from obssched.clock import SystemClock
from obssched.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent

if TYPE_CHECKING:
    from obssched.job import Job

__all__ = ["run_coroutine_job", "run_job"]


def run_job(
    job: Job, jobstore_alias: str, run_times: Sequence[datetime], logger_name: str
) -> list[JobExecutionEvent]:
    """Run ``job`` once per run time in this thread and return the events to dispatch.

    APScheduler 3's helper for executors written against it (their ``_do_submit_job`` calls it
    and hands the events to :meth:`BaseExecutor._run_job_success`), with its behaviour: a run
    time more than ``misfire_grace_time`` in the past gives ``EVENT_JOB_MISSED`` instead of a
    run. obssched's own executors run bodies with timing, run hooks and in-flight tracking.
    """
    logger = logging.getLogger(logger_name)
    events: list[JobExecutionEvent] = []
    for run_time in run_times:
        missed = _missed_event(job, jobstore_alias, run_time, logger)
        if missed is not None:
            events.append(missed)
            continue
        logger.info('Running job "%s" (scheduled at %s)', job, run_time)
        try:
            retval = job.func(*job.args, **job.kwargs)
        except BaseException as exc:
            events.append(_failed_event(job, jobstore_alias, run_time, exc, logger))
        else:
            events.append(_executed_event(job, jobstore_alias, run_time, retval, logger))
    return events


async def run_coroutine_job(
    job: Job, jobstore_alias: str, run_times: Sequence[datetime], logger_name: str
) -> list[JobExecutionEvent]:
    """The coroutine version of :func:`run_job` (for jobs whose function is a coroutine
    function)."""
    logger = logging.getLogger(logger_name)
    events: list[JobExecutionEvent] = []
    for run_time in run_times:
        missed = _missed_event(job, jobstore_alias, run_time, logger)
        if missed is not None:
            events.append(missed)
            continue
        logger.info('Running job "%s" (scheduled at %s)', job, run_time)
        try:
            retval = await job.func(*job.args, **job.kwargs)
        except BaseException as exc:
            events.append(_failed_event(job, jobstore_alias, run_time, exc, logger))
        else:
            events.append(_executed_event(job, jobstore_alias, run_time, retval, logger))
    return events


def _missed_event(
    job: Job, jobstore_alias: str, run_time: datetime, logger: logging.Logger
) -> JobExecutionEvent | None:
    grace = job.misfire_grace_time
    if grace is None:
        return None
    late = SystemClock().now() - run_time
    if late <= timedelta(seconds=grace):
        return None
    logger.warning('Run time of job "%s" was missed by %s', job, late)
    return JobExecutionEvent(EVENT_JOB_MISSED, job.id, jobstore_alias, run_time)


def _failed_event(
    job: Job,
    jobstore_alias: str,
    run_time: datetime,
    exc: BaseException,
    logger: logging.Logger,
) -> JobExecutionEvent:
    tb = exc.__traceback__
    event = JobExecutionEvent(
        EVENT_JOB_ERROR,
        job.id,
        jobstore_alias,
        run_time,
        exception=exc,
        traceback="".join(traceback.format_tb(tb)),
    )
    logger.exception('Job "%s" raised an exception', job, exc_info=exc)
    # Clearing the frames breaks the exception -> traceback -> frame cycle that would keep the
    # job's locals alive until the garbage collector runs.
    traceback.clear_frames(tb)
    del tb
    return event


def _executed_event(
    job: Job, jobstore_alias: str, run_time: datetime, retval: Any, logger: logging.Logger
) -> JobExecutionEvent:
    logger.info('Job "%s" executed successfully', job)
    return JobExecutionEvent(EVENT_JOB_EXECUTED, job.id, jobstore_alias, run_time, retval=retval)
