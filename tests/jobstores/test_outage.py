"""A database that goes away mid-run and comes back: the scheduler keeps going and loses nothing.

An outage is a lock another session holds on the jobs table (the store's statements time out
quickly, are retried with backoff and counted), or the server killing the store's connections.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select, text

from obssched.events import EVENT_JOB_EXECUTED, EVENT_JOB_MAX_INSTANCES
from obssched.jobstores._sql.codec import micros_to_datetime
from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.testing import EventRecorder, ManualClock, ManualScheduler

pytestmark = [pytest.mark.realtime, pytest.mark.faults]  # the store's retries wait in real time

T0 = datetime(2024, 1, 1, tzinfo=UTC)
FUNC = "jobstores.jobfuncs:noop"
APP = "obssched-outage-test"

Outage = Callable[[], AbstractContextManager[None]]


@contextmanager
def sqlite_locked(path: Path) -> Iterator[None]:
    """Hold SQLite's write lock from another connection."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        conn.execute("COMMIT")
        conn.close()


@contextmanager
def postgres_locked(url: str, schema: str) -> Iterator[None]:
    """Hold an ACCESS EXCLUSIVE lock on the jobs table from another session."""
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as conn:
        conn.execute(f'LOCK TABLE "{schema}".obssched_jobs IN ACCESS EXCLUSIVE MODE')
        try:
            yield
        finally:
            conn.rollback()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def store_and_outage(
    request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[SQLAlchemyJobStore, Outage]:
    """A store whose statements give up waiting for a lock after 50 ms, and how to lock it out."""
    if request.param == "sqlite":
        path = tmp_path / "jobs.sqlite"
        store = SQLAlchemyJobStore(
            url=f"sqlite:///{path}", engine_options={"connect_args": {"timeout": 0.05}}
        )
        return store, lambda: sqlite_locked(path)
    url: str = request.getfixturevalue("postgres_url")
    schema: str = request.getfixturevalue("pg_schema")
    options = {"connect_args": {"options": "-c lock_timeout=50", "application_name": APP}}
    store = SQLAlchemyJobStore(url=url, tableschema=schema, engine_options=options)
    return store, lambda: postgres_locked(url, schema)


@pytest.fixture
def sched(
    store_and_outage: tuple[SQLAlchemyJobStore, Outage], clock: ManualClock
) -> Iterator[ManualScheduler]:
    """A manual scheduler on the store, at T0."""
    clock.set(T0)
    scheduler = ManualScheduler(clock=clock, metrics=False, tracing=False, timezone="UTC")
    scheduler.add_jobstore(store_and_outage[0])
    scheduler.start()
    yield scheduler
    if scheduler.running:
        scheduler.shutdown()


def stored_next_run_time(store: SQLAlchemyJobStore, job_id: str) -> datetime:
    """The next run time saved in the table (not through the store's pending writes)."""
    jobs = store.tables.jobs
    with store.engine.connect() as conn:
        micros = conn.execute(select(jobs.c.next_run_time).where(jobs.c.id == job_id)).scalar()
    moment = micros_to_datetime(micros)
    assert moment is not None
    return moment


def test_an_outage_mid_step_runs_nothing_twice_and_loses_nothing(
    sched: ManualScheduler,
    store_and_outage: tuple[SQLAlchemyJobStore, Outage],
    clock: ManualClock,
) -> None:
    """The save after a run fails; the next steps wait for it, then every run time runs once."""
    store, outage = store_and_outage
    recorder = EventRecorder(sched, EVENT_JOB_EXECUTED)
    sched.add_job(FUNC, "interval", seconds=10, id="tick", misfire_grace_time=None)
    lock: list[AbstractContextManager[None]] = []

    def go_away(event: Any) -> None:
        if not lock:
            lock.append(outage())
            lock[0].__enter__()

    # On the bus itself, as obssched's own listeners are: called mid-tick, between the run and
    # the save (a user's listener gets the tick's events after it).
    sched.context.events.add(go_away, EVENT_JOB_EXECUTED)
    clock.advance(10)
    try:
        sched.tick()  # runs T0+10s, then cannot save the job's next run time
        assert store.error_count > 0
        errors = store.error_count
        sched.tick()  # still down: the step retries the save, gives up, runs nothing
        assert store.error_count > errors
    finally:
        lock[0].__exit__(None, None, None)
    sched.remove_listener(go_away)
    assert len(recorder.events) == 1

    sched.tick()  # back: the save is written first, so T0+10s is not due again
    assert stored_next_run_time(store, "tick") == T0 + timedelta(seconds=20)
    clock.advance(10)
    sched.tick()
    run_times = [event.scheduled_run_time for event in recorder.events]
    assert run_times == [T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)]


