"""Jobs that raise SystemExit, KeyboardInterrupt or another BaseException: the run ends in one
EVENT_JOB_ERROR carrying the exception, it is counted by its type, and the scheduler goes on,
on every executor. APScheduler 3.11 ends these runs the same way (each in an error event)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import fault_jobs
import pytest
from faultharness import RunLedger, Scraper, sample
from prometheus_client import CollectorRegistry

from obssched.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from obssched.executors.base import BaseExecutor
from obssched.executors.debug import DebugExecutor
from obssched.executors.pool import ProcessPoolExecutor, ThreadPoolExecutor
from obssched.schedulers.asyncio import AsyncIOScheduler
from obssched.schedulers.background import BackgroundScheduler

pytestmark = [pytest.mark.faults, pytest.mark.realtime]

RAISING = {
    "SystemExit": fault_jobs.raise_system_exit,
    "KeyboardInterrupt": fault_jobs.raise_keyboard_interrupt,
    "fault_jobs.JobBaseException": fault_jobs.raise_base_exception,
}
"""The jobs that raise, by the error_type label of what they raise."""

RAISING_ASYNC = {
    "SystemExit": fault_jobs.raise_system_exit_async,
    "KeyboardInterrupt": fault_jobs.raise_keyboard_interrupt_async,
    "fault_jobs.JobBaseException": fault_jobs.raise_base_exception_async,
}

EXECUTORS: dict[str, Callable[[], BaseExecutor]] = {
    "thread-pool": lambda: ThreadPoolExecutor(2),
    "process-pool": lambda: ProcessPoolExecutor(1),
    "debug": DebugExecutor,
}


def qualified(exception: BaseException) -> str:
    """``module.Qualname`` of an exception's class, builtins bare (the error_type label)."""
    cls = type(exception)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def error_types(ledger: RunLedger) -> dict[str, str]:
    """The qualified type of each job's exception, by job id."""
    return {event.job_id: qualified(event.exception) for event in ledger.of(EVENT_JOB_ERROR)}


def assert_counted(registry: CollectorRegistry, jobs: dict[str, Callable[[], Any]]) -> None:
    """Each raising job's run is counted once in obssched_job_errored_total, by error type."""
    for error_type, func in jobs.items():
        count = sample(
            registry,
            "obssched_job_errored_total",
            job_name=func.__name__,
            executor="default",
            error_type=error_type,
        )
        assert count == 1.0, error_type


@pytest.mark.parametrize("kind", list(EXECUTORS), ids=list(EXECUTORS))
def test_a_base_exception_ends_its_run_in_an_error_and_the_scheduler_goes_on(
    kind: str, registry: CollectorRegistry, metrics: Scraper
) -> None:
    """Each raising run ends in one error event carrying what it raised, counted by type; a
    later job still runs, and /metrics answers all along."""
    scheduler = BackgroundScheduler(
        timezone="UTC",
        metrics_registry=registry,
        tracing=False,
        executors={"default": EXECUTORS[kind]()},
    )
    ledger = RunLedger(scheduler)
    scheduler.start()
    try:
        for error_type, func in RAISING.items():
            scheduler.add_job(func, id=error_type)
        ledger.wait_for_ended(len(RAISING))
        scheduler.add_job(fault_jobs.fine, id="after")
        ledger.wait_for_ended(len(RAISING) + 1)
        assert scheduler.running
    finally:
        scheduler.shutdown()
    assert error_types(ledger) == {error_type: error_type for error_type in RAISING}
    assert [event.job_id for event in ledger.of(EVENT_JOB_EXECUTED)] == ["after"]
    ledger.assert_each_run_ended_once()
    assert_counted(registry, RAISING)
    metrics.assert_always_answered()


def test_a_coroutine_raising_a_base_exception_ends_in_an_error_and_the_loop_goes_on(
    registry: CollectorRegistry, metrics: Scraper
) -> None:
    """On the asyncio executor, a coroutine raising SystemExit, KeyboardInterrupt or another
    BaseException ends its run in an error event and neither the scheduler nor the event loop
    stops."""

    async def main() -> RunLedger:
        scheduler = AsyncIOScheduler(timezone="UTC", metrics_registry=registry, tracing=False)
        ledger = RunLedger(scheduler)
        scheduler.start()
        loop = asyncio.get_running_loop()
        try:
            for error_type, func in RAISING_ASYNC.items():
                scheduler.add_job(func, id=error_type)
            await loop.run_in_executor(None, ledger.wait_for_ended, len(RAISING_ASYNC))
            scheduler.add_job(fault_jobs.fine_async, id="after")
            await loop.run_in_executor(None, ledger.wait_for_ended, len(RAISING_ASYNC) + 1)
            assert scheduler.running
        finally:
            scheduler.shutdown()
        return ledger

    ledger: Any = asyncio.run(main())
    assert error_types(ledger) == {error_type: error_type for error_type in RAISING_ASYNC}
    assert [event.job_id for event in ledger.of(EVENT_JOB_EXECUTED)] == ["after"]
    ledger.assert_each_run_ended_once()
    assert_counted(registry, RAISING_ASYNC)
    metrics.assert_always_answered()
