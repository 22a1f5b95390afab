"""A job changed by another writer while a scheduling step holds it: the other writer wins.

A step reads its due jobs, runs them and saves them when it releases them. ``obssched jobs``
(or any other process) may change a job between the read and the save; that change is the
newer one. The step's save is a compare-and-set against the row as it read it, so it is dropped
and the next step reads the job from the row as the other writer left it.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, event, update

from obssched.events import EVENT_JOB_EXECUTED
from obssched.jobstores._sql.admin import StoreAdmin
from obssched.jobstores._sql.aps3_table import define_aps3_table, to_timestamp
from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.testing import EventRecorder, ManualClock, ManualScheduler

FUNC = "jobstores.jobfuncs:record"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
LATER = T0 + timedelta(seconds=5)
LOGGER = "obssched.jobstores"

Action = Callable[[StoreAdmin], Any]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> SQLAlchemyJobStore:
    """A fresh SQL store (an SQLite file, or a PostgreSQL schema), not started."""
    if request.param == "sqlite":
        return SQLAlchemyJobStore(url=f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    url: str = request.getfixturevalue("postgres_url")
    return SQLAlchemyJobStore(url=url, tableschema=request.getfixturevalue("pg_schema"))


@pytest.fixture
def clock() -> ManualClock:
    """A manual clock at T0."""
    return ManualClock(T0.isoformat())


@pytest.fixture
def scheduler(store: SQLAlchemyJobStore, clock: ManualClock) -> Iterator[ManualScheduler]:
    """A started manual scheduler on ``store``."""
    sched = ManualScheduler(clock=clock, metrics=False, tracing=False, timezone="UTC")
    sched.add_jobstore(store)
    sched.start()
    yield sched
    if sched.running:
        sched.shutdown()


@pytest.fixture
def admin(store: SQLAlchemyJobStore, scheduler: ManualScheduler) -> StoreAdmin:
    """An administrator of the store's tables, as ``obssched jobs`` opens them."""
    opened = StoreAdmin(store.engine, store.tables)
    opened.prepare()
    return opened


@pytest.fixture
def runs(scheduler: ManualScheduler) -> EventRecorder:
    """Records the runs that ended."""
    return EventRecorder(scheduler, EVENT_JOB_EXECUTED)


def during_step(scheduler: ManualScheduler, change: Callable[[], Any]) -> None:
    """Call ``change`` once, mid-step: after the first run ends, before the step saves its jobs.

    On the bus itself, as obssched's own listeners are (a user's listener gets the step's
    events after the save).
    """
    done: list[bool] = []

    def listener(_event: Any) -> None:
        if not done:
            done.append(True)
            change()

    scheduler.context.events.add(listener, EVENT_JOB_EXECUTED)


def stored_next_run_time(admin: StoreAdmin, job_id: str) -> datetime | None:
    """The next run time in the job's row."""
    job = admin.get_job(job_id)
    assert job is not None
    return job.next_run_time


