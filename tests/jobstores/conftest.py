"""Fixtures for the job store tests: a manual scheduler and each kind of store to test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from obssched.jobstores.base import BaseJobStore
from obssched.jobstores.memory import MemoryJobStore
from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.testing import EventRecorder, ManualClock, ManualScheduler

POSTGRES_URL = os.environ.get(
    "OBSSCHED_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_answers() -> str | None:
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        return str(exc.orig)
    finally:
        engine.dispose()
    return None


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test server's URL; skips (fails under CI) when no PostgreSQL answers."""
    problem = _postgres_answers()
    if problem is not None:
        message = f"PostgreSQL at {POSTGRES_URL} does not answer: {problem}"
        if os.environ.get("OBSSCHED_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return POSTGRES_URL


@pytest.fixture
def pg_schema(postgres_url: str) -> Iterator[str]:
    """A fresh database schema for one test, dropped afterwards."""
    name = f"obssched_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    yield name
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    engine.dispose()


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