def test_steps_during_an_outage_fail_counted_and_the_run_happens_once(
    sched: ManualScheduler,
    store_and_outage: tuple[SQLAlchemyJobStore, Outage],
    clock: ManualClock,
) -> None:
    """A step in an outage fails (PostgreSQL) or cannot save (SQLite); after it, one run."""
    store, outage = store_and_outage
    recorder = EventRecorder(sched, EVENT_JOB_EXECUTED)
    sched.add_job(FUNC, "date", run_date=T0 + timedelta(seconds=5), id="once")
    clock.advance(5)
    with outage():
        wait = sched.tick()
        sched.tick()
    assert store.error_count > 0
    if store.engine.dialect.name == "postgresql":  # SQLite never locks readers out
        assert recorder.events == []
        assert wait == pytest.approx(sched._settings.jobstore_retry_interval)
    sched.tick()
    sched.tick()
    assert [event.job_id for event in recorder.events] == ["once"]
    assert store.lookup_job("once") is None


@pytest.mark.postgresql
def test_connections_killed_by_the_server_are_replaced(
    postgres_url: str, pg_schema: str, clock: ManualClock
) -> None:
    """pg_terminate_backend on every store connection mid-run: the next steps run as usual."""
    clock.set(T0)
    options = {"connect_args": {"application_name": APP + "-kill"}}
    store = SQLAlchemyJobStore(url=postgres_url, tableschema=pg_schema, engine_options=options)
    sched = ManualScheduler(clock=clock, metrics=False, tracing=False, timezone="UTC")
    sched.add_jobstore(store)
    sched.start()
    recorder = EventRecorder(sched, EVENT_JOB_EXECUTED)
    try:
        sched.add_job(FUNC, "interval", seconds=10, id="tick", misfire_grace_time=None)

        def kill_connections(event: Any) -> None:
            with store.engine.connect() as conn:  # a connection of its own to be killed too
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = :app AND pid <> pg_backend_pid()"
                    ),
                    {"app": APP + "-kill"},
                )

        sched.context.events.add(kill_connections, EVENT_JOB_EXECUTED)  # mid-tick, as above
        for _ in range(3):
            clock.advance(10)
            sched.tick()
        run_times = [event.scheduled_run_time for event in recorder.events]
        assert run_times == [T0 + timedelta(seconds=10 * n) for n in (1, 2, 3)]
        assert stored_next_run_time(store, "tick") == T0 + timedelta(seconds=40)
    finally:
        sched.shutdown()


def test_a_job_replaced_after_an_outage_is_not_undone_by_the_failed_save(
    store_and_outage: tuple[SQLAlchemyJobStore, Outage], sched: ManualScheduler, clock: ManualClock
) -> None:
    """A date job runs during an outage, so its removal cannot be saved and waits. The
    application then adds the job again under the same id once the database is back: the
    waiting removal is older than that write and must not delete the new job."""
    _, outage = store_and_outage
    sched.add_job(FUNC, "date", run_date=T0 + timedelta(seconds=5), id="x")
    sched.tick()
    with outage():
        clock.advance(10)
        sched.tick()
    sched.add_job(FUNC, "interval", hours=1, id="x", replace_existing=True)
    clock.advance(1)
    sched.tick()
    assert [(job.id, str(job.trigger)) for job in sched.get_jobs()] == [("x", "interval[1:00:00]")]


