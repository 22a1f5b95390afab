"""Three nodes share a burst of due runs: each runs once, and no node takes the lion's share."""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from obssched.clock import SystemClock

from .test_cluster import expected_run_times, node_args, read_results, wait_ready

pytestmark = [pytest.mark.postgresql, pytest.mark.realtime, pytest.mark.slow]

CLOCK = SystemClock()  # real processes, real time
Spawn = Callable[..., subprocess.Popen[str]]
JOBS = 100
NODES = ("node-a", "node-b", "node-c")
SETTLE = timedelta(seconds=2)  # for every node to have seen the others heart-beat


def test_three_nodes_each_take_a_fair_share_of_a_burst_and_run_it_once(
    postgres_url: str, pg_schema: str, spawn_node: Spawn
) -> None:
    """100 jobs due every second on 3 nodes: every run time executes exactly once, and once
    all nodes know each other the busiest node runs at most 1/3 + 0.15 of the runs."""
    start = CLOCK.now().replace(microsecond=0) + timedelta(seconds=8)
    end = start + timedelta(seconds=7)
    duration = (end - CLOCK.now()).total_seconds() + 5
    seed = ["--seed", str(JOBS), "--interval", "1", "--start", start.isoformat()]
    seed += ["--end", end.isoformat()]
    # One after the other: the first creates the results table the others then find.
    processes = []
    for index, name in enumerate(NODES):
        extra = seed if index == 0 else []
        processes.append(spawn_node(*node_args(postgres_url, pg_schema, name, duration, *extra)))
        wait_ready(processes[-1])
    settled = CLOCK.now() + SETTLE
    for process in processes:
        process.wait(timeout=duration + 60)
        assert process.returncode == 0, process.stderr.read() if process.stderr else ""

    results = read_results(postgres_url, pg_schema)
    executed = Counter((job, run) for job, run, _, kind in results if kind == "executed")
    expected = Counter(
        (f"job{index}", run) for index in range(JOBS) for run in expected_run_times(start, end, 1)
    )
    assert [key for key, count in executed.items() if count > 1] == []
    assert executed == expected
    shares = Counter(
        node
        for _, run, node, kind in results
        if kind == "executed" and datetime.fromisoformat(run) >= settled
    )
    total = sum(shares.values())
    assert total >= 3 * JOBS, "the nodes took too long to start for a steady burst"
    top = max(shares.values()) / total
    print(f"runs per node: {dict(shares)}; top share {top:.3f}")
    assert set(shares) == set(NODES)
    assert top <= 1 / len(NODES) + 0.15
