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
  ``contract``: ``threads`` plus the least per-run work that APScheduler 3's API and the
  product's metrics promise, written as straight-line code: the loop keeps each job's next run
  time as an aware ``datetime`` (``prev + timedelta``), marks the run as an instance of its job
  under a lock (``max_instances``), and the worker times the body, builds an
  ``apscheduler.events.JobExecutionEvent`` (APScheduler 3.11's own class), hands it to the same
  listener the library workers get from ``bench_core``, clears the instance mark and counts the
  run and its duration with a cached ``prometheus_client`` counter and histogram child. It
  builds no submission event (no listener asks for one) and keeps no job objects: a lower
  bound on what any implementation of that contract pays, beside ``threads``.
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
from datetime import UTC, datetime, timedelta
from typing import Any

from _harness import cpu_seconds, percentile

__all__ = ["IDLE_FLOORS", "STEADY_FLOORS", "idle_floor", "steady_floor"]

STEADY_FLOORS = ("threads", "inline", "contract")
IDLE_FLOORS = ("asleep", "heartbeat")
POOL_WORKERS = 10
"""The worker threads of the ``threads`` floor: the size of both libraries' default pool."""


class _Idle:
    """A worker thread's wake-up lock, held while it sleeps."""

    __slots__ = ("lock",)

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()


class _Contract:
    """The ``contract`` floor's per-run work: an aware next run time, the instance mark, the
    execution event for one listener, and the run counted with its duration."""

    def __init__(self, job_count: int) -> None:
        from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent
        from prometheus_client import CollectorRegistry, Counter, Histogram

        registry = CollectorRegistry()
        runs = Counter("floor_runs", "Runs.", ["job"], registry=registry)
        durations = Histogram("floor_run_seconds", "Run time.", ["job"], registry=registry)
        self.job_ids = [f"j{index}" for index in range(job_count)]
        self.counted = [runs.labels(job_id) for job_id in self.job_ids]
        self.timed = [durations.labels(job_id) for job_id in self.job_ids]
        self.instances = [0] * job_count
        self.refused = 0
        self.lock = threading.Lock()
        self.code = EVENT_JOB_EXECUTED
        self.event = JobExecutionEvent
        self.scheduled: dict[str, list[float]] = {}
        self.listeners: list[Callable[[Any], None]] = [self.on_executed]

    def on_executed(self, event: Any) -> None:
        """The listener ``bench_core.work_steady`` adds to either library."""
        with self.lock:
            self.scheduled.setdefault(event.job_id, []).append(event.scheduled_run_time.timestamp())

    def admit(self, index: int) -> bool:
        """Mark a run of job ``index`` as an instance (``max_instances=1``), or refuse it."""
        with self.lock:
            if self.instances[index]:
                self.refused += 1
                return False
            self.instances[index] = 1
            return True

    def ended(self, index: int, due: datetime, started: float, finished: float) -> None:
        """Report and count one ended run, then clear its instance mark."""
        event = self.event(self.code, self.job_ids[index], "default", due, None)
        for listener in self.listeners:
            listener(event)
        with self.lock:
            self.instances[index] = 0
        self.counted[index].inc()
        self.timed[index].observe(finished - started)


def steady_floor(mode: str, job_count: int, quick: bool, seed: int) -> dict[str, Any]:
    """Run the steady workload's schedules with nothing but a heap, locks and threads (and,
    for ``contract``, the per-run work of :class:`_Contract`)."""
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
    contract = _Contract(job_count) if mode == "contract" else None
    if contract is not None:
        steps = [timedelta(seconds=period) for period in periods]
        heap = [(_utc(due), index) for due, index in heap]  # type: ignore[misc]
    heapq.heapify(heap)
    items: deque[tuple[int, Any]] = deque()
    idle: list[_Idle] = []
    stopping = False
    lags: list[float] = []

    def body(index: int, due: float) -> None:
        started = time.time()
        logs[index].append(started)
        lags.append(started - due)

    def contract_body(index: int, due: datetime) -> None:
        started = time.perf_counter()
        body(index, due.timestamp())
        assert contract is not None
        contract.ended(index, due, started, time.perf_counter())

    run_body: Callable[[int, Any], None] = body if contract is None else contract_body

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
            run_body(index, due)

    def dispatch(index: int, due: Any) -> None:
        if contract is not None and not contract.admit(index):
            return
        items.append((index, due))
        try:
            chosen = idle.pop()
        except IndexError:
            return
        chosen.lock.release()

    run: Callable[[int, Any], None] = body if mode == "inline" else dispatch
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

    def contract_loop() -> None:
        # The same loop on aware datetimes: the next run time is ``prev + interval``.
        while not stopping:
            now = datetime.now(UTC)
            while heap[0][0] <= now:  # type: ignore[operator]
                due, index = heap[0]
                heapq.heapreplace(heap, (due + steps[index], index))  # type: ignore[arg-type]
                dispatch(index, due)
            wait = (heap[0][0] - datetime.now(UTC)).total_seconds()  # type: ignore[operator]
            alarm.acquire(timeout=max(wait, 0.0))

    threads = [threading.Thread(target=loop if contract is None else contract_loop, daemon=True)]
    if mode != "inline":
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
        "refused": 0 if contract is None else contract.refused,
    }


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


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
