"""A run over its job's timeout ends once, with JobTimeoutError, and frees its instance."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import timeout_jobs

from obssched.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_SUBMITTED,
)
from obssched.exceptions import JobTimeoutError
from obssched.executors.pool import ProcessPoolExecutor, ThreadPoolExecutor
from obssched.schedulers.asyncio import AsyncIOScheduler
from obssched.schedulers.background import BackgroundScheduler
from obssched.testing import EventRecorder, ManualClock, ManualScheduler

TERMINAL = EVENT_JOB_EXECUTED | EVENT_JOB_ERROR
pytestmark = [pytest.mark.realtime, pytest.mark.faults]


@pytest.fixture(autouse=True)
def release_blocked_jobs() -> Iterator[None]:
    timeout_jobs.release.clear()
    yield
    timeout_jobs.release.set()


@pytest.fixture
def threads(scheduler: ManualScheduler) -> ThreadPoolExecutor:
    executor = ThreadPoolExecutor(1)
    scheduler.add_executor(executor, "threads")
    return executor


def start_hung_run(
    scheduler: ManualScheduler, clock: ManualClock, gate: timeout_jobs.Gate, **options: Any
) -> None:
    scheduler.start()
    scheduler.add_job(gate, "interval", seconds=60, executor="threads", id="hung", **options)
    clock.advance(60)
    scheduler.tick()
    assert gate.started.wait(10)


def test_a_run_past_its_timeout_ends_with_job_timeout_error(
    scheduler: ManualScheduler,
    clock: ManualClock,
    recorder: EventRecorder,
    threads: ThreadPoolExecutor,
) -> None:
    """Once the clock passes the timeout, the run ends with one error event whose exception
    is a JobTimeoutError naming the job, the timeout and the time it ran."""
    gate = timeout_jobs.Gate()
    start_hung_run(scheduler, clock, gate, timeout=5)
    clock.advance(6)
    threads.check_timeouts()
    (event,) = recorder.of(TERMINAL)
    assert event.code == EVENT_JOB_ERROR
    assert isinstance(event.exception, JobTimeoutError)
    assert isinstance(event.exception, TimeoutError)
    assert (event.exception.job_id, event.exception.timeout) == ("hung", 5)
    assert event.exception.elapsed == pytest.approx(6)
    assert event.run_duration == pytest.approx(6)
    gate.opened.set()


def test_a_run_within_its_timeout_is_left_alone(
    scheduler: ManualScheduler,
    clock: ManualClock,
    recorder: EventRecorder,
    threads: ThreadPoolExecutor,
) -> None:
    """Before the timeout passes, the run goes on and nothing is reported."""
    gate = timeout_jobs.Gate()
    start_hung_run(scheduler, clock, gate, timeout=5)
    clock.advance(4)
    assert threads.check_timeouts() == pytest.approx(1)
    assert recorder.of(TERMINAL) == []
    gate.opened.set()
    (event,) = recorder.wait_for_count(TERMINAL, 1)
    assert event.code == EVENT_JOB_EXECUTED


def test_a_timed_out_run_frees_its_instance(
    scheduler: ManualScheduler,
    clock: ManualClock,
    recorder: EventRecorder,
    threads: ThreadPoolExecutor,
) -> None:
    """With max_instances=1, the run after a timed-out one is submitted, not refused."""
    gate = timeout_jobs.Gate()
    start_hung_run(scheduler, clock, gate, timeout=5, max_instances=1)
    clock.advance(6)
    threads.check_timeouts()
    clock.advance(54)
    scheduler.tick()
    assert len(recorder.of(EVENT_JOB_SUBMITTED)) == 2
    assert recorder.of(EVENT_JOB_MAX_INSTANCES) == []
    gate.opened.set()


def test_a_timed_out_thread_that_finishes_late_reports_nothing_more(
    scheduler: ManualScheduler,
    clock: ManualClock,
    recorder: EventRecorder,
    threads: ThreadPoolExecutor,
) -> None:
    """The abandoned thread's late result is dropped: its run keeps its one terminal event."""
    gate = timeout_jobs.Gate()
    start_hung_run(scheduler, clock, gate, timeout=5)
    clock.advance(6)
    threads.check_timeouts()
    scheduler.add_job(timeout_jobs.pid, executor="threads", id="after")
    scheduler.tick()
    gate.opened.set()
    # The one worker runs "after" only once the late body has returned and been dropped.
    events = recorder.wait_for_count(TERMINAL, 2)
    assert [(event.job_id, event.code) for event in events] == [
        ("hung", EVENT_JOB_ERROR),
        ("after", EVENT_JOB_EXECUTED),
    ]


