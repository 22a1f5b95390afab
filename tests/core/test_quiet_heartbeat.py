"""A heartbeat that nothing rang for looks at no store while the last tick's quiet limit holds."""

from __future__ import annotations

from datetime import datetime

import core_jobs
import pytest

from obssched.jobstores.memory import MemoryJobStore
from obssched.testing import ManualClock, ManualScheduler


class CountingStore(MemoryJobStore):
    """A memory store that counts the loop's questions."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    def acquire_due_jobs(self, now: datetime) -> list:  # type: ignore[type-arg]
        self.asked += 1
        return super().acquire_due_jobs(now)

    def get_next_run_time(self) -> datetime | None:
        self.asked += 1
        return super().get_next_run_time()


class SharedStore(CountingStore):
    """A store other schedulers could write to."""

    changes_only_through_scheduler = False


@pytest.fixture
def store(scheduler: ManualScheduler) -> CountingStore:
    counting = CountingStore()
    scheduler.add_jobstore(counting, "counted")
    return counting


def test_a_quiet_heartbeat_records_the_wakeup_without_asking_the_stores(
    scheduler: ManualScheduler, clock: ManualClock, store: CountingStore
) -> None:
    """With the next run an hour away, a heartbeat notes its wakeup, asks no store and sleeps
    one heartbeat."""
    scheduler.add_job(core_jobs.record, "interval", hours=1, jobstore="counted")
    scheduler.start()
    scheduler.tick()
    asked = store.asked
    woke_at = clock.advance(10)
    assert scheduler._quiet_heartbeat() == scheduler.heartbeat_interval
    assert (store.asked, scheduler.last_wakeup_at) == (asked, woke_at)


def test_a_run_before_the_next_heartbeat_needs_a_tick(
    scheduler: ManualScheduler, clock: ManualClock, store: CountingStore
) -> None:
    """A heartbeat with a run due before the following one asks for a tick, to plan the wakeup
    at that run."""
    scheduler.add_job(core_jobs.record, "interval", seconds=15, jobstore="counted")
    scheduler.start()
    scheduler.tick()
    clock.advance(10)
    assert scheduler._quiet_heartbeat() is None


def test_a_job_added_later_than_the_planned_wakeup_ends_the_quiet_at_its_run(
    scheduler: ManualScheduler, clock: ManualClock, store: CountingStore
) -> None:
    """A job added without waking the loop (due after its planned wakeup) lowers the quiet
    limit to its run: the heartbeat before that run asks for a tick."""
    scheduler.add_job(core_jobs.record, "interval", hours=1, jobstore="counted")
    scheduler.start()
    scheduler.tick()
    wakeups = scheduler.wakeups
    scheduler.add_job(core_jobs.record, "interval", seconds=15, jobstore="counted")
    assert scheduler.wakeups == wakeups
    clock.advance(10)
    assert scheduler._quiet_heartbeat() is None


@pytest.mark.parametrize("case", ["shared store", "paused"])
def test_no_quiet_heartbeat_where_the_loop_cannot_know_what_is_due(
    scheduler: ManualScheduler, clock: ManualClock, case: str
) -> None:
    """A store others may write to, or a paused scheduler, gets a tick on every heartbeat."""
    if case == "shared store":
        scheduler.add_jobstore(SharedStore(), "shared")
    scheduler.add_job(core_jobs.record, "interval", hours=1)
    scheduler.start(paused=case == "paused")
    scheduler.tick()
    clock.advance(10)
    assert scheduler._quiet_heartbeat() is None
