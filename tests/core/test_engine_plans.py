"""The engine acts on what a store decided: run plans for due jobs and orphaned runs.

A small store double (a memory store that hands out the plans and orphaned runs a test gives
it) stands in for a store that claims runs, such as the cluster store.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from core_jobs import record

from obssched.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
)
from obssched.exceptions import JobAbandonedError
from obssched.executors.base import BaseExecutor
from obssched.job import Job
from obssched.jobstores.base import OrphanedRun, RunPlan
from obssched.jobstores.memory import MemoryJobStore
from obssched.testing import EventRecorder, ManualClock, ManualScheduler

RUN_EVENTS = (
    EVENT_JOB_SUBMITTED
    | EVENT_JOB_MAX_INSTANCES
    | EVENT_JOB_EXECUTED
    | EVENT_JOB_ERROR
    | EVENT_JOB_MISSED
)


class PlanningStore(MemoryJobStore):
    """A memory store that answers with the plans and orphaned runs it is given."""

    plans_run_times = True

    def __init__(self) -> None:
        super().__init__()
        self.plans: dict[str, RunPlan | None] = {}
        self.orphans: list[OrphanedRun] = []
        self.asked: list[str] = []

    def planned_run_times(self, job: Job) -> RunPlan | None:
        self.asked.append(job.id)
        return self.plans.get(job.id)

    def take_orphaned_runs(self) -> list[OrphanedRun]:
        orphans, self.orphans = self.orphans, []
        return orphans


class HoldingExecutor(BaseExecutor):
    """An APScheduler-3-style executor that keeps every work item in flight."""

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        pass


@pytest.fixture
def store(scheduler: ManualScheduler) -> PlanningStore:
    store = PlanningStore()
    scheduler.add_jobstore(store, "planned")
    return store


@pytest.fixture
def runs(scheduler: ManualScheduler) -> EventRecorder:
    return EventRecorder(scheduler, RUN_EVENTS)


def _summary(runs: EventRecorder) -> list[tuple[str, list[datetime]]]:
    summary = []
    for event, name in zip(runs.events, runs.names, strict=True):
        times = getattr(event, "scheduled_run_times", None)
        summary.append((name, list(times) if times is not None else [event.scheduled_run_time]))
    return summary


def _add_due_job(scheduler: ManualScheduler, clock: ManualClock, **options: object) -> Job:
    job = scheduler.add_job(record, "interval", seconds=10, id="j", jobstore="planned", **options)
    clock.advance(10)
    return job


def test_a_store_that_plans_nothing_leaves_the_run_times_to_the_engine(
    scheduler: ManualScheduler, clock: ManualClock, store: PlanningStore, runs: EventRecorder
) -> None:
    """A plan of None means the engine works the run times out itself."""
    scheduler.start()
    _add_due_job(scheduler, clock)
    scheduler.tick()
    assert (store.asked, runs.names) == (["j"], ["job_submitted", "job_executed"])


def test_the_planned_run_times_are_submitted_and_the_next_run_time_saved(
    scheduler: ManualScheduler, clock: ManualClock, store: PlanningStore, runs: EventRecorder
) -> None:
    """The engine submits the plan's run times and saves its next run time."""
    scheduler.start()
    _add_due_job(scheduler, clock)
    planned = clock.now() - timedelta(seconds=0.5)
    later = clock.now() + timedelta(hours=1)
    store.plans["j"] = RunPlan([planned], later)
    scheduler.tick()
    assert _summary(runs) == [("job_submitted", [planned]), ("job_executed", [planned])]
    job = scheduler.get_job("j")
    assert job is not None
    assert job.next_run_time == later


def test_a_refused_plan_is_reported_as_max_instances_and_not_submitted(
    scheduler: ManualScheduler, clock: ManualClock, store: PlanningStore, runs: EventRecorder
) -> None:
    """A store that could not claim the runs gets them reported refused, once."""
    scheduler.start()
    _add_due_job(scheduler, clock)
    now = clock.now()
    store.plans["j"] = RunPlan([now], now + timedelta(seconds=10), refused=True)
    scheduler.tick()
    assert _summary(runs) == [("job_max_instances", [now])]


