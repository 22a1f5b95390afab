"""shutdown(wait=True, timeout=...) returns by its timeout, reporting each run still going as
abandoned once; a shutdown from inside a job or listener does not wait for itself."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import timeout_jobs

from obssched.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_SUBMITTED
from obssched.exceptions import JobAbandonedAtShutdownError, JobAbandonedError
from obssched.executors.pool import ProcessPoolExecutor, ThreadPoolExecutor
from obssched.schedulers.asyncio import AsyncIOScheduler
from obssched.schedulers.background import BackgroundScheduler
from obssched.schedulers.blocking import BlockingScheduler
from obssched.testing import EventRecorder

TERMINAL = EVENT_JOB_EXECUTED | EVENT_JOB_ERROR
pytestmark = [pytest.mark.realtime, pytest.mark.faults]


@pytest.fixture(autouse=True)
def release_blocked_jobs() -> Iterator[None]:
    timeout_jobs.release.clear()
    yield
    timeout_jobs.release.set()


def options() -> dict[str, Any]:
    return {"timezone": "UTC", "metrics": False, "tracing": False}


def assert_abandoned_once(recorder: EventRecorder, job_id: str) -> None:
    (event,) = recorder.of(TERMINAL)
    assert (event.code, event.job_id) == (EVENT_JOB_ERROR, job_id)
    assert isinstance(event.exception, JobAbandonedAtShutdownError)
    assert isinstance(event.exception, JobAbandonedError)
    assert event.exception.waited == 0.2


def test_background_shutdown_with_a_timeout_abandons_a_hung_thread_run() -> None:
    """BackgroundScheduler.shutdown(timeout=...) returns with the hung run reported abandoned,
    and the thread's late result adds no second terminal event."""
    executor = ThreadPoolExecutor(1)
    sched = BackgroundScheduler(executors={"default": executor}, **options())
    recorder = EventRecorder(sched)
    gate = timeout_jobs.Gate()
    sched.start()
    sched.add_job(gate, id="hung")
    assert gate.started.wait(10)
    sched.shutdown(timeout=0.2)
    assert_abandoned_once(recorder, "hung")
    gate.opened.set()
    executor.shutdown(wait=True)  # joins the worker: its late end has been dropped by now
    assert len(recorder.of(TERMINAL)) == 1


def test_blocking_shutdown_with_a_timeout_returns_from_start() -> None:
    """A BlockingScheduler running in a thread stops by the timeout, its hung run abandoned."""
    sched = BlockingScheduler(executors={"default": ThreadPoolExecutor(1)}, **options())
    recorder = EventRecorder(sched)
    gate = timeout_jobs.Gate()
    sched.add_job(gate, id="hung")
    loop = threading.Thread(target=sched.start, daemon=True)
    loop.start()
    assert gate.started.wait(10)
    sched.shutdown(timeout=0.2)
    loop.join(10)
    assert not loop.is_alive()
    assert_abandoned_once(recorder, "hung")
    gate.opened.set()


def test_asyncio_shutdown_with_a_timeout_abandons_a_hung_coroutine() -> None:
    """AsyncIOScheduler.shutdown(timeout=...) on the loop reports the coroutine abandoned once,
    and the coroutine is cancelled."""
    cancelled: list[bool] = []

    async def scenario() -> EventRecorder:
        sched = AsyncIOScheduler(**options())
        recorder = EventRecorder(sched)
        sched.start()
        sched.add_job(timeout_jobs.block_async, args=(cancelled,), id="hung")
        for _ in range(500):
            if sched.get_running_runs() and sched.get_running_runs()[0].started_at:
                break
            await asyncio.sleep(0.01)
        sched.shutdown(timeout=0.2)
        for _ in range(100):
            if cancelled:
                break
            await asyncio.sleep(0.01)
        return recorder

    recorder = asyncio.run(scenario())
    assert_abandoned_once(recorder, "hung")
    assert cancelled == [True]


def test_process_pool_shutdown_with_a_timeout_abandons_a_hung_worker() -> None:
    """With the process pool, shutdown(timeout=...) returns and reports the hung run
    abandoned once."""
    sched = BackgroundScheduler(executors={"default": ProcessPoolExecutor(1)}, **options())
    recorder = EventRecorder(sched)
    sched.start()
    sched.add_job(timeout_jobs.block, args=(60,), id="hung")
    recorder.wait_for_count(EVENT_JOB_SUBMITTED, 1)
    sched.shutdown(timeout=0.2)
    assert_abandoned_once(recorder, "hung")


