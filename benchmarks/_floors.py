"""What the machine charges for thread wakeups before any scheduler code runs: the floors.

``bench_core.py`` runs these beside both libraries in each repeat of its ``steady`` and ``idle``
cells, and checks obssched against them; ``bench_wakeups.py`` prints them side by side with
the other variants. Each returns the keys of the library worker it stands beside.

* :func:`steady_floor` runs the steady workload's schedules (same seed, periods and start
  offsets) with nothing but a heap, locks and threads. ``threads``: a loop thread sleeps on a
  lock with a timeout until the earliest due time, hands each due run to one of 10 worker
  threads (a shared deque; an idle worker sleeps on a lock of its own and is woken by releasing
  it), and the worker calls the job body: two wakeups per run, as in any scheduler that runs job
  bodies in a thread pool. ``inline``: the loop calls the body itself, one wakeup per run.
* :func:`idle_floor` measures process CPU over the idle window of a process that does nothing
  (``asleep``) or whose second thread wakes once in the window from a timed lock wait as long as
  the window (``heartbeat``: one timed wakeup per heartbeat, nothing computed on it).
"""

from __future__ import annotations

import heapq
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from _harness import cpu_seconds, percentile

__all__ = ["IDLE_FLOORS", "STEADY_FLOORS", "idle_floor", "steady_floor"]

STEADY_FLOORS = ("threads", "inline")
IDLE_FLOORS = ("asleep", "heartbeat")
POOL_WORKERS = 10
"""The worker threads of the ``threads`` floor: the size of both libraries' default pool."""


class _Idle:
    """A worker thread's wake-up lock, held while it sleeps."""

    __slots__ = ("lock",)

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()


def steady_floor(mode: str, job_count: int, quick: bool, seed: int) -> dict[str, Any]:
    """Run the steady workload's schedules with nothing but a heap, locks and threads."""
    if mode not in STEADY_FLOORS:
        raise ValueError(f"unknown steady floor {mode!r}: expected one of {STEADY_FLOORS}")
    duration = 3.0 if quick else 10.0
    rng = random.Random(seed)
    base = time.time() + 1.0
    periods: list[float] = []
    logs: list[list[float]] = []
    heap: list[tuple[float, int]] = []
    for index in range(job_count):
        period = round(rng.uniform(0.1, 1.0), 6)
        start = base + rng.uniform(0.0, period)
        periods.append(period)
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
        threads += [threading.Thread(target=worker, daemon=True) for _ in range(POOL_WORKERS)]
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


def idle_floor(mode: str, quick: bool) -> dict[str, Any]:
    """Process CPU over the idle window with no scheduler: asleep, or woken once by a timer."""
    if mode not in IDLE_FLOORS:
        raise ValueError(f"unknown idle floor {mode!r}: expected one of {IDLE_FLOORS}")
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
    return {"cpu_ms": (cpu_seconds() - cpu_started) * 1e3, "window_s": window, "runs": 0}
