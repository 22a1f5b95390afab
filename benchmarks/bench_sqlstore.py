"""SQL job store benchmark: obssched's SQLAlchemyJobStore against APScheduler 3.11's.

Each measurement runs in a fresh process on a fresh SQLite file:

* ``add``: add N interval jobs through ``scheduler.add_job`` (one committed insert each).
* ``run``: N date jobs, all due, processed by the scheduling loop with an inline executor until
  none is left (load, run, delete).
* memory: the peak traced allocation (tracemalloc) of the ``run`` phase, in its own process.

``--cluster`` measures obssched's cluster mode on PostgreSQL instead: N due jobs shared by 1, 2
and 3 node processes, reporting runs claimed and executed per second.

    .venv/bin/python benchmarks/bench_sqlstore.py [--jobs 10000] [--cluster]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
PG_URL = os.environ.get(
    "OBSSCHED_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def noop() -> None:
    """The benchmarked job body."""


def _scheduler(lib: str, url: str, **store_options: Any) -> Any:
    if lib == "obssched":
        from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
        from obssched.testing import ManualScheduler

        sched = ManualScheduler(metrics=False, tracing=False, timezone="UTC")
        sched.add_jobstore(SQLAlchemyJobStore(url=url, **store_options))
        sched.start()
        return sched
    from apscheduler.executors.debug import DebugExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore as ApsStore
    from apscheduler.schedulers.base import BaseScheduler

    class ManualAps(BaseScheduler):  # type: ignore[misc]
        def wakeup(self) -> None:
            pass

        def shutdown(self, wait: bool = True) -> None:
            super().shutdown(wait)

    sched = ManualAps(timezone="UTC")
    sched.add_jobstore(ApsStore(url=url))
    sched.add_executor(DebugExecutor())
    sched.start()
    return sched


def worker(lib: str, phase: str, url: str, jobs: int, trace: bool) -> dict[str, Any]:
    """Run one phase in this process and return its figures."""
    sched = _scheduler(lib, url)
    now = datetime.now(UTC)
    if phase == "seed":
        for index in range(jobs):
            sched.add_job(
                "bench_sqlstore:noop",
                "date",
                run_date=now - timedelta(seconds=1),
                id=f"j{index}",
                misfire_grace_time=None,
            )
        sched.shutdown()
        return {}
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    if phase == "add":
        for index in range(jobs):
            sched.add_job("bench_sqlstore:noop", "interval", hours=1, id=f"j{index}")
    else:
        while sched._process_jobs() == 0 and sched.get_jobs():
            pass
        remaining = len(sched.get_jobs())
        assert remaining == 0, f"{remaining} jobs left"
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    sched.shutdown()
    return {"seconds": elapsed, "per_second": jobs / elapsed, "peak_mb": peak / 2**20}


def cluster_worker(url: str, schema: str, node: str) -> dict[str, Any]:
    """Process due jobs as one cluster node until none is left."""
    sched = _scheduler("obssched", url, tableschema=schema, cluster=True, node_id=node)
    store = sched._lookup_jobstore("default")
    executed = 0

    def count(event: Any) -> None:
        nonlocal executed
        executed += 1

    from obssched.events import EVENT_JOB_EXECUTED

    sched.add_listener(count, EVENT_JOB_EXECUTED)
    started = time.perf_counter()
    while store.count_jobs() != (0, 0):
        sched._process_jobs()
    elapsed = time.perf_counter() - started
    sched.shutdown()
    return {"executed": executed, "seconds": elapsed}


def _spawn(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, os.path.join(HERE, "bench_sqlstore.py"), "--worker", *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)


def _run(*args: str) -> dict[str, Any]:
    process = _spawn(*args)
    out, _ = process.communicate(timeout=900)
    if process.returncode:
        raise SystemExit(f"worker {args} failed")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def single_node(jobs: int) -> None:
    """Print obssched against APScheduler 3.11 on SQLite."""
    rows = []
    for lib in ("apscheduler", "obssched"):
        figures: dict[str, Any] = {"lib": lib}
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/add.sqlite"
            figures["add"] = _run(lib, "add", url, str(jobs), "0")["per_second"]
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/run.sqlite"
            _run(lib, "seed", url, str(jobs), "0")
            figures["run"] = _run(lib, "run", url, str(jobs), "0")["per_second"]
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/mem.sqlite"
            _run(lib, "seed", url, str(jobs), "0")
            figures["peak_mb"] = _run(lib, "run", url, str(jobs), "1")["peak_mb"]
        rows.append(figures)
    print(f"SQLite, {jobs} jobs          add/s     run/s   run peak MB")
    for row in rows:
        print(f"{row['lib']:<22}{row['add']:>9.0f} {row['run']:>9.0f} {row['peak_mb']:>12.1f}")
    aps, obs = rows
    print(
        f"ratio obssched/aps    {obs['add'] / aps['add']:>8.2f}x {obs['run'] / aps['run']:>8.2f}x"
    )


def cluster(jobs: int) -> None:
    """Print cluster throughput on PostgreSQL with 1, 2 and 3 nodes."""
    import uuid

    from sqlalchemy import create_engine, text

    engine = create_engine(PG_URL)
    print(f"PostgreSQL cluster, {jobs} due jobs   nodes  runs/s (claimed and executed)")
    for nodes in (1, 2, 3):
        schema = f"obssched_bench_{uuid.uuid4().hex[:8]}"
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            _run("cluster-seed", PG_URL, str(jobs), schema)
            started = time.perf_counter()
            procs = [_spawn("cluster", PG_URL, schema, f"n{i}") for i in range(nodes)]
            results = [
                json.loads(p.communicate(timeout=900)[0].strip().splitlines()[-1]) for p in procs
            ]
            wall = time.perf_counter() - started
            executed = sum(result["executed"] for result in results)
            busy = max(result["seconds"] for result in results)
            assert executed == jobs, f"{executed} runs for {jobs} jobs"
            print(
                f"{'':<37}{nodes:>5}  {jobs / busy:>8.0f} (wall incl. start-up {jobs / wall:.0f})"
            )
        finally:
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def main() -> None:
    """Entry point (and the worker processes' entry point)."""
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        args = sys.argv[2:]
        if args[0] == "cluster":
            print(json.dumps(cluster_worker(args[1], args[2], args[3])))
        elif args[0] == "cluster-seed":
            url, jobs, schema = args[1], int(args[2]), args[3]
            sched = _scheduler("obssched", url, tableschema=schema)
            now = datetime.now(UTC)
            for index in range(jobs):
                sched.add_job("bench_sqlstore:noop", "date", run_date=now, id=f"j{index}",
                              misfire_grace_time=None)  # fmt: skip
            sched.shutdown()
            print("{}")
        else:
            lib, phase, url, jobs, trace = args
            print(json.dumps(worker(lib, phase, url, int(jobs), trace == "1")))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--cluster", action="store_true")
    options = parser.parse_args()
    if options.cluster:
        cluster(options.jobs)
    else:
        single_node(options.jobs)


if __name__ == "__main__":
    main()