@contextmanager
def saves_failing(store: SQLAlchemyJobStore) -> Iterator[None]:
    """Make every UPDATE of the jobs table fail (as in an outage) while inside."""
    dbapi = store.engine.dialect.loaded_dbapi

    def refuse(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE") and "obssched_jobs " in statement:
            raise dbapi.ProgrammingError("the database refuses the save")

    event.listen(store.engine, "before_cursor_execute", refuse)
    try:
        yield
    finally:
        event.remove(store.engine, "before_cursor_execute", refuse)


ADMIN_CHANGES: list[Any] = [
    pytest.param(lambda admin: admin.pause("j"), None, id="pause"),
    pytest.param(lambda admin: admin.run_now("j", LATER), LATER, id="run-now"),
    pytest.param(
        lambda admin: admin.resume("j", T0 + timedelta(seconds=25)),
        T0 + timedelta(seconds=30),
        id="resume",
    ),
]


@pytest.mark.parametrize(("change", "expected"), ADMIN_CHANGES)
def test_an_admin_change_made_while_a_step_holds_the_job_stands(
    scheduler: ManualScheduler,
    admin: StoreAdmin,
    clock: ManualClock,
    change: Action,
    expected: datetime | None,
) -> None:
    """The row keeps the admin's next run time, not the one the step worked out."""
    scheduler.add_job(FUNC, "interval", seconds=10, start_date=T0, id="j")
    during_step(scheduler, lambda: change(admin))
    scheduler.tick()
    assert stored_next_run_time(admin, "j") == expected


def test_a_job_paused_while_held_stays_paused(
    scheduler: ManualScheduler, admin: StoreAdmin, clock: ManualClock, runs: EventRecorder
) -> None:
    """No later step runs the job, and the scheduler reads it as paused."""
    scheduler.add_job(FUNC, "interval", seconds=10, start_date=T0, id="j")
    during_step(scheduler, lambda: admin.pause("j"))
    scheduler.tick()
    clock.advance(60)
    scheduler.tick()
    job = scheduler.get_job("j")
    assert job is not None
    assert (len(runs.events), job.next_run_time) == (1, None)


def test_a_run_now_made_while_held_runs_at_the_next_step(
    scheduler: ManualScheduler, admin: StoreAdmin, clock: ManualClock, runs: EventRecorder
) -> None:
    """The job runs again at the admin's time, without waiting for its interval."""
    scheduler.add_job(FUNC, "interval", minutes=10, start_date=T0, id="j")
    during_step(scheduler, lambda: admin.run_now("j", LATER))
    scheduler.tick()
    clock.set(LATER)
    scheduler.tick()
    assert [event.scheduled_run_time for event in runs.events] == [T0, LATER]


def test_a_job_resumed_while_held_runs_at_the_resumed_time(
    scheduler: ManualScheduler, admin: StoreAdmin, clock: ManualClock, runs: EventRecorder
) -> None:
    """The next run is the resume's, not the one the step worked out before it."""
    scheduler.add_job(FUNC, "interval", seconds=10, start_date=T0, id="j")
    during_step(scheduler, lambda: admin.resume("j", T0 + timedelta(seconds=25)))
    scheduler.tick()
    clock.set(T0 + timedelta(seconds=10))
    scheduler.tick()
    clock.set(T0 + timedelta(seconds=30))
    scheduler.tick()
    assert [event.scheduled_run_time for event in runs.events] == [
        T0,
        T0 + timedelta(seconds=30),
    ]


def test_a_run_now_of_a_finished_job_is_not_removed_by_the_step(
    scheduler: ManualScheduler, admin: StoreAdmin, clock: ManualClock, runs: EventRecorder
) -> None:
    """A date job's last run would remove it; a run-now made meanwhile keeps it, and it runs
    once more before it is removed."""
    scheduler.add_job(FUNC, "date", run_date=T0, id="j")
    during_step(scheduler, lambda: admin.run_now("j", LATER))
    scheduler.tick()
    assert stored_next_run_time(admin, "j") == LATER
    clock.set(LATER)
    scheduler.tick()
    assert [event.scheduled_run_time for event in runs.events] == [T0, LATER]
    assert admin.get_job("j") is None


def test_an_admin_removal_while_held_stands(
    scheduler: ManualScheduler, admin: StoreAdmin, clock: ManualClock
) -> None:
    """The step's save does not bring back a job removed meanwhile."""
    scheduler.add_job(FUNC, "interval", seconds=10, start_date=T0, id="j")
    during_step(scheduler, lambda: admin.remove("j"))
    scheduler.tick()
    assert (admin.get_job("j"), scheduler.get_jobs()) == (None, [])


def test_a_dropped_save_is_logged_naming_the_job(
    scheduler: ManualScheduler, admin: StoreAdmin, caplog: pytest.LogCaptureFixture
) -> None:
    """One INFO record names the job whose save gave way to the other writer."""
    scheduler.add_job(FUNC, "interval", seconds=10, start_date=T0, id="nightly-report")
    during_step(scheduler, lambda: admin.pause("nightly-report"))
    with caplog.at_level(logging.INFO, logger=LOGGER):
        scheduler.tick()
    dropped = [record for record in caplog.records if "save was dropped" in record.getMessage()]
    assert [(record.levelno, record.args) for record in dropped] == [
        (logging.INFO, ("nightly-report", "default"))
    ]


def test_an_ordinary_step_saves_its_jobs(
    scheduler: ManualScheduler,
    admin: StoreAdmin,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With nobody else writing, every job's next run time lands and nothing is dropped."""
    for job_id in ("a", "b", "c"):
        scheduler.add_job(FUNC, "interval", seconds=10, start_date=T0, id=job_id)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        scheduler.tick()
    assert [stored_next_run_time(admin, job_id) for job_id in ("a", "b", "c")] == [
        T0 + timedelta(seconds=10)
    ] * 3
    assert not [record for record in caplog.records if "dropped" in record.getMessage()]


def test_only_the_changed_job_of_a_step_gives_way(
    scheduler: ManualScheduler, admin: StoreAdmin
) -> None:
    """The other jobs saved by the same step land; the paused one stays paused."""
    for job_id in ("a", "j", "z"):
        scheduler.add_job(FUNC, "interval", seconds=10, start_date=T0, id=job_id)
    during_step(scheduler, lambda: admin.pause("j"))
    scheduler.tick()
    assert [stored_next_run_time(admin, job_id) for job_id in ("a", "j", "z")] == [
        T0 + timedelta(seconds=10),
        None,
        T0 + timedelta(seconds=10),
    ]


def test_a_job_the_scheduler_modifies_after_its_save_mid_step_keeps_the_change(
    scheduler: ManualScheduler, admin: StoreAdmin
) -> None:
    """Reading the store mid-step writes the step's saves so far; the scheduler's own change of
    a job saved that way is compared with that write, and lands."""
    scheduler.add_job(FUNC, "interval", seconds=10, start_date=T0, id="a")
    scheduler.add_job(FUNC, "interval", seconds=10, start_date=T0, id="b")
    runs_seen: list[str] = []

    def on_run(event: Any) -> None:
        runs_seen.append(event.job_id)
        if event.job_id == "b":  # "a" was processed and its save queued
            scheduler.modify_job("a", name="renamed")

    scheduler.context.events.add(on_run, EVENT_JOB_EXECUTED)
    scheduler.tick()
    job = admin.get_job("a")
    assert runs_seen == ["a", "b"]
    assert job is not None
    assert (job.name, job.next_run_time) == ("renamed", T0 + timedelta(seconds=10))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda scheduler: scheduler.modify_job("j", name="new"), id="modify_job"),
        pytest.param(
            lambda scheduler: scheduler.add_job(
                FUNC, "interval", seconds=10, id="j", name="new", replace_existing=True
            ),
            id="add_job-replace_existing",
        ),
    ],
)
def test_the_schedulers_own_change_between_steps_is_kept_by_the_next_save(
    scheduler: ManualScheduler,
    admin: StoreAdmin,
    clock: ManualClock,
    change: Callable[[ManualScheduler], Any],
) -> None:
    """A change made through the scheduler's API is the row the next step reads, so that
    step's save lands with it."""
    scheduler.add_job(FUNC, "interval", seconds=10, start_date=T0, id="j")
    scheduler.tick()
    change(scheduler)
    clock.set(T0 + timedelta(seconds=10))
    scheduler.tick()
    job = admin.get_job("j")
    assert job is not None
    assert (job.name, job.next_run_time) == ("new", T0 + timedelta(seconds=20))


