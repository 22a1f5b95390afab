"""In one process: a cluster node records which claimed runs began, hands the others back to
run again when their node dies, upgrades older tables, and shares due jobs out among nodes."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import MetaData, insert, inspect, select, update

from obssched._runs import RunInfo
from obssched.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from obssched.exceptions import RunTakenOverError
from obssched.executors.base import BaseExecutor
from obssched.executors.pool import ThreadPoolExecutor
from obssched.job import Job
from obssched.jobstores._sql.codec import encode_job, to_micros
from obssched.jobstores._sql.schema import SCHEMA_VERSION, define_tables, ensure_schema
from obssched.jobstores._sql.starts import StartHook, StartMarks, reports_body_start
from obssched.jobstores.base import OrphanedRun
from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.testing import ManualClock, ManualScheduler
from obssched.triggers.interval import IntervalTrigger

from .doubles import HeldRows
from .probes import PROBE

pytestmark = [pytest.mark.postgresql]

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOOP = "jobstores.jobfuncs:noop"


def minutes(count: float) -> datetime:
    """T0 plus ``count`` minutes."""
    return T0 + timedelta(minutes=count)


@pytest.fixture
def clock() -> ManualClock:
    """A manual clock at T0."""
    return ManualClock(T0)


@pytest.fixture
def scheduler(clock: ManualClock) -> Iterator[ManualScheduler]:
    """A manual scheduler, shut down at the end if it ran."""
    scheduler = ManualScheduler(clock=clock, metrics=False, tracing=False, timezone="UTC")
    yield scheduler
    if scheduler.running:
        scheduler.shutdown()


@pytest.fixture
def store(postgres_url: str, pg_schema: str) -> SQLAlchemyJobStore:
    """A cluster store (node "here"), not started."""
    return SQLAlchemyJobStore(
        url=postgres_url, tableschema=pg_schema, cluster=True, node_id="here", lease_seconds=60
    )


def every_minute(scheduler: ManualScheduler, job_id: str, func: str = NOOP, **extra: Any) -> Job:
    """A job that runs every minute from T0, due at T0."""
    recover = extra.pop("recover", False)
    job = Job(
        scheduler,
        id=job_id,
        name=job_id,
        func=func,
        args=(),
        kwargs={},
        trigger=IntervalTrigger(minutes=1, start_date=T0, timezone=UTC),
        executor="default",
        next_run_time=T0,
        misfire_grace_time=None,
        coalesce=False,
        max_instances=1,
        **extra,
    )
    job.recover = recover
    return job


def dead_row(
    store: SQLAlchemyJobStore, job: Job, run_times: list[datetime], started_through: int | None
) -> None:
    """A ``_running`` row of ``job`` left by the dead node "gone"."""
    ensure_schema(store.engine, store.tables)
    row = {
        "run_key": f"gone:{job.id}",
        "job_id": job.id,
        "job_name": job.name,
        "node_id": "gone",
        "run_times": json.dumps([moment.isoformat() for moment in run_times]),
        "claimed_at": to_micros(run_times[0]),
        "state": encode_job(job, "json", 5),
        "started_through": started_through,
    }
    with store.engine.begin() as conn:
        conn.execute(insert(store.tables.running).values(**row))


def take_over(store: SQLAlchemyJobStore, clock: ManualClock) -> list[OrphanedRun]:
    """Heart-beat on time for a whole lease, then take over the dead node's runs."""
    node = store._node
    assert node is not None
    for _ in range(3):
        node.beat()
        clock.advance(30)
    node.beat()
    return store.take_orphaned_runs()


def summary(orphans: list[OrphanedRun]) -> list[tuple[str, list[datetime]]]:
    """Each orphaned run as ("abandoned" or "again", its run times)."""
    return [("abandoned" if o.error else "again", list(o.run_times)) for o in orphans]


def test_a_claimed_run_is_recorded_begun_before_its_body_runs(
    store: SQLAlchemyJobStore, scheduler: ManualScheduler
) -> None:
    """The body sees its own ``_running`` row marked begun through its run time."""
    PROBE.update(store=store, seen=[])
    scheduler.add_jobstore(store)
    scheduler.start()
    store.add_job(every_minute(scheduler, "j", "cluster.probes:read_start_mark"))
    scheduler.tick()
    assert PROBE["seen"] == [to_micros(T0)]


