"""Fixtures for the job store tests: a manual scheduler and each kind of store to test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from obssched.jobstores.base import BaseJobStore
from obssched.jobstores.memory import MemoryJobStore
from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.testing import EventRecorder, ManualClock, ManualScheduler


@pytest.fixture
def clock() -> ManualClock:
    """A manual clock at 2024-01-01 00:00 UTC."""
    return ManualClock("2024-01-01T00:00:00+00:00")


def make_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> BaseJobStore:
    """Create a store of ``kind``: memory, sqlite (a file under ``tmp_path``) or postgresql."""
    if kind == "memory":
        return MemoryJobStore()
    if kind == "sqlite":
        return SQLAlchemyJobStore(url=f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    schema = request.getfixturevalue("pg_schema")
    return SQLAlchemyJobStore(url=request.getfixturevalue("postgres_url"), tableschema=schema)


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgresql),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BaseJobStore:
    """Each kind of job store, not started."""
    return make_store(request.param, tmp_path, request)


@pytest.fixture
def scheduler(store: BaseJobStore, clock: ManualClock) -> Iterator[ManualScheduler]:
    """A started manual scheduler whose default job store is ``store``."""
    sched = ManualScheduler(clock=clock, metrics=False, tracing=False, timezone="UTC")
    sched.add_jobstore(store)
    sched.start()
    yield sched
    if sched.running:
        sched.shutdown()


@pytest.fixture
def recorder(scheduler: ManualScheduler) -> EventRecorder:
    """Records the scheduler's events."""
    return EventRecorder(scheduler)
