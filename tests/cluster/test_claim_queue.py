"""A node claims no more runs than it can start soon: the runs it claimed and has not begun (its
local queue) are bounded by ``max_queued_runs``; the due runs it leaves stay in the table for
the other nodes or for its own later steps, so an overloaded node neither refuses its own runs
for ``max_instances`` nor loses or repeats any."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from obssched.events import EVENT_JOB_EXECUTED, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from obssched.exceptions import InvalidArgumentError
from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.testing import EventRecorder, ManualClock, ManualScheduler

from .doubles import HeldExecutor
from .readings import queued, running_rows

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOOP = "jobstores.jobfuncs:noop"
JOBS = 20
ROOM = 5


def cluster_store(url: str, schema: str, node_id: str, **options: Any) -> SQLAlchemyJobStore:
    """A cluster store of node ``node_id``, not started."""
    return SQLAlchemyJobStore(
        url=url, tableschema=schema, cluster=True, node_id=node_id, lease_seconds=60, **options
    )


@pytest.fixture
def clock() -> ManualClock:
    """A manual clock at T0."""
    return ManualClock(T0)


@pytest.fixture
def held() -> HeldExecutor:
    """The node's executor, every worker busy until the test begins runs."""
    return HeldExecutor()


@pytest.fixture
def registry() -> CollectorRegistry:
    """The registry the node's metrics are exported to."""
    return CollectorRegistry()


@pytest.fixture
def scheduler(
    clock: ManualClock, held: HeldExecutor, registry: CollectorRegistry
) -> Iterator[ManualScheduler]:
    """A manual scheduler on the held executor exporting to ``registry``, shut down at the end
    if it ran."""
    scheduler = ManualScheduler(
        clock=clock, metrics_registry=registry, tracing=False, timezone="UTC"
    )
    scheduler.add_executor(held, "default")
    yield scheduler
    if scheduler.running:
        scheduler.shutdown()


@pytest.fixture
def store(postgres_url: str, pg_schema: str, scheduler: ManualScheduler) -> SQLAlchemyJobStore:
    """Node "here", queue limit ``ROOM``, started with ``JOBS`` jobs every minute due at T0
    (``max_instances=1``, no coalescing, no misfire limit)."""
    store = cluster_store(postgres_url, pg_schema, "here", max_queued_runs=ROOM)
    scheduler.add_jobstore(store)
    scheduler.start(paused=True)
    for index in range(JOBS):
        scheduler.add_job(
            NOOP,
            "interval",
            minutes=1,
            start_date=T0,
            id=f"j{index}",
            coalesce=False,
            misfire_grace_time=None,
            max_instances=1,
        )
    scheduler.resume()
    return store


def due_unleased(store: SQLAlchemyJobStore, now: datetime) -> int:
    """How many jobs are due at ``now`` and leased to no node."""
    jobs = store.tables.jobs
    micros = int(now.timestamp() * 1_000_000)
    query = select(func.count()).where(jobs.c.next_run_time <= micros, jobs.c.lease_owner.is_(None))
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


@pytest.mark.postgresql
def test_a_claim_takes_no_more_runs_than_the_queue_has_room_for(
    store: SQLAlchemyJobStore, scheduler: ManualScheduler, held: HeldExecutor
) -> None:
    """Of 20 due jobs a node with room for 5 runs claims 5; the other 15 stay due, unleased."""
    scheduler.tick()
    assert sum(len(runs) for _job, runs in held.items) == ROOM
    assert queued(store) == ROOM
    assert running_rows(store) == ROOM
    assert due_unleased(store, T0) == JOBS - ROOM


@pytest.mark.postgresql
def test_the_due_jobs_a_full_node_leaves_are_claimed_by_another_node(
    store: SQLAlchemyJobStore,
    scheduler: ManualScheduler,
    held: HeldExecutor,
    postgres_url: str,
    pg_schema: str,
) -> None:
    """Another node claims exactly the jobs the full node left, and none of its own."""
    scheduler.tick()
    mine = {job.id for job, _runs in held.items}
    other = ManualScheduler(clock=ManualClock(T0), metrics=False, tracing=False, timezone="UTC")
    there = cluster_store(postgres_url, pg_schema, "there")
    other.add_jobstore(there)
    other.start(paused=True)
    try:
        # Past the wait for the other node's share: every due job no node holds.
        theirs = there.acquire_due_jobs(T0 + timedelta(seconds=1))
        there.release_jobs(theirs)
    finally:
        other.shutdown()
    assert len(mine) == ROOM
    assert {job.id for job in theirs} == {f"j{index}" for index in range(JOBS)} - mine