@pytest.mark.parametrize(
    ("run_times", "started_through", "recover", "expected"),
    [
        ([minutes(0)], 0, False, [("again", [minutes(0)])]),
        ([minutes(0)], to_micros(minutes(0)), False, [("abandoned", [minutes(0)])]),
        (
            [minutes(0), minutes(1), minutes(2)],
            to_micros(minutes(0)),
            False,
            [("abandoned", [minutes(0)]), ("again", [minutes(1), minutes(2)])],
        ),
        (
            [minutes(0), minutes(1)],
            to_micros(minutes(0)),
            True,
            [("abandoned", [minutes(0)]), ("again", [minutes(0), minutes(1)])],
        ),
        ([minutes(0), minutes(1)], None, False, [("abandoned", [minutes(0), minutes(1)])]),
    ],
    ids=["never-begun", "begun", "begun-then-queued", "begun-recovered", "unknown-counts-begun"],
)
def test_a_dead_nodes_runs_are_reported_if_begun_and_run_again_if_not(
    store: SQLAlchemyJobStore,
    scheduler: ManualScheduler,
    clock: ManualClock,
    run_times: list[datetime],
    started_through: int | None,
    recover: bool,
    expected: list[tuple[str, list[datetime]]],
) -> None:
    """Only runs that began are reported abandoned (and run again for recovery); the runs
    after them never began and are handed back to run, unreported."""
    dead_row(store, every_minute(scheduler, "j", recover=recover), run_times, started_through)
    scheduler.add_jobstore(store)
    scheduler.start(paused=True)
    assert summary(take_over(store, clock)) == expected
    begun = [kind for kind, _ in expected if kind == "abandoned"]
    assert store.abandoned_counts == ({"j": 1} if begun else {})


def test_a_never_begun_run_of_a_job_that_cannot_be_loaded_is_reported_lost(
    store: SQLAlchemyJobStore, scheduler: ManualScheduler, clock: ManualClock
) -> None:
    """Without a job to run again, a run that never began is reported abandoned instead."""
    job = every_minute(scheduler, "j")
    dead_row(store, job, [T0], 0)
    with store.engine.begin() as conn:
        conn.execute(update(store.tables.running).values(state=b"not a job"))
    scheduler.add_jobstore(store)
    scheduler.start(paused=True)
    assert summary(take_over(store, clock)) == [("abandoned", [T0])]


def test_the_survivor_runs_a_dead_nodes_queued_run_once(
    store: SQLAlchemyJobStore, scheduler: ManualScheduler, clock: ManualClock
) -> None:
    """End to end: the run is executed here, and its row goes once it ended."""
    executed: list[Any] = []
    dead_row(store, every_minute(scheduler, "j"), [T0], 0)
    scheduler.add_listener(lambda event: executed.append(event.scheduled_run_time), 2**12)
    scheduler.add_jobstore(store)
    scheduler.start()
    node = store._node
    assert node is not None
    for _ in range(3):
        node.beat()
        clock.advance(30)
    node.beat()
    scheduler.tick()
    assert executed == [T0]
    with store.engine.connect() as conn:
        assert conn.execute(select(store.tables.running.c.run_key)).all() == []


class StallPastLease:
    """A run hook, ahead of the store's, that hands each run's ``_running`` row to node "other"
    before the start is recorded: as if this node stalled past its lease right then."""

    def __init__(self, store: SQLAlchemyJobStore) -> None:
        self._store = store

    def wrap(self, run: RunInfo) -> None:
        """Give the run's row to node "other"."""
        running = self._store.tables.running
        with self._store.engine.begin() as conn:
            conn.execute(
                update(running).where(running.c.job_id == run.job_id).values(node_id="other")
            )

    def remote(self, run: RunInfo) -> None:
        """As :meth:`wrap`."""
        self.wrap(run)