def test_a_refused_plan_keeps_its_coalesced_run_times(
    scheduler: ManualScheduler, clock: ManualClock, store: PlanningStore, runs: EventRecorder
) -> None:
    """The max-instances event of a refused plan names the run times it coalesced."""
    scheduler.start()
    _add_due_job(scheduler, clock)
    now = clock.now()
    earlier = [now - timedelta(seconds=20), now - timedelta(seconds=10)]
    store.plans["j"] = RunPlan([now], None, coalesced=earlier, refused=True)
    scheduler.tick()
    (event,) = runs.events
    assert list(event.coalesced_run_times) == earlier


def test_the_missed_run_times_of_a_plan_are_reported_missed(
    scheduler: ManualScheduler, clock: ManualClock, store: PlanningStore, runs: EventRecorder
) -> None:
    """Each missed run time of a plan gives one missed event, before the submitted runs."""
    scheduler.start()
    _add_due_job(scheduler, clock)
    now = clock.now()
    missed = [now - timedelta(hours=2), now - timedelta(hours=1)]
    store.plans["j"] = RunPlan([now], now + timedelta(seconds=10), missed=missed)
    scheduler.tick()
    assert _summary(runs) == [
        ("job_missed", [missed[0]]),
        ("job_missed", [missed[1]]),
        ("job_submitted", [now]),
        ("job_executed", [now]),
    ]


def test_a_plan_without_a_next_run_time_removes_the_job(
    scheduler: ManualScheduler, clock: ManualClock, store: PlanningStore
) -> None:
    """A plan that ends the job's schedule removes the job after its last run."""
    scheduler.start()
    _add_due_job(scheduler, clock)
    store.plans["j"] = RunPlan([clock.now()], None)
    scheduler.tick()
    assert scheduler.get_job("j") is None


def test_a_plan_refused_by_the_executor_goes_the_same_max_instances_path(
    scheduler: ManualScheduler, clock: ManualClock, store: PlanningStore, runs: EventRecorder
) -> None:
    """Planned runs the executor refuses (max_instances) are reported like refused plans."""
    scheduler.add_executor(HoldingExecutor(), "deferred")
    scheduler.start()
    _add_due_job(scheduler, clock, executor="deferred", max_instances=1)
    first = clock.now()
    store.plans["j"] = RunPlan([first], first + timedelta(seconds=1))
    scheduler.tick()
    clock.advance(1)
    second = clock.now()
    store.plans["j"] = RunPlan([second], second + timedelta(seconds=1))
    scheduler.tick()
    assert _summary(runs) == [("job_submitted", [first]), ("job_max_instances", [second])]


def test_an_abandoned_run_is_reported_failed_once_per_run_time(
    scheduler: ManualScheduler, clock: ManualClock, store: PlanningStore, runs: EventRecorder
) -> None:
    """An orphaned run with an error ends in one error event per run time, with that error."""
    scheduler.start()
    times = [clock.now() - timedelta(seconds=20), clock.now() - timedelta(seconds=10)]
    error = JobAbandonedError("gone", "node-2", times)
    store.orphans.append(OrphanedRun("gone", "gone job", "default", times, error, None))
    scheduler.tick()
    assert _summary(runs) == [("job_error", [times[0]]), ("job_error", [times[1]])]
    assert all(event.exception is error for event in runs.events)
    assert {event.job_name for event in runs.events} == {"gone job"}


def test_an_orphaned_run_to_recover_is_submitted_like_a_due_run(
    scheduler: ManualScheduler, clock: ManualClock, store: PlanningStore, runs: EventRecorder
) -> None:
    """An orphaned run that carries its job runs again through the executor."""
    job = scheduler.add_job(record, "interval", hours=1, id="again", jobstore="planned")
    scheduler.start()
    run_time = clock.now() - timedelta(seconds=30)
    store.orphans.append(OrphanedRun(job.id, job.name, job.executor, [run_time], None, job))
    scheduler.tick()
    assert _summary(runs) == [("job_submitted", [run_time]), ("job_executed", [run_time])]


def test_orphaned_runs_are_taken_once(
    scheduler: ManualScheduler, clock: ManualClock, store: PlanningStore, runs: EventRecorder
) -> None:
    """The engine acts on an orphaned run on the tick that takes it, not again."""
    scheduler.start()
    times = [clock.now()]
    error = JobAbandonedError("gone", "node-2", times)
    store.orphans.append(OrphanedRun("gone", None, None, times, error, None))
    scheduler.tick()
    scheduler.tick()
    assert runs.names == ["job_error"]