def test_a_job_the_scheduler_pauses_between_steps_stays_paused(
    scheduler: ManualScheduler, clock: ManualClock, runs: EventRecorder
) -> None:
    """pause_job after a step writes the row directly; later steps do not run the job."""
    scheduler.add_job(FUNC, "interval", seconds=10, start_date=T0, id="j")
    scheduler.tick()
    scheduler.pause_job("j")
    clock.advance(60)
    scheduler.tick()
    assert len(runs.events) == 1


def test_a_failed_save_retried_after_an_admin_change_gives_way(
    scheduler: ManualScheduler, store: SQLAlchemyJobStore, admin: StoreAdmin
) -> None:
    """A save queued by an outage is older than a pause made before the retry: the pause
    stands and the job is not due again."""
    scheduler.add_job(FUNC, "interval", seconds=10, start_date=T0, id="j")
    [job] = store.acquire_due_jobs(LATER)
    job.next_run_time = T0 + timedelta(seconds=10)
    store.update_job(job)
    with saves_failing(store):
        store.release_jobs([job])
    admin.pause("j")
    assert store.acquire_due_jobs(T0 + timedelta(minutes=5)) == []
    store.release_jobs([])
    assert stored_next_run_time(admin, "j") is None


def test_a_failed_save_lands_at_its_retry_when_nobody_changed_the_job(
    scheduler: ManualScheduler, store: SQLAlchemyJobStore, admin: StoreAdmin
) -> None:
    """The queued save is written before the store is read again."""
    scheduler.add_job(FUNC, "interval", seconds=10, start_date=T0, id="j")
    [job] = store.acquire_due_jobs(LATER)
    job.next_run_time = T0 + timedelta(seconds=10)
    store.update_job(job)
    with saves_failing(store):
        store.release_jobs([job])
    assert stored_next_run_time(admin, "j") == T0
    assert store.acquire_due_jobs(LATER) == []
    store.release_jobs([])
    assert stored_next_run_time(admin, "j") == T0 + timedelta(seconds=10)


def test_a_row_rewritten_by_apscheduler3_while_held_stands(tmp_path: Path) -> None:
    """On APScheduler 3's table kept in place the save compares its own columns too."""
    store = SQLAlchemyJobStore(
        url=f"sqlite:///{tmp_path / 'jobs.sqlite'}",
        tablename="apscheduler_jobs",
        serializer="pickle",
    )
    sched = ManualScheduler(
        clock=ManualClock(T0.isoformat()), metrics=False, tracing=False, timezone="UTC"
    )
    sched.add_jobstore(store)
    sched.start()
    try:
        sched.add_job(FUNC, "interval", seconds=10, start_date=T0, id="j")
        [job] = store.acquire_due_jobs(LATER)
        table = define_aps3_table(MetaData(), "apscheduler_jobs", None)
        rewritten = T0 + timedelta(days=1)
        with store.engine.begin() as conn:
            state = pickle.loads(conn.execute(table.select()).one().job_state)
            state["next_run_time"] = rewritten
            conn.execute(
                update(table).values(
                    next_run_time=to_timestamp(rewritten), job_state=pickle.dumps(state)
                )
            )
        job.next_run_time = T0 + timedelta(seconds=10)
        store.update_job(job)
        store.release_jobs([job])
        found = sched.get_job("j")
        assert found is not None
        assert found.next_run_time == rewritten
    finally:
        sched.shutdown()
