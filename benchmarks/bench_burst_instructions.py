"""The scheduler's cost in instructions: exact on a busy machine, where wall time is not.

Two workloads, each on a ``BackgroundScheduler`` (default executor and store; obssched with its
built-in metrics on):

- ``burst`` (the default): N date jobs due at one instant, ``misfire_grace_time=None`` so every
  one runs; callgrind counts the instructions from ``resume()`` to the last outcome only.
- ``--steady``: N interval jobs of 1-2 s periods (a fixed seed) run for a while; callgrind counts
  the instructions of a window of ``--seconds`` seconds once every job has started, and the runs
  that ended in it, so instructions per run come out. The rate is low enough that, slowed down
  by callgrind, nearly every run still gets a tick of its own, as in ``bench_core.py``'s steady
  workload at full speed (the ticks and runs in the window are printed).
- ``--idle`` (obssched only): N daily cron jobs, none due, and a heartbeat every
  ``--heartbeat`` seconds; callgrind counts a window of ``--seconds`` seconds, so instructions
  per quiet heartbeat come out (the heartbeats in the window are printed).

Collection is switched on and off around the counted part with ``callgrind_control``::

    CALLGRIND=1 valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg.%p \\
        .venv/bin/python benchmarks/bench_burst_instructions.py obssched 5000
    CALLGRIND=1 valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg.%p \\
        .venv/bin/python benchmarks/bench_burst_instructions.py obssched 20 --steady
    callgrind_annotate /tmp/cg.<pid> | grep 'PROGRAM TOTALS'

Divide the steady total by the runs printed, the idle total by the heartbeats. Run it with
``apscheduler`` in place of ``obssched`` for the peer, and the burst with ``--bare`` for
obssched without its built-in metrics and tracing (what they cost per run). Without
``CALLGRIND=1`` it just runs the workload.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import random
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

STEADY_SEED = 17


def burst(lib: str, count: int, bare: bool = False) -> None:
    """Run ``count`` due date jobs on ``lib``'s ``BackgroundScheduler`` (``bare``: obssched
    without its built-in metrics and tracing)."""
    background = importlib.import_module(f"{lib}.schedulers.background")
    events = importlib.import_module(f"{lib}.events")
    options = {"metrics": False, "tracing": False} if bare else {}
    scheduler = background.BackgroundScheduler(**options)
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


def steady(lib: str, count: int, seconds: float) -> None:
    """Run ``count`` interval jobs on ``lib``'s ``BackgroundScheduler`` and count a window."""
    background = importlib.import_module(f"{lib}.schedulers.background")
    events = importlib.import_module(f"{lib}.events")
    scheduler = background.BackgroundScheduler()
    lock = threading.Lock()
    # [runs ended, other outcomes]: read at both ends of the window.
    outcomes = [0, 0]

    def executed(event: Any) -> None:
        with lock:
            outcomes[0] += 1

    def other(event: Any) -> None:
        with lock:
            outcomes[1] += 1

    scheduler.add_listener(executed, events.EVENT_JOB_EXECUTED)
    scheduler.add_listener(other, events.EVENT_JOB_MISSED | events.EVENT_JOB_ERROR)
    ticks = [0]
    process_jobs = scheduler._process_jobs

    def counted_tick() -> Any:
        ticks[0] += 1
        return process_jobs()

    # Counted on the instance: one Python frame per tick, in both libraries alike.
    scheduler._process_jobs = counted_tick
    scheduler.start()
    rng = random.Random(STEADY_SEED)
    base = datetime.now(UTC) + timedelta(seconds=1)
    for index in range(count):
        period = round(rng.uniform(1.0, 2.0), 6)
        scheduler.add_job(
            functools.partial(noop),
            "interval",
            seconds=period,
            start_date=base + timedelta(seconds=rng.uniform(0.0, period)),
            id=f"j{index}",
        )
    # Every job has started by base + 3 s (offsets are below one period, periods at most 2 s).
    time.sleep(4.0)
    collect = os.environ.get("CALLGRIND") == "1"
    if collect:
        toggle("on")
    with lock:
        runs_before, other_before = outcomes
    ticks_before = ticks[0]
    time.sleep(seconds)
    with lock:
        runs_after, other_after = outcomes
    ticks_after = ticks[0]
    if collect:
        toggle("off")
    runs = runs_after - runs_before
    print(
        lib,
        "runs",
        runs,
        "ticks",
        ticks_after - ticks_before,
        "missed_or_error",
        other_after - other_before,
    )
    scheduler.shutdown(wait=True)


def idle(count: int, seconds: float, heartbeat: float) -> None:
    """Keep ``count`` cron jobs that are not due on obssched's ``BackgroundScheduler`` and count
    a window of its heartbeats."""
    from obssched.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(heartbeat_interval=heartbeat)
    rng = random.Random(STEADY_SEED)
    # 03:xx local, unless that is within the next two hours: then nothing fires in the window.
    hour = 15 if datetime.now().hour in (1, 2, 3) else 3
    scheduler.start()
    for _ in range(count):
        scheduler.add_job(noop, "cron", hour=hour, minute=rng.randrange(60))
    heartbeats = [0]
    quiet_heartbeat = scheduler._quiet_heartbeat

    def counted_heartbeat() -> Any:
        heartbeats[0] += 1
        return quiet_heartbeat()

    # Counted on the instance (a Python frame more per heartbeat, in every measurement alike).
    scheduler._quiet_heartbeat = counted_heartbeat  # type: ignore[method-assign]
    time.sleep(max(1.0, 3 * heartbeat))
    collect = os.environ.get("CALLGRIND") == "1"
    if collect:
        toggle("on")
    before = heartbeats[0]
    time.sleep(seconds)
    after = heartbeats[0]
    if collect:
        toggle("off")
    print("obssched heartbeats", after - before)
    scheduler.shutdown(wait=False)


def noop() -> None:
    """The job body: nothing, so the scheduler's own work is what is counted."""


def toggle(state: str) -> None:
    """Switch callgrind's collection ``state`` ("on"/"off") for this process."""
    subprocess.run(
        ["callgrind_control", "-i", state, str(os.getpid())], check=True, capture_output=True
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lib", choices=["obssched", "apscheduler"])
    parser.add_argument("count", type=int, nargs="?", help="jobs (burst 5000, steady 20)")
    parser.add_argument("--steady", action="store_true", help="interval jobs, a counted window")
    parser.add_argument("--idle", action="store_true", help="cron jobs not due, a counted window")
    parser.add_argument("--seconds", type=float, default=20.0, help="the counted window")
    parser.add_argument("--heartbeat", type=float, default=0.1, help="idle: heartbeat seconds")
    parser.add_argument(
        "--bare", action="store_true", help="burst: obssched without built-in metrics, tracing"
    )
    args = parser.parse_args()
    if args.bare and (args.lib != "obssched" or args.steady or args.idle):
        parser.error("--bare is obssched's burst without its built-in observability")
    if args.idle and args.lib != "obssched":
        # APScheduler 3 has no heartbeat: its loop sleeps until the next run time.
        parser.error("--idle counts obssched's quiet heartbeats; it has no apscheduler workload")
    if args.idle:
        idle(args.count or 10000, args.seconds, args.heartbeat)
    elif args.steady:
        steady(args.lib, args.count or 20, args.seconds)
    else:
        burst(args.lib, args.count or 5000, args.bare)
    os._exit(0)  # the pool's threads are not waited for a second time
