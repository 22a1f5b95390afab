"""The connection the start marks and run ends are written on: kept out of the store's pool,
so it never holds a slot the claims need, and closed for good when the store shuts down."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine

from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.testing import ManualClock, ManualScheduler

from .doubles import HeldExecutor

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOOP = "jobstores.jobfuncs:noop"


@pytest.fixture
def one_slot_engine(postgres_url: str) -> Iterator[Engine]:
    """A user's engine whose pool holds a single connection (and waits 1 s for it)."""
    engine = create_engine(postgres_url, pool_size=1, max_overflow=0, pool_timeout=1)
    yield engine
    engine.dispose()


@pytest.mark.postgresql
def test_a_node_on_a_one_connection_pool_claims_again_after_a_run_began(
    one_slot_engine: Engine, pg_schema: str
) -> None:
    """Once a run began (its mark written), the pool's one connection is free and the next
    step claims the next run."""
    clock = ManualClock(T0)
    held = HeldExecutor()
    scheduler = ManualScheduler(clock=clock, metrics=False, tracing=False, timezone="UTC")
    scheduler.add_executor(held, "default")
    store = SQLAlchemyJobStore(
        engine=one_slot_engine, tableschema=pg_schema, cluster=True, node_id="here",
        lease_seconds=60,
    )  # fmt: skip
    scheduler.add_jobstore(store)
    scheduler.start(paused=True)
    try:
        scheduler.add_job(NOOP, "interval", minutes=1, start_date=T0, id="j")
        scheduler.resume()
        scheduler.tick()
        assert held.begin() == 1
        assert one_slot_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        clock.advance(timedelta(minutes=1))
        scheduler.tick()
        assert len(held.items) == 1
        assert store.error_count == 0
    finally:
        scheduler.shutdown()
