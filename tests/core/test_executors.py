"""Each executor runs job bodies, reports their outcome and never loses a run."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import core_jobs
import pytest

from obssched.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_SUBMITTED,
)
from obssched.executors.asyncio import AsyncIOExecutor
from obssched.executors.debug import DebugExecutor
from obssched.executors.pool import ProcessPoolExecutor, ThreadPoolExecutor
from obssched.schedulers.asyncio import AsyncIOScheduler
from obssched.schedulers.background import BackgroundScheduler
from obssched.testing import EventRecorder, ManualClock, ManualScheduler

TERMINAL = EVENT_JOB_EXECUTED | EVENT_JOB_ERROR
pytestmark = pytest.mark.realtime


@pytest.fixture
def background() -> Iterator[BackgroundScheduler]:
    sched = BackgroundScheduler(timezone="UTC", metrics=False, tracing=False)
    yield sched
    if sched.running:
        sched.shutdown()


def run_once(sched: BackgroundScheduler, func: object, executor: str, **kwargs: object) -> object:
    recorder = EventRecorder(sched)
    if not sched.running:
        sched.start()
    sched.add_job(func, executor=executor, **kwargs)  # type: ignore[arg-type]
    (event,) = recorder.wait_for_count(TERMINAL, 1, timeout=60)
    return event


def test_thread_pool_runs_a_job(background: BackgroundScheduler) -> None:
    """The thread pool runs a job body and reports its return value."""
    background.add_executor(ThreadPoolExecutor(2), "threads")
    event = run_once(background, core_jobs.add, "threads", args=(2, 40))
    assert (event.code, event.retval) == (EVENT_JOB_EXECUTED, 42)


def test_thread_pool_reports_a_failing_job(background: BackgroundScheduler) -> None:
    """A job that raises in the thread pool ends with an error event."""
    background.add_executor(ThreadPoolExecutor(2), "threads")
    event = run_once(background, core_jobs.fail, "threads", args=("in a thread",))
    assert event.code == EVENT_JOB_ERROR
    assert str(event.exception) == "in a thread"


@pytest.mark.parametrize("jobs", [3, 10], ids=["few", "pool-size"])
def test_thread_pool_runs_blocking_jobs_side_by_side(
    background: BackgroundScheduler, jobs: int
) -> None:
    """Runs due together whose bodies block all get a worker: none waits for another to end."""
    background.add_executor(ThreadPoolExecutor(10), "threads")
    barrier = threading.Barrier(jobs, timeout=20)
    recorder = EventRecorder(background)
    background.start(paused=True)
    for _ in range(jobs):
        background.add_job(barrier.wait, executor="threads")
    background.resume()
    ended = recorder.wait_for_count(TERMINAL, jobs, timeout=30)
    assert [event.code for event in ended] == [EVENT_JOB_EXECUTED] * jobs


def test_thread_pool_runs_blocking_jobs_side_by_side_after_a_pause(
    background: BackgroundScheduler,
) -> None:
    """Pausing the scheduler right after a tick submitted blocking runs does not leave them
    waiting for each other: they all still get a worker."""
    background.add_executor(ThreadPoolExecutor(10), "threads")
    barrier = threading.Barrier(6, timeout=20)
    recorder = EventRecorder(background)
    background.add_listener(
        lambda event: event.job_id == "j5" and background.pause(), EVENT_JOB_SUBMITTED
    )
    background.start(paused=True)
    for index in range(6):
        background.add_job(barrier.wait, executor="threads", id=f"j{index}")
    background.resume()
    ended = recorder.wait_for_count(TERMINAL, 6, timeout=30)
    assert [event.code for event in ended] == [EVENT_JOB_EXECUTED] * 6


def test_thread_pool_max_workers_is_reported() -> None:
    """max_workers is reported as given; text from configuration files is accepted."""
    assert ThreadPoolExecutor("7").max_workers == 7


@pytest.mark.parametrize("value", [0, -1, "many", True], ids=["zero", "negative", "text", "bool"])
def test_pool_refuses_bad_max_workers(value: object) -> None:
    """A pool size that is not a positive integer raises ValueError naming it."""
    with pytest.raises(ValueError, match=repr(value).replace("(", r"\(")):
        ThreadPoolExecutor(value)  # type: ignore[arg-type]


def test_debug_executor_runs_in_the_scheduler_thread(background: BackgroundScheduler) -> None:
    """The debug executor runs the body in the thread that submits it."""
    background.add_executor(DebugExecutor(), "debug")
    event = run_once(background, core_jobs.add, "debug", args=(1, 1))
    assert event.retval == 2


@pytest.mark.slow
def test_process_pool_runs_a_job_in_another_process(background: BackgroundScheduler) -> None:
    """The process pool runs the body in a worker process and sends the result back."""
    background.add_executor(ProcessPoolExecutor(1), "procs")
    event = run_once(background, core_jobs.pid, "procs")
    assert event.code == EVENT_JOB_EXECUTED
    assert event.retval != os.getpid()
    assert event.started_at is not None
    assert event.run_duration is not None


@pytest.mark.slow
def test_process_pool_reports_a_failing_job(background: BackgroundScheduler) -> None:
    """A job raising in a worker process ends with an error event carrying the exception."""
    background.add_executor(ProcessPoolExecutor(1), "procs")
    event = run_once(background, core_jobs.fail, "procs", args=("in a process",))
    assert event.code == EVENT_JOB_ERROR
    assert isinstance(event.exception, ValueError)
    assert "in a process" in event.traceback


@pytest.mark.slow
def test_process_pool_unpicklable_argument_ends_in_error(background: BackgroundScheduler) -> None:
    """A run whose arguments cannot be pickled is not lost: it ends with an error event."""
    import threading

    background.add_executor(ProcessPoolExecutor(1), "procs")
    recorder = EventRecorder(background)
    event = run_once(background, core_jobs.record, "procs", args=(threading.Lock(),))
    assert event.code == EVENT_JOB_ERROR
    assert "pickle" in str(event.exception).lower()
    assert len(recorder.of(EVENT_JOB_SUBMITTED)) <= 1


@pytest.mark.slow
def test_process_pool_unpicklable_result_ends_in_error(background: BackgroundScheduler) -> None:
    """A run whose return value cannot be pickled ends with an error event."""
    background.add_executor(ProcessPoolExecutor(1), "procs")
    event = run_once(background, core_jobs.return_unpicklable, "procs")
    assert event.code == EVENT_JOB_ERROR
    assert "pickled" in str(event.exception)


@pytest.mark.slow
def test_process_pool_dead_worker_ends_in_error_and_pool_recovers(
    background: BackgroundScheduler,
) -> None:
    """A worker that dies ends its run with an error; the pool is replaced and runs the next."""
    background.add_executor(ProcessPoolExecutor(1), "procs")
    event = run_once(background, core_jobs.die, "procs")
    assert event.code == EVENT_JOB_ERROR
    after = run_once(background, core_jobs.add, "procs", args=(1, 2))
    assert (after.code, after.retval) == (EVENT_JOB_EXECUTED, 3)


def test_process_pool_replaces_a_pool_whose_idle_worker_died(
    background: BackgroundScheduler,
) -> None:
    """A worker process killed while no run is in flight breaks the pool without any run
    noticing; the next submission replaces the pool instead of failing, and so do all later."""
    executor = ProcessPoolExecutor(1)
    background.add_executor(executor, "procs")
    first = run_once(background, core_jobs.pid, "procs")
    os.kill(first.retval, signal.SIGKILL)  # type: ignore[attr-defined]
    broken = executor._runner._pool
    # The pool's manager thread marks the pool broken and ends once it notices the death.
    broken._executor_manager_thread.join(timeout=30)
    assert broken._broken
    after = [run_once(background, core_jobs.pid, "procs") for _ in range(2)]
    assert [event.code for event in after] == [EVENT_JOB_EXECUTED, EVENT_JOB_EXECUTED]  # type: ignore[attr-defined]
    assert after[0].retval != first.retval  # type: ignore[attr-defined]


def test_asyncio_executor_runs_coroutines_and_functions() -> None:
    """Coroutine jobs run on the loop, plain functions in the loop's thread pool."""

    async def main() -> list[object]:
        sched = AsyncIOScheduler(timezone="UTC", metrics=False, tracing=False)
        recorder = EventRecorder(sched)
        sched.start()
        sched.add_job(core_jobs.async_add, args=(1, 2), id="coro")
        sched.add_job(core_jobs.add, args=(3, 4), id="plain")
        sched.add_job(core_jobs.async_fail, id="coro-fail")
        await asyncio.get_running_loop().run_in_executor(None, recorder.wait_for_count, TERMINAL, 3)
        sched.shutdown()
        return recorder.of(TERMINAL)

    events = asyncio.run(main())
    outcomes = {e.job_id: (e.code, e.retval) for e in events}
    assert outcomes["coro"] == (EVENT_JOB_EXECUTED, 3)
    assert outcomes["plain"] == (EVENT_JOB_EXECUTED, 7)
    assert outcomes["coro-fail"][0] == EVENT_JOB_ERROR


