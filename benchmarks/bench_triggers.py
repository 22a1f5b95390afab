"""Time ``get_next_fire_time`` of cron triggers in obssched against APScheduler 3.11.

Each sample runs in a fresh subprocess; samples alternate between the two libraries (ABAB...)
so drift on a shared machine hits both alike. ``--same`` runs obssched against itself to show
the noise floor.

    python benchmarks/bench_triggers.py [--rounds 5] [--calls 100000] [--same]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

EXPRESSIONS = {
    "every-5-min": {"minute": "*/5"},
    "daily-03:00": {"hour": 3},
    "weekdays-9-17": {"day_of_week": "mon-fri", "hour": "9-17", "minute": 0},
    "last-fri-monthly": {"day": "last fri", "hour": 6, "minute": 30},
}

WORKER = """
import sys, time
from datetime import datetime, timedelta, timezone
module = __import__(sys.argv[1] + ".triggers.cron", fromlist=["CronTrigger"])
kwargs, calls = eval(sys.argv[2]), int(sys.argv[3])
trigger = module.CronTrigger(timezone="Europe/Berlin", **kwargs)
start = datetime(2024, 1, 1, tzinfo=timezone.utc)
nows = [start + timedelta(seconds=977 * i) for i in range(1000)]
began = time.perf_counter()
for i in range(calls // 1000):
    for now in nows:
        trigger.get_next_fire_time(None, now)
print(time.perf_counter() - began)
"""


def sample(library: str, kwargs: dict[str, object], calls: int) -> float:
    """Run one timed batch of ``calls`` in a fresh interpreter and return its seconds."""
    output = subprocess.run(
        [sys.executable, "-c", WORKER, library, repr(kwargs), str(calls)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--same", action="store_true", help="A-vs-A: obssched against itself")
    args = parser.parse_args()
    first, second = ("obssched", "obssched") if args.same else ("obssched", "apscheduler")
    print(f"{'expression':<18} {first + ' (s)':>16} {second + ' (s)':>16} {'ratio':>8}")
    for name, kwargs in EXPRESSIONS.items():
        times: dict[int, list[float]] = {0: [], 1: []}
        for _ in range(args.rounds):
            times[0].append(sample(first, kwargs, args.calls))
            times[1].append(sample(second, kwargs, args.calls))
        a, b = statistics.median(times[0]), statistics.median(times[1])
        print(f"{name:<18} {a:>16.3f} {b:>16.3f} {b / a:>7.2f}x")


if __name__ == "__main__":
    main()
