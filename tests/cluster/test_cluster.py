"""Several scheduler processes on one PostgreSQL database: exactly once, and failover."""

from __future__ import annotations

import itertools
import signal
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import create_engine, make_url, text

from obssched.clock import SystemClock

pytestmark = [pytest.mark.postgresql, pytest.mark.realtime, pytest.mark.slow, pytest.mark.faults]

CLOCK = SystemClock()  # these tests run real processes in real time
Spawn = Callable[..., subprocess.Popen[str]]


def expected_run_times(start: datetime, end: datetime, interval: float) -> list[str]:
    """Every run time of an interval job from ``start`` to ``end``."""
    times = []
    moment = start
    while moment <= end:
        times.append(moment.isoformat())
        moment += timedelta(seconds=interval)
    return times


def wait_ready(process: subprocess.Popen[str]) -> None:
    """Block until the node printed that it runs."""
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == "ready", process.stderr.read() if process.stderr else line


def read_results(url: str, schema: str) -> list[tuple[str, str, str, str]]:
    """Every recorded (job_id, run_time, node, kind)."""
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(f'SELECT job_id, run_time, node, kind FROM "{schema}".results ORDER BY seq')
        ).all()
    engine.dispose()
    return [tuple(row) for row in rows]  # type: ignore[misc]


@contextmanager
def announcements(url: str, schema: str) -> Iterator[psycopg.Connection]:
    """A connection listening to the results the nodes announce (see clusternode)."""
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(f"results_{schema}")))
        yield conn


def wait_for_announcement(conn: psycopg.Connection, prefix: str, timeout: float) -> str:
    """Block until a node announces a result starting with ``prefix``; return the announcement."""
    deadline = CLOCK.monotonic() + timeout
    while (remaining := deadline - CLOCK.monotonic()) > 0:
        for notification in conn.notifies(timeout=remaining, stop_after=1):
            if notification.payload.startswith(prefix):
                return notification.payload
    pytest.fail(f"no node announced {prefix!r} within {timeout}s")


def node_args(url: str, schema: str, node: str, duration: float, *extra: str) -> list[str]:
    """Command-line arguments of a cluster node."""
    return [
        "--url", url, "--schema", schema, "--node", node, "--cluster",
        "--lease", "2", "--duration", str(duration), *extra,
    ]  # fmt: skip


def test_three_nodes_run_every_run_time_exactly_once(
    postgres_url: str, pg_schema: str, spawn_node: Spawn
) -> None:
    """Three nodes share six interval jobs; each run time executes once, with no gaps."""
    start = CLOCK.now().replace(microsecond=0) + timedelta(seconds=5)
    end = start + timedelta(seconds=8)
    duration = (end - CLOCK.now()).total_seconds() + 4
    seed = ["--seed", "6", "--interval", "0.5", "--start", start.isoformat()]
    seed += ["--end", end.isoformat()]
    first = spawn_node(*node_args(postgres_url, pg_schema, "node-a", duration, *seed))
    wait_ready(first)
    others = [
        spawn_node(*node_args(postgres_url, pg_schema, name, duration)) for name in ("b", "c")
    ]
    for process in [first, *others]:
        process.wait(timeout=duration + 30)
        assert process.returncode == 0, process.stderr.read() if process.stderr else ""

    results = read_results(postgres_url, pg_schema)
    executed = Counter((job, run) for job, run, _, kind in results if kind == "executed")
    expected = Counter(
        (f"job{index}", run) for index in range(6) for run in expected_run_times(start, end, 0.5)
    )
    assert [key for key, count in executed.items() if count > 1] == []
    assert sorted(set(expected) - set(executed)) == []
    assert executed == expected
    assert [kind for *_, kind in results if kind != "executed"] == []