def test_asyncio_shutdown_ends_a_running_function_job_once() -> None:
    """A plain function job still running in the loop's thread pool when the scheduler shuts
    down ends once, as cancelled; the body finishing afterwards adds no second end, and the job's
    instance is given back once."""
    for flag in (core_jobs.gate, core_jobs.started, core_jobs.finished):
        flag.clear()

    async def main() -> tuple[list[object], dict[str, int]]:
        sched = AsyncIOScheduler(timezone="UTC", metrics=False, tracing=False)
        recorder = EventRecorder(sched)
        sched.start()
        sched.add_job(core_jobs.signal_and_wait_for_gate, id="slow")
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, core_jobs.started.wait, 10)
        executor = sched._executors["default"]
        sched.shutdown(wait=False)
        for _ in range(3):  # the cancelled future's callbacks run before the body returns
            await asyncio.sleep(0)
        core_jobs.gate.set()
        await loop.shutdown_default_executor()  # the body and whatever follows it are done
        return recorder.of(TERMINAL), dict(executor._instances)

    ends, instances = asyncio.run(main())
    assert core_jobs.finished.is_set()
    assert [(e.job_id, e.code, type(e.exception).__name__) for e in ends] == [
        ("slow", EVENT_JOB_ERROR, "CancelledError")
    ]
    assert instances == {}


