"""Time to render /metrics for a scheduler holding 10,000 jobs (text and OpenMetrics), before/after.

Two job-name layouts: 10,000 jobs over 100 names (the default cap keeps every name), and 10,000
distinct names with the default cap of 1,000 (the rest fold into ``__other__``). Each job has run
once, so counters, histograms and scrape-time gauges are all present. A scrape is what ``/metrics``
serves (``respond()`` of the WSGI/ASGI apps), timed as CPU (``time.process_time``), median of 7
scrapes per worker; each worker is a fresh process importing obssched from one tree (see
``bench_listeners.py``: ``--base REV`` for before/after, ``--aa`` for the noise).

The scheduler is kept referenced while scraping: the collector holds schedulers weakly, and a
scheduler dropped after the set-up is collected mid-benchmark, taking its scrape-time gauges (most
of the output) with it. An earlier version of this benchmark did that, which is why its
OpenMetrics figures, taken second, came out a quarter of the size of the text ones.
Run: ``.venv/bin/python benchmarks/bench_scrape.py --base a7dc28e``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _harness import run_worker_process, worker_main
from bench_listeners import REPO, base_tree, use_tree

JOBS = 10_000
SCRAPES = 7
FORMATS = {"text": "", "openmetrics": "application/openmetrics-text; version=1.0.0"}


def noop() -> None:
    """The job body."""


def scrape_worker(tree: str, param: str, quick: bool) -> dict[str, Any]:
    """CPU ms and size of a scrape of a scheduler with JOBS jobs over ``param`` names."""
    use_tree(tree)
    from prometheus_client import CollectorRegistry

    from obssched.observability._apps import respond
    from obssched.testing import ManualClock, ManualScheduler

    jobs = 1000 if quick else JOBS
    names = min(int(param), jobs)
    registry = CollectorRegistry()
    clock = ManualClock()
    scheduler = ManualScheduler(clock=clock, tracing=False, metrics_registry=registry)
    for index in range(jobs):
        scheduler.add_job(noop, "interval", seconds=60, name=f"job-{index % names}")
    scheduler.start()
    clock.advance(60)
    scheduler.tick()
    result: dict[str, Any] = {}
    times: dict[str, list[float]] = {name: [] for name in FORMATS}
    for _ in range(SCRAPES):
        for name, accept in FORMATS.items():
            start = time.process_time()
            status, _, body = respond(registry, "/metrics", accept)
            times[name].append((time.process_time() - start) * 1e3)
            assert status == 200
            result[f"{name}_mb"] = len(body) / 1e6
    for name, values in times.items():
        result[f"{name}_ms"] = statistics.median(values)
    result["samples"] = sum(1 for line in body.splitlines() if not line.startswith(b"#"))
    assert scheduler.state == 1  # keeps the scheduler alive until here
    return result


def main(argv: Sequence[str]) -> int:
    """Run both layouts before/after (or A/A), interleaved; print medians and spreads."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--base", help="git revision whose observability/ is 'before'")
    parser.add_argument("--aa", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    after = str(REPO)
    before = str(base_tree(args.base)) if args.base and not args.aa else after
    slots = ("before", "after") if before != after else ("A#1", "A#2")
    print(f"# {slots[0]}: {before}\n# {slots[1]}: {after}\n# load {os.getloadavg()}", flush=True)
    values: dict[tuple[str, str, str], list[float]] = {}
    for round_index in range(args.rounds):
        for cell_index, names in enumerate(("100", str(JOBS))):
            order = list(zip(slots, (before, after), strict=True))
            if (round_index + cell_index) % 2:
                order.reverse()
            for slot, tree in order:
                data, error, _ = run_worker_process(
                    __file__, "scrape", tree, names, args.quick, timeout=900
                )
                if error:
                    print(f"  {names} names {slot}: ERROR {error}", flush=True)
                    continue
                for key, value in data.items():
                    values.setdefault((names, key, slot), []).append(float(value))
        print(f"  round {round_index + 1}/{args.rounds} done", flush=True)
    print(f"\n{JOBS} jobs; median [min..max] over {args.rounds} workers, each the median of "
          f"{SCRAPES} scrapes (CPU ms)")  # fmt: skip
    header = f"{'layout':12s} {'figure':15s} {slots[0]:>26s} {slots[1]:>26s}  target"
    print(header + "\n" + "-" * len(header))
    for names in ("100", str(JOBS)):
        for key in ("text_ms", "openmetrics_ms", "text_mb", "openmetrics_mb", "samples"):
            cells = []
            for slot in slots:
                got = values.get((names, key, slot), [])
                cells.append(
                    f"{statistics.median(got):9.2f} [{min(got):7.2f}..{max(got):7.2f}]"
                    if got
                    else "ERR"
                )
            verdict = ""
            mine = values.get((names, key, slots[1]))
            if key.endswith("_ms") and mine:
                verdict = f"< 100: {'PASS' if statistics.median(mine) < 100 else 'MISS'}"
            print(f"{names + ' names':12s} {key:15s} {cells[0]:>26s} {cells[1]:>26s}  {verdict}")
    if before != after:
        shutil.rmtree(Path(before), ignore_errors=True)
    return 0


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker_main({"scrape": scrape_worker}, sys.argv[1:])
    sys.exit(main(sys.argv[1:]))
