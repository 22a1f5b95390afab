"""With PostgreSQL: a ``_running`` row whose delete the database lost (a crash or failover
within its WAL writer's delay) is deleted by its node's heartbeat once two leases have passed,
so it stops counting against its job's ``max_instances``; the rows of runs the node still
tracks, of orphaned runs not yet settled and of other nodes stay."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from obssched.job import Job
from obssched.jobstores._sql.codec import encode_job, to_micros
from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.testing import ManualClock, ManualScheduler
from obssched.triggers.interval import IntervalTrigger

pytestmark = [pytest.mark.postgresql]

T0 = datetime(2024, 1, 1, tzinfo=UTC)
LEASE = 60  # seconds
NOOP = "jobstores.jobfuncs:noop"


@pytest.fixture
def clock() -> ManualClock:
    """A manual clock at T0."""
    return ManualClock(T0)


@pytest.fixture
def scheduler(clock: ManualClock) -> Iterator[ManualScheduler]:
    """A manual scheduler on :func:`clock` (the cluster's ``store`` fixture starts it paused,
    with a store of a 60 s lease), shut down at the end if it ran."""
    scheduler = ManualScheduler(clock=clock, metrics=False, tracing=False, timezone="UTC")
    yield scheduler
    if scheduler.running:
        scheduler.shutdown()


def row(
    store: SQLAlchemyJobStore,
    run_key: str,
    node_id: str,
    claimed_at: datetime,
    *,
    started_through: int | None = None,
    job: Job | None = None,
) -> None:
    """A ``_running`` row of ``node_id`` for a run at T0, claimed at ``claimed_at``; by default
    the run began (``started_through`` at T0) and its job cannot be loaded."""
    values: dict[str, Any] = {
        "run_key": run_key,
        "job_id": run_key if job is None else job.id,
        "job_name": run_key if job is None else job.name,
        "node_id": node_id,
        "run_times": json.dumps([T0.isoformat()]),
        "claimed_at": to_micros(claimed_at),
        "state": b"" if job is None else encode_job(job, "json", 5),
        "started_through": to_micros(T0) if started_through is None else started_through,
    }
    with store.engine.begin() as conn:
        conn.execute(insert(store.tables.running).values(**values))


def live_node(store: SQLAlchemyJobStore, node_id: str) -> None:
    """A node that heart-beats throughout the test (its last beat is a day ahead)."""
    ahead = to_micros(T0 + timedelta(days=1))
    values = {"node_id": node_id, "host": "elsewhere", "pid": 1, "started_at": ahead}
    with store.engine.begin() as conn:
        conn.execute(insert(store.tables.nodes).values(**values, last_seen=ahead))


def beat_for(store: SQLAlchemyJobStore, clock: ManualClock, seconds: int) -> None:
    """Heart-beat on time (every third of the lease) for ``seconds``."""
    node = store._node
    assert node is not None
    for _ in range(seconds // (LEASE // 3)):
        clock.advance(LEASE // 3)
        node.beat()


def keys(store: SQLAlchemyJobStore) -> set[str]:
    """The run keys of every ``_running`` row."""
    running = store.tables.running
    with store.engine.connect() as conn:
        return set(conn.execute(select(running.c.run_key)).scalars())


def test_a_row_this_node_no_longer_tracks_goes_after_two_leases(
    store: SQLAlchemyJobStore,
    scheduler: ManualScheduler,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An untracked row of this node claimed two leases ago is deleted, logged and counted; a
    tracked claim, a recent row and another node's row stay."""
    scheduler.add_job(NOOP, "interval", minutes=10, start_date=T0, id="claimed", jobstore="default")
    (claimed,) = store.acquire_due_jobs(T0)  # tracked from here on: its run never ends
    row(store, "lost", "here", T0)
    live_node(store, "other")
    row(store, "elsewhere", "other", T0)
    errors = store.error_count
    beat_for(store, clock, 2 * LEASE)
    assert "lost" in keys(store)  # claimed exactly two leases ago: not before
    row(store, "recent", "here", clock.now() - timedelta(seconds=LEASE))
    with caplog.at_level(logging.WARNING):
        beat_for(store, clock, LEASE // 3)
    remaining = keys(store)
    assert "lost" not in remaining
    assert {"recent", "elsewhere"} <= remaining
    assert [k for k in remaining if k.startswith("here:")] != []  # the tracked claim's row
    assert store.error_count == errors + 1
    (warning,) = [
        r.getMessage() for r in caplog.records if "whose runs had ended" in r.getMessage()
    ]
    assert "lost" in warning
    assert claimed.id == "claimed"


def test_rows_of_orphaned_runs_stay_until_the_loop_settles_them(
    store: SQLAlchemyJobStore, clock: ManualClock
) -> None:
    """A dead node's rows taken over here are not deleted as untracked while their runs wait
    for the loop: a node dying before the loop took them leaves them to be reported again."""
    row(store, "dead", "gone", T0)
    beat_for(store, clock, 2 * LEASE)  # taken over: its node is now "here", still unsettled
    beat_for(store, clock, 3 * LEASE)
    assert "dead" in keys(store)


def test_a_claim_under_way_puts_the_clean_up_off(
    store: SQLAlchemyJobStore, clock: ManualClock
) -> None:
    """While a claim is being made (its rows may be committed and not tracked yet), the
    heartbeat deletes nothing; the next one after it does."""
    node = store._node
    assert node is not None
    row(store, "lost", "here", T0)
    beat_for(store, clock, 2 * LEASE)
    node.claims._claiming = 1  # as claim_due holds it from its start to its rows' tracking
    beat_for(store, clock, LEASE // 3)
    assert "lost" in keys(store)
    node.claims._claiming = 0
    beat_for(store, clock, LEASE // 3)
    assert "lost" not in keys(store)


def test_an_untracked_row_whose_run_never_began_is_run_again_not_deleted(
    store: SQLAlchemyJobStore, scheduler: ManualScheduler, clock: ManualClock
) -> None:
    """A row this node does not track whose run was never recorded begun (a claim whose commit
    the node could not confirm, say) is taken over like a dead node's: its run runs again."""
    job = Job(
        scheduler,
        id="unconfirmed",
        name="unconfirmed",
        func=NOOP,
        args=(),
        kwargs={},
        trigger=IntervalTrigger(minutes=10, start_date=T0, timezone=UTC),
        executor="default",
        next_run_time=T0,
        misfire_grace_time=None,
        coalesce=False,
        max_instances=1,
    )
    row(store, "unconfirmed", "here", T0, started_through=0, job=job)
    errors = store.error_count
    beat_for(store, clock, 2 * LEASE + LEASE // 3)
    orphans = store.take_orphaned_runs()
    assert [(o.job_id, list(o.run_times), o.error) for o in orphans] == [
        ("unconfirmed", [T0], None)
    ]
    assert "unconfirmed" in keys(store)  # the re-run's row, until it ends
    assert store.error_count == errors + 1


def test_the_clean_up_compares_any_number_of_tracked_runs(
    store: SQLAlchemyJobStore, clock: ManualClock
) -> None:
    """With more runs in flight than a statement can have parameters (65,535), the heartbeat
    still cleans up, and still takes over a dead node's runs."""
    node = store._node
    assert node is not None
    for index in range(70_000):
        node.claims.track(f"here:{index}", f"job{index}", [T0])
    row(store, "lost", "here", T0)
    row(store, "dead", "gone", T0)
    errors = store.error_count
    beat_for(store, clock, 2 * LEASE + LEASE // 3)
    assert "lost" not in keys(store)
    assert [o.job_id for o in store.take_orphaned_runs()] == ["dead"]
    assert store.error_count == errors + 1  # the lost row's clean-up