def test_asyncio_shutdown_ends_coroutine_runs_that_never_started() -> None:
    """A coroutine job whose task is cancelled by shutdown before its first step still ends,
    as cancelled, and gives its instance back."""

    async def main() -> tuple[list[object], dict[str, int]]:
        sched = AsyncIOScheduler(timezone="UTC", metrics=False, tracing=False)
        recorder = EventRecorder(sched)
        executor = AsyncIOExecutor()
        sched.add_executor(executor, "aio")

        async def stop_the_scheduler() -> None:
            sched.shutdown(wait=False)

        due = datetime(2020, 1, 1, tzinfo=UTC)
        for job_id, func in (("a", stop_the_scheduler), ("b", core_jobs.async_add)):
            sched.add_job(
                func, "date", run_date=due, id=job_id, args=() if job_id == "a" else (1, 2),
                executor="aio", misfire_grace_time=None,
            )  # fmt: skip
        sched.start()
        await asyncio.get_running_loop().run_in_executor(None, recorder.wait_for_count, TERMINAL, 2)
        return recorder.of(TERMINAL), dict(executor._instances)

    ends, instances = asyncio.run(main())
    assert sorted(e.job_id for e in ends) == ["a", "b"]
    assert instances == {}


def test_asyncio_scheduler_starts_again_on_a_new_event_loop() -> None:
    """An AsyncIOScheduler shut down at the end of one asyncio.run() starts and runs jobs on
    the loop of the next one."""
    sched = AsyncIOScheduler(timezone="UTC", metrics=False, tracing=False)
    recorder = EventRecorder(sched)

    async def main() -> None:
        sched.start()
        sched.add_job(core_jobs.async_add, args=(1, 2))
        await asyncio.get_running_loop().run_in_executor(
            None, recorder.wait_for_count, TERMINAL, len(recorder.of(TERMINAL)) + 1
        )
        sched.shutdown()

    asyncio.run(main())
    asyncio.run(main())
    assert [e.retval for e in recorder.of(TERMINAL)] == [3, 3]


def test_asyncio_executor_needs_an_asyncio_scheduler(background: BackgroundScheduler) -> None:
    """Adding an AsyncIOExecutor to a thread-based scheduler fails clearly."""
    background.start()
    with pytest.raises(TypeError, match="AsyncIOScheduler"):
        background.add_executor(AsyncIOExecutor(), "aio")
    assert "aio" not in background._executors


