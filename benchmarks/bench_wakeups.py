"""What the steady-state workload costs before any scheduler code runs: the thread wakeups alone.

``bench_core.py``'s ``steady/200`` cell runs 200 interval jobs (periods 0.1-1 s) for 10 s and
reports process CPU per run. Both libraries pay, per run, for the loop thread waking from a timed
wait at the run's due time and for handing the run to a pool thread that sleeps until it is given
work. This benchmark runs the same 200 schedules (same seed, periods and start offsets) without a
scheduler, in fresh interpreters interleaved with the two libraries, so the libraries' figures can
be read against what the machine charges for the wakeups themselves:

* ``threads``: a loop thread sleeps on a lock with a timeout until the earliest due time (a binary
  heap of the 200 schedules), hands each due run to one of 10 worker threads (a shared deque; an
  idle worker sleeps on a lock of its own and is woken by releasing it), and the worker calls the
  job body. Two wakeups per run, as in any scheduler that runs job bodies in a thread pool.
* ``inline``: the same loop calls the job body itself. One wakeup per run.
* ``apscheduler`` and ``obssched``: ``bench_core.work_steady`` (obssched with its built-in
  metrics on, APScheduler bare).

Every figure is process CPU (``time.process_time``, all threads) per run started in the window,
with the start lag p99 for reference. The ratio column divides by APScheduler's median.

``--idle`` does the same for ``bench_core.py``'s ``idle/10000`` cell (process CPU over a 10 s
window of a started scheduler holding 10,000 daily cron jobs): ``asleep`` is a process whose
only thread sleeps through the window, ``heartbeat`` one with a second thread that wakes once in
the window from a 10 s timed lock wait (what obssched's loop does for its heartbeat; APScheduler's
sleeps until its next job), beside both libraries' idle workers.

Run: ``.venv/bin/python benchmarks/bench_wakeups.py [--rounds 3] [--quick] [--idle]``.
"""

from __future__ import annotations

import argparse
import heapq
import random
import statistics
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from _harness import cpu_seconds, percentile, run_worker_process, worker_main
from bench_core import SEED, work_idle, work_steady

JOBS = 200
WORKERS = 10
VARIANTS = ("threads", "inline", "apscheduler", "obssched")


class _Idle:
    """A worker thread's wake-up lock, held while it sleeps."""

    __slots__ = ("lock",)

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()


