"""A thread-pool job that never returns, with a timeout: each run ends once, with
JobTimeoutError, counted as a timeout; its instance is freed, so later runs start; /metrics
answers all along. (tests/core/test_job_timeouts.py covers the executors one by one.)"""

from __future__ import annotations

import fault_jobs
import pytest
from faultharness import RunLedger, Scraper, sample
from prometheus_client import CollectorRegistry

from obssched.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES
from obssched.exceptions import JobTimeoutError
from obssched.executors.pool import ThreadPoolExecutor
from obssched.schedulers.background import BackgroundScheduler

pytestmark = [pytest.mark.faults, pytest.mark.realtime]

RUNS = 3


def test_runs_that_never_return_end_at_their_timeout_and_free_their_instance(
    registry: CollectorRegistry, metrics: Scraper
) -> None:
    """Three runs of a job that hangs, one after the other, each end once with JobTimeoutError,
    none is refused for max_instances, and each counts in obssched_job_timeouts_total."""
    scheduler = BackgroundScheduler(
        timezone="UTC",
        metrics_registry=registry,
        tracing=False,
        executors={"default": ThreadPoolExecutor(RUNS + 1)},
    )
    ledger = RunLedger(scheduler)
    scheduler.start()
    try:
        job = scheduler.add_job(
            fault_jobs.hang, "interval", hours=1, id="hung", timeout=0.2, max_instances=1
        )
        for run in range(1, RUNS + 1):
            job.modify(next_run_time=scheduler.clock.now())
            ledger.wait_for_ended(run)
    finally:
        fault_jobs.release.set()
        scheduler.shutdown()
    errors = ledger.of(EVENT_JOB_ERROR)
    assert [type(event.exception) for event in errors] == [JobTimeoutError] * RUNS
    assert not ledger.of(EVENT_JOB_MAX_INSTANCES)
    ledger.assert_each_run_ended_once()
    assert sample(registry, "obssched_job_timeouts_total", job_name="hang") == RUNS
    metrics.assert_always_answered()
