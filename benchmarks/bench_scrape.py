"""Time to render /metrics for a scheduler holding 10,000 jobs (text and OpenMetrics), before/after.

Two job-name layouts: 10,000 jobs over 100 names (the default cap keeps every name), and 10,000
distinct names with the default cap of 1,000 (the rest fold into ``__other__``). Each job has run
once, so counters, histograms and scrape-time gauges are all present. A scrape is what ``/metrics``
serves (``respond()`` of the WSGI/ASGI apps), timed as CPU (``time.process_time``), median of 7
scrapes per worker and version. Each worker, a fresh process, attaches both versions (see
``bench_listeners.py``: ``--base REV`` for before/after, ``--aa`` for the noise) to the same
scheduler, each with its own registry, and alternates their scrapes.

The scheduler is kept referenced while scraping: the collector holds schedulers weakly, and a
scheduler dropped after the set-up is collected mid-benchmark, taking its scrape-time gauges (most
of the output) with it. An earlier version of this benchmark did that, which is why its
OpenMetrics figures, taken second, came out a quarter of the size of the text ones.
Run: ``.venv/bin/python benchmarks/bench_scrape.py --base a7dc28e``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

from _harness import run_worker_process, worker_main
from bench_listeners import before_package, versions

JOBS = 10_000
SCRAPES = 7
FORMATS = {"text": "", "openmetrics": "application/openmetrics-text; version=1.0.0"}


def noop() -> None:
    """The job body."""


def scrape_worker(before_dir: str, param: str, quick: bool) -> dict[str, Any]:
    """CPU ms and size of each version's scrape of JOBS jobs over ``param`` names."""
    from prometheus_client import CollectorRegistry

    from obssched.testing import ManualClock, ManualScheduler

    jobs = 1000 if quick else JOBS
    names = min(int(param), jobs)
    clock = ManualClock()
    scheduler = ManualScheduler(clock=clock, metrics=False, tracing=False)
    for index in range(jobs):
        scheduler.add_job(noop, "interval", seconds=60, name=f"job-{index % names}")
    registries = {}
    responders = {}
    for version, module in versions(before_dir).items():
        registries[version] = CollectorRegistry()
        module.attach_builtin(scheduler, tracing=False, registry=registries[version])
        responders[version] = importlib.import_module(f"{module.__name__}._apps").respond
    scheduler.start()
    clock.advance(60)
    scheduler.tick()
    result: dict[str, Any] = {}
    times: dict[str, list[float]] = {}
    order = list(responders)
    for index in range(SCRAPES):
        for version in order if index % 2 == 0 else reversed(order):
            for fmt, accept in FORMATS.items():
                start = time.process_time()
                status, _, body = responders[version](registries[version], "/metrics", accept)
                times.setdefault(f"{version}_{fmt}_ms", []).append(
                    (time.process_time() - start) * 1e3
                )
                assert status == 200
                result[f"{version}_{fmt}_mb"] = len(body) / 1e6
                result[f"{version}_{fmt}_samples"] = sum(
                    1 for line in body.splitlines() if not line.startswith(b"#")
                )
    for key, values in times.items():
        result[key] = statistics.median(values)
    assert scheduler.state == 1  # keeps the scheduler alive until here
    return result


def main(argv: Sequence[str]) -> int:
    """Run both layouts in fresh workers, several rounds; print medians and spreads."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--base", help="git revision whose observability/ is 'before'")
    parser.add_argument("--aa", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    before_dir = str(before_package(args.base)) if args.base and not args.aa else "-"
    slots = ("before", "after") if before_dir != "-" else ("A#1", "A#2")
    print(f"# {' vs '.join(slots)}; before from {args.base or '-'}; load {os.getloadavg()}")
    layouts = ("100", str(JOBS))
    values: dict[tuple[str, str], list[float]] = {}
    for round_index in range(args.rounds):
        for names in layouts:
            data, error, _ = run_worker_process(
                __file__, "scrape", before_dir, names, args.quick, timeout=900
            )
            if error:
                print(f"  {names} names: ERROR {error}", flush=True)
                continue
            for key, value in data.items():
                values.setdefault((names, key), []).append(float(value))
        print(f"  round {round_index + 1}/{args.rounds} done", flush=True)
    print(f"\n{JOBS} jobs; median [min..max] over {args.rounds} workers, each the median of "
          f"{SCRAPES} scrapes (CPU ms)")  # fmt: skip
    header = f"{'layout':12s} {'figure':18s} {slots[0]:>28s} {slots[1]:>28s}  target"
    print(header + "\n" + "-" * len(header))
    for names in layouts:
        for fmt in FORMATS:
            for figure in ("ms", "mb", "samples"):
                cells = []
                for slot in slots:
                    got = values.get((names, f"{slot}_{fmt}_{figure}"), [])
                    cells.append(
                        f"{statistics.median(got):9.2f} [{min(got):7.2f}..{max(got):7.2f}]"
                        if got
                        else "ERR"
                    )
                verdict = ""
                mine = values.get((names, f"{slots[1]}_{fmt}_ms"))
                if figure == "ms" and mine:
                    verdict = f"< 100: {'PASS' if statistics.median(mine) < 100 else 'MISS'}"
                label = f"{fmt} {figure}"
                print(
                    f"{names + ' names':12s} {label:18s} {cells[0]:>28s} {cells[1]:>28s}  {verdict}"
                )
    if before_dir != "-":
        shutil.rmtree(before_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker_main({"scrape": scrape_worker}, sys.argv[1:])
    sys.exit(main(sys.argv[1:]))
