"""The job store contract: every store (memory, SQLite, PostgreSQL) behaves the same."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from obssched.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from obssched.exceptions import ConflictingIdError, JobLookupError
from obssched.job import Job
from obssched.jobstores.base import BaseJobStore
from obssched.testing import EventRecorder, ManualClock, ManualScheduler

T0 = datetime(2024, 1, 1, tzinfo=UTC)
FUNC = "jobstores.jobfuncs:record"


def make_job(
    scheduler: ManualScheduler,
    job_id: str,
    next_run_time: datetime | None,
    **options: Any,
) -> Job:
    """A job with an hourly interval trigger and the given next run time."""
    trigger = scheduler._create_trigger("interval", {"hours": 1, "start_date": T0})
    options.setdefault("func", FUNC)
    options.setdefault("args", ())
    options.setdefault("kwargs", {})
    return Job(
        scheduler,
        id=job_id,
        trigger=trigger,
        executor="default",
        misfire_grace_time=options.pop("misfire_grace_time", 1),
        coalesce=options.pop("coalesce", False),
        max_instances=1,
        next_run_time=next_run_time,
        **options,
    )


def test_lookup_returns_the_added_job(scheduler: ManualScheduler, store: BaseJobStore) -> None:
    """A stored job comes back with every attribute it was stored with."""
    args = (1, "two", [3.0], None, True)
    kwargs = {"when": T0, "day": date(2024, 2, 29), "amount": Decimal("1.10")}
    kwargs["uid"] = UUID(int=7)
    kwargs["span"] = timedelta(seconds=90)
    kwargs["pair"] = (1, 2)
    kwargs["blob"] = b"\x00\xff"
    job = make_job(scheduler, "a", T0, args=args, kwargs=kwargs, name="named")
    store.add_job(job)
    found = store.lookup_job("a")
    assert found is not None
    assert (found.id, found.name, found.func_ref, found.args, found.kwargs) == (
        "a",
        "named",
        FUNC,
        args,
        kwargs,
    )
    assert (found.next_run_time, found.misfire_grace_time, found.max_instances) == (T0, 1, 1)
    assert found.trigger.get_next_fire_time(T0, T0) == T0 + timedelta(hours=1)


def test_lookup_of_a_missing_job_returns_none(
    scheduler: ManualScheduler, store: BaseJobStore
) -> None:
    """Looking up an unknown id gives None."""
    assert store.lookup_job("nope") is None


def test_adding_a_taken_id_conflicts(scheduler: ManualScheduler, store: BaseJobStore) -> None:
    """A second job with the same id is refused."""
    store.add_job(make_job(scheduler, "a", T0))
    with pytest.raises(ConflictingIdError):
        store.add_job(make_job(scheduler, "a", T0))


def test_update_replaces_the_stored_job(scheduler: ManualScheduler, store: BaseJobStore) -> None:
    """An updated job is what a later lookup returns."""
    job = make_job(scheduler, "a", T0)
    store.add_job(job)
    job._modify(next_run_time=T0 + timedelta(hours=2), name="renamed")
    store.update_job(job)
    found = store.lookup_job("a")
    assert found is not None
    assert (found.name, found.next_run_time) == ("renamed", T0 + timedelta(hours=2))


def test_updating_a_missing_job_fails(scheduler: ManualScheduler, store: BaseJobStore) -> None:
    """Updating an id that is not stored raises JobLookupError."""
    with pytest.raises(JobLookupError):
        store.update_job(make_job(scheduler, "ghost", T0))


def test_remove_deletes_the_job(scheduler: ManualScheduler, store: BaseJobStore) -> None:
    """A removed job is gone, and removing it again fails."""
    store.add_job(make_job(scheduler, "a", T0))
    store.remove_job("a")
    assert store.lookup_job("a") is None
    with pytest.raises(JobLookupError):
        store.remove_job("a")


def test_remove_all_empties_the_store(scheduler: ManualScheduler, store: BaseJobStore) -> None:
    """After remove_all_jobs nothing is stored."""
    store.add_job(make_job(scheduler, "a", T0))
    store.add_job(make_job(scheduler, "b", None))
    store.remove_all_jobs()
    assert (store.get_all_jobs(), store.count_jobs()) == ([], (0, 0))


def test_due_jobs_are_earliest_first(scheduler: ManualScheduler, store: BaseJobStore) -> None:
    """Due jobs come earliest first; future and paused jobs are left out."""
    store.add_job(make_job(scheduler, "late", T0 + timedelta(minutes=5)))
    store.add_job(make_job(scheduler, "early", T0))
    store.add_job(make_job(scheduler, "future", T0 + timedelta(hours=1)))
    store.add_job(make_job(scheduler, "paused", None))
    due = store.get_due_jobs(T0 + timedelta(minutes=5))
    assert [job.id for job in due] == ["early", "late"]


def test_next_run_time_is_the_earliest(scheduler: ManualScheduler, store: BaseJobStore) -> None:
    """The next run time is the earliest of the scheduled jobs; paused ones do not count."""
    assert store.get_next_run_time() is None
    store.add_job(make_job(scheduler, "paused", None))
    assert store.get_next_run_time() is None
    store.add_job(make_job(scheduler, "b", T0 + timedelta(minutes=3)))
    store.add_job(make_job(scheduler, "a", T0 + timedelta(minutes=1, microseconds=7)))
    assert store.get_next_run_time() == T0 + timedelta(minutes=1, microseconds=7)


def test_all_jobs_are_sorted_paused_last(scheduler: ManualScheduler, store: BaseJobStore) -> None:
    """get_all_jobs orders by next run time and puts paused jobs at the end."""
    store.add_job(make_job(scheduler, "paused", None))
    store.add_job(make_job(scheduler, "second", T0 + timedelta(minutes=2)))
    store.add_job(make_job(scheduler, "first", T0 + timedelta(minutes=1)))
    assert [job.id for job in store.get_all_jobs()] == ["first", "second", "paused"]


def test_count_jobs_splits_scheduled_and_paused(
    scheduler: ManualScheduler, store: BaseJobStore
) -> None:
    """count_jobs returns (scheduled, paused)."""
    store.add_job(make_job(scheduler, "a", T0))
    store.add_job(make_job(scheduler, "b", T0))
    store.add_job(make_job(scheduler, "c", None))
    assert store.count_jobs() == (2, 1)


def test_a_tick_saves_the_next_run_time(
    scheduler: ManualScheduler, store: BaseJobStore, clock: ManualClock, recorder: EventRecorder
) -> None:
    """After a tick runs a due job, the store holds the next run time the loop computed."""
    scheduler.add_job(FUNC, "interval", minutes=10, id="tick", args=["x"])
    clock.advance(timedelta(minutes=10))
    scheduler.tick()
    assert len(recorder.of(EVENT_JOB_EXECUTED)) == 1
    found = store.lookup_job("tick")
    assert found is not None
    assert found.next_run_time == T0 + timedelta(minutes=20)


def test_downtime_reports_each_missed_run(
    scheduler: ManualScheduler, store: BaseJobStore, clock: ManualClock, recorder: EventRecorder
) -> None:
    """Run times that passed unseen are each reported missed, and the schedule goes on."""
    scheduler.add_job(FUNC, "interval", minutes=1, id="m", misfire_grace_time=5, coalesce=False)
    clock.advance(timedelta(minutes=3, seconds=30))
    scheduler.tick()
    missed = recorder.of(EVENT_JOB_MISSED)
    assert [event.scheduled_run_time for event in missed] == [
        T0 + timedelta(minutes=n) for n in (1, 2, 3)
    ]
    found = store.lookup_job("m")
    assert found is not None
    assert found.next_run_time == T0 + timedelta(minutes=4)


def test_a_finished_job_is_removed_after_its_run(
    scheduler: ManualScheduler, store: BaseJobStore, clock: ManualClock, recorder: EventRecorder
) -> None:
    """A date job runs once and is then gone from the store."""
    scheduler.add_job(FUNC, "date", run_date=T0 + timedelta(seconds=5), id="once")
    clock.advance(5)
    scheduler.tick()
    assert len(recorder.of(EVENT_JOB_EXECUTED)) == 1
    assert store.lookup_job("once") is None
    assert store.count_jobs() == (0, 0)


def test_a_store_works_without_a_scheduler(store: BaseJobStore, clock: ManualClock) -> None:
    """Started with ``start(None, alias)``, a store stores, finds and removes jobs."""
    maker = ManualScheduler(clock=clock, metrics=False, tracing=False, timezone="UTC")
    store.start(None, "standalone")
    try:
        store.add_job(make_job(maker, "due", T0))
        store.add_job(make_job(maker, "later", T0 + timedelta(hours=1)))
        assert [job.id for job in store.get_due_jobs(T0)] == ["due"]
        assert store.get_next_run_time() == T0
        store.remove_job("due")
        assert [job.id for job in store.get_all_jobs()] == ["later"]
    finally:
        store.remove_all_jobs()
        store.shutdown()
