"""The memory store's due-job index: leases taken for a tick are given back or replaced."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import core_jobs

from obssched.job import Job
from obssched.jobstores.memory import MemoryJobStore
from obssched.testing import ManualScheduler

START = datetime(2024, 1, 1, tzinfo=UTC)


def store_with(run_dates: list[datetime]) -> tuple[MemoryJobStore, ManualScheduler]:
    """A started scheduler's memory store holding one date job (``j0``, ``j1``...) per date."""
    sched = ManualScheduler(timezone="UTC", metrics=False, tracing=False)
    store = MemoryJobStore()
    sched.add_jobstore(store, "mem")
    sched.start()
    for index, run_date in enumerate(run_dates):
        sched.add_job(core_jobs.record, "date", run_date=run_date, id=f"j{index}", jobstore="mem")
    return store, sched


def make_job_at(store: MemoryJobStore, job_id: str, run_time: datetime) -> Job:
    """A copy of ``j1`` of ``store`` under ``job_id``, due at ``run_time``."""
    template = store.lookup_job("j1")
    assert template is not None
    job = copy.copy(template)
    job.id = job_id
    job.next_run_time = run_time
    return job


def make_store() -> tuple[MemoryJobStore, ManualScheduler]:
    return store_with([START + timedelta(seconds=index) for index in range(3)])


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


def test_the_index_keys_by_run_time_again_once_no_run_time_outside_utc_is_left() -> None:
    """A run time outside UTC makes the index key by timestamps; once the job is rescheduled in
    UTC, the next compaction keys by run time again, and the order of due jobs holds."""
    store, _ = make_store()
    job = store.lookup_job("j0")
    assert job is not None
    job.next_run_time = START.astimezone(ZoneInfo("Europe/Paris"))
    store.update_job(job)
    assert store._keyed_by_time is False
    for step in range(200):
        job.next_run_time = START + timedelta(seconds=3, minutes=step)
        store.update_job(job)
    assert store._keyed_by_time is True
    assert [j.id for j in store.get_due_jobs(START + timedelta(hours=10))] == ["j1", "j2", "j0"]


def burst_store(due: int, later: int) -> tuple[MemoryJobStore, ManualScheduler]:
    """A store holding ``due`` jobs due at START and ``later`` jobs due an hour after it."""
    return store_with([START] * due + [START + timedelta(hours=1)] * later)


def drain(store: MemoryJobStore, now: datetime) -> list[list[str]]:
    """Acquire batches at ``now`` as a tick does, removing each job as its run is submitted."""
    batches = []
    while True:
        acquired = store.acquire_due_jobs(now)
        batches.append([job.id for job in acquired])
        for job in acquired:
            store.remove_job(job.id)
        store.release_jobs(acquired)
        if len(acquired) < store.due_batch_size:
            return batches


def test_a_burst_is_handed_out_in_batches_each_due_job_once() -> None:
    """When most of the store is due at once, every due job still comes out exactly once, in
    batches no larger than due_batch_size, and the jobs due later stay where they were."""
    store, _ = burst_store(due=5000, later=300)
    batches = drain(store, START)
    taken = [job_id for batch in batches for job_id in batch]
    assert sorted(taken) == sorted(f"j{index}" for index in range(5000))
    assert max(len(batch) for batch in batches) == store.due_batch_size
    assert store.count_jobs() == (300, 0)
    assert store.get_next_run_time() == START + timedelta(hours=1)
    assert store.get_due_jobs(START + timedelta(minutes=59)) == []


def test_a_burst_cut_short_leaves_the_untaken_jobs_due() -> None:
    """A tick that stops asking part-way through a burst loses nothing: the jobs it did not take
    are due at the next tick, and the next run time says so."""
    store, _ = burst_store(due=3000, later=10)
    taken = []
    for _ in range(2):  # the second batch is served from the burst's one-pass sort
        acquired = store.acquire_due_jobs(START)
        taken += [job.id for job in acquired]
        for job in acquired:
            store.remove_job(job.id)
        store.release_jobs(acquired)
    assert store.get_next_run_time() == START
    rest = drain(store, START + timedelta(seconds=1))
    assert sorted(taken + [job_id for batch in rest for job_id in batch]) == sorted(
        f"j{index}" for index in range(3000)
    )


def test_a_burst_serves_earlier_run_times_first() -> None:
    """Jobs overdue by different amounts come out of a burst earliest run time first."""
    store, _ = store_with([START + timedelta(seconds=index % 7) for index in range(2000)])
    batches = drain(store, START + timedelta(seconds=10))
    run_times = [index % 7 for batch in batches for index in (int(job_id[1:]) for job_id in batch)]
    assert len(run_times) == 2000
    assert run_times == sorted(run_times)


def test_a_store_without_a_batch_limit_hands_out_every_due_job_at_once() -> None:
    """A memory store whose due_batch_size is None (no limit) returns all due jobs in one call,
    and an empty one returns none."""
    unlimited = MemoryJobStore()
    unlimited.due_batch_size = None
    assert unlimited.acquire_due_jobs(START) == []
    store, _ = burst_store(due=600, later=1)
    store.due_batch_size = None
    assert len(store.acquire_due_jobs(START)) == 600


