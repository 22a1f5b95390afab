"""How a claimed run's end reaches the node: whatever event ends it, the run leaves the node's
queue and its ``_running`` row is deleted, before anything the end sets off can count it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from obssched.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED
from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.testing import EventRecorder, ManualClock, ManualScheduler

from .doubles import Aps3StyleExecutor
from .readings import queued, running_rows

# Long past: run_job, as in APScheduler 3, judges lateness by the system clock.
T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOOP = "jobstores.jobfuncs:noop"


class EagerScheduler(ManualScheduler):
    """A manual scheduler whose loop, woken once :attr:`eager` is set, runs its step at once
    (before the code that woke it goes on), as a loop thread that gets there first does."""

    def __init__(self, **options: Any) -> None:
        self.eager = False
        self.eager_ticks = 0
        self.on_wakeup: Callable[[], None] | None = None
        super().__init__(**options)

    def wakeup(self) -> None:
        """Count the request and call :attr:`on_wakeup`; if eager, run one step in the waking
        thread (once)."""
        super().wakeup()
        if self.on_wakeup is not None:
            self.on_wakeup()
        if self.eager:
            self.eager = False
            self.eager_ticks += 1
            self.tick()


@pytest.fixture
def executor() -> Aps3StyleExecutor:
    """An APScheduler 3-style executor that runs its work items when the test says."""
    return Aps3StyleExecutor()


@pytest.fixture
def clock() -> ManualClock:
    """A manual clock at T0."""
    return ManualClock(T0)


@pytest.fixture
def scheduler(clock: ManualClock, executor: Aps3StyleExecutor) -> Iterator[EagerScheduler]:
    """An eager manual scheduler on the APScheduler 3-style executor."""
    scheduler = EagerScheduler(clock=clock, metrics=False, tracing=False, timezone="UTC")
    scheduler.add_executor(executor, "default")
    yield scheduler
    if scheduler.running:
        scheduler.shutdown()


def start_node(scheduler: ManualScheduler, url: str, schema: str, room: int) -> SQLAlchemyJobStore:
    """Start node "here" (queue limit ``room``) on a paused ``scheduler``."""
    store = SQLAlchemyJobStore(
        url=url,
        tableschema=schema,
        cluster=True,
        node_id="here",
        lease_seconds=60,
        max_queued_runs=room,
    )
    scheduler.add_jobstore(store)
    scheduler.start(paused=True)
    return store


@pytest.mark.postgresql
def test_a_run_its_executor_reports_missed_ends_its_claim(
    scheduler: EagerScheduler, executor: Aps3StyleExecutor, postgres_url: str, pg_schema: str
) -> None:
    """A run that waited past its grace time for an APScheduler 3-style executor (reported
    ``EVENT_JOB_MISSED``) leaves the queue and deletes its ``_running`` row, as a run that ran."""
    store = start_node(scheduler, postgres_url, pg_schema, room=5)
    scheduler.add_job(NOOP, "interval", minutes=1, start_date=T0, id="m", misfire_grace_time=1)
    scheduler.resume()
    recorder = EventRecorder(scheduler)
    scheduler.tick()
    assert (queued(store), running_rows(store)) == (1, 1)
    executor.run_pending()
    assert [event.job_id for event in recorder.of(EVENT_JOB_MISSED)] == ["m"]
    assert (queued(store), running_rows(store)) == (0, 0)


@pytest.mark.postgresql
def test_the_claim_an_end_wakes_does_not_count_the_run_that_ended(
    scheduler: EagerScheduler,
    executor: Aps3StyleExecutor,
    clock: ManualClock,
    postgres_url: str,
    pg_schema: str,
) -> None:
    """The end that drains a full queue wakes the loop only once its row's delete is queued: the
    step it sets off claims the job again and runs it, refusing nothing for ``max_instances``."""
    store = start_node(scheduler, postgres_url, pg_schema, room=2)
    scheduler.add_job(NOOP, "interval", minutes=1, start_date=T0, id="a", misfire_grace_time=None)
    scheduler.add_job(NOOP, "interval", minutes=5, start_date=T0, id="b", misfire_grace_time=None)
    scheduler.resume()
    scheduler.tick()
    assert store.get_next_run_time() is None  # full: only an end wakes the loop
    recorder = EventRecorder(scheduler)
    clock.advance(timedelta(minutes=1))
    scheduler.eager = True
    executor.run_pending()
    assert scheduler.eager_ticks == 1
    assert recorder.of(EVENT_JOB_MAX_INSTANCES) == []
    submitted = [event.job_id for event in recorder.of(EVENT_JOB_SUBMITTED)]
    assert submitted == ["a"]


@pytest.mark.postgresql
def test_an_end_that_wakes_the_loop_leaves_its_delete_to_the_step_it_wakes(
    scheduler: EagerScheduler, executor: Aps3StyleExecutor, postgres_url: str, pg_schema: str
) -> None:
    """The end that drains a full queue wakes the loop before writing its row's delete (the
    wakeup waits for no write); the step it wakes writes it first."""
    store = start_node(scheduler, postgres_url, pg_schema, room=2)
    scheduler.add_job(NOOP, "interval", minutes=1, start_date=T0, id="a", misfire_grace_time=None)
    scheduler.add_job(NOOP, "interval", minutes=5, start_date=T0, id="b", misfire_grace_time=None)
    scheduler.resume()
    scheduler.tick()
    rows_at_wakeup: list[int] = []
    scheduler.on_wakeup = lambda: rows_at_wakeup.append(running_rows(store))
    executor.run_pending()
    assert rows_at_wakeup[:1] == [2]
    scheduler.on_wakeup = None
    scheduler.tick()
    assert running_rows(store) == 0
