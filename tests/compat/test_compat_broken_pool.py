"""Differential test: a process pool executor whose worker was killed, on APScheduler 3.11 and
on obssched.

What APScheduler 3.11 guarantees is that a submission finding the pool broken gets a fresh pool;
a submission that raced the worker's death may itself be lost (3.11 logs it, obssched reports
``EVENT_JOB_ERROR``). So the scenario submits until a run completes, a few times at most, and
compares where the runs went.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import queue
import signal
from typing import Any

import pytest

pytestmark = [pytest.mark.realtime, pytest.mark.slow, pytest.mark.faults]

LIBRARIES = ("apscheduler", "obssched")
ATTEMPTS = 4
WAIT_SECONDS = 10


def _worker_pids_after_a_kill(lib: str) -> tuple[int, int]:
    """Run os.getpid in a one-worker pool, kill that worker, and return the killed pid and the
    pid of the first later run that completes."""
    events = importlib.import_module(f"{lib}.events")
    background = importlib.import_module(f"{lib}.schedulers.background")
    pool = importlib.import_module(f"{lib}.executors.pool")
    options: dict[str, Any] = {"timezone": "UTC"}
    if lib == "obssched":
        options.update(metrics=False, tracing=False)
    scheduler = background.BackgroundScheduler(
        executors={"default": pool.ProcessPoolExecutor(1)}, **options
    )
    pids: queue.Queue[int] = queue.Queue()
    scheduler.add_listener(lambda event: pids.put(event.retval), events.EVENT_JOB_EXECUTED)
    scheduler.start()
    try:
        scheduler.add_job(os.getpid)
        killed = pids.get(timeout=WAIT_SECONDS)
        os.kill(killed, signal.SIGTERM)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(killed, 0)
        for _ in range(ATTEMPTS):
            scheduler.add_job(os.getpid)
            with contextlib.suppress(queue.Empty):
                return killed, pids.get(timeout=WAIT_SECONDS)
        raise AssertionError(f"{lib}: no run completed after the worker was killed")
    finally:
        scheduler.shutdown(wait=True)


@pytest.mark.parametrize("lib", LIBRARIES)
def test_a_killed_worker_is_replaced_by_a_new_process(lib: str) -> None:
    """After a pool's only worker is killed, a later submission runs in a new worker process."""
    killed, later = _worker_pids_after_a_kill(lib)
    assert later != killed
