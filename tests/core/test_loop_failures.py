"""A failure in any stage of the scheduling loop is reported, counted and retried, never fatal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import core_jobs
import pytest

from obssched.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MODIFIED
from obssched.exceptions import TriggerError
from obssched.executors.base import BaseExecutor
from obssched.jobstores.memory import MemoryJobStore
from obssched.testing import EventRecorder, InlineExecutor, ManualClock, ManualScheduler
from obssched.triggers.base import BaseTrigger

pytestmark = pytest.mark.faults

START = datetime(2024, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


class TriggerThatBreaks(BaseTrigger):
    """Fires 10 s after it is first asked, then raises."""

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is None:
            return now + timedelta(seconds=10)
        raise ValueError("no next fire time")

    def __str__(self) -> str:
        return "breaks"


class FlakyStore(MemoryJobStore):
    """A memory store whose named methods raise while ``down`` holds them."""

    def __init__(self) -> None:
        super().__init__()
        self.down: set[str] = set()

    def _check(self, method: str) -> None:
        if method in self.down:
            raise ConnectionError(f"{method}: store unreachable")

    def acquire_due_jobs(self, now: datetime) -> Any:
        self._check("acquire_due_jobs")
        return super().acquire_due_jobs(now)

    def get_next_run_time(self) -> datetime | None:
        self._check("get_next_run_time")
        return super().get_next_run_time()

    def update_job(self, job: Any) -> None:
        self._check("update_job")
        super().update_job(job)


class RefusingExecutor(InlineExecutor):
    """An executor whose submissions fail."""

    def submit_job(self, job: Any, run_times: list[datetime]) -> None:
        raise RuntimeError("executor broken")


@pytest.fixture
def store(scheduler: ManualScheduler) -> FlakyStore:
    flaky = FlakyStore()
    # A long heartbeat, so the waits returned are the store's retry times.
    scheduler.configure(heartbeat_interval=3600)
    scheduler.add_jobstore(flaky, "flaky")
    scheduler.start()
    return flaky


def test_a_raising_trigger_is_an_error_of_its_job(
    scheduler: ManualScheduler, clock: ManualClock, recorder: EventRecorder
) -> None:
    """A trigger that raises for a due job yields EVENT_JOB_ERROR for the due run time, with a
    TriggerError wrapping the trigger's exception, then the EVENT_JOB_MODIFIED of the pause."""
    scheduler.start()
    scheduler.add_job(core_jobs.record, TriggerThatBreaks(), id="broken")
    recorder.clear()
    clock.advance(10)
    scheduler.tick()
    assert recorder.codes == [EVENT_JOB_ERROR, EVENT_JOB_MODIFIED]
    error = recorder.events[0]
    assert (error.job_id, error.scheduled_run_time) == ("broken", at(10))
    assert isinstance(error.exception, TriggerError)
    assert isinstance(error.exception.__cause__, ValueError)


def test_a_trigger_error_names_the_job_and_the_trigger() -> None:
    """TriggerError's message names the job id, the trigger and the trigger's exception."""
    error = TriggerError("nightly", "cron[hour='2']", ValueError("bad day"))
    assert str(error) == (
        "The trigger cron[hour='2'] of job 'nightly' raised ValueError: bad day; "
        "the job is paused until it is rescheduled"
    )


def test_a_job_whose_trigger_raised_is_paused_and_counted(
    scheduler: ManualScheduler, clock: ManualClock
) -> None:
    """The job is paused (the loop does not spin on it) and counted as a trigger failure."""
    scheduler.start()
    scheduler.add_job(core_jobs.record, TriggerThatBreaks(), id="broken")
    clock.advance(10)
    scheduler.tick()
    job = scheduler.get_job("broken")
    assert job is not None
    assert job.next_run_time is None
    assert scheduler.context.stage_errors.counts() == {"trigger": 1, "store": 0, "executor": 0}


@pytest.mark.parametrize("method", ["acquire_due_jobs", "get_next_run_time"])
def test_a_failing_store_is_retried_with_capped_exponential_backoff(
    scheduler: ManualScheduler, store: FlakyStore, clock: ManualClock, method: str
) -> None:
    """Each failure in a row doubles the wait from jobstore_retry_interval (10 s) up to 60 s."""
    store.down.add(method)
    waits = []
    for _ in range(5):
        waits.append(scheduler.tick())
        clock.advance(waits[-1])
    assert waits == pytest.approx([10, 20, 40, 60, 60])
    assert scheduler.context.stage_errors.counts()["store"] == 5


def test_a_store_backing_off_is_not_asked_before_its_retry_time(
    scheduler: ManualScheduler, store: FlakyStore, clock: ManualClock
) -> None:
    """A tick before the retry time (another store's job woke the loop) leaves it alone."""
    store.down.add("acquire_due_jobs")
    scheduler.tick()
    clock.advance(5)
    scheduler.tick()
    assert scheduler.context.stage_errors.counts()["store"] == 1


def test_a_store_that_answers_again_is_retried_soon_on_its_next_failure(
    scheduler: ManualScheduler, store: FlakyStore, clock: ManualClock
) -> None:
    """One success resets the backoff: the next failure waits jobstore_retry_interval again."""
    store.down.add("acquire_due_jobs")
    clock.advance(scheduler.tick())
    clock.advance(scheduler.tick())
    store.down.clear()
    scheduler.tick()
    store.down.add("acquire_due_jobs")
    assert scheduler.tick() == pytest.approx(10)


def test_a_store_that_cannot_save_a_job_keeps_it_due_until_it_recovers(
    scheduler: ManualScheduler, store: FlakyStore, clock: ManualClock
) -> None:
    """A failed save is a store failure, not a broken job: the job is not paused, and runs
    again once the store answers (at least once)."""
    recorder = EventRecorder(scheduler, EVENT_JOB_EXECUTED | EVENT_JOB_MODIFIED)
    scheduler.add_job(core_jobs.record, "interval", seconds=10, id="j", jobstore="flaky")
    clock.advance(10)
    store.down.add("update_job")
    assert scheduler.tick() == pytest.approx(10)
    store.down.clear()
    clock.advance(10)
    scheduler.tick()
    assert [e.code for e in recorder.events] == [EVENT_JOB_EXECUTED] * 2
    assert scheduler.context.stage_errors.counts()["store"] == 1


def test_a_failed_submission_is_counted_and_the_job_keeps_its_schedule(
    scheduler: ManualScheduler, clock: ManualClock, recorder: EventRecorder
) -> None:
    """An executor whose submission raises loses that run, as APScheduler 3 does; the job is
    not paused, and the failure is counted as an executor failure."""
    scheduler.add_executor(RefusingExecutor(), "refusing")
    scheduler.start()
    scheduler.add_job(core_jobs.record, "interval", seconds=10, id="j", executor="refusing")
    clock.advance(10)
    scheduler.tick()
    job = scheduler.get_job("j")
    assert job is not None
    assert job.next_run_time == at(20)
    assert scheduler.context.stage_errors.counts()["executor"] == 1


def test_a_job_whose_executor_is_missing_is_counted_as_an_executor_failure(
    scheduler: ManualScheduler, clock: ManualClock
) -> None:
    """A due job naming an executor that does not exist is paused and counted."""
    executor: BaseExecutor = InlineExecutor()
    scheduler.add_executor(executor, "gone")
    scheduler.start()
    scheduler.add_job(core_jobs.record, "interval", seconds=10, id="j", executor="gone")
    scheduler.remove_executor("gone")
    clock.advance(10)
    scheduler.tick()
    assert scheduler.context.stage_errors.counts()["executor"] == 1
