"""Per-run cost of the built-in listeners: off vs metrics vs metrics + tracing, side by side.

Two measurements, each interleaved over several rounds and reported as the median:

* ``scheduler``: a ManualScheduler with the inline executor runs 2,000 due jobs per tick; the cost
  per run of each configuration minus that of the same scheduler with both listeners off.
* ``listener``: the same submission/terminal event pair fed straight to the listeners (no
  scheduler), i.e. what the listeners themselves add per run.

Tracing uses an SDK TracerProvider that samples every span (no exporter, so export cost is not
counted). Run: ``.venv/bin/python benchmarks/bench_listeners.py``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from obssched._runs import RunInfo
from obssched.events import (
    EVENT_JOB_EXECUTED,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from obssched.observability import attach_builtin
from obssched.testing import ManualClock, ManualScheduler

JOBS = 2000
ROUNDS = 7
CONFIGS = {"off": (False, False), "metrics": (True, False), "metrics+tracing": (True, True)}


def noop() -> None:
    """The job body: nothing, so only scheduling and listener costs are measured."""


def scheduler_cost(metrics: bool, tracing: bool, ticks: int = 3) -> float:
    """Seconds per run of a manual scheduler running JOBS due jobs per tick."""
    clock = ManualClock()
    scheduler = ManualScheduler(
        clock=clock,
        metrics=metrics,
        tracing=tracing,
        metrics_registry=CollectorRegistry(),
        tracer_provider=TracerProvider(),
    )
    for index in range(JOBS):
        scheduler.add_job(noop, "interval", seconds=1, name=f"job-{index % 50}")
    scheduler.start()
    clock.advance(1)
    scheduler.tick()  # warm-up: creates every series and cached child
    elapsed = 0.0
    for _ in range(ticks):
        clock.advance(1)
        start = time.perf_counter()
        scheduler.tick()
        elapsed += time.perf_counter() - start
    scheduler.shutdown()
    return elapsed / (ticks * JOBS)


class _FakeScheduler:
    name = "bench"
    clock = ManualClock()

    def add_listener(self, callback: Callable[..., None], mask: int) -> None:
        self.listener = callback

    def remove_listener(self, callback: Callable[..., None]) -> None:
        pass

    def add_run_hook(self, hook: object) -> None:
        self.hook = hook

    def remove_run_hook(self, hook: object) -> None:
        pass

    def get_jobs(self) -> list[object]:
        return []


def listener_cost(metrics: bool, tracing: bool, runs: int = 20000) -> float:
    """Seconds per run of the listeners (and run hook) fed a run's events directly."""
    scheduler = _FakeScheduler()
    attach_builtin(
        scheduler,
        metrics=metrics,
        tracing=tracing,
        registry=CollectorRegistry(),
        tracer_provider=TracerProvider(),
    )
    listener = getattr(scheduler, "listener", lambda event: None)
    hook = getattr(scheduler, "hook", None)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    later = t0 + timedelta(milliseconds=3)
    prepared = []
    for run_id in range(runs):
        info = RunInfo(run_id, "id", "job", "m:f", "default", "default", "interval", t0, t0, 0.0)
        submitted = JobSubmissionEvent(
            EVENT_JOB_SUBMITTED, "id", "default", [t0], job_name="job", executor="default",
            run_id=run_id, submitted_at=t0,
        )  # fmt: skip
        executed = JobExecutionEvent(
            EVENT_JOB_EXECUTED, "id", "default", t0, job_name="job", executor="default",
            run_id=run_id, submitted_at=t0, started_at=t0, finished_at=later, queue_wait=0.001,
            run_duration=0.002,
        )  # fmt: skip
        prepared.append((info, submitted, executed))
    start = time.perf_counter()
    for info, submitted, executed in prepared:
        listener(submitted)
        if hook is not None:
            with hook.wrap(info):
                pass
        listener(executed)
    return (time.perf_counter() - start) / runs


def main() -> None:
    """Print the median per-run cost of each configuration, and its overhead over 'off'."""
    for label, measure in (("listener", listener_cost), ("scheduler", scheduler_cost)):
        samples: dict[str, list[float]] = {name: [] for name in CONFIGS}
        for _ in range(ROUNDS):
            for name, (metrics, tracing) in CONFIGS.items():
                samples[name].append(measure(metrics, tracing))
        medians = {name: statistics.median(values) * 1e6 for name, values in samples.items()}
        print(f"{label}: per-run cost, median of {ROUNDS} interleaved rounds")
        for name, micros in medians.items():
            extra = micros - medians["off"]
            print(f"  {name:16s} {micros:8.2f} us/run   overhead vs off: {extra:+7.2f} us")


if __name__ == "__main__":
    main()
