"""Executors written against APScheduler 3's plugin API behave on obssched as on APScheduler 3.11.

Each scenario runs twice, once on the installed ``apscheduler`` and once on obssched, with the
same executor subclass built on each library's ``BaseExecutor``, and the run events compared.
Both schedulers are driven one tick at a time; the executors hold work until the test drains it,
so the order of events is deterministic on both.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest

from obssched.clock import SystemClock

LIBRARIES = ["apscheduler", "obssched"]

RUN_EVENTS = ("submitted", "max_instances", "executed", "error", "missed")

_payloads: list[weakref.ref[Any]] = []


class Payload:
    """A local of a failing job, watched through a weak reference."""


def succeed() -> str:
    return "done"


def fail_holding_a_local() -> None:
    payload = Payload()
    _payloads.append(weakref.ref(payload))
    raise RuntimeError("boom")


async def fail_holding_a_local_async() -> None:
    fail_holding_a_local()


def _lib(lib: str, module: str) -> Any:
    return importlib.import_module(f"{lib}.{module}")


def _event_names(lib: str) -> dict[int, str]:
    events = _lib(lib, "events")
    return {
        getattr(events, f"EVENT_JOB_{name.upper()}"): name
        for name in RUN_EVENTS
        if hasattr(events, f"EVENT_JOB_{name.upper()}")
    }


def _scheduler(lib: str, executor: Any) -> Any:
    """A scheduler of ``lib`` with ``executor`` as its default, driven by ``tick()``."""
    if lib == "obssched":
        from obssched.testing import ManualScheduler

        return ManualScheduler(
            executors={"default": executor}, timezone="UTC", metrics=False, tracing=False
        )
    base = _lib(lib, "schedulers.base").BaseScheduler

    class Manual(base):  # type: ignore[misc, valid-type]
        def wakeup(self) -> None:
            pass

        def shutdown(self, wait: bool = True) -> None:
            super().shutdown(wait)

        def tick(self) -> Any:
            return self._process_jobs()

    return Manual(executors={"default": executor}, timezone="UTC")


@contextmanager
def _running(lib: str, executor: Any) -> Iterator[tuple[Any, list[tuple[str, str]]]]:
    """Start a scheduler of ``lib`` and yield it with the run events it dispatches."""
    scheduler = _scheduler(lib, executor)
    names = _event_names(lib)
    seen: list[tuple[str, str]] = []
    mask = 0
    for code in names:
        mask |= code
    scheduler.add_listener(lambda event: seen.append((names[event.code], event.job_id)), mask)
    scheduler.start()
    try:
        yield scheduler, seen
    finally:
        scheduler.shutdown(wait=False)


def _now() -> datetime:
    # Both schedulers read the system clock in these scenarios; only "due now" matters.
    return SystemClock().now()


def _deferring_executor(lib: str, submit_job: Callable[..., Any] | None = None) -> Any:
    """An APScheduler-3-style executor that holds its work items until :meth:`drain`."""
    base_module = _lib(lib, "executors.base")

    class Deferring(base_module.BaseExecutor):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.pending: list[tuple[Any, list[datetime]]] = []
            self.log: list[str] = []

        def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
            self.pending.append((job, run_times))

        def drain(self) -> None:
            pending, self.pending = self.pending, []
            for job, run_times in pending:
                events = base_module.run_job(job, job._jobstore_alias, run_times, "tests")
                self._run_job_success(job.id, events)

    if submit_job is not None:
        Deferring.submit_job = submit_job  # type: ignore[method-assign]
    return Deferring()


def _logging_submit(self: Any, job: Any, run_times: list[datetime]) -> None:
    self.log.append(job.id)
    type(self).__mro__[1].submit_job(self, job, run_times)


def _refusing_submit(self: Any, job: Any, run_times: list[datetime]) -> None:
    raise _lib(self.library, "executors.base").MaxInstancesReachedError(job)


def _failing_submit(self: Any, job: Any, run_times: list[datetime]) -> None:
    raise OSError("the executor is unreachable")


def _own_submit(self: Any, job: Any, run_times: list[datetime]) -> None:
    # A complete replacement that never reaches the base class.
    self.pending.append((job, run_times))


def _scenario(lib: str, submit_job: Callable[..., Any] | None, ticks: int) -> Any:
    executor = _deferring_executor(lib, submit_job)
    executor.library = lib
    with _running(lib, executor) as (scheduler, seen):
        scheduler.add_job(succeed, "interval", hours=1, id="j", misfire_grace_time=None)
        for _ in range(ticks):
            scheduler.modify_job("j", next_run_time=_now())
            scheduler.tick()
        submitted = list(executor.pending)
        if submit_job is not _own_submit:
            executor.drain()
        return seen, executor.log, len(submitted)


@pytest.mark.parametrize(
    ("submit_job", "ticks"),
    [
        (None, 1),
        (_logging_submit, 1),
        (_refusing_submit, 1),
        (_failing_submit, 1),
        (_own_submit, 1),
        (None, 2),
        (_logging_submit, 2),
    ],
    ids=[
        "base",
        "logging-override",
        "refusing-override",
        "failing-override",
        "replacing-override",
        "base-max-instances",
        "logging-override-max-instances",
    ],
)
def test_an_executor_subclass_gives_the_events_of_apscheduler(
    submit_job: Callable[..., Any] | None, ticks: int
) -> None:
    """The same executor subclass yields the same run events, log calls and work items."""
    theirs, ours = (_scenario(lib, submit_job, ticks) for lib in LIBRARIES)
    assert ours == theirs


def test_the_logging_override_sees_every_submission_on_obssched() -> None:
    """An override of submit_job is called for each due run, with the job."""
    seen, log, work_items = _scenario("obssched", _logging_submit, 1)
    assert (log, work_items, seen) == (["j"], 1, [("submitted", "j"), ("executed", "j")])


def _job(lib: str, func: Callable[..., Any], **options: Any) -> Any:
    job_module = _lib(lib, "job")
    scheduler = _scheduler(lib, _deferring_executor(lib))
    trigger = _lib(lib, "triggers.date").DateTrigger(_now(), timezone="UTC")
    options.setdefault("misfire_grace_time", 10)
    return job_module.Job(
        scheduler,
        id="j",
        func=func,
        args=(),
        kwargs={},
        trigger=trigger,
        executor="default",
        name="j",
        coalesce=False,
        max_instances=1,
        next_run_time=None,
        **options,
    )


def _outcome(events: list[Any]) -> list[tuple[int, str, Any, str | None, bool]]:
    return [
        (
            event.code,
            event.jobstore,
            event.retval,
            None if event.exception is None else repr(event.exception),
            isinstance(event.traceback, str),
        )
        for event in events
    ]


@pytest.mark.parametrize(
    ("func", "late"),
    [(succeed, 0), (fail_holding_a_local, 0), (succeed, 3600)],
    ids=["executed", "error", "missed"],
)
def test_run_job_returns_what_apscheduler_run_job_returns(
    func: Callable[..., Any], late: float
) -> None:
    """run_job(job, jobstore_alias, run_times, logger_name) gives APScheduler's events."""
    run_time = _now() - timedelta(seconds=late)
    theirs, ours = (
        _outcome(_lib(lib, "executors.base").run_job(_job(lib, func), "store", [run_time], "t"))
        for lib in LIBRARIES
    )
    assert ours == theirs


