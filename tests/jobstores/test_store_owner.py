"""Outside cluster mode, a SQL store is served by one scheduler at a time."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from obssched.clock import SystemClock
from obssched.exceptions import StoreInUseError
from obssched.jobstores._sql.codec import to_micros
from obssched.jobstores._sql.schema import SCHEMA_VERSION
from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.testing import ManualClock, ManualScheduler

from . import jobfuncs

LEASE = 60.0  # long enough that no real-time heartbeat fires during a test

StoreFactory = Callable[..., SQLAlchemyJobStore]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Creates stores on one and the same set of tables (an SQLite file, or a PostgreSQL
    schema of this test)."""
    if request.param == "sqlite":
        options: dict[str, Any] = {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"}
    else:
        options = {
            "url": request.getfixturevalue("postgres_url"),
            "tableschema": request.getfixturevalue("pg_schema"),
        }

    def make(**extra: Any) -> SQLAlchemyJobStore:
        return SQLAlchemyJobStore(**{"lease_seconds": LEASE, **options, **extra})

    return make


@pytest.fixture
def schedulers(clock: ManualClock) -> Iterator[Callable[..., ManualScheduler]]:
    """Makes manual schedulers on the shared manual clock; those running are shut down."""
    made: list[ManualScheduler] = []

    def scheduler(store: SQLAlchemyJobStore) -> ManualScheduler:
        sched = ManualScheduler(clock=clock, metrics=False, tracing=False, timezone="UTC")
        sched.add_jobstore(store)
        made.append(sched)
        return sched

    yield scheduler
    for sched in made:
        if sched.running:
            sched.shutdown()


def test_a_second_scheduler_refuses_a_store_a_live_one_serves(
    make_store: StoreFactory, schedulers: Callable[..., ManualScheduler], clock: ManualClock
) -> None:
    """The second start raises StoreInUseError naming the first process, host and since when."""
    first = schedulers(make_store(node_id="node-a"))
    first.start()
    started = clock.now()
    clock.advance(LEASE / 2)
    with pytest.raises(StoreInUseError) as refused:
        schedulers(make_store(node_id="node-b")).start()
    error = refused.value
    assert (error.host, error.pid, error.node_id) == (socket.gethostname(), os.getpid(), "node-a")
    assert error.since == started
    assert error.expires == started + timedelta(seconds=LEASE)
    assert f"process {os.getpid()}" in str(error)
    assert "cluster=True" in str(error)


def test_the_first_scheduler_keeps_running_its_jobs_and_none_runs_twice(
    make_store: StoreFactory, schedulers: Callable[..., ManualScheduler], clock: ManualClock
) -> None:
    """After a second scheduler is refused, the first runs each due run exactly once."""
    jobfuncs.CALLS.clear()
    first = schedulers(make_store())
    first.start()
    first.add_job(jobfuncs.record, "interval", seconds=10, args=["tick"], id="every10")
    second = schedulers(make_store())
    with pytest.raises(StoreInUseError):
        second.start()
    for _ in range(3):
        clock.advance(10)
        first.tick()
    assert not second.running
    assert jobfuncs.CALLS == [(("tick",), {})] * 3


def test_a_stale_owner_is_taken_over_with_a_warning_naming_it(
    make_store: StoreFactory,
    schedulers: Callable[..., ManualScheduler],
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A row not refreshed for a whole lease (its process died) is taken, and the log says
    whose it was."""
    schedulers(make_store(node_id="node-dead")).start()
    clock.advance(LEASE + 1)
    with caplog.at_level(logging.WARNING, logger="obssched"):
        schedulers(make_store(node_id="node-new")).start()
    warnings = [r.getMessage() for r in caplog.records if "Took over job store" in r.getMessage()]
    assert len(warnings) == 1
    assert f"process {os.getpid()}" in warnings[0]
    assert "'node-dead'" in warnings[0]


def test_the_dead_owners_shutdown_does_not_release_the_new_owners_claim(
    make_store: StoreFactory, schedulers: Callable[..., ManualScheduler], clock: ManualClock
) -> None:
    """A scheduler whose store was taken over deletes only its own row when it shuts down."""
    stale = schedulers(make_store(node_id="node-stale"))
    stale.start()
    clock.advance(LEASE + 1)
    schedulers(make_store(node_id="node-new")).start()
    stale.shutdown()
    with pytest.raises(StoreInUseError) as refused:
        schedulers(make_store(node_id="node-third")).start()
    assert refused.value.node_id == "node-new"


def test_shutdown_releases_the_store_so_a_restart_starts_at_once(
    make_store: StoreFactory, schedulers: Callable[..., ManualScheduler]
) -> None:
    """A scheduler started right after the previous one shut down is not refused."""
    first = schedulers(make_store())
    first.start()
    first.shutdown()
    restarted = schedulers(make_store())
    restarted.start()
    assert restarted.running


@pytest.mark.parametrize(
    "open_store",
    [
        pytest.param(lambda make: make().start(None, "default"), id="started-without-scheduler"),
        pytest.param(
            lambda make: make(exclusive=False).start(
                ManualScheduler(metrics=False, tracing=False), "default"
            ),
            id="exclusive-false",
        ),
    ],
)
def test_a_store_opened_for_administration_takes_nothing(
    make_store: StoreFactory,
    schedulers: Callable[..., ManualScheduler],
    open_store: Callable[[StoreFactory], None],
) -> None:
    """Opened beside a running scheduler, it starts, and leaves the store to that scheduler."""
    owner = schedulers(make_store(node_id="node-a"))
    owner.start()
    stores: list[SQLAlchemyJobStore] = []

    def make(**extra: Any) -> SQLAlchemyJobStore:
        stores.append(make_store(**extra))
        return stores[-1]

    open_store(make)
    stores[0].shutdown()
    owner.shutdown()
    schedulers(make_store(node_id="node-b")).start()


def test_a_version_1_store_gets_the_owner_table(
    make_store: StoreFactory, schedulers: Callable[..., ManualScheduler]
) -> None:
    """Tables written by an obssched before the owner table are read, and upgraded in place."""
    old = make_store()
    old.start(None, "default")
    meta, owner = old.tables.meta, old.tables.owner
    with old.engine.begin() as conn:
        owner.drop(conn)
        conn.execute(update(meta).where(meta.c.name == "schema_version").values(value="1"))
    old.shutdown()
    store = make_store()
    schedulers(store).start()
    with store.engine.begin() as conn:
        version = conn.execute(meta.select()).one().value
        owners = conn.execute(owner.select()).all()
    assert [row.node_id for row in owners] == [store.node_id]
    assert int(version) == SCHEMA_VERSION


def _leave_row(
    store: SQLAlchemyJobStore, clock: ManualClock, node_id: str, host: str, pid: int
) -> None:
    """Write the owner row a killed process left a moment ago (it never shut down)."""
    now = to_micros(clock.now())
    store.start(None, "default")  # creates the tables; takes nothing
    with store.engine.begin() as conn:
        conn.execute(
            store.tables.owner.insert().values(
                slot="scheduler",
                token="killed",
                node_id=node_id,
                host=host,
                pid=pid,
                since=now,
                last_seen=now,
            )
        )
    store.shutdown()


def _ended_pid() -> int:
    """The id of a process of this host that has ended (and been reaped)."""
    with subprocess.Popen([sys.executable, "-c", "pass"]) as child:
        child.wait()
    return child.pid


HERE = socket.gethostname()


@pytest.mark.parametrize(
    ("node_id", "host", "pid"),
    [
        pytest.param("solo", "another-host", 4242, id="same-node-id-on-another-host"),
        pytest.param("any", HERE, os.getpid(), id="this-process-id-reused"),
        pytest.param("any", HERE, None, id="process-of-this-host-ended"),
    ],
)
def test_a_restart_takes_over_from_a_killed_process_at_once(
    make_store: StoreFactory,
    schedulers: Callable[..., ManualScheduler],
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    node_id: str,
    host: str,
    pid: int | None,
) -> None:
    """A fresh row of a process that no longer runs (or of this node id) is taken at once,
    with a warning, rather than after the lease."""
    _leave_row(make_store(), clock, node_id, host, pid if pid is not None else _ended_pid())
    with caplog.at_level(logging.WARNING, logger="obssched"):
        restarted = schedulers(make_store(node_id="solo"))
        restarted.start()
    assert restarted.running
    assert any("was killed" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("host", "pid"),
    [
        pytest.param(HERE, os.getppid(), id="running-process-of-this-host"),
        pytest.param("another-host", 4242, id="process-of-another-host"),
    ],
)
def test_a_fresh_row_of_another_live_node_is_refused(
    make_store: StoreFactory,
    schedulers: Callable[..., ManualScheduler],
    clock: ManualClock,
    host: str,
    pid: int,
) -> None:
    """A row of another node id, within the lease, whose process may run, refuses the start."""
    _leave_row(make_store(), clock, "elsewhere", host, pid)
    with pytest.raises(StoreInUseError) as refused:
        schedulers(make_store(node_id="solo")).start()
    assert (refused.value.node_id, refused.value.host, refused.value.pid) == (
        "elsewhere",
        host,
        pid,
    )


def _poll(what: str, check: Callable[[], bool], timeout: float = 20) -> None:
    """Wait (real time) until ``check()`` holds; fail after ``timeout`` seconds."""
    deadline = SystemClock().monotonic() + timeout
    while not check():
        if SystemClock().monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        threading.Event().wait(0.02)


@pytest.mark.realtime
def test_the_heartbeat_keeps_the_store_taken_past_the_first_lease(
    make_store: StoreFactory, schedulers: Callable[..., ManualScheduler], clock: ManualClock
) -> None:
    """The owner refreshes its row with the scheduler's clock, so a lease after its start a
    second scheduler is still refused."""
    store = make_store(lease_seconds=0.3)
    schedulers(store).start()
    clock.advance(0.2)
    beat = to_micros(clock.now())

    def refreshed() -> bool:
        with store.engine.connect() as conn:
            return bool(conn.execute(store.tables.owner.select()).one().last_seen == beat)

    _poll("a heartbeat", refreshed)
    clock.advance(0.2)
    with pytest.raises(StoreInUseError):
        schedulers(make_store(lease_seconds=0.3)).start()


@pytest.mark.realtime
def test_an_owner_whose_store_was_taken_over_logs_an_error(
    make_store: StoreFactory,
    schedulers: Callable[..., ManualScheduler],
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A scheduler that finds, at a heartbeat, that another took its store over says so."""
    caplog.set_level(logging.ERROR, logger="obssched")
    schedulers(make_store(lease_seconds=0.3, node_id="node-slow")).start()
    later = ManualScheduler(
        clock=ManualClock(clock.now() + timedelta(seconds=10)),
        metrics=False,
        tracing=False,
        timezone="UTC",
    )
    later.add_jobstore(make_store(lease_seconds=0.3, node_id="node-later"))
    later.start()
    try:
        _poll(
            "the error",
            lambda: any("took the job store over" in r.getMessage() for r in caplog.records),
        )
    finally:
        later.shutdown()
    message = next(r.getMessage() for r in caplog.records if "took the job" in r.getMessage())
    assert "'node-later'" in message


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"], ids=["bare", "memory"])
def test_an_in_memory_sqlite_store_is_not_taken(
    url: str, schedulers: Callable[..., ManualScheduler]
) -> None:
    """A database no other process can open gets no owner row (and no heartbeat thread on its
    one shared connection)."""
    store = SQLAlchemyJobStore(url=url)
    schedulers(store).start()
    with store.engine.connect() as conn:
        assert conn.execute(store.tables.owner.select()).all() == []
    assert not [t for t in threading.enumerate() if t.name.startswith("obssched-owner")]
