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
* ``contract``: ``threads`` plus the least per-run work APScheduler 3's API and the built-in
  metrics promise (an aware next run time, the ``max_instances`` mark, an execution event for
  the benchmark's listener, a counted run and its duration), as straight-line code.
* ``apscheduler`` and ``obssched``: ``bench_core.work_steady`` (obssched with its built-in
  metrics on, APScheduler bare).

Every figure is process CPU (``time.process_time``, all threads) per run started in the window,
with the start lag p99 for reference. The ratio columns divide by APScheduler's median and by
the ``threads`` floor's.

``--idle`` does the same for ``bench_core.py``'s ``idle/10000`` cell (process CPU over a 10 s
window of a started scheduler holding 10,000 daily cron jobs): ``asleep`` is a process whose
only thread sleeps through the window, ``heartbeat`` one with a second thread that wakes once in
the window from a 10 s timed lock wait (what obssched's loop does for its heartbeat; APScheduler's
sleeps until its next job), beside both libraries' idle workers.

The floors are ``_floors.py``'s; ``bench_core.py`` runs ``threads`` and ``heartbeat`` in every
repeat of its ``steady`` and ``idle`` cells and checks obssched against them. This script shows
the other variants beside them.

Run: ``.venv/bin/python benchmarks/bench_wakeups.py [--rounds 3] [--quick] [--idle]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Sequence
from typing import Any

from _floors import IDLE_FLOORS, STEADY_FLOORS
from _harness import run_worker_process, worker_main
from bench_core import work_idle, work_steady

JOBS = 200
VARIANTS = (*STEADY_FLOORS, "apscheduler", "obssched")


def work(lib: str, param: str, quick: bool) -> dict[str, Any]:
    """One measurement: a floor or a library, on the steady (or, for ``idle``, the idle) cell."""
    if param == "idle":
        return work_idle(lib, "10000", quick)
    return work_steady(lib, param, quick)


def idle_main(rounds: int, quick: bool) -> int:
    """The ``--idle`` comparison: CPU over the idle window, floors beside both libraries."""
    variants = (*IDLE_FLOORS, "apscheduler", "obssched")
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
    bare = [r["cpu_us_per_run"] for r in results["threads"] if r.get("cpu_us_per_run")]
    bare_median = statistics.median(bare) if bare else None
    print(f"\nsteady/{JOBS}: process CPU per run, median [min..max] over {args.rounds} rounds")
    print(
        f"{'variant':12} {'CPU us/run':>26} {'/ APScheduler':>14} {'/ threads':>10}"
        f" {'lag p99 ms':>11} {'runs':>6}"
    )
    for variant in VARIANTS:
        cpu = [r["cpu_us_per_run"] for r in results[variant] if r.get("cpu_us_per_run")]
        if not cpu:
            print(f"{variant:12} {'N/A':>26}")
            continue
        median = statistics.median(cpu)
        spread = f"{median:8.1f} [{min(cpu):6.1f}..{max(cpu):6.1f}]"
        ratio = "-" if aps_median is None else f"{median / aps_median:.2f}"
        over_bare = "-" if bare_median is None else f"{median / bare_median:.2f}"
        lag = statistics.median(r["lag_p99_ms"] for r in results[variant])
        runs = statistics.median(r["runs"] for r in results[variant])
        print(f"{variant:12} {spread:>26} {ratio:>14} {over_bare:>10} {lag:11.2f} {runs:6.0f}")
    return 0


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker_main({"steady": work}, sys.argv[1:])
    else:
        raise SystemExit(main(sys.argv[1:]))