@pytest.mark.parametrize(
    ("func", "late"),
    [(fail_holding_a_local_async, 0), (succeed, 3600)],
    ids=["error", "missed"],
)
def test_run_coroutine_job_returns_what_apscheduler_returns(
    func: Callable[..., Any], late: float
) -> None:
    """run_coroutine_job has APScheduler's signature and events."""
    run_time = _now() - timedelta(seconds=late)

    def outcome(lib: str) -> list[Any]:
        runner = _lib(lib, "executors.base").run_coroutine_job
        return _outcome(asyncio.run(runner(_job(lib, func), "store", [run_time], "t")))

    theirs, ours = (outcome(lib) for lib in LIBRARIES)
    assert ours == theirs


@contextmanager
def _no_collector() -> Iterator[None]:
    """Keep the cycle collector from freeing what reference counting alone would not."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize("lib", LIBRARIES)
def test_run_job_frees_a_failing_jobs_locals_while_its_event_is_kept(lib: str) -> None:
    """The error event keeps the exception, but not the failed job's local variables."""
    _payloads.clear()
    with _no_collector():
        events = _lib(lib, "executors.base").run_job(
            _job(lib, fail_holding_a_local), "store", [_now()], "t"
        )
        assert events[0].exception is not None
        assert [ref() for ref in _payloads] == [None]