def test_a_killed_node_is_taken_over_and_its_run_reported(
    postgres_url: str, pg_schema: str, spawn_node: Spawn
) -> None:
    """SIGKILL on the node running a slow job: it is reported abandoned and re-run elsewhere."""
    start = CLOCK.now().replace(microsecond=0) + timedelta(seconds=5)
    end = start + timedelta(seconds=12)
    duration = (end - CLOCK.now()).total_seconds() + 6
    seed = ["--seed", "3", "--interval", "1", "--start", start.isoformat()]
    seed += ["--end", end.isoformat(), "--slow-job", "6"]
    with announcements(postgres_url, pg_schema) as announced:
        nodes = {
            "node-a": spawn_node(*node_args(postgres_url, pg_schema, "node-a", duration, *seed))
        }
        wait_ready(nodes["node-a"])
        for name in ("node-b", "node-c"):
            nodes[name] = spawn_node(*node_args(postgres_url, pg_schema, name, duration))
        victim = wait_for_announcement(announced, "slow started ", timeout=30).split()[2]
    nodes[victim].send_signal(signal.SIGKILL)

    for name, process in nodes.items():
        if name != victim:
            process.wait(timeout=duration + 30)
            assert process.returncode == 0, process.stderr.read() if process.stderr else ""
    results = read_results(postgres_url, pg_schema)
    abandoned = [
        i for i, (job, _, _, kind) in enumerate(results) if (job, kind) == ("slow", "abandoned")
    ]
    assert abandoned, "the abandoned run was never reported"
    assert results[abandoned[0]][2] != victim
    # Reported once the victim's lease (2 s) ran out, while the cluster still ran its jobs:
    # before the run times 8 s after the slow job's were executed (rows are in writing order).
    late = (start + timedelta(seconds=8)).isoformat()
    late_runs = [i for i, row in enumerate(results) if row[1] == late and row[3] == "executed"]
    assert late_runs, results
    assert abandoned[0] < late_runs[0]
    slow_runs = [(node, kind) for job, _, node, kind in results if job == "slow"]
    assert "executed" in [kind for node, kind in slow_runs if node != victim], slow_runs
    executed = Counter((job, run) for job, run, _, kind in results if kind == "executed")
    expected = Counter(
        (f"job{index}", run) for index in range(3) for run in expected_run_times(start, end, 1)
    )
    expected[("slow", start.isoformat())] = 1
    assert executed == expected


def test_max_instances_holds_across_the_cluster(
    postgres_url: str, pg_schema: str, spawn_node: Spawn
) -> None:
    """A slow job with max_instances=1 on two nodes: its runs never overlap, whichever node."""
    start = CLOCK.now().replace(microsecond=0) + timedelta(seconds=1)
    # Long enough for node-b, which sleeps until node-a's lease ends, to try several times.
    end = start + timedelta(seconds=7)
    duration = (end - CLOCK.now()).total_seconds() + 2
    seed = ["--exclusive", "0.8", "--interval", "0.2", "--start", start.isoformat()]
    seed += ["--end", end.isoformat()]
    first = spawn_node(*node_args(postgres_url, pg_schema, "node-a", duration, *seed))
    wait_ready(first)
    second = spawn_node(*node_args(postgres_url, pg_schema, "node-b", duration))
    for process in (first, second):
        process.wait(timeout=duration + 30)
        assert process.returncode == 0, process.stderr.read() if process.stderr else ""

    engine = create_engine(postgres_url)
    with engine.connect() as conn:
        spans = conn.execute(
            text(f'SELECT node, began, ended FROM "{pg_schema}".spans ORDER BY began')
        ).all()
    engine.dispose()
    assert len(spans) >= 3, spans
    overlaps = [
        (before, after)
        for before, after in itertools.pairwise(spans)
        if datetime.fromisoformat(after.began) < datetime.fromisoformat(before.ended)
    ]
    assert overlaps == []
    skipped = [row for row in read_results(postgres_url, pg_schema) if row[3] == "skipped"]
    assert skipped, "the job was never refused while it ran"