def test_a_job_saved_with_an_equal_new_run_time_is_due_once() -> None:
    """A job saved again with a new datetime equal to its old next run time is due once."""
    store, _ = make_store()
    job = store.lookup_job("j0")
    assert job is not None
    assert job.next_run_time is not None
    job.next_run_time = job.next_run_time + timedelta(0)  # equal, another object
    store.update_job(job)
    due = START + timedelta(seconds=1)
    assert [j.id for j in store.get_due_jobs(due)] == ["j0", "j1"]
    assert [j.id for j in store.acquire_due_jobs(due)] == ["j0", "j1"]


def test_a_job_whose_run_time_was_replaced_without_saving_is_not_due() -> None:
    """The heap holds a job only at the run time it was saved with, as the scheduler saves
    every change it makes."""
    store, _ = make_store()
    job = store.lookup_job("j0")
    assert job is not None
    job.next_run_time = START + timedelta(hours=1)
    assert [j.id for j in store.get_due_jobs(START + timedelta(seconds=1))] == ["j1"]
    assert store.get_next_run_time() == START + timedelta(seconds=1)


def test_jobs_in_different_zones_come_due_by_the_instant_they_name() -> None:
    """Run times in different zones, and the two readings of a repeated hour (``fold``), are
    due in the order of the instants they name, not of their wall-clock fields."""
    new_york = ZoneInfo("America/New_York")
    # Clocks went back at 02:00 EDT on 2024-11-03: 01:30 happened twice, an hour apart.
    first_0130 = datetime(2024, 11, 3, 1, 30, tzinfo=new_york)  # 05:30 UTC
    second_0130 = datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=new_york)  # 06:30 UTC
    tokyo_1500 = datetime(2024, 11, 3, 15, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # 06:00 UTC
    store, _ = store_with([second_0130, tokyo_1500, first_0130])
    due = store.get_due_jobs(datetime(2024, 11, 3, 7, 0, tzinfo=UTC))
    assert [job.id for job in due] == ["j2", "j1", "j0"]
    acquired = store.acquire_due_jobs(datetime(2024, 11, 3, 6, 15, tzinfo=UTC))
    assert [job.id for job in acquired] == ["j2", "j1"]


def test_a_run_time_west_of_utc_at_the_end_of_year_9999_is_stored_and_comes_last() -> None:
    """A run time whose instant lies past the last datetime in UTC is kept, and is the next
    run time only once nothing earlier is stored."""
    last = datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5)))
    store, _ = store_with([START, START])
    job = store.lookup_job("j0")
    assert job is not None
    job.next_run_time = last  # what a store's caller may save; triggers call it never
    store.update_job(job)
    assert store.get_next_run_time() == START
    store.remove_job("j1")
    assert store.get_next_run_time() == last
    assert store.acquire_due_jobs(datetime(9999, 12, 31, 23, 59, tzinfo=UTC)) == []


def test_a_run_time_east_of_utc_at_the_start_of_year_1_comes_first() -> None:
    """A run time whose instant lies before the first datetime in UTC is due before any other,
    not taken for the latest."""
    first = datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    store, _ = store_with([START, START])
    job = store.lookup_job("j1")
    assert job is not None
    job.next_run_time = first  # what a store's caller may save; triggers call it never
    store.update_job(job)
    assert store.get_next_run_time() == first
    assert [job.id for job in store.get_due_jobs(START - timedelta(days=1))] == ["j1"]


def test_a_run_time_outside_utc_among_utc_ones_comes_due_by_its_instant() -> None:
    """A run time in another zone stored after run times in UTC is due in the order of the
    instant it names, among them and among those stored after it."""
    berlin = ZoneInfo("Europe/Berlin")
    store, _ = store_with([START + timedelta(seconds=30), START + timedelta(seconds=10)])
    job = store.lookup_job("j0")
    assert job is not None
    job.next_run_time = datetime(2024, 1, 1, 1, 0, 20, tzinfo=berlin)  # 00:00:20 UTC
    store.update_job(job)
    store.add_job(make_job_at(store, "j2", START + timedelta(seconds=15)))
    assert store.get_next_run_time() == START + timedelta(seconds=10)
    due = store.get_due_jobs(START + timedelta(seconds=20))
    assert [job.id for job in due] == ["j1", "j2", "j0"]
    acquired = store.acquire_due_jobs(START + timedelta(seconds=16))
    assert [job.id for job in acquired] == ["j1", "j2"]


def test_a_run_time_outside_utc_saved_during_a_burst_leaves_every_due_job_due() -> None:
    """A job saved with a run time in another zone between two batches of a burst moves to its
    new time, and every other due job is still handed out once in that tick."""
    store, _ = store_with([START] * 100)
    store.due_batch_size = 10
    taken = [job.id for job in store.acquire_due_jobs(START)]
    taken += [job.id for job in store.acquire_due_jobs(START)]
    moved = store.lookup_job(taken[0])
    assert moved is not None
    moved.next_run_time = datetime(2024, 1, 1, 2, tzinfo=ZoneInfo("Europe/Berlin"))
    store.update_job(moved)
    while batch := store.acquire_due_jobs(START):
        taken += [job.id for job in batch]
    assert sorted(taken) == sorted(f"j{index}" for index in range(100))
    assert store.get_next_run_time() == moved.next_run_time
