"""The burst's cost in instructions: exact on a busy machine, where its wall time is not.

N date jobs due at one instant on a ``BackgroundScheduler`` (default executor and store; obssched
with its built-in metrics on), ``misfire_grace_time=None`` so every one runs; callgrind counts
the instructions from ``resume()`` to the last outcome only (collection is switched on and off
around it with ``callgrind_control``)::

    CALLGRIND=1 valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg.%p \\
        .venv/bin/python benchmarks/bench_burst_instructions.py obssched 5000
    callgrind_annotate /tmp/cg.<pid> | grep 'PROGRAM TOTALS'

Run it with ``apscheduler`` in place of ``obssched`` for the peer. Without ``CALLGRIND=1`` it
just runs the burst.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Any


def main(lib: str, count: int) -> None:
    """Run ``count`` due date jobs on ``lib``'s ``BackgroundScheduler``."""
    background = importlib.import_module(f"{lib}.schedulers.background")
    events = importlib.import_module(f"{lib}.events")
    scheduler = background.BackgroundScheduler()
    done = threading.Event()
    lock = threading.Lock()
    outcomes = [0]

    def outcome(event: Any) -> None:
        with lock:
            outcomes[0] += 1
            if outcomes[0] == count:
                done.set()

    mask = events.EVENT_JOB_EXECUTED | events.EVENT_JOB_MISSED | events.EVENT_JOB_ERROR
    scheduler.add_listener(outcome, mask)
    scheduler.start(paused=True)
    run_date = datetime.now(UTC) + timedelta(seconds=1)
    for index in range(count):
        scheduler.add_job(noop, "date", run_date=run_date, misfire_grace_time=None, id=str(index))
    counted = os.environ.get("CALLGRIND") == "1"
    if counted:
        toggle("on")
    scheduler.resume()
    done.wait(600)
    if counted:
        toggle("off")
    print(lib, "outcomes", outcomes[0])
    scheduler.shutdown(wait=True)


def noop() -> None:
    """The job body: nothing, so the scheduler's own work is what is counted."""


def toggle(state: str) -> None:
    """Switch callgrind's collection ``state`` ("on"/"off") for this process."""
    subprocess.run(
        ["callgrind_control", "-i", state, str(os.getpid())], check=True, capture_output=True
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5000)
    os._exit(0)  # the pool's threads are not waited for a second time
