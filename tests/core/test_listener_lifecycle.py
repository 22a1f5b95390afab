"""Listeners come and go with the scheduler: what obssched subscribes at start() is gone after
shutdown(), for every scheduler class and job store; the user's own listeners stay."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from obssched.events import EVENT_ALL, EVENT_SCHEDULER_STARTED
from obssched.jobstores.base import BaseJobStore
from obssched.jobstores.memory import MemoryJobStore
from obssched.schedulers.asyncio import AsyncIOScheduler
from obssched.schedulers.background import BackgroundScheduler
from obssched.schedulers.base import BaseScheduler
from obssched.schedulers.blocking import BlockingScheduler
from obssched.testing import InlineExecutor, ManualScheduler

StoreFactory = Callable[[Path, pytest.FixtureRequest], BaseJobStore]


def _memory(tmp_path: Path, request: pytest.FixtureRequest) -> BaseJobStore:
    return MemoryJobStore()


def _sqlite(tmp_path: Path, request: pytest.FixtureRequest) -> BaseJobStore:
    from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore

    return SQLAlchemyJobStore(url=f"sqlite:///{tmp_path / 'jobs.sqlite'}")


def _postgres_cluster(tmp_path: Path, request: pytest.FixtureRequest) -> BaseJobStore:
    from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore

    # The shared fixtures skip without a server, and fail in CI where one is required.
    url: str = request.getfixturevalue("postgres_url")
    schema: str = request.getfixturevalue("pg_schema")
    return SQLAlchemyJobStore(url=url, tableschema=schema, cluster=True)


STORES = [
    pytest.param(_memory, id="memory"),
    pytest.param(_sqlite, id="sqlite"),
    pytest.param(_postgres_cluster, id="postgresql-cluster", marks=pytest.mark.postgresql),
]


def user_listener(event: Any) -> None:
    """The application's own listener: it must outlive every shutdown."""


def _options(store: BaseJobStore) -> dict[str, Any]:
    return {
        "jobstores": {"default": store},
        "timezone": "UTC",
        "metrics": True,
        "metrics_registry": CollectorRegistry(),
        "tracing": False,
    }


def _start_and_stop_manual(scheduler: BaseScheduler, during: Callable[[], None]) -> None:
    scheduler.start()
    during()
    scheduler.shutdown()


def _start_and_stop_background(scheduler: BaseScheduler, during: Callable[[], None]) -> None:
    scheduler.start()
    during()
    scheduler.shutdown()


def _start_and_stop_blocking(scheduler: BaseScheduler, during: Callable[[], None]) -> None:
    started = threading.Event()

    def on_started(event: Any) -> None:
        started.set()

    scheduler.add_listener(on_started, EVENT_SCHEDULER_STARTED)
    thread = threading.Thread(target=scheduler.start, name="blocking-under-test")
    thread.start()
    assert started.wait(10), "the blocking scheduler never started"
    scheduler.remove_listener(on_started)
    during()
    scheduler.shutdown()
    thread.join(10)
    assert not thread.is_alive()


def _start_and_stop_asyncio(scheduler: BaseScheduler, during: Callable[[], None]) -> None:
    async def run() -> None:
        scheduler.start()
        await asyncio.sleep(0)
        during()
        scheduler.shutdown()

    asyncio.run(run())


SCHEDULERS = [
    pytest.param(ManualScheduler, _start_and_stop_manual, id="manual"),
    pytest.param(
        BackgroundScheduler, _start_and_stop_background, id="background", marks=pytest.mark.realtime
    ),
    pytest.param(
        BlockingScheduler, _start_and_stop_blocking, id="blocking", marks=pytest.mark.realtime
    ),
    pytest.param(AsyncIOScheduler, _start_and_stop_asyncio, id="asyncio"),
]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BaseJobStore:
    factory: StoreFactory = request.param
    return factory(tmp_path, request)


