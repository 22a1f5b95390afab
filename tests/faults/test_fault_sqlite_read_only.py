"""A SQLite job store whose database turns read-only under a running scheduler, then writable
again: runs go on and end once each, the failed saves are counted and retried, jobs of other
stores keep running, and /metrics answers all along.

The test runs as any user (root ignores file modes), so the database is made read-only the way
SQLite itself can be, per connection (``PRAGMA query_only``): every write then fails with
"attempt to write a readonly database", as on a read-only file.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fault_jobs
import pytest
from faultharness import RunLedger, Scraper, sample
from prometheus_client import CollectorRegistry
from sqlalchemy import event as sqlalchemy_event

from obssched.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED
from obssched.jobstores.memory import MemoryJobStore
from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.testing import ManualClock, ManualScheduler

pytestmark = [pytest.mark.faults, pytest.mark.slow]

EVERY = timedelta(seconds=10)
T0 = datetime(2024, 1, 1, tzinfo=UTC)


class ReadOnlySwitch:
    """Turns every connection the store checks out read-only, or writable again."""

    def __init__(self, store: SQLAlchemyJobStore) -> None:
        self.read_only = False
        self._engine = store.engine
        sqlalchemy_event.listen(self._engine, "checkout", self._checkout)

    def _checkout(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA query_only = {'ON' if self.read_only else 'OFF'}")
        cursor.close()

    def remove(self) -> None:
        sqlalchemy_event.remove(self._engine, "checkout", self._checkout)


@pytest.fixture
def scheduler(tmp_path: Path, registry: CollectorRegistry) -> Iterator[ManualScheduler]:
    sched = ManualScheduler(
        clock=ManualClock(T0),
        timezone="UTC",
        metrics_registry=registry,
        tracing=False,
        jobstore_retry_interval=10,
        jobstores={
            "default": SQLAlchemyJobStore(url=f"sqlite:///{tmp_path / 'jobs.sqlite'}"),
            "memory": MemoryJobStore(),
        },
    )
    yield sched
    if sched.running:
        sched.shutdown()


def test_a_database_turned_read_only_is_survived_and_counted(
    scheduler: ManualScheduler, registry: CollectorRegistry, metrics: Scraper
) -> None:
    """While the database is read-only, the stored job's saves fail and are counted, the store
    is retried, the memory store's job keeps running; once writable, the stored job runs on,
    and each of its run times ran, or was reported coalesced or missed."""
    ledger = RunLedger(scheduler)
    scheduler.add_job(fault_jobs.fine, "interval", seconds=10, id="stored", name="stored")
    scheduler.add_job(
        fault_jobs.fine, "interval", seconds=10, id="other", name="other", jobstore="memory"
    )
    scheduler.start()
    store = scheduler.context.jobstores["default"]
    assert isinstance(store, SQLAlchemyJobStore)
    switch = ReadOnlySwitch(store)
    clock = scheduler.clock
    assert isinstance(clock, ManualClock)
    try:
        clock.advance(EVERY)
        scheduler.tick()
        switch.read_only = True
        for _ in range(3):
            clock.advance(EVERY)
            scheduler.tick()
            assert metrics.scrape() == 200
        failures = sample(registry, "obssched_scheduler_errors_total", stage="store")
        assert up(registry) == 0.0
        switch.read_only = False
        for _ in range(3):
            clock.advance(EVERY)
            scheduler.tick()
            assert metrics.scrape() == 200
        assert up(registry) == 1.0
    finally:
        switch.remove()
    other = ledger.ended("other")
    assert [event.code for event in other] == [EVENT_JOB_EXECUTED] * 7
    assert failures
    assert accounted_for(ledger, "stored") == [EVERY * n for n in range(1, 8)]
    ledger.assert_each_run_ended_once()
    metrics.assert_always_answered()


def accounted_for(ledger: RunLedger, job_id: str) -> list[timedelta]:
    """Every run time of the job that ran, was coalesced into a run or was missed, as time
    since the clock's start."""
    times: list[datetime] = []
    for event in ledger.events:
        if getattr(event, "job_id", None) != job_id:
            continue
        if event.code in (EVENT_JOB_EXECUTED, EVENT_JOB_MISSED):
            times.append(event.scheduled_run_time)
        elif event.code == EVENT_JOB_SUBMITTED:
            times.extend(event.coalesced_run_times)
    return sorted(time - T0 for time in times)


def up(registry: CollectorRegistry) -> float | None:
    return sample(registry, "obssched_jobstore_up", jobstore="default")