def test_a_run_taken_over_before_its_start_is_recorded_does_not_run_here(
    store: SQLAlchemyJobStore, scheduler: ManualScheduler
) -> None:
    """A node that lost its run to another node before its body began does not run it: the
    run ends here with RunTakenOverError, and the row stays the other node's, which runs it."""
    PROBE.update(store=store, seen=[])
    ended: list[Any] = []
    scheduler.add_listener(ended.append, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    scheduler.add_run_hook(StallPastLease(store))
    scheduler.add_jobstore(store)
    scheduler.start()
    store.add_job(every_minute(scheduler, "j", "cluster.probes:read_start_mark"))
    scheduler.tick()
    assert PROBE["seen"] == []
    assert [(event.code, type(event.exception)) for event in ended] == [
        (EVENT_JOB_ERROR, RunTakenOverError)
    ]
    running = store.tables.running
    with store.engine.connect() as conn:
        rows = conn.execute(select(running.c.node_id, running.c.started_through)).all()
    assert [tuple(row) for row in rows] == [("other", 0)]


def run_info(job_id: str, jobstore: str, run_time: datetime) -> RunInfo:
    """A submitted run as executors hand it to run hooks."""
    return RunInfo(1, job_id, job_id, NOOP, jobstore, "default", None, run_time, T0, 0.0)


@pytest.mark.parametrize(
    ("call", "jobstore", "run_time", "expected"),
    [
        ("wrap", "default", T0, [to_micros(T0)]),
        ("remote", "default", T0, [to_micros(T0)]),
        ("wrap", "elsewhere", T0, [0]),
        ("wrap", "default", minutes(5), [0]),
    ],
    ids=["body-in-this-process", "body-in-another-process", "other-store", "not-claimed"],
)
def test_the_start_hook_marks_only_this_nodes_claimed_runs(
    store: SQLAlchemyJobStore,
    scheduler: ManualScheduler,
    call: str,
    jobstore: str,
    run_time: datetime,
    expected: list[int],
) -> None:
    """A run of this store's claim is marked begun whether its body runs here (``wrap``) or
    in a worker process (``remote``, at submission); other runs are left alone."""
    scheduler.add_jobstore(store)
    scheduler.start(paused=True)
    store.add_job(every_minute(scheduler, "j"))
    store.acquire_due_jobs(T0)
    (hook,) = [hook for hook in scheduler.context.run_hooks if isinstance(hook, StartHook)]
    assert getattr(hook, call)(run_info("j", jobstore, run_time)) is None
    with store.engine.connect() as conn:
        marks = conn.execute(select(store.tables.running.c.started_through)).scalars().all()
    assert marks == expected


class Aps3StyleExecutor(BaseExecutor):
    """Runs bodies through APScheduler 3's hand-over, which calls no run hooks."""

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        """Never called here."""


@pytest.mark.parametrize(
    ("executor", "reports"),
    [(ThreadPoolExecutor(), True), (Aps3StyleExecutor(), False), (None, False)],
    ids=["obssched-pool", "apscheduler3-style", "unknown"],
)
def test_only_executors_calling_the_run_hooks_report_body_starts(
    executor: object, reports: bool
) -> None:
    """An executor that would not report its bodies' starts gets its claims written begun."""
    assert reports_body_start(executor) is reports


def test_a_claim_for_an_executor_without_run_hooks_is_written_begun(
    store: SQLAlchemyJobStore, scheduler: ManualScheduler
) -> None:
    """Its ``_running`` row says unknown (NULL): a dead node's run of it is never re-run."""
    scheduler.add_executor(Aps3StyleExecutor(), "aps3")
    scheduler.add_jobstore(store)
    scheduler.start(paused=True)
    job = every_minute(scheduler, "j")
    job.executor = "aps3"
    store.add_job(job)
    claimed = store.acquire_due_jobs(T0)
    with store.engine.connect() as conn:
        marks = conn.execute(select(store.tables.running.c.started_through)).scalars().all()
    store.release_jobs(claimed)
    assert marks == [None]


def test_a_version_2_store_gets_the_start_column_and_its_rows_count_as_begun(
    postgres_url: str, pg_schema: str, scheduler: ManualScheduler, clock: ManualClock
) -> None:
    """Tables from before the start marks are upgraded in place; their rows read as begun."""
    store = SQLAlchemyJobStore(
        url=postgres_url, tableschema=pg_schema, cluster=True, node_id="here", lease_seconds=60
    )
    old = define_tables(MetaData(), "obssched_jobs", pg_schema)
    ensure_schema(store.engine, old)
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            f'ALTER TABLE "{pg_schema}".obssched_jobs_running DROP COLUMN started_through'
        )
        conn.execute(update(old.meta).values(value="2"))
    dead_row_without_mark(store, every_minute(scheduler, "j"))
    scheduler.add_jobstore(store)
    scheduler.start(paused=True)
    with store.engine.connect() as conn:
        version = conn.execute(select(old.meta.c.value)).scalar_one()
        columns = {c["name"] for c in inspect(conn).get_columns(old.running.name, pg_schema)}
    assert int(version) == SCHEMA_VERSION == 3
    assert "started_through" in columns
    assert summary(take_over(store, clock)) == [("abandoned", [T0])]


def dead_row_without_mark(store: SQLAlchemyJobStore, job: Job) -> None:
    """A ``_running`` row of the dead node "gone", as an older obssched wrote it."""
    row = {
        "run_key": "gone:old",
        "job_id": job.id,
        "job_name": job.name,
        "node_id": "gone",
        "run_times": json.dumps([T0.isoformat()]),
        "claimed_at": to_micros(T0),
        "state": encode_job(job, "json", 5),
    }
    columns = ", ".join(row)
    values = ", ".join(f"%({name})s" for name in row)
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            f'INSERT INTO "{store.tables.running.schema}".obssched_jobs_running ({columns}) '
            f"VALUES ({values})",
            row,
        )


