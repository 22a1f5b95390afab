"""One suite run against every scheduler class, each driven by its real loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import core_jobs
import pytest

from obssched.events import (
    EVENT_EXECUTOR_ADDED,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_SUBMITTED,
    EVENT_JOBSTORE_ADDED,
    EVENT_SCHEDULER_SHUTDOWN,
    EVENT_SCHEDULER_STARTED,
)
from obssched.schedulers.asyncio import AsyncIOScheduler
from obssched.schedulers.background import BackgroundScheduler
from obssched.schedulers.base import STATE_RUNNING, STATE_STOPPED, BaseScheduler
from obssched.schedulers.blocking import BlockingScheduler
from obssched.testing import EventRecorder

pytestmark = pytest.mark.realtime
OPTIONS: dict[str, Any] = {"timezone": "UTC", "metrics": False, "tracing": False}


@dataclass
class Driver:
    """Starts and stops one scheduler class the way its users do."""

    scheduler: BaseScheduler
    start: Callable[[], None]
    stop: Callable[[], None]


def background_driver() -> Driver:
    sched = BackgroundScheduler(**OPTIONS)
    return Driver(sched, sched.start, sched.shutdown)


def blocking_driver() -> Driver:
    sched = BlockingScheduler(**OPTIONS)
    thread = threading.Thread(target=sched.start, daemon=True)
    started = EventRecorder(sched, EVENT_SCHEDULER_STARTED)

    def start() -> None:
        thread.start()
        started.wait_for_count(EVENT_SCHEDULER_STARTED, 1)

    def stop() -> None:
        sched.shutdown()
        thread.join(10)
        assert not thread.is_alive()

    return Driver(sched, start, stop)


def asyncio_driver() -> Driver:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    sched = AsyncIOScheduler(event_loop=loop, **OPTIONS)

    def on_loop(func: Callable[[], None]) -> None:
        done = threading.Event()

        def call() -> None:
            try:
                func()
            finally:
                done.set()

        loop.call_soon_threadsafe(call)
        assert done.wait(10)

    def start() -> None:
        thread.start()
        on_loop(sched.start)

    def stop() -> None:
        on_loop(sched.shutdown)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()

    return Driver(sched, start, stop)


@pytest.fixture(
    params=[background_driver, blocking_driver, asyncio_driver],
    ids=["background", "blocking", "asyncio"],
)
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    drv: Driver = request.param()
    yield drv
    if drv.scheduler.running:
        drv.stop()


def test_start_and_shutdown(driver: Driver) -> None:
    """The scheduler starts, reports running, shuts down and reports stopped; the default
    executor and job store it makes are announced first, as in APScheduler."""
    recorder = EventRecorder(driver.scheduler)
    driver.start()
    assert driver.scheduler.state == STATE_RUNNING
    driver.stop()
    assert driver.scheduler.state == STATE_STOPPED
    assert recorder.codes == [
        EVENT_EXECUTOR_ADDED,
        EVENT_JOBSTORE_ADDED,
        EVENT_SCHEDULER_STARTED,
        EVENT_SCHEDULER_SHUTDOWN,
    ]


def test_job_added_while_running_runs_promptly(driver: Driver) -> None:
    """A job added to a running scheduler wakes the loop and runs without waiting a heartbeat."""
    recorder = EventRecorder(driver.scheduler)
    driver.start()
    driver.scheduler.add_job(core_jobs.add, args=(20, 22))
    (event,) = recorder.wait_for_count(EVENT_JOB_EXECUTED, 1, timeout=5)
    assert event.retval == 42


def test_pending_job_runs_after_start(driver: Driver) -> None:
    """A job added before start runs once the loop starts."""
    recorder = EventRecorder(driver.scheduler)
    driver.scheduler.add_job(core_jobs.add, args=(1, 1))
    driver.start()
    (event,) = recorder.wait_for_count(EVENT_JOB_EXECUTED, 1, timeout=5)
    assert event.retval == 2


def test_interval_job_repeats(driver: Driver) -> None:
    """An interval job runs again and again, each submission before its execution."""
    recorder = EventRecorder(driver.scheduler)
    driver.start()
    driver.scheduler.add_job(core_jobs.record, "interval", seconds=0.05)
    recorder.wait_for_count(EVENT_JOB_EXECUTED, 3, timeout=10)
    seen: set[int] = set()
    for event in recorder.of(EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED):
        if event.code == EVENT_JOB_SUBMITTED:
            seen.add(event.run_id)
        else:
            assert event.run_id in seen


def test_paused_scheduler_runs_nothing_until_resumed(driver: Driver) -> None:
    """Jobs added to a paused scheduler wait until it is resumed."""
    recorder = EventRecorder(driver.scheduler)
    driver.start()
    driver.scheduler.pause()
    driver.scheduler.add_job(core_jobs.record, misfire_grace_time=None)
    with pytest.raises(TimeoutError):
        recorder.wait_for_count(EVENT_JOB_SUBMITTED, 1, timeout=0.3)
    driver.scheduler.resume()
    recorder.wait_for_count(EVENT_JOB_EXECUTED, 1, timeout=5)
