"""Time to render /metrics for a scheduler holding 10,000 jobs (text and OpenMetrics).

Two job-name layouts: 10,000 jobs over 100 names (the default cap keeps every name), and 10,000
distinct names with the default cap of 1,000 (the rest fold into ``__other__``). Each job has run
once, so counters, histograms and scrape-time gauges are all present.
Run: ``.venv/bin/python benchmarks/bench_scrape.py``.
"""

from __future__ import annotations

import statistics
import time

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest

from obssched.testing import ManualClock, ManualScheduler

JOBS = 10_000


def noop() -> None:
    """The job body."""


def build(names: int) -> CollectorRegistry:
    """Return a registry fed by a manual scheduler whose JOBS jobs have each run once."""
    registry = CollectorRegistry()
    clock = ManualClock()
    scheduler = ManualScheduler(clock=clock, tracing=False, metrics_registry=registry)
    for index in range(JOBS):
        scheduler.add_job(noop, "interval", seconds=60, name=f"job-{index % names}")
    scheduler.start()
    clock.advance(60)
    scheduler.tick()
    return registry


def main() -> None:
    """Print the median scrape time of each layout and format."""
    for names in (100, JOBS):
        registry = build(names)
        for label, render in (("text", generate_latest), ("openmetrics", openmetrics_latest)):
            times = []
            for _ in range(7):
                start = time.perf_counter()
                body = render(registry)
                times.append(time.perf_counter() - start)
            print(
                f"{JOBS} jobs, {names:5d} names, {label:11s}: median "
                f"{statistics.median(times) * 1e3:6.1f} ms, {len(body) / 1e6:.1f} MB"
            )


if __name__ == "__main__":
    main()