def test_an_obssched_executor_frees_a_failing_jobs_locals_while_its_event_is_kept() -> None:
    """A job body that fails in an obssched executor leaves no locals behind its event."""
    from obssched.events import EVENT_JOB_ERROR
    from obssched.testing import EventRecorder, ManualScheduler

    _payloads.clear()
    scheduler = ManualScheduler(timezone="UTC", metrics=False, tracing=False)
    recorder = EventRecorder(scheduler, EVENT_JOB_ERROR)
    scheduler.start()
    try:
        with _no_collector():
            scheduler.add_job(fail_holding_a_local)
            scheduler.tick()
            (event,) = recorder.events
            assert isinstance(event.exception, RuntimeError)
            assert [ref() for ref in _payloads] == [None]
    finally:
        scheduler.shutdown()


def _hooked_debug_scenario(lib: str, failing: bool) -> tuple[list[str], list[tuple[str, str]]]:
    debug = _lib(lib, "executors.debug").DebugExecutor
    names = _event_names(lib)
    hooked: list[str] = []

    class Hooked(debug):  # type: ignore[misc, valid-type]
        def _run_job_success(self, job_id: str, events: list[Any]) -> None:
            hooked.extend(names[event.code] for event in events)
            super()._run_job_success(job_id, events)

    with _running(lib, Hooked()) as (scheduler, seen):
        body = fail_holding_a_local if failing else succeed
        scheduler.add_job(body, "interval", hours=1, id="j", misfire_grace_time=None)
        scheduler.modify_job("j", next_run_time=_now())
        scheduler.tick()
        return hooked, sorted(seen)


@pytest.mark.parametrize("failing", [False, True], ids=["executed", "error"])
def test_an_overridden_run_job_success_sees_every_run_of_a_built_in_executor(
    failing: bool,
) -> None:
    """A subclass of a built-in executor that overrides _run_job_success is handed each run's
    event, and its super() call still delivers the event to listeners."""
    theirs, ours = (_hooked_debug_scenario(lib, failing) for lib in LIBRARIES)
    assert ours == theirs


class ForeignScheduler:
    """What an APScheduler 3 scheduler offers the executors it starts."""

    def __init__(self, timezone: Any) -> None:
        self.timezone = timezone
        self.events: list[Any] = []

    def _create_lock(self) -> Any:
        import threading

        return threading.RLock()

    def _dispatch_event(self, event: Any) -> None:
        self.events.append(event)


@pytest.mark.parametrize(
    ("func", "late"),
    [(succeed, 0), (fail_holding_a_local, 0), (succeed, 3600)],
    ids=["executed", "error", "missed"],
)
def test_a_thread_pool_started_by_an_apscheduler_scheduler_reports_as_apschedulers(
    func: Callable[..., Any], late: float
) -> None:
    """Started by an APScheduler 3 scheduler, the thread pool hands that scheduler's
    _dispatch_event the events APScheduler's own pool would (and no submission event)."""

    def outcome(lib: str) -> list[Any]:
        scheduler = ForeignScheduler("UTC")
        executor = _lib(lib, "executors.pool").ThreadPoolExecutor()
        executor.start(scheduler, "pool")
        job = _job(lib, func, misfire_grace_time=1)
        job._jobstore_alias = "store"
        executor.submit_job(job, [_now() - timedelta(seconds=late)])
        executor.shutdown(wait=True)
        return _outcome(scheduler.events)

    theirs, ours = (outcome(lib) for lib in LIBRARIES)
    assert ours == theirs
