"""instrument() on a stock APScheduler 3.11 scheduler."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.schedulers.background import BackgroundScheduler
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from obssched.observability import Instrumentation, instrument

from . import jobs

pytestmark = pytest.mark.realtime


@pytest.fixture
def stock(
    registry: CollectorRegistry, provider: TracerProvider
) -> Iterator[tuple[BackgroundScheduler, Instrumentation, threading.Semaphore]]:
    """A stock BackgroundScheduler, instrumented, with a semaphore released per ended run."""
    scheduler = BackgroundScheduler()
    ended = threading.Semaphore(0)
    handle = instrument(scheduler, registry=registry, tracer_provider=provider)
    scheduler.add_listener(lambda _: ended.release(), EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    yield scheduler, handle, ended
    if scheduler.running:
        scheduler.shutdown()


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, {"scheduler": "default", **labels})


def run_once(stock: tuple[Any, Any, threading.Semaphore], func: Any, name: str) -> None:
    scheduler, _, ended = stock
    scheduler.add_job(func, name=name)
    scheduler.start()
    assert ended.acquire(timeout=10)


def test_success_counted(stock: Any, registry: CollectorRegistry) -> None:
    """A stock scheduler's run counts as submitted and executed under the job's name."""
    run_once(stock, jobs.current_trace, "stock-job")
    labels = {"job_name": "stock-job", "executor": "default"}
    assert value(registry, "obssched_job_submitted_total", **labels) == 1.0
    assert value(registry, "obssched_job_executed_total", **labels) == 1.0
    duration = {**labels, "outcome": "success"}
    assert value(registry, "obssched_job_run_duration_seconds_count", **duration) == 1.0


def test_error_counted(stock: Any, registry: CollectorRegistry) -> None:
    """A stock scheduler's failed run counts under its exception type."""
    run_once(stock, jobs.fail, "stock-fail")
    labels = {"job_name": "stock-fail", "executor": "default", "error_type": "RuntimeError"}
    assert value(registry, "obssched_job_errored_total", **labels) == 1.0


def test_run_span_closed(stock: Any, exporter: InMemorySpanExporter) -> None:
    """Each stock run leaves one closed run span with its outcome, and no other span."""
    run_once(stock, jobs.current_trace, "stock-job")
    stock[0].shutdown()
    (span,) = exporter.get_finished_spans()
    assert span.name == "run stock-job"
    assert (span.attributes or {})["obssched.outcome"] == "success"
    assert stock[1].tracer.open_runs() == 0


def test_nothing_left_running(stock: Any, registry: CollectorRegistry) -> None:
    """After a stock run ends, the job's running gauge is back to 0."""
    scheduler, _, ended = stock
    scheduler.add_job(jobs.current_trace, "interval", seconds=60, name="periodic")
    scheduler.add_job(jobs.current_trace, name="once")
    scheduler.start()
    assert ended.acquire(timeout=10)
    assert value(registry, "obssched_job_running", job_name="periodic") == 0.0
    assert value(registry, "obssched_scheduler_state", state="running") == 1.0