def _bare(mode: str, quick: bool) -> dict[str, Any]:
    """Run the steady workload's schedules with nothing but a heap, locks and threads."""
    duration = 3.0 if quick else 10.0
    rng = random.Random(SEED)
    base = time.time() + 1.0
    periods: list[float] = []
    logs: list[list[float]] = []
    heap: list[tuple[float, int]] = []
    starts: list[float] = []
    for index in range(JOBS):
        period = round(rng.uniform(0.1, 1.0), 6)
        start = base + rng.uniform(0.0, period)
        periods.append(period)
        starts.append(start)
        logs.append([])
        heap.append((start, index))
    heapq.heapify(heap)
    items: deque[tuple[int, float]] = deque()
    idle: list[_Idle] = []
    stopping = False
    lags: list[float] = []

    def body(index: int, due: float) -> None:
        started = time.time()
        logs[index].append(started)
        lags.append(started - due)

    def worker() -> None:
        me = _Idle()
        while not stopping:
            try:
                index, due = items.popleft()
            except IndexError:
                idle.append(me)
                if items:
                    try:
                        idle.remove(me)
                    except ValueError:  # a dispatcher took this worker and releases its lock
                        me.lock.acquire()
                    continue
                me.lock.acquire()
                continue
            body(index, due)

    def dispatch(index: int, due: float) -> None:
        items.append((index, due))
        try:
            chosen = idle.pop()
        except IndexError:
            return
        chosen.lock.release()

    run: Callable[[int, float], None] = body if mode == "inline" else dispatch
    alarm = threading.Lock()
    alarm.acquire()

    def loop() -> None:
        while not stopping:
            now = time.time()
            while heap[0][0] <= now:
                due, index = heap[0]
                heapq.heapreplace(heap, (due + periods[index], index))
                run(index, due)
            alarm.acquire(timeout=max(heap[0][0] - time.time(), 0.0))

    threads = [threading.Thread(target=loop, daemon=True)]
    if mode == "threads":
        threads += [threading.Thread(target=worker, daemon=True) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    window_start = base + 1.0
    time.sleep(max(window_start - time.time(), 0.0))
    first_lag = len(lags)
    cpu_started = cpu_seconds()
    time.sleep(duration)
    cpu_s = cpu_seconds() - cpu_started
    window_end = time.time()
    stopping = True
    runs = sum(window_start <= t <= window_end for log in logs for t in log)
    window_lags = lags[first_lag:]
    return {
        "cpu_us_per_run": cpu_s / runs * 1e6 if runs else None,
        "lag_p99_ms": percentile(window_lags, 0.99) * 1e3,
        "runs": runs,
    }


def _idle_floor(mode: str, quick: bool) -> dict[str, Any]:
    """Process CPU over the idle window with no scheduler: asleep, or woken once by a timer."""
    window = 2.0 if quick else 10.0
    if mode == "heartbeat":
        alarm = threading.Lock()
        alarm.acquire()

        def beat() -> None:
            while True:
                alarm.acquire(timeout=window)

        threading.Thread(target=beat, daemon=True).start()
        time.sleep(window / 2)  # the beat falls inside the window
    else:
        time.sleep(1.0)
    cpu_started = cpu_seconds()
    time.sleep(window)
    return {"cpu_ms": (cpu_seconds() - cpu_started) * 1e3}


def work(lib: str, param: str, quick: bool) -> dict[str, Any]:
    """One measurement: a bare variant, or a library's steady (or idle) workload."""
    if lib in ("threads", "inline"):
        return _bare(lib, quick)
    if lib in ("asleep", "heartbeat"):
        return _idle_floor(lib, quick)
    if param == "idle":
        return work_idle(lib, "10000", quick)
    return work_steady(lib, param, quick)


def idle_main(rounds: int, quick: bool) -> int:
    """The ``--idle`` comparison: CPU over the idle window, floors beside both libraries."""
    variants = ("asleep", "heartbeat", "apscheduler", "obssched")
    results: dict[str, list[float]] = {variant: [] for variant in variants}
    for round_index in range(rounds):
        order = variants if round_index % 2 == 0 else tuple(reversed(variants))
        for variant in order:
            data, error, _ = run_worker_process(__file__, "steady", variant, "idle", quick, 120.0)
            if error is not None:
                print(f"  {variant}: {error}", file=sys.stderr)
                continue
            results[variant].append(data["cpu_ms"])
        print(f"  round {round_index + 1}/{rounds} done", file=sys.stderr)
    print(f"\nidle: process CPU over the window (ms), median [min..max] over {rounds} rounds")
    for variant in variants:
        cpu = results[variant]
        if cpu:
            print(f"{variant:12} {statistics.median(cpu):8.2f} [{min(cpu):6.2f}..{max(cpu):6.2f}]")
        else:
            print(f"{variant:12} N/A")
    return 0


def main(argv: Sequence[str]) -> int:
    """Run every variant ``--rounds`` times, interleaved, each in a fresh interpreter."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--idle", action="store_true", help="compare the idle cell instead")
    args = parser.parse_args(argv)
    if args.idle:
        return idle_main(args.rounds, args.quick)
    results: dict[str, list[dict[str, Any]]] = {variant: [] for variant in VARIANTS}
    for round_index in range(args.rounds):
        order = VARIANTS if round_index % 2 == 0 else tuple(reversed(VARIANTS))
        for variant in order:
            data, error, _ = run_worker_process(
                __file__, "steady", variant, str(JOBS), args.quick, timeout=120.0
            )
            if error is not None:
                print(f"  {variant}: {error}", file=sys.stderr)
                continue
            results[variant].append(data)
        print(f"  round {round_index + 1}/{args.rounds} done", file=sys.stderr)
    aps = [r["cpu_us_per_run"] for r in results["apscheduler"] if r.get("cpu_us_per_run")]
    aps_median = statistics.median(aps) if aps else None
    print(f"\nsteady/{JOBS}: process CPU per run, median [min..max] over {args.rounds} rounds")
    print(f"{'variant':12} {'CPU us/run':>26} {'/ APScheduler':>14} {'lag p99 ms':>11} {'runs':>6}")
    for variant in VARIANTS:
        cpu = [r["cpu_us_per_run"] for r in results[variant] if r.get("cpu_us_per_run")]
        if not cpu:
            print(f"{variant:12} {'N/A':>26}")
            continue
        median = statistics.median(cpu)
        spread = f"{median:8.1f} [{min(cpu):6.1f}..{max(cpu):6.1f}]"
        ratio = "-" if aps_median is None else f"{median / aps_median:.2f}"
        lag = statistics.median(r["lag_p99_ms"] for r in results[variant])
        runs = statistics.median(r["runs"] for r in results[variant])
        print(f"{variant:12} {spread:>26} {ratio:>14} {lag:11.2f} {runs:6.0f}")
    return 0


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker_main({"steady": work}, sys.argv[1:])
    else:
        raise SystemExit(main(sys.argv[1:]))
