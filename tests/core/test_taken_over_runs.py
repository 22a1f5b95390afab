"""A run that a run hook finds taken over by another cluster node (``RunTakenOverError``) does
not start its body on this one: it ends with an error event carrying that exception, the hooks
entered before are exited with it, and the job's later runs go on, in every executor."""

from __future__ import annotations

import asyncio
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from types import TracebackType

import core_jobs
import pytest
from prometheus_client import CollectorRegistry

from obssched._runs import RemoteWrapper, RunInfo
from obssched.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from obssched.exceptions import RunTakenOverError
from obssched.executors.pool import ProcessPoolExecutor, ThreadPoolExecutor
from obssched.schedulers.asyncio import AsyncIOScheduler
from obssched.testing import EventRecorder, ManualClock, ManualScheduler

TERMINAL = EVENT_JOB_EXECUTED | EVENT_JOB_ERROR
WAIT = 30.0  # seconds: only a hang ever waits this long


class TakenOver:
    """A run hook that refuses the runs of ``job_ids`` as taken over by node "stalled"."""

    def __init__(self, *job_ids: str) -> None:
        self.job_ids = set(job_ids)

    def _check(self, run: RunInfo) -> None:
        if run.job_id in self.job_ids:
            raise RunTakenOverError(run.job_id, "stalled", run.scheduled_run_time)

    def wrap(self, run: RunInfo) -> AbstractContextManager[object] | None:
        """Refuse the run if its job is listed; nothing to wrap."""
        self._check(run)
        return None

    def remote(self, run: RunInfo) -> RemoteWrapper | None:
        """As :meth:`wrap`, for a body run in another process."""
        self._check(run)
        return None


class TakenOverAt:
    """A run hook that refuses the runs at ``run_time`` (of any job) as taken over."""

    def __init__(self, run_time: datetime) -> None:
        self.run_time = run_time

    def wrap(self, run: RunInfo) -> AbstractContextManager[object] | None:
        """Refuse the run if it is at the listed time; nothing to wrap."""
        self.remote(run)
        return None

    def remote(self, run: RunInfo) -> RemoteWrapper | None:
        """As :meth:`wrap`, for a body run in another process."""
        if run.scheduled_run_time == self.run_time:
            raise RunTakenOverError(run.job_id, "stalled", run.scheduled_run_time)
        return None


class Scope:
    """A context manager that notes the exception type it is exited with."""

    def __init__(self, exits: list[type[BaseException] | None]) -> None:
        self.exits = exits

    def __enter__(self) -> Scope:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.exits.append(kind)


class Scoped:
    """A run hook that wraps every body in a :class:`Scope` (as the tracing hook does a span)."""

    def __init__(self) -> None:
        self.exits: list[type[BaseException] | None] = []

    def wrap(self, run: RunInfo) -> AbstractContextManager[object] | None:
        """Wrap the body in a scope."""
        return Scope(self.exits)

    def remote(self, run: RunInfo) -> RemoteWrapper | None:
        """Nothing for a body in another process."""
        return None


@pytest.fixture(autouse=True)
def no_calls() -> None:
    """The job bodies' record starts empty."""
    core_jobs.calls.clear()


def manual(clock: ManualClock, executor: str, registry: CollectorRegistry) -> ManualScheduler:
    """A manual scheduler whose default executor is ``executor`` (inline, threads, processes)."""
    executors = {
        "inline": None,
        "threads": ThreadPoolExecutor(2),
        "processes": ProcessPoolExecutor(1),
    }[executor]
    return ManualScheduler(
        clock=clock,
        timezone="UTC",
        executors={} if executors is None else {"default": executors},
        metrics_registry=registry,
        tracing=False,
    )


@pytest.mark.parametrize("executor", ["inline", "threads", "processes"])
def test_a_taken_over_run_ends_with_the_error_and_its_body_does_not_start(
    clock: ManualClock, executor: str
) -> None:
    """The run's one terminal event is an error carrying RunTakenOverError; no body ran, and
    the error is counted under its type."""
    registry = CollectorRegistry()
    scheduler = manual(clock, executor, registry)
    recorder = EventRecorder(scheduler)
    scheduler.add_run_hook(TakenOver("taken"))
    scheduler.start()
    try:
        scheduler.add_job(core_jobs.record, "date", run_date=clock.now(), args=("ran",), id="taken")
        scheduler.tick()
        recorder.wait_for_count(TERMINAL, 1, timeout=WAIT)
    finally:
        scheduler.shutdown()
    (event,) = recorder.of(TERMINAL)
    assert isinstance(event, JobExecutionEvent)
    assert event.code == EVENT_JOB_ERROR
    assert isinstance(event.exception, RunTakenOverError)
    assert (event.exception.job_id, event.exception.node_id) == ("taken", "stalled")
    assert event.started_at is None
    assert core_jobs.calls == []
    errors = registry.get_sample_value(
        "obssched_job_errored_total",
        {
            "scheduler": "default",
            "job_name": "record",
            "executor": "default",
            "error_type": "obssched.exceptions.RunTakenOverError",
        },
    )
    assert errors == 1.0