@pytest.mark.postgresql
def test_a_full_queue_claims_nothing_until_half_of_it_began(
    store: SQLAlchemyJobStore, scheduler: ManualScheduler, held: HeldExecutor
) -> None:
    """A full node's next run time is none (it waits), the run that drains its queue to half
    wakes the loop once, and the next step claims again."""
    scheduler.tick()
    wakeups = scheduler.wakeups
    assert store.get_next_run_time() is None
    scheduler.tick()
    assert len(held.items) == ROOM  # nothing more was claimed
    held.begin(ROOM - ROOM // 2 - 1)
    assert scheduler.wakeups == wakeups
    assert store.get_next_run_time() is None
    held.begin(1)
    assert (queued(store), scheduler.wakeups) == (ROOM // 2, wakeups + 1)
    assert store.get_next_run_time() == T0
    scheduler.tick()
    assert queued(store) == ROOM


@pytest.mark.postgresql
def test_an_overloaded_node_refuses_none_of_its_runs_and_runs_each_once(
    store: SQLAlchemyJobStore,
    scheduler: ManualScheduler,
    held: HeldExecutor,
    clock: ManualClock,
) -> None:
    """Overloaded for a minute and more (the next run times come due while the first runs wait),
    the node refuses nothing for ``max_instances`` and, once its workers catch up, has run
    every run time of every job exactly once."""
    recorder = EventRecorder(scheduler)
    scheduler.tick()
    clock.advance(60)
    scheduler.tick()
    held.begin(1)
    scheduler.tick()
    for _ in range(4 * JOBS):  # at least one run begins per round: more than enough rounds
        if not held.items and not due_unleased(store, clock.now()):
            break
        held.begin()
        scheduler.tick()
        assert queued(store) <= ROOM
    executed = Counter((e.job_id, e.scheduled_run_time) for e in recorder.of(EVENT_JOB_EXECUTED))
    assert recorder.of(EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED) == []
    assert set(executed) == {
        (f"j{index}", moment) for index in range(JOBS) for moment in (T0, T0 + timedelta(minutes=1))
    }
    assert set(executed.values()) == {1}
    assert running_rows(store) == 0


@pytest.mark.parametrize("value", [0, -5, 2.5, True, "10", None], ids=repr)
def test_a_queue_limit_that_is_not_a_positive_whole_number_is_refused(value: Any) -> None:
    """The error names the option and keeps the value given."""
    with pytest.raises(InvalidArgumentError, match="max_queued_runs") as caught:
        SQLAlchemyJobStore(url="sqlite://", max_queued_runs=value)
    assert (caught.value.argument, caught.value.value) == ("max_queued_runs", value)


def queue_gauges(registry: CollectorRegistry) -> tuple[float | None, float | None]:
    """The scraped ``(obssched_cluster_queued_runs, obssched_cluster_max_queued_runs)`` of the
    store ``default``."""
    labels = {"scheduler": "default", "jobstore": "default"}
    return (
        registry.get_sample_value("obssched_cluster_queued_runs", labels),
        registry.get_sample_value("obssched_cluster_max_queued_runs", labels),
    )


@pytest.mark.postgresql
def test_the_local_queue_and_its_limit_are_exported(
    store: SQLAlchemyJobStore,
    scheduler: ManualScheduler,
    held: HeldExecutor,
    registry: CollectorRegistry,
) -> None:
    """/metrics shows the runs a node claimed and has not begun against its limit: 0 before a
    claim, full after one, and less as they begin."""
    assert queue_gauges(registry) == (0, ROOM)
    scheduler.tick()
    assert queue_gauges(registry) == (ROOM, ROOM)
    held.begin(2)
    assert queue_gauges(registry) == (ROOM - 2, ROOM)
    held.begin()
    assert queue_gauges(registry) == (0, ROOM)


class FirstCommitLost:
    """Stands in for the claims' store access: the first write runs and is rolled back, as if
    its commit had failed, before the write is retried."""

    def __init__(self, access: Any, store: SQLAlchemyJobStore) -> None:
        self._access = access
        self._store = store
        self.lost = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._access, name)

    def write(self, operation: Any) -> Any:
        """Run ``operation`` once in a transaction rolled back, then as the store does."""
        if not self.lost:
            self.lost = True
            with self._store.engine.connect() as conn, conn.begin() as transaction:
                operation(conn)
                transaction.rollback()
        return self._access.write(operation)


@pytest.mark.postgresql
def test_a_claim_retried_after_a_lost_commit_queues_only_what_it_wrote(
    store: SQLAlchemyJobStore, scheduler: ManualScheduler, held: HeldExecutor
) -> None:
    """The attempt that was not committed leaves nothing in the queue; once the claimed runs
    ran, the queue is empty."""
    node = store._node
    assert node is not None
    node.claims._access = FirstCommitLost(node.claims._access, store)  # type: ignore[assignment]
    scheduler.tick()
    assert queued(store) == ROOM
    held.begin()
    assert (queued(store), running_rows(store)) == (0, 0)


@pytest.mark.postgresql
def test_a_queue_filled_by_one_job_with_more_runs_than_its_room_wakes_the_loop_once_drained(
    scheduler: ManualScheduler,
    held: HeldExecutor,
    clock: ManualClock,
    postgres_url: str,
    pg_schema: str,
) -> None:
    """The first job a claim takes goes in whatever its runs (here 6 with room for 5): the node
    then waits, and the run that drains its queue to half wakes the loop to claim again."""
    store = cluster_store(postgres_url, pg_schema, "here", max_queued_runs=ROOM)
    scheduler.add_jobstore(store)
    scheduler.start(paused=True)
    for job_id, start in (("late", T0), ("next", T0 + timedelta(minutes=6))):
        scheduler.add_job(
            NOOP,
            "interval",
            minutes=1,
            start_date=start,
            id=job_id,
            coalesce=False,
            misfire_grace_time=None,
            max_instances=10,
        )
    clock.advance(timedelta(minutes=5, seconds=30))
    scheduler.resume()
    scheduler.tick()
    assert queued(store) == ROOM + 1
    assert store.get_next_run_time() is None
    wakeups = scheduler.wakeups
    held.begin()
    assert (queued(store), scheduler.wakeups) == (0, wakeups + 1)
    assert store.get_next_run_time() == T0 + timedelta(minutes=6)
