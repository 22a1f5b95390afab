"""A node killed while runs it claimed still wait in its queue: none is lost, none runs twice.

The victim's thread pool is saturated by bodies that never end, so the runs it claims after them
wait without beginning. After a SIGKILL, the survivors run each of those once, and report the
ones that had begun abandoned without running them again (the jobs do not ask for recovery).
"""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from obssched.clock import SystemClock

from .test_cluster import (
    announcements,
    expected_run_times,
    node_args,
    read_results,
    wait_ready,
)

pytestmark = [pytest.mark.postgresql, pytest.mark.realtime, pytest.mark.slow, pytest.mark.faults]

CLOCK = SystemClock()  # real processes, real time
Spawn = Callable[..., subprocess.Popen[str]]
JOBS = 24
QUEUED = 6  # runs the victim holds without beginning them when it is killed


def test_runs_claimed_but_not_begun_by_a_killed_node_run_once_elsewhere(
    postgres_url: str, pg_schema: str, spawn_node: Spawn
) -> None:
    """After a SIGKILL: the victim's queued runs execute once on the survivors, its begun runs
    are reported abandoned and never run again, and no run time is lost or run twice."""
    start = CLOCK.now().replace(microsecond=0) + timedelta(seconds=5)
    end = start + timedelta(seconds=20)
    duration = (end - CLOCK.now()).total_seconds() + 6
    seed = ["--seed", str(JOBS), "--interval", "1", "--start", start.isoformat()]
    seed += ["--end", end.isoformat(), "--no-recover", "--max-instances", "100"]
    with announcements(postgres_url, pg_schema) as announced:
        nodes = {
            "node-a": spawn_node(*node_args(postgres_url, pg_schema, "node-a", duration, *seed))
        }
        wait_ready(nodes["node-a"])
        nodes["node-b"] = spawn_node(*node_args(postgres_url, pg_schema, "node-b", duration))
        victim = spawn_node(
            *node_args(postgres_url, pg_schema, "node-v", duration, "--pool", "2", "--hold", "600")
        )
        for process in (nodes["node-b"], victim):
            wait_ready(process)
        # Counted in the results table: the notifications only wake the wait (several that
        # arrive together can come as one wake-up, and the others are not delivered).
        deadline = CLOCK.monotonic() + 60
        while True:
            on_victim = Counter(
                kind
                for _, _, node, kind in read_results(postgres_url, pg_schema)
                if node == "node-v"
            )
            if (
                on_victim["started"] >= 2
                and on_victim["submitted"] - on_victim["started"] >= QUEUED
            ):
                break
            if CLOCK.monotonic() > deadline:
                pytest.fail(
                    f"the victim did not hold {QUEUED} queued runs within 60 s: {on_victim}"
                )
            for _ in announced.notifies(timeout=1.0, stop_after=1):
                pass
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)

    for process in nodes.values():
        process.wait(timeout=duration + 30)
        assert process.returncode == 0, process.stderr.read() if process.stderr else ""
    results = read_results(postgres_url, pg_schema)
    on_victim = {
        kind: {(job, run) for job, run, node, k in results if node == "node-v" and k == kind}
        for kind in ("submitted", "started", "executed")
    }
    executed = Counter((job, run) for job, run, _, kind in results if kind == "executed")
    abandoned = {(job, run) for job, run, node, kind in results if kind == "abandoned"}
    never_begun = on_victim["submitted"] - on_victim["started"]

    assert [key for key, count in executed.items() if count > 1] == []
    assert on_victim["executed"] == set()
    assert len(on_victim["started"]) == 2
    assert abandoned == on_victim["started"]
    assert sorted(run for run in on_victim["started"] if run in executed) == []
    assert len(never_begun) >= QUEUED
    assert sorted(run for run in never_begun if run not in executed) == []
    grid = {
        (f"job{index}", run) for index in range(JOBS) for run in expected_run_times(start, end, 1)
    }
    assert sorted(grid - set(executed) - abandoned) == []
    assert set(executed) | abandoned == grid
    # Taken over within the lease (2 s): the queued runs ran again before the cluster executed
    # the run times 6 s after the last one the victim was handed (rows are in writing order).
    last_handed = max(datetime.fromisoformat(run) for _, run in on_victim["submitted"])
    later = (last_handed + timedelta(seconds=6)).isoformat()
    order = {(job, run, kind): index for index, (job, run, _, kind) in enumerate(results)}
    first_later = min(
        index for (_, run, kind), index in order.items() if run == later and kind == "executed"
    )
    reruns = [order[(job, run, "executed")] for job, run in never_begun]
    assert max(reruns) < first_later
    print(f"re-run after the kill: {len(never_begun)}; abandoned: {len(abandoned)}")
