"""A process-pool worker killed while it runs a job: that run ends in one EVENT_JOB_ERROR
(BrokenProcessPool), counted, the pool is replaced and later runs go on, /metrics answers all
along."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from concurrent.futures.process import BrokenProcessPool

import fault_jobs
import pytest
from faultharness import RunLedger, Scraper, sample
from prometheus_client import CollectorRegistry

from obssched.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from obssched.executors.pool import ProcessPoolExecutor
from obssched.schedulers.background import BackgroundScheduler

pytestmark = [pytest.mark.faults, pytest.mark.realtime]

ACCEPT_BOUND = 60.0
"""Seconds to wait for the job's worker to say its pid (spawning a worker takes a second)."""


def test_a_worker_killed_mid_run_ends_that_run_and_the_pool_goes_on(
    registry: CollectorRegistry, metrics: Scraper
) -> None:
    """SIGKILL on the worker running a job: the run ends once, with BrokenProcessPool, counted
    by that type; the next run executes in a new worker."""
    scheduler = BackgroundScheduler(
        timezone="UTC",
        metrics_registry=registry,
        tracing=False,
        executors={"default": ProcessPoolExecutor(1)},
    )
    ledger = RunLedger(scheduler)
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(ACCEPT_BOUND)
        scheduler.start()
        try:
            scheduler.add_job(
                fault_jobs.report_pid_and_hang, args=[server.getsockname()[1]], id="victim"
            )
            connection, _ = server.accept()
            with connection:
                connection.settimeout(ACCEPT_BOUND)
                worker = int(connection.recv(64))
            os.kill(worker, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(worker, 0)
            ledger.wait_for_ended(1, timeout=ACCEPT_BOUND)
            scheduler.add_job(os.getpid, id="after")
            ledger.wait_for_ended(2, timeout=ACCEPT_BOUND)
        finally:
            scheduler.shutdown()
    (failed,) = ledger.of(EVENT_JOB_ERROR)
    assert (failed.job_id, type(failed.exception)) == ("victim", BrokenProcessPool)
    (after,) = ledger.of(EVENT_JOB_EXECUTED)
    assert after.retval != worker
    ledger.assert_each_run_ended_once()
    error_type = "concurrent.futures.process.BrokenProcessPool"
    labels = {"job_name": "report_pid_and_hang", "executor": "default", "error_type": error_type}
    assert sample(registry, "obssched_job_errored_total", **labels) == 1.0
    metrics.assert_always_answered()