def test_the_watchdog_thread_ends_a_hung_run_on_its_own() -> None:
    """With the system clock, the executor's watchdog ends the run without being asked."""
    sched = BackgroundScheduler(timezone="UTC", metrics=False, tracing=False)
    sched.add_executor(ThreadPoolExecutor(2), "threads")
    recorder = EventRecorder(sched)
    sched.start()
    try:
        sched.add_job(timeout_jobs.block, executor="threads", timeout=0.2)
        (event,) = recorder.wait_for_count(TERMINAL, 1)
        assert isinstance(event.exception, JobTimeoutError)
    finally:
        timeout_jobs.release.set()
        sched.shutdown()


def test_a_process_run_past_its_timeout_is_terminated_and_its_worker_replaced() -> None:
    """A worker process over the timeout is terminated; the next run gets a fresh worker."""
    sched = BackgroundScheduler(timezone="UTC", metrics=False, tracing=False)
    sched.add_executor(ProcessPoolExecutor(1), "processes")
    recorder = EventRecorder(sched)
    sched.start()
    try:
        sched.add_job(timeout_jobs.block, executor="processes", timeout=1, args=(60,))
        (event,) = recorder.wait_for_count(TERMINAL, 1, timeout=60)
        assert isinstance(event.exception, JobTimeoutError)
        sched.add_job(timeout_jobs.pid, executor="processes")
        events = recorder.wait_for_count(TERMINAL, 2, timeout=60)
        assert events[1].code == EVENT_JOB_EXECUTED
    finally:
        sched.shutdown()
    assert len(recorder.of(TERMINAL)) == 2


def test_a_coroutine_past_its_timeout_is_cancelled() -> None:
    """AsyncIOExecutor cancels a coroutine run over its timeout and reports it once."""
    cancelled: list[bool] = []

    async def scenario() -> list[Any]:
        sched = AsyncIOScheduler(timezone="UTC", metrics=False, tracing=False)
        recorder = EventRecorder(sched)
        sched.start()
        sched.add_job(timeout_jobs.block_async, args=(cancelled,), timeout=0.2)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, recorder.wait_for_count, TERMINAL, 1)
        for _ in range(100):
            if cancelled:
                break
            await asyncio.sleep(0.01)
        sched.shutdown()
        return recorder.of(TERMINAL)

    (event,) = asyncio.run(scenario())
    assert isinstance(event.exception, JobTimeoutError)
    assert cancelled == [True]


def test_a_plain_function_past_its_timeout_on_the_asyncio_executor_is_abandoned() -> None:
    """AsyncIOExecutor ends a plain function's run (in the loop's thread pool) over its timeout
    with JobTimeoutError, and goes on running jobs."""

    async def scenario() -> list[Any]:
        sched = AsyncIOScheduler(timezone="UTC", metrics=False, tracing=False)
        recorder = EventRecorder(sched)
        sched.start()
        sched.add_job(timeout_jobs.block, timeout=0.2)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, recorder.wait_for_count, TERMINAL, 1)
        timeout_jobs.release.set()
        sched.add_job(timeout_jobs.pid)
        await loop.run_in_executor(None, recorder.wait_for_count, TERMINAL, 2)
        sched.shutdown()
        return recorder.of(TERMINAL)

    timed_out, after = asyncio.run(scenario())
    assert isinstance(timed_out.exception, JobTimeoutError)
    assert after.code == EVENT_JOB_EXECUTED