def test_shutdown_with_wait_lets_running_jobs_finish(background: BackgroundScheduler) -> None:
    """shutdown(wait=True) returns after the running job ended, with its event delivered."""
    recorder = EventRecorder(background)
    core_jobs.gate.clear()
    background.start()
    background.add_job(core_jobs.wait_for_gate, args=(5.0,))
    recorder.wait_for_count(EVENT_JOB_SUBMITTED, 1)
    timer = __import__("threading").Timer(0.2, core_jobs.gate.set)
    timer.start()
    background.shutdown(wait=True)
    assert [e.retval for e in recorder.of(TERMINAL)] == [True]


def test_shutdown_without_wait_returns_while_the_job_runs(
    background: BackgroundScheduler,
) -> None:
    """shutdown(wait=False) returns at once; the running job still ends with its event."""
    recorder = EventRecorder(background)
    core_jobs.gate.clear()
    background.start()
    background.add_job(core_jobs.wait_for_gate, args=(5.0,))
    recorder.wait_for_count(EVENT_JOB_SUBMITTED, 1)
    background.shutdown(wait=False)
    assert recorder.of(TERMINAL) == []
    core_jobs.gate.set()
    recorder.wait_for_count(TERMINAL, 1)


@pytest.mark.parametrize("nested", [False, True], ids=["one-batch", "after-a-nested-batch"])
def test_runs_held_for_a_pool_that_shut_down_still_end(
    background: BackgroundScheduler, nested: bool
) -> None:
    """Runs announced to a thread pool that stopped before taking them end with an error. A
    batch begun and ended inside the tick's own (a job ticking its scheduler) leaves the outer
    one holding its later runs until it ends, so those end with that error too instead of
    running."""
    from obssched.executors.pool import ThreadPoolExecutor as Pool

    pool = Pool(1)
    background.add_executor(pool, "late")
    recorder = EventRecorder(background)
    background.start(paused=True)
    job = background.add_job(core_jobs.record, executor="late")
    pool.begin_batch()
    if nested:
        pool.begin_batch()
        pool.end_batch()
    pool.submit_runs(job, [background.clock.now()], jobstore="default")
    pool.shutdown()
    pool.end_batch()
    (event,) = recorder.of(TERMINAL)
    assert event.code == EVENT_JOB_ERROR
    assert "shut down" in str(event.exception)


def test_an_apscheduler_3_style_executor_ends_every_work_item_of_a_job() -> None:
    """An executor written against APScheduler 3's API (only _do_submit_job and the
    _run_job_success callback) with two work items of one job in flight ends both runs, and the
    job's instance count returns to zero."""
    from obssched.executors.base import BaseExecutor, run_job
    from obssched.testing import ManualClock, ManualScheduler

    class Deferred(BaseExecutor):
        def __init__(self) -> None:
            super().__init__()
            self.pending: list[tuple[object, list[object]]] = []

        def _do_submit_job(self, job, run_times):  # type: ignore[no-untyped-def]
            self.pending.append((job, run_times))

    clock = ManualClock()
    executor = Deferred()
    sched = ManualScheduler(
        clock=clock, metrics=False, tracing=False, executors={"default": executor}
    )
    recorder = EventRecorder(sched)
    # run_job checks misfires against the system clock, as APScheduler 3's does; the manual
    # clock is years behind it.
    sched.add_job(
        core_jobs.record,
        "interval",
        seconds=10,
        id="j",
        max_instances=2,
        misfire_grace_time=None,
    )
    sched.start()
    for _ in range(2):
        clock.advance(10)
        sched.tick()
    for job, run_times in executor.pending:
        executor._run_job_success(job.id, run_job(job, "default", run_times, "tests"))  # type: ignore[attr-defined]
    submitted = [e.run_id for e in recorder.of(EVENT_JOB_SUBMITTED)]
    assert sorted(e.run_id for e in recorder.of(TERMINAL)) == sorted(submitted)
    assert executor._instances == {}


def test_a_thread_pools_nudge_override_is_called_at_the_end_of_each_tick() -> None:
    """A subclass's ``nudge`` is what a tick calls when it hands its runs to the pool."""

    class CountingPool(ThreadPoolExecutor):
        nudges = 0

        def nudge(self) -> None:
            self.nudges += 1
            super().nudge()

    pool = CountingPool(2)
    scheduler = ManualScheduler(clock=ManualClock(), timezone="UTC", metrics=False, tracing=False)
    scheduler.add_executor(pool, "pool")
    scheduler.start()
    scheduler.tick()
    scheduler.tick()
    scheduler.shutdown()
    assert pool.nudges == 2