def test_hooks_entered_before_the_refusal_are_exited_with_it(clock: ManualClock) -> None:
    """A hook that wrapped the run (a span) sees it end with RunTakenOverError; a hook after the
    refusal is never entered."""
    before, after = Scoped(), Scoped()
    scheduler = ManualScheduler(clock=clock, timezone="UTC", metrics=False, tracing=False)
    for hook in (before, TakenOver("taken"), after):
        scheduler.add_run_hook(hook)
    scheduler.start()
    scheduler.add_job(core_jobs.record, "date", run_date=clock.now(), id="taken")
    scheduler.tick()
    scheduler.shutdown()
    assert before.exits == [RunTakenOverError]
    assert after.exits == []


def test_the_jobs_next_run_starts_as_usual(clock: ManualClock) -> None:
    """The refused run gives its max_instances slot back: the next run of the job executes."""
    hook = TakenOver("job")
    scheduler = ManualScheduler(clock=clock, timezone="UTC", metrics=False, tracing=False)
    recorder = EventRecorder(scheduler)
    scheduler.add_run_hook(hook)
    scheduler.start()
    scheduler.add_job(core_jobs.record, "interval", seconds=10, args=("ran",), id="job")
    clock.advance(10)
    scheduler.tick()
    hook.job_ids.clear()  # the node is heart-beating again: its next claims are its own
    clock.advance(10)
    scheduler.tick()
    scheduler.shutdown()
    assert [event.code for event in recorder.of(TERMINAL)] == [EVENT_JOB_ERROR, EVENT_JOB_EXECUTED]
    assert core_jobs.calls == ["ran"]


def test_a_taken_over_coroutine_run_does_not_start(clock: ManualClock) -> None:
    """On the asyncio executor, the coroutine is never awaited and the run ends with the error."""

    async def main() -> list[object]:
        scheduler = AsyncIOScheduler(timezone="UTC", metrics=False, tracing=False)
        recorder = EventRecorder(scheduler)
        scheduler.add_run_hook(TakenOver("taken"))
        scheduler.start()
        scheduler.add_job(core_jobs.async_add, args=(1, 2), id="taken")
        scheduler.add_job(core_jobs.async_add, args=(3, 4), id="kept")
        await asyncio.get_running_loop().run_in_executor(
            None, recorder.wait_for_count, TERMINAL, 2, WAIT
        )
        scheduler.shutdown()
        return recorder.of(TERMINAL)

    outcomes = {
        event.job_id: (event.code, type(event.exception), event.retval)  # type: ignore[attr-defined]
        for event in asyncio.run(main())
    }
    assert outcomes == {
        "taken": (EVENT_JOB_ERROR, RunTakenOverError, None),
        "kept": (EVENT_JOB_EXECUTED, type(None), 7),
    }


def test_the_error_names_the_job_the_node_and_the_run_time() -> None:
    """RunTakenOverError says which run did not start where, and why."""
    moment = datetime.fromisoformat("2024-01-01T00:00:00+00:00")
    error = RunTakenOverError("nightly", "node-a", moment)
    assert (error.job_id, error.node_id, error.run_time) == ("nightly", "node-a", moment)
    assert "'nightly'" in str(error)
    assert "'node-a'" in str(error)
    assert moment.isoformat() in str(error)


def test_a_failed_hand_over_to_processes_ends_every_run_once(clock: ManualClock) -> None:
    """A work item of two runs, the last taken over, whose hand-over to the process pool fails:
    each run ends once, and the job's instance is given back."""
    executor = ProcessPoolExecutor(1)
    scheduler = ManualScheduler(
        clock=clock,
        timezone="UTC",
        executors={"default": executor},
        metrics=False,
        tracing=False,
    )
    recorder = EventRecorder(scheduler)
    start = clock.now()
    scheduler.add_run_hook(TakenOverAt(start + timedelta(seconds=10)))
    scheduler.start()
    runner = executor._runner
    assert runner is not None
    runner._pool.shutdown()  # the next hand-over raises, as to a pool shut down under it
    scheduler.add_job(
        core_jobs.record,
        "interval",
        seconds=10,
        start_date=start,
        coalesce=False,
        misfire_grace_time=None,
        id="job",
    )
    clock.advance(10)
    scheduler.tick()  # one work item: the runs at start and start + 10 s
    scheduler.shutdown()
    ends = [(event.scheduled_run_time - start, event.code) for event in recorder.of(TERMINAL)]
    assert ends == [(timedelta(0), EVENT_JOB_ERROR), (timedelta(seconds=10), EVENT_JOB_ERROR)]
    assert executor._instances == {}  # the instance count a max_instances check reads
