"""The connection the start marks and run ends are written on: kept out of the store's pool,
so it never holds a slot the claims need, and closed for good when the store shuts down."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine

from obssched.jobstores._sql.engine import HeldConnection
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


class RecordedConnection:
    """A connection of :class:`RecordingEngine`: says whether it was detached and closed."""

    def __init__(self) -> None:
        self.detached = False
        self.closed = False
        self.invalidated = False
        self.connection = self  # the pool's proxy...
        self.dbapi_connection = self  # ...and the DB-API connection: all one here

    def __enter__(self) -> RecordedConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def execution_options(self, **options: Any) -> RecordedConnection:
        """Options are accepted and ignored."""
        return self

    def detach(self) -> None:
        """Taken out of the pool."""
        self.detached = True

    def commit(self) -> None:
        """Nothing to commit."""

    def close(self) -> None:
        """Closed (or given back to the pool, if not detached)."""
        self.closed = True


class RecordingEngine:
    """Stands in for the store's engine: records every connection it opens."""

    def __init__(self) -> None:
        self.opened: list[RecordedConnection] = []

    def connect(self) -> RecordedConnection:
        """A new recorded connection."""
        self.opened.append(RecordedConnection())
        return self.opened[-1]


def test_a_write_after_the_connection_was_closed_leaves_no_connection_open() -> None:
    """Closing is final: a later write (a run ending after the store shut down) takes a
    connection out of the pool and closes it at once (given back, it would stay open in the
    pool the shutdown left behind)."""
    engine = RecordingEngine()
    held = HeldConnection(engine)  # type: ignore[arg-type]
    held.run(lambda conn: None)
    held.close()
    held.run(lambda conn: None)
    assert [(conn.detached, conn.closed) for conn in engine.opened] == [
        (True, True),
        (True, True),
    ]


@pytest.mark.postgresql
def test_a_write_after_the_store_shut_down_leaves_no_database_connection_open(
    postgres_url: str, pg_schema: str
) -> None:
    """A run end written after the shutdown opens a connection and closes it: the database
    counts none of the store's connections afterwards."""
    name = f"marks-{pg_schema}"[:60]
    store = SQLAlchemyJobStore(
        url=postgres_url, tableschema=pg_schema, cluster=True, node_id="here",
        engine_options={"connect_args": {"application_name": name}},
    )  # fmt: skip
    scheduler = ManualScheduler(clock=ManualClock(T0), metrics=False, tracing=False, timezone="UTC")
    scheduler.add_jobstore(store)
    scheduler.start(paused=True)
    scheduler.shutdown()
    store._marks_connection.run(lambda conn: conn.exec_driver_sql("select 1"))
    admin = create_engine(postgres_url)
    try:
        with admin.connect() as conn:
            count = conn.exec_driver_sql(
                "select count(*) from pg_stat_activity where application_name = %(name)s",
                {"name": name},
            ).scalar_one()
    finally:
        admin.dispose()
    assert count == 0