class RecordingAccess:
    """Stands in for the store's access: each write waits for ``release`` and records the
    marks and the ended runs' deletes it was handed."""

    def __init__(self, fail: bool = False) -> None:
        self.tables = define_tables(MetaData(), "obssched_jobs", None)
        self.node_id = "here"
        self.logger = logging.getLogger("obssched.test")
        self.fail = fail
        self.batches: list[dict[str, int]] = []
        self.deleted: list[str] = []
        self.release = threading.Event()

    def write_alone(self, operation: Any) -> Any:
        """Run ``operation`` on a connection that records the statements' parameters."""
        self.release.wait(30)
        if self.fail:
            raise RuntimeError("database gone")
        batch: dict[str, int] = {}

        deleted = self.deleted

        class Connection:
            def exec_driver_sql(self, statement: str, parameters: dict[str, Any]) -> Any:
                batch.update(zip(parameters["keys"], parameters["marks"], strict=True))
                deleted.extend(parameters["ended"])
                return HeldRows(parameters["keys"])

        held = operation(Connection())
        self.batches.append(batch)
        return held


def test_marks_arriving_together_share_commits_and_each_returns_once_written() -> None:
    """Every mark is written once, and no caller returns before its mark is committed."""
    access = RecordingAccess()
    marks = StartMarks(access)  # type: ignore[arg-type]
    unwritten: list[str] = []

    def mark(key: str, micros: int) -> None:
        marks.mark(key, micros)
        if not any(key in batch for batch in access.batches):
            unwritten.append(key)

    threads = [threading.Thread(target=mark, args=(f"k{i}", i + 1)) for i in range(4)]
    for thread in threads:
        thread.start()
    access.release.set()
    for thread in threads:
        thread.join(30)
    written = [key for batch in access.batches for key in batch]
    assert sorted(written) == ["k0", "k1", "k2", "k3"]
    assert unwritten == []


def test_ended_runs_are_deleted_with_the_next_batch_and_a_failed_delete_is_kept() -> None:
    """The rows of ended runs go out in one write with the pending marks; a failed write keeps
    them for the next one."""
    access = RecordingAccess(fail=True)
    access.release.set()
    marks = StartMarks(access)  # type: ignore[arg-type]
    marks.end(["e1", "e2"])
    assert access.deleted == []
    access.fail = False
    marks.flush()
    assert access.deleted == ["e1", "e2"]
    marks.end(["e3"])
    marks.mark("k", 5)
    assert access.deleted == ["e1", "e2", "e3"]
    assert {"k": 5} in access.batches


def test_a_mark_that_cannot_be_written_is_logged_and_the_body_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failed write does not raise into the run; it says what it risks."""
    access = RecordingAccess(fail=True)
    access.release.set()
    StartMarks(access).mark("k", 1)  # type: ignore[arg-type]
    assert "another node may run them again" in caplog.text


def add_jobs(store: SQLAlchemyJobStore, scheduler: ManualScheduler, count: int) -> None:
    """``count`` jobs due at T0."""
    for index in range(count):
        store.add_job(every_minute(scheduler, f"j{index}"))


def other_node_alive(store: SQLAlchemyJobStore) -> None:
    """Another node, "there", heart-beats now."""
    ensure_schema(store.engine, store.tables)
    row = {"node_id": "there", "host": "h", "pid": 1, "started_at": 0, "last_seen": to_micros(T0)}
    with store.engine.begin() as conn:
        conn.execute(insert(store.tables.nodes).values(**row))


def claim_ids(store: SQLAlchemyJobStore, now: datetime) -> set[str]:
    """Claim what is due at ``now`` for this node, give the leases back, return the ids."""
    claimed = store.acquire_due_jobs(now)
    store.release_jobs(claimed)
    return {job.id for job in claimed}


def test_with_two_live_nodes_a_node_claims_its_share_first_and_the_rest_once_late(
    store: SQLAlchemyJobStore, scheduler: ManualScheduler
) -> None:
    """Due jobs of the other node's share wait for it ``steal_micros``; then this node takes
    them, and says so as its next run time."""
    other_node_alive(store)
    scheduler.add_jobstore(store)
    scheduler.start(paused=True)
    add_jobs(store, scheduler, 20)
    steal = timedelta(microseconds=store._node.claims.steal_micros)  # type: ignore[union-attr]
    own = claim_ids(store, T0)
    assert 0 < len(own) < 20
    assert store.get_next_run_time() == T0 + steal
    assert own | claim_ids(store, T0 + steal) == {f"j{index}" for index in range(20)}


def test_alone_a_node_claims_every_due_job_at_once(
    store: SQLAlchemyJobStore, scheduler: ManualScheduler
) -> None:
    """With no other live node, nothing waits for a share."""
    scheduler.add_jobstore(store)
    scheduler.start(paused=True)
    add_jobs(store, scheduler, 20)
    assert store.get_next_run_time() == T0
    assert len(claim_ids(store, T0)) == 20
