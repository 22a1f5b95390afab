"""A due job's run times, worked out from its trigger: shared by the scheduling loop and by the
stores that claim runs themselves, so both decide them the same way."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from obssched.jobstores.base import RunPlan

if TYPE_CHECKING:
    from obssched.job import Job

__all__ = ["plan_runs", "run_times_until"]


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


def plan_runs(job: Job, now: datetime) -> RunPlan:
    """Return what is due of ``job`` at ``now``: the run times to submit (only the last one
    when the job coalesces), those later than its ``misfire_grace_time`` (missed), those
    coalesced away, and its next run time."""
    due, next_run_time = run_times_until(job, now)
    coalesced: list[datetime] = []
    if job.coalesce and len(due) > 1:
        coalesced, due = due[:-1], due[-1:]
    missed: list[datetime] = []
    grace = job.misfire_grace_time
    if grace is not None and due:
        limit = now - timedelta(seconds=grace)
        # Run times ascend, so none is missed unless the first one is.
        if due[0] < limit:
            missed = [moment for moment in due if moment < limit]
            due = [moment for moment in due if moment >= limit]
    return RunPlan(due, next_run_time, missed, coalesced)
