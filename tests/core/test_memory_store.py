"""The memory store's due-job index: leases taken for a tick are given back or replaced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import core_jobs

from obssched.jobstores.memory import MemoryJobStore
from obssched.testing import ManualScheduler

START = datetime(2024, 1, 1, tzinfo=UTC)


def make_store() -> tuple[MemoryJobStore, ManualScheduler]:
    sched = ManualScheduler(timezone="UTC", metrics=False, tracing=False)
    store = MemoryJobStore()
    sched.add_jobstore(store, "mem")
    sched.start()
    for index in range(3):
        sched.add_job(
            core_jobs.record,
            "date",
            run_date=START + timedelta(seconds=index),
            id=f"j{index}",
            jobstore="mem",
        )
    return store, sched


def test_acquired_jobs_that_are_released_untouched_stay_due() -> None:
    """A due job acquired and released without a new run time is due again afterwards."""
    store, _ = make_store()
    acquired = store.acquire_due_jobs(START + timedelta(seconds=1))
    assert [job.id for job in acquired] == ["j0", "j1"]
    store.release_jobs(acquired)
    assert [job.id for job in store.get_due_jobs(START + timedelta(seconds=1))] == ["j0", "j1"]


def test_acquired_job_rescheduled_is_not_restored_at_its_old_time() -> None:
    """An acquired job updated with a new run time is due only at the new time."""
    store, _ = make_store()
    acquired = store.acquire_due_jobs(START + timedelta(seconds=1))
    job = acquired[0]
    job.next_run_time = START + timedelta(hours=1)
    store.update_job(job)
    store.release_jobs(acquired)
    assert [j.id for j in store.get_due_jobs(START + timedelta(seconds=2))] == ["j1", "j2"]
    assert store.get_next_run_time() == START + timedelta(seconds=1)


def test_acquired_job_removed_is_gone() -> None:
    """An acquired job removed before release is not restored."""
    store, _ = make_store()
    acquired = store.acquire_due_jobs(START)
    store.remove_job("j0")
    store.release_jobs(acquired)
    assert store.lookup_job("j0") is None
    assert store.get_next_run_time() == START + timedelta(seconds=1)


def test_counts_follow_pauses_and_removals() -> None:
    """count_jobs reports scheduled and paused jobs without listing them."""
    store, sched = make_store()
    sched.pause_job("j1", "mem")
    sched.remove_job("j2", "mem")
    assert store.count_jobs() == (1, 1)


def test_heap_stays_bounded_under_repeated_updates() -> None:
    """Rescheduling a job many times does not grow the index without bound."""
    store, _ = make_store()
    job = store.lookup_job("j0")
    assert job is not None
    for step in range(1000):
        job.next_run_time = START + timedelta(minutes=step)
        store.update_job(job)
    assert len(store._heap) <= 2 * 3 + 64
