"""Listeners that raise and listeners that block: runs still start and end once each, the
failures are counted, and /metrics answers all along."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import fault_jobs
import pytest
from faultharness import TERMINAL, RunLedger, Scraper, sample
from prometheus_client import CollectorRegistry

from obssched.events import EVENT_JOB_EXECUTED, EVENT_JOB_SUBMITTED
from obssched.executors.pool import ThreadPoolExecutor
from obssched.schedulers.background import BackgroundScheduler

pytestmark = [pytest.mark.faults, pytest.mark.realtime]

JOBS = 5
LISTENER_BOUND = 30.0
"""Seconds the blocking listener waits at most (the test releases it long before)."""


def raising_listener(event: Any) -> None:
    raise RuntimeError(f"listener bug on event {event.code}")


def started(registry: CollectorRegistry) -> BackgroundScheduler:
    """A paused scheduler on a thread pool, so that jobs added now are due in one tick."""
    scheduler = BackgroundScheduler(
        timezone="UTC",
        metrics_registry=registry,
        tracing=False,
        executors={"default": ThreadPoolExecutor(4)},
    )
    return scheduler


def test_a_raising_listener_costs_no_run(registry: CollectorRegistry, metrics: Scraper) -> None:
    """A listener raising on every submission and end is counted each time; every run still
    starts and ends once."""
    scheduler = started(registry)
    # Added before the ledger, so that a run the ledger has seen end has met this listener.
    scheduler.add_listener(raising_listener, EVENT_JOB_SUBMITTED | TERMINAL)
    ledger = RunLedger(scheduler)
    scheduler.start()
    try:
        for index in range(JOBS):
            scheduler.add_job(fault_jobs.fine, id=f"job-{index}")
        ledger.wait_for_ended(JOBS)
        # Read while the scheduler runs: its scrape-time counters go with it at shutdown.
        stage = sample(registry, "obssched_scheduler_errors_total", stage="listener")
    finally:
        scheduler.shutdown()
    assert len(ledger.of(EVENT_JOB_EXECUTED)) == JOBS
    ledger.assert_each_run_ended_once()
    assert scheduler.get_listener_errors()["raising_listener"] == 2 * JOBS
    assert stage == 2 * JOBS
    metrics.assert_always_answered()


def test_a_blocking_listener_does_not_hold_runs_already_submitted(
    registry: CollectorRegistry, metrics: Scraper
) -> None:
    """While a user's listener blocks on one job's submission, the runs the same tick submitted
    run (the tick hands them over before users' listeners get its events), and every run is
    reported once the listener returns."""
    gate = threading.Event()
    first_ran = threading.Event()

    def blocking_listener(event: Any) -> None:
        if event.job_id == "blocked":
            gate.wait(LISTENER_BOUND)

    scheduler = started(registry)
    ledger = RunLedger(scheduler)
    scheduler.add_listener(blocking_listener, EVENT_JOB_SUBMITTED)
    scheduler.start(paused=True)
    try:
        now = scheduler.clock.now()
        scheduler.add_job(first_ran.set, id="first", next_run_time=now - timedelta(seconds=0.1))
        scheduler.add_job(fault_jobs.fine, id="blocked", next_run_time=now)
        scheduler.resume()
        assert first_ran.wait(LISTENER_BOUND), "the first job's run was held back"
        assert not gate.is_set()
        assert metrics.scrape() == 200
        gate.set()
        ledger.wait_for_ended(2)
    finally:
        gate.set()
        scheduler.shutdown()
    assert [e.job_id for e in ledger.of(EVENT_JOB_EXECUTED)] == ["first", "blocked"]
    ledger.assert_each_run_ended_once()
    metrics.assert_always_answered()


def test_a_listener_blocking_on_a_run_s_end_holds_only_that_worker(
    registry: CollectorRegistry, metrics: Scraper
) -> None:
    """A listener blocking on one run's end (in that run's worker thread) leaves the loop and
    the other workers free: later jobs start and end meanwhile."""
    gate = threading.Event()

    def blocking_listener(event: Any) -> None:
        if event.job_id == "blocked":
            gate.wait(LISTENER_BOUND)

    scheduler = started(registry)
    scheduler.add_listener(blocking_listener, TERMINAL)
    ledger = RunLedger(scheduler)
    scheduler.start()
    try:
        scheduler.add_job(fault_jobs.fine, id="blocked")
        ledger.wait_for_count(EVENT_JOB_SUBMITTED, 1)
        for index in range(JOBS):
            scheduler.add_job(fault_jobs.fine, id=f"later-{index}")
        ledger.wait_for_ended(JOBS)
        assert not gate.is_set()
        gate.set()
        ledger.wait_for_ended(JOBS + 1)
    finally:
        gate.set()
        scheduler.shutdown()
    assert {e.job_id for e in ledger.of(EVENT_JOB_EXECUTED)} >= {f"later-{i}" for i in range(JOBS)}
    ledger.assert_each_run_ended_once()
    metrics.assert_always_answered()
