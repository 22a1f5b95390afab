"""Fixtures for the job store tests: a manual scheduler and each kind of store to test.

Besides obssched's own stores, the contract suite runs against a store written for APScheduler
3: the ``RedisJobStore`` of the installed APScheduler 3.11, loaded from its source with its
``apscheduler`` imports pointed at ``obssched`` (nothing of it is copied into this project).
"""

from __future__ import annotations

import importlib.util
import re
import types
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from obssched.jobstores.base import BaseJobStore
from obssched.jobstores.memory import MemoryJobStore
from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.testing import EventRecorder, ManualClock, ManualScheduler


def load_apscheduler3_store(module: str, name: str) -> type[BaseJobStore]:
    """The class ``name`` of APScheduler 3's ``apscheduler/jobstores/<module>.py``, executed
    with its imports of ``apscheduler`` rewritten to ``obssched``: a third-party store as its
    authors wrote it for APScheduler 3."""
    spec = importlib.util.find_spec("apscheduler")
    assert spec is not None
    assert spec.submodule_search_locations is not None
    path = Path(next(iter(spec.submodule_search_locations))) / "jobstores" / f"{module}.py"
    source = re.sub(
        r"^(\s*)(from|import) apscheduler\b",
        r"\1\2 obssched",
        path.read_text(encoding="utf-8"),
        flags=re.MULTILINE,
    )
    namespace = types.ModuleType(f"apscheduler3_{module}_store")
    exec(compile(source, str(path), "exec"), namespace.__dict__)
    store_class: type[BaseJobStore] = getattr(namespace, name)
    return store_class


def redis_store(request: pytest.FixtureRequest) -> BaseJobStore:
    """APScheduler 3's RedisJobStore on the test Redis server, under keys of this test only
    (deleted afterwards)."""
    url: str = request.getfixturevalue("redis_url")
    import redis

    options: dict[str, Any] = redis.connection.parse_url(url)
    prefix = f"obssched-test-{uuid.uuid4().hex[:12]}"
    keys = {"jobs_key": f"{prefix}.jobs", "run_times_key": f"{prefix}.run_times"}

    def clean_up() -> None:
        with redis.Redis(**options) as client:
            client.delete(*keys.values())

    request.addfinalizer(clean_up)
    store_class = load_apscheduler3_store("redis", "RedisJobStore")
    return store_class(**options, **keys)  # type: ignore[call-arg]


@pytest.fixture
def clock() -> ManualClock:
    """A manual clock at 2024-01-01 00:00 UTC."""
    return ManualClock("2024-01-01T00:00:00+00:00")


def make_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> BaseJobStore:
    """Create a store of ``kind``: memory, sqlite (a file under ``tmp_path``), postgresql or
    redis (APScheduler 3's own store)."""
    if kind == "memory":
        return MemoryJobStore()
    if kind == "redis":
        return redis_store(request)
    if kind == "sqlite":
        return SQLAlchemyJobStore(url=f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    schema = request.getfixturevalue("pg_schema")
    return SQLAlchemyJobStore(url=request.getfixturevalue("postgres_url"), tableschema=schema)


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("redis", marks=pytest.mark.redis, id="apscheduler3-redis"),
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