@pytest.mark.parametrize(("scheduler_class", "start_and_stop"), SCHEDULERS)
def test_shutdown_leaves_only_the_users_listeners_on_the_bus(
    scheduler_class: type[BaseScheduler],
    start_and_stop: Callable[[BaseScheduler, Callable[[], None]], None],
    store: BaseJobStore,
) -> None:
    """After shutdown() the bus holds what the user added, and nothing obssched subscribed."""
    scheduler = scheduler_class(**_options(store))
    scheduler.add_listener(user_listener)
    running: list[tuple[Any, ...]] = []
    start_and_stop(scheduler, lambda: running.append(scheduler.context.events.callbacks))
    assert len(running[0]) > 1, "obssched subscribed nothing while running: nothing was tested"
    assert scheduler.context.events.callbacks == (user_listener,)


@pytest.mark.parametrize(("scheduler_class", "start_and_stop"), SCHEDULERS)
def test_a_restart_subscribes_what_the_first_start_did(
    scheduler_class: type[BaseScheduler],
    start_and_stop: Callable[[BaseScheduler, Callable[[], None]], None],
    store: BaseJobStore,
) -> None:
    """Starting again after a shutdown subscribes the same listeners again, no more."""
    scheduler = scheduler_class(**_options(store))
    seen: list[int] = []
    for _ in range(2):
        start_and_stop(scheduler, lambda: seen.append(len(scheduler.context.events.callbacks)))
    assert seen[0] == seen[1]
    assert scheduler.context.events.callbacks == ()


class _Owner:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def on_event(self, event: Any) -> None:
        self.events.append(event)


def test_remove_listener_takes_a_bound_method_fetched_again(scheduler: ManualScheduler) -> None:
    """remove_listener(obj.method) removes add_listener(obj.method), as in APScheduler."""
    owner = _Owner()
    scheduler.add_listener(owner.on_event)
    scheduler.remove_listener(owner.on_event)
    assert scheduler.context.events.callbacks == ()


def test_remove_listener_leaves_the_same_method_of_another_object(
    scheduler: ManualScheduler,
) -> None:
    """Bound methods of two objects are different listeners."""
    first, second = _Owner(), _Owner()
    scheduler.add_listener(first.on_event, EVENT_ALL)
    scheduler.add_listener(second.on_event, EVENT_ALL)
    scheduler.remove_listener(first.on_event)
    assert scheduler.context.events.callbacks == (second.on_event,)


def test_a_memory_store_started_twice_is_started_once(scheduler: ManualScheduler) -> None:
    """Starting a started store again (as a program that checks it first does) changes
    nothing on the bus."""
    store = MemoryJobStore()
    store.start(scheduler, "default")
    before = scheduler.context.events.callbacks
    store.start(scheduler, "default")
    assert scheduler.context.events.callbacks == before


class _RefusingStore(MemoryJobStore):
    """A store that refuses to start, as a SQL store in use by another scheduler does."""

    def start(self, scheduler: Any, alias: str) -> None:
        raise RuntimeError("in use by another scheduler")


class _RecordingExecutor(InlineExecutor):
    """An executor that records its shutdowns."""

    def __init__(self) -> None:
        super().__init__()
        self.shutdowns: list[bool] = []

    def shutdown(self, wait: bool = True) -> None:
        self.shutdowns.append(wait)
        super().shutdown(wait)


def test_a_start_refused_by_a_store_leaves_nothing_running() -> None:
    """When a job store refuses to start, start() raises and stops what it had started: the
    executors are shut down, the stores before it too, and nothing obssched subscribed stays."""
    executor = _RecordingExecutor()
    first = MemoryJobStore()
    scheduler = ManualScheduler(
        metrics_registry=CollectorRegistry(),
        executors={"default": executor},
        jobstores={"default": first, "refusing": _RefusingStore()},
    )
    scheduler.add_listener(user_listener)
    with pytest.raises(RuntimeError, match="in use by another scheduler"):
        scheduler.start()
    assert executor.shutdowns == [False]
    assert not scheduler.running
    assert scheduler.context.events.callbacks == (user_listener,)