def test_shutdown_with_a_timeout_returns_at_once_when_nothing_runs() -> None:
    """With nothing running, a bounded shutdown reports nothing."""
    sched = BackgroundScheduler(**options())
    recorder = EventRecorder(sched)
    sched.start()
    sched.shutdown(timeout=5)
    assert recorder.of(TERMINAL) == []


@pytest.mark.parametrize("timeout", [None, 5.0], ids=["unbounded", "bounded"])
def test_shutdown_from_inside_a_job_does_not_wait_for_it(timeout: float | None) -> None:
    """A job that shuts its scheduler down (waiting) gets its shutdown back, and its own run
    still ends executed."""
    sched = BackgroundScheduler(executors={"default": ThreadPoolExecutor(2)}, **options())
    recorder = EventRecorder(sched)
    returned = threading.Event()

    def stop_the_scheduler() -> None:
        sched.shutdown(wait=True, timeout=timeout)
        returned.set()

    sched.start()
    sched.add_job(stop_the_scheduler, id="stopper")
    assert returned.wait(10)
    (event,) = recorder.wait_for_count(TERMINAL, 1)
    assert (event.job_id, event.code) == ("stopper", EVENT_JOB_EXECUTED)


@pytest.mark.parametrize("timeout", [None, 5.0], ids=["unbounded", "bounded"])
def test_shutdown_from_a_listener_does_not_wait_for_itself(timeout: float | None) -> None:
    """A listener that shuts the scheduler down (waiting) gets its shutdown back."""
    sched = BackgroundScheduler(executors={"default": ThreadPoolExecutor(2)}, **options())
    returned = threading.Event()

    def on_executed(event: Any) -> None:
        sched.shutdown(wait=True, timeout=timeout)
        returned.set()

    sched.add_listener(on_executed, EVENT_JOB_EXECUTED)
    sched.start()
    sched.add_job(timeout_jobs.pid)
    assert returned.wait(10)
    assert not sched.running


@pytest.mark.parametrize("timeout", [0, -1.0, float("inf")], ids=["zero", "negative", "inf"])
def test_shutdown_refuses_a_timeout_that_is_not_positive(timeout: float) -> None:
    """shutdown's timeout must be a positive, finite number; the message names it."""
    sched = BackgroundScheduler(**options())
    sched.start()
    with pytest.raises(ValueError, match=repr(timeout)):
        sched.shutdown(timeout=timeout)
    sched.shutdown()


def test_a_bounded_shutdown_leaves_the_sqlite_store_consistent(tmp_path: Any) -> None:
    """After a bounded shutdown abandons a run, the store has the job (its next run time
    saved) and a restart finds no run left in flight to report a second time."""
    from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
    from obssched.testing import ManualScheduler

    url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    sched = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url)},
        executors={"default": ThreadPoolExecutor(1)},
        **options(),
    )
    recorder = EventRecorder(sched)
    sched.start()
    job = sched.add_job(timeout_jobs.block, "interval", hours=1, id="hung", next_run_time=None)
    due = sched.clock.now()
    job.modify(next_run_time=due)
    sched.wakeup()
    recorder.wait_for_count(EVENT_JOB_SUBMITTED, 1)
    sched.shutdown(timeout=0.2)
    assert_abandoned_once(recorder, "hung")
    timeout_jobs.release.set()

    restarted = ManualScheduler(jobstores={"default": SQLAlchemyJobStore(url)}, **options())
    second = EventRecorder(restarted)
    restarted.start(paused=True)
    restarted.tick()
    (stored,) = restarted.get_jobs()
    assert stored.next_run_time is not None
    assert stored.next_run_time > due
    assert second.of(TERMINAL) == []
    restarted.shutdown()


def test_a_bounded_shutdown_returns_even_when_the_clock_stands_still() -> None:
    """With a manual clock nobody moves, shutdown(timeout=...) still returns and abandons the
    hung run."""
    from obssched.testing import ManualClock, ManualScheduler

    sched = ManualScheduler(
        clock=ManualClock("2024-01-01T00:00:00+00:00"),
        executors={"default": ThreadPoolExecutor(1)},
        **options(),
    )
    recorder = EventRecorder(sched)
    gate = timeout_jobs.Gate()
    sched.start()
    sched.add_job(gate, id="hung")
    sched.tick()
    assert gate.started.wait(10)
    sched.shutdown(timeout=0.2)
    assert_abandoned_once(recorder, "hung")
    gate.opened.set()
