"""What /metrics says about failures the scheduling loop caught: by stage, and a job whose
trigger raised."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from obssched.events import EVENT_JOB_EXECUTED
from obssched.jobstores.memory import MemoryJobStore
from obssched.testing import ManualClock, ManualScheduler
from obssched.triggers.base import BaseTrigger

from . import jobs

pytestmark = pytest.mark.faults

TRIGGER_ERROR = "obssched.exceptions.TriggerError"


class TriggerThatBreaks(BaseTrigger):
    """Fires 10 s after it is first asked, then raises."""

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is None:
            return now + timedelta(seconds=10)
        raise ValueError("no next fire time")


class DownStore(MemoryJobStore):
    """A memory store whose due-job query fails while ``down``."""

    down = False

    def acquire_due_jobs(self, now: datetime) -> Any:
        if self.down:
            raise ConnectionError("store unreachable")
        return super().acquire_due_jobs(now)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock("2024-01-01T00:00:00+00:00")


@pytest.fixture
def scheduler(clock: ManualClock, registry: CollectorRegistry) -> Iterator[ManualScheduler]:
    sched = ManualScheduler(
        clock=clock, timezone="UTC", metrics_registry=registry, tracing=False, name="s"
    )
    sched.start()
    yield sched
    sched.shutdown()


def stage_errors(registry: CollectorRegistry, stage: str) -> float | None:
    return registry.get_sample_value(
        "obssched_scheduler_errors_total", {"scheduler": "s", "stage": stage}
    )


def test_every_stage_is_exported_from_zero(
    scheduler: ManualScheduler, registry: CollectorRegistry
) -> None:
    """Each stage has its series at 0 before anything fails, so rates exist from the start."""
    values = {s: stage_errors(registry, s) for s in ("trigger", "store", "executor", "listener")}
    assert values == {"trigger": 0.0, "store": 0.0, "executor": 0.0, "listener": 0.0}


def test_a_raising_trigger_counts_as_a_trigger_failure_and_a_job_error(
    scheduler: ManualScheduler, clock: ManualClock, registry: CollectorRegistry
) -> None:
    """The failure is counted by stage and as an error of the job, by TriggerError."""
    scheduler.add_job(jobs.current_trace, TriggerThatBreaks(), name="report", id="r")
    clock.advance(10)
    scheduler.tick()
    errored = registry.get_sample_value(
        "obssched_job_errored_total",
        {
            "scheduler": "s",
            "job_name": "report",
            "executor": "default",
            "error_type": TRIGGER_ERROR,
        },
    )
    assert (stage_errors(registry, "trigger"), errored) == (1.0, 1.0)


def test_a_job_whose_trigger_raised_keeps_its_due_time_as_next_run(
    scheduler: ManualScheduler, clock: ManualClock, registry: CollectorRegistry
) -> None:
    """The paused job's next-run gauge stays at the run time that was due (overdue alerts
    see it), where a job paused by hand has none."""
    scheduler.add_job(jobs.current_trace, TriggerThatBreaks(), name="report", id="r")
    due = clock.advance(10)
    scheduler.tick()
    clock.advance(600)
    value = registry.get_sample_value(
        "obssched_job_next_run_timestamp_seconds", {"scheduler": "s", "job_name": "report"}
    )
    assert value == due.timestamp()


def test_a_broken_job_rescheduled_shows_its_new_next_run(
    scheduler: ManualScheduler, clock: ManualClock, registry: CollectorRegistry
) -> None:
    """Once the job runs from a working trigger again, the gauge follows its schedule."""
    scheduler.add_job(jobs.current_trace, TriggerThatBreaks(), name="report", id="r")
    clock.advance(10)
    scheduler.tick()
    scheduler.reschedule_job("r", trigger="interval", seconds=30)
    clock.advance(30)
    scheduler.tick()
    value = registry.get_sample_value(
        "obssched_job_next_run_timestamp_seconds", {"scheduler": "s", "job_name": "report"}
    )
    assert value == clock.now().timestamp() + 30


def test_a_failing_store_is_counted_per_attempt(
    scheduler: ManualScheduler, clock: ManualClock, registry: CollectorRegistry
) -> None:
    """Each failed attempt on a store counts once; the backoff spaces the attempts."""
    store = DownStore()
    scheduler.add_jobstore(store, "down")
    store.down = True
    for _ in range(3):  # at 0, 10 and 20 s (the heartbeat)
        clock.advance(scheduler.tick())
    assert stage_errors(registry, "store") == 2.0  # tried at 0 and 10 s; next at 30 s


def test_a_raising_listener_counts_as_a_listener_failure(
    scheduler: ManualScheduler, clock: ManualClock, registry: CollectorRegistry
) -> None:
    """The listener stage sums what every listener raised."""

    def broken(event: object) -> None:
        raise RuntimeError("listener bug")

    scheduler.add_listener(broken, EVENT_JOB_EXECUTED)
    scheduler.add_job(jobs.current_trace, "interval", seconds=10, name="report")
    clock.advance(10)
    scheduler.tick()
    assert stage_errors(registry, "listener") == 1.0
