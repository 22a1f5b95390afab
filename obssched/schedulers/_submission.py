"""How the scheduling loop hands a due job's runs to an executor."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from obssched.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent, SchedulerEvent
from obssched.executors.base import BaseExecutor

if TYPE_CHECKING:
    from obssched.job import Job

__all__ = ["Dispatch", "Submit", "make_submitter"]

Dispatch = Callable[[SchedulerEvent], None]
"""Delivers an event to the scheduler's listeners."""


class Submit(Protocol):
    """``submit(job, run_times, jobstore=alias, coalesced=...)``: what
    :meth:`BaseExecutor.submit_runs` takes; raises MaxInstancesReachedError."""

    def __call__(
        self,
        job: Job,
        run_times: Sequence[datetime],
        *,
        jobstore: str,
        coalesced: Sequence[datetime],
    ) -> object: ...


def make_submitter(
    executor: BaseExecutor,
    dispatch: Dispatch,
    next_run_id: Callable[[], int],
    logger: logging.Logger,
) -> Submit:
    """Return what hands a due job's runs to ``executor``.

    An executor that keeps :meth:`BaseExecutor.submit_job` is given obssched's extras through
    :meth:`BaseExecutor.submit_runs`. One that overrides ``submit_job`` (APScheduler 3's entry
    point) is called through it, as APScheduler 3 does; if the override does not hand the runs
    on to the base class, the submission events are dispatched here.
    """
    if type(executor).submit_job is BaseExecutor.submit_job:
        return executor.submit_runs

    def submit_through_override(
        job: Job, run_times: Sequence[datetime], *, jobstore: str, coalesced: Sequence[datetime]
    ) -> None:
        before = executor.submitted_runs
        # What it raises (MaxInstancesReachedError, or a failure the loop logs and counts) is
        # the loop's to handle, as for any executor.
        executor.submit_job(job, list(run_times))
        if executor.submitted_runs == before:
            for index, run_time in enumerate(run_times):
                dispatch(
                    JobSubmissionEvent(
                        EVENT_JOB_SUBMITTED,
                        job.id,
                        jobstore,
                        [run_time],
                        job_name=job.name,
                        executor=job.executor,
                        run_id=next_run_id(),
                        coalesced_run_times=() if index else coalesced,
                    )
                )

    return submit_through_override