@pytest.mark.postgresql
def test_a_cluster_outage_longer_than_the_lease_runs_nothing_twice(
    postgres_url: str, pg_schema: str, clock: ManualClock
) -> None:
    """After an outage in which no node could heartbeat for longer than the lease, the first node
    to heartbeat again does not take the others for dead: a run still going on another node is
    neither reported abandoned nor run again."""
    from jobstores import jobfuncs
    from obssched.executors.pool import ThreadPoolExecutor

    clock.set(T0)
    jobfuncs.STARTS.clear()
    jobfuncs.RELEASE.clear()
    nodes = []
    for name in ("A", "B"):
        sched = ManualScheduler(
            clock=clock, metrics=False, tracing=False, timezone="UTC",
            executors={"default": ThreadPoolExecutor(2)},
        )  # fmt: skip
        store = SQLAlchemyJobStore(
            url=postgres_url, tableschema=pg_schema, cluster=True, node_id=name, lease_seconds=60
        )
        sched.add_jobstore(store)
        sched.start()
        nodes.append((sched, store))
    (a, _), (b, store_b) = nodes
    try:
        recorder = EventRecorder(a)
        a.add_job(
            "jobstores.jobfuncs:hold", "date", run_date=T0, args=["run"], id="r", recover=True
        )
        a.tick()
        recorder.wait_for(lambda _: jobfuncs.STARTS == ["run"])
        clock.advance(61)  # the database was away for longer than the lease
        store_b._node.beat()  # type: ignore[union-attr]
        b.tick()
        assert jobfuncs.STARTS == ["run"]
        assert store_b.abandoned_counts == {}
    finally:
        jobfuncs.RELEASE.set()
        for sched, _ in nodes:
            sched.shutdown()


@pytest.mark.postgresql
def test_a_job_that_cannot_be_processed_is_paused_and_the_cluster_goes_on(
    postgres_url: str, pg_schema: str, clock: ManualClock
) -> None:
    """In cluster mode a due job whose trigger raises while it is claimed is paused, as the
    single-node loop pauses it, and the other due jobs keep running."""
    from jobstores import jobfuncs

    clock.set(T0)
    sched = ManualScheduler(clock=clock, metrics=False, tracing=False, timezone="UTC")
    sched.add_jobstore(
        SQLAlchemyJobStore(url=postgres_url, tableschema=pg_schema, cluster=True, node_id="solo")
    )
    sched.start()
    try:
        record = "jobstores.jobfuncs:record"
        sched.add_job(record, jobfuncs.FailingTrigger(T0), id="bad")
        sched.add_job(record, "interval", seconds=10, start_date=T0, id="ok", args=["ok"])
        jobfuncs.CALLS.clear()
        for _ in range(3):
            clock.advance(10)
            sched.tick()
        assert jobfuncs.CALLS.count((("ok",), {})) == 3
        bad = sched.get_job("bad")
        assert bad is not None
        assert bad.next_run_time is None
    finally:
        sched.shutdown()


@pytest.mark.postgresql
def test_a_jittered_cluster_job_with_several_due_times_keeps_running(
    postgres_url: str, pg_schema: str, clock: ManualClock
) -> None:
    """With several run times of a jittered job due at once (after downtime), the run the
    cluster claims is the run the scheduler submits: it ends, its claim goes, and max_instances
    does not refuse the job's later runs."""
    clock.set(T0)
    sched = ManualScheduler(clock=clock, metrics=False, tracing=False, timezone="UTC")
    store = SQLAlchemyJobStore(url=postgres_url, tableschema=pg_schema, cluster=True)
    sched.add_jobstore(store)
    sched.start()
    recorder = EventRecorder(sched)
    try:
        sched.add_job(
            FUNC, "interval", seconds=10, jitter=4, start_date=T0, id="j", coalesce=True,
            max_instances=1, misfire_grace_time=None,
        )  # fmt: skip
        clock.advance(35)
        sched.tick()
        for _ in range(5):
            clock.advance(10)
            sched.tick()
        assert len(recorder.of(EVENT_JOB_EXECUTED)) == 6
        assert recorder.of(EVENT_JOB_MAX_INSTANCES) == []
        with store.engine.connect() as conn:
            left = conn.execute(select(func.count()).select_from(store.tables.running)).scalar()
        assert left == 0
    finally:
        sched.shutdown()
