"""Cluster benchmark: obssched's cluster mode against APScheduler 4 on one PostgreSQL database.

Each cell runs N interval jobs (every second, from a common start) on a shared store served by K
node processes, over a window of W seconds, then lets the nodes drain for a few seconds and
SIGKILLs them. Every run writes one line with ``os.write`` (job id, scheduled time, start time)
to its node's record file: obssched from a run hook (its bodies are no-ops and the hook sees the
scheduled time), APScheduler 4 from its body (``current_job`` gives it). The figures:

* runs/s: runs started in the window, per second;
* start lag p50/p99: start time minus scheduled time, over the runs started in the window;
* duplicates: (job, scheduled time) pairs run more than once;
* lost: grid points before a job's latest run that neither ran nor were reported missed or
  refused (a gap); the grid points never reached by the end of the drain are counted apart
  ("behind": a backlog, not a loss);
* refused: grid points whose run was refused by the job's limit of runs in flight
  (``EVENT_JOB_MAX_INSTANCES``): not run either, so the "nothing lost" targets count them with
  the lost ones;
* node CPU per run: the node processes' user + system CPU over the window (``/proc``), per run
  started in it;
* PostgreSQL CPU per run: the same for the postgres backends serving the nodes (found by their
  ``application_name`` in ``pg_stat_activity``, sampled every 0.25 s);
* with ``kill``: one of 3 nodes is SIGKILLed a third into the window; the lost runs then
  include those it claimed but never began, and ``takeover`` is the longest wait, past their
  grid point, of the first runs after the kill of the jobs it was running.

APScheduler 4 (4.0.0a6, a pre-release) runs in its own virtual environment, ``.venv-aps4`` at the
root of the repository (or ``$BENCH_APS4_PYTHON``), made with::

    python3 -m venv .venv-aps4
    .venv-aps4/bin/pip install 'apscheduler[sqlalchemy,asyncpg]==4.0.0a6' sniffio greenlet

with its SQLAlchemy data store (asyncpg) and its asyncpg event broker; its ``cleanup_interval``
is set (5 s), or its nodes never reclaim a dead node's jobs. Both libraries get a 5 s lease,
coalescing off, no misfire grace limit, a thread-pool executor and the same ceiling of runs in
flight: obssched's jobs allow 10 runs at once each (``max_instances``), and APScheduler 4's
task, whose ``max_running_jobs`` counts the runs of all its schedules together, allows 10 per
schedule. Neither is reached by a node that keeps up (the bodies are no-ops); a run obssched
refuses is not done, and is reported (``refused``) rather than making its load lighter.

    .venv/bin/python benchmarks/bench_cluster.py [--quick] [--repeats N] [--aa obssched]
    .venv/bin/python benchmarks/bench_cluster.py --sizes 1000,100000

``--sizes`` measures obssched's claim of 500 due jobs among 1,000 and 100,000 stored ones
(CPU of the claiming process, the claim query's execution time from ``EXPLAIN ANALYZE``, and
the plan's access path). The database is ``$OBSSCHED_TEST_POSTGRES_URL``; each run uses a
schema of its own, dropped afterwards. Cost ratios are obssched over APScheduler 4 (the
harness's "apscheduler" slot).
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PG_URL = os.environ.get(
    "OBSSCHED_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
APS4_PYTHON = os.environ.get("BENCH_APS4_PYTHON", os.path.join(ROOT, ".venv-aps4", "bin", "python"))
LEASE = 5.0
MAX_INSTANCES = 10
RECORD: dict[str, int] = {}  # the record file's descriptor, set in a node process


# --- the node processes -------------------------------------------------------------------------


def _record(kind: str, job_id: str, scheduled: float, started: float) -> None:
    os.write(RECORD["fd"], f"{kind} {job_id} {scheduled:.6f} {started:.6f}\n".encode())


class RecordingHook:
    """obssched: writes the record line of each run right before its (no-op) body."""

    def wrap(self, run: Any) -> None:
        """Record ``run``; nothing to wrap."""
        _record("R", run.job_id, run.scheduled_run_time.timestamp(), time.time())

    def remote(self, run: Any) -> None:
        """No body runs in another process here."""


def noop() -> None:
    """obssched's job body."""


def aps4_body() -> None:
    """APScheduler 4's job body: the same record line."""
    from apscheduler import current_job

    job = current_job.get()
    _record("R", job.schedule_id, job.scheduled_fire_time.timestamp(), time.time())


def obssched_node(args: dict[str, Any]) -> None:
    """Run an obssched cluster node until killed."""
    from obssched.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
    from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
    from obssched.schedulers.background import BackgroundScheduler

    store = SQLAlchemyJobStore(
        url=args["url"],
        tableschema=args["schema"],
        cluster=True,
        node_id=args["node"],
        lease_seconds=LEASE,
        engine_options={"connect_args": {"application_name": args["app"]}},
    )
    scheduler = BackgroundScheduler(
        metrics=False, tracing=False, timezone="UTC", jobstores={"default": store}
    )

    def listener(event: Any) -> None:
        kind = "M" if event.code == EVENT_JOB_MISSED else "X"
        for moment in getattr(event, "scheduled_run_times", None) or [event.scheduled_run_time]:
            _record(kind, event.job_id, moment.timestamp(), time.time())

    scheduler.add_listener(listener, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
    scheduler.start(paused=True)
    scheduler.add_run_hook(RecordingHook())
    start = datetime.fromtimestamp(args["start"], UTC)
    for index in range(args["seed"]):
        scheduler.add_job(
            "bench_cluster:noop",
            "interval",
            seconds=1,
            start_date=start,
            end_date=start + timedelta(seconds=args["window"] - 0.5),
            id=f"j{index}",
            coalesce=False,
            misfire_grace_time=None,
            max_instances=MAX_INSTANCES,
            replace_existing=True,
        )
    scheduler.resume()
    print("ready", flush=True)
    threading.Event().wait()


def aps4_node(args: dict[str, Any]) -> None:
    """Run an APScheduler 4 node until killed."""
    import anyio
    from apscheduler import AsyncScheduler, CoalescePolicy, ConflictPolicy, JobOutcome, JobReleased
    from apscheduler.datastores.sqlalchemy import SQLAlchemyDataStore
    from apscheduler.eventbrokers.asyncpg import AsyncpgEventBroker
    from apscheduler.triggers.interval import IntervalTrigger
    from sqlalchemy.ext.asyncio import create_async_engine

    url = args["url"].replace("postgresql+psycopg://", "postgresql+asyncpg://")
    settings = {"server_settings": {"application_name": args["app"]}}
    node = args["node"]

    async def run() -> None:
        engine = create_async_engine(url, connect_args=settings)
        store = SQLAlchemyDataStore(engine, schema=args["schema"])
        broker = AsyncpgEventBroker.from_async_sqla_engine(
            engine, options=settings, channel=f"aps_{args['schema']}"
        )
        scheduler = AsyncScheduler(
            store, broker, identity=node, cleanup_interval=5, lease_duration=LEASE
        )
        async with scheduler:

            def released(event: Any) -> None:
                if event.scheduler_id == node and event.outcome is JobOutcome.missed_start_deadline:
                    _record("M", event.schedule_id, event.scheduled_start.timestamp(), time.time())

            scheduler.subscribe(released, {JobReleased})
            await scheduler.configure_task(
                "bench",
                func=aps4_body,
                job_executor="threadpool",
                misfire_grace_time=None,
                # A task's limit holds for all its schedules together (obssched's
                # max_instances is per job): the same ceiling in all, MAX_INSTANCES per job.
                max_running_jobs=MAX_INSTANCES * args["jobs"],
            )
            start = datetime.fromtimestamp(args["start"], UTC)
            trigger_end = start + timedelta(seconds=args["window"] - 0.5)
            for index in range(args["seed"]):
                await scheduler.add_schedule(
                    "bench",
                    IntervalTrigger(seconds=1, start_time=start, end_time=trigger_end),
                    id=f"j{index}",
                    coalesce=CoalescePolicy.all,
                    misfire_grace_time=None,
                    conflict_policy=ConflictPolicy.replace,
                )
            await scheduler.start_in_background()
            print("ready", flush=True)
            await anyio.sleep(math.inf)

    anyio.run(run)


def node_main(argv: list[str]) -> None:
    """A node process: ``--node LIB URL SCHEMA NODE APP RECORDFILE START WINDOW SEED JOBS``
    (it adds SEED jobs; JOBS is how many the cell has)."""
    lib, url, schema, node, app, path, start, window, seed, jobs = argv
    RECORD["fd"] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    # The jobs refer to this module as "bench_cluster", not as the running __main__.
    sys.path.insert(0, HERE)
    module = __import__("bench_cluster")
    module.RECORD["fd"] = RECORD["fd"]
    args = {
        "url": url,
        "schema": schema,
        "node": node,
        "app": app,
        "start": float(start),
        "window": float(window),
        "seed": int(seed),
        "jobs": int(jobs),
    }
    (module.obssched_node if lib == "obssched" else module.aps4_node)(args)


# --- measuring from outside -------------------------------------------------------------------


def proc_cpu(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` (all its threads), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class BackendSampler:
    """Samples the CPU of the postgres backends whose ``application_name`` is ``app``."""

    def __init__(self, app: str) -> None:
        from sqlalchemy import create_engine

        self._engine = create_engine(PG_URL, pool_size=1)
        self._app = app
        self._lock = threading.Lock()
        self._latest: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from sqlalchemy import text

        query = text("SELECT pid FROM pg_stat_activity WHERE application_name = :app")
        with self._engine.connect() as conn:
            while not self._stop.is_set():
                pids = [row[0] for row in conn.execute(query, {"app": self._app})]
                conn.rollback()
                for pid in pids:
                    cpu = proc_cpu(pid)
                    if cpu is not None:
                        with self._lock:
                            self._latest[pid] = cpu
                self._stop.wait(0.25)

    def snapshot(self) -> dict[int, float]:
        """The latest CPU seconds seen of each backend."""
        for pid in list(self._latest):
            cpu = proc_cpu(pid)
            if cpu is not None:
                with self._lock:
                    self._latest[pid] = cpu
        with self._lock:
            return dict(self._latest)

    def close(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join()
        self._engine.dispose()


def _delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def _node_command(lib: str, *args: Any) -> list[str]:
    python = sys.executable if lib == "obssched" else APS4_PYTHON
    return [python, os.path.abspath(__file__), "--node", lib, *map(str, args)]


def run_cell(lib: str, nodes: int, jobs: int, window: float, kill: bool) -> dict[str, Any]:
    """Run one cell in a fresh schema and return its figures."""
    import tempfile

    from sqlalchemy import create_engine, text

    if lib != "obssched" and not os.path.exists(APS4_PYTHON):
        raise RuntimeError(f"APScheduler 4's interpreter {APS4_PYTHON} is missing (see --help)")
    schema = f"bench_cluster_{uuid.uuid4().hex[:8]}"
    app = f"bench-{schema}"
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    tmp = tempfile.mkdtemp(prefix="bench_cluster_")
    processes: list[subprocess.Popen[str]] = []
    sampler = BackendSampler(app)
    try:
        boot = 6.0 + jobs * 0.008
        start = math.ceil(time.time() + boot)
        paths = [os.path.join(tmp, f"n{i}.log") for i in range(nodes)]
        env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
        # The first node creates the tables and adds the jobs; the others join once it is up
        # (APScheduler 4's nodes race to create the tables when started together).
        for index in range(nodes):
            seed = jobs if index == 0 else 0
            command = _node_command(
                lib, PG_URL, schema, f"n{index}", app, paths[index], start, window, seed, jobs
            )
            errors = open(os.path.join(tmp, f"n{index}.err"), "w")  # noqa: SIM115
            processes.append(
                subprocess.Popen(
                    command, env=env, stdout=subprocess.PIPE, stderr=errors, text=True, cwd=HERE
                )
            )
            errors.close()
            if index in (0, nodes - 1):
                for process in processes[-1:] if index == 0 else processes[1:]:
                    assert process.stdout is not None
                    if process.stdout.readline().strip() != "ready":
                        with open(os.path.join(tmp, f"n{processes.index(process)}.err")) as err:
                            tail = " | ".join(err.read().strip().splitlines()[-3:])
                        raise RuntimeError(f"a node did not start: {tail}")
        late_start = max(0.0, time.time() - start)
        time.sleep(max(0.0, start - time.time()))
        cpu_before = {p.pid: proc_cpu(p.pid) or 0.0 for p in processes}
        pg_before = sampler.snapshot()
        killed_at = None
        victim = nodes - 1
        victim_cpu = 0.0
        if kill:
            time.sleep(window / 3)
            victim_cpu = proc_cpu(processes[victim].pid) or 0.0
            processes[victim].send_signal(signal.SIGKILL)
            killed_at = time.time()
            processes[victim].wait()
        time.sleep(max(0.0, start + window - time.time()))
        cpu_after = {p.pid: proc_cpu(p.pid) or 0.0 for p in processes}
        pg_after = sampler.snapshot()
        if kill:  # the victim's CPU over the window: from the start to the kill
            cpu_after[processes[victim].pid] = victim_cpu
        drain = 10.0 if kill else 5.0
        time.sleep(drain)
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            process.wait()
        sampler.close()
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()
    records = _read_records(paths)
    figures = _figures(records, jobs, start, window, killed_at, victim if kill else None)
    runs = figures["runs_in_window"]
    figures["node_cpu_ms"] = 1000 * _delta(cpu_before, cpu_after) / runs if runs else math.nan
    figures["pg_cpu_ms"] = 1000 * _delta(pg_before, pg_after) / runs if runs else math.nan
    figures["late_start_s"] = late_start
    return figures


def _read_records(paths: list[str]) -> list[tuple[str, str, float, float, int]]:
    records = []
    for node, path in enumerate(paths):
        if not os.path.exists(path):
            continue
        with open(path, encoding="ascii") as lines:
            for line in lines:
                parts = line.split()
                if len(parts) == 4:  # a line cut short by SIGKILL is dropped
                    records.append((parts[0], parts[1], float(parts[2]), float(parts[3]), node))
    return records


def _figures(
    records: list[tuple[str, str, float, float, int]],
    jobs: int,
    start: float,
    window: float,
    killed_at: float | None,
    victim: int | None,
) -> dict[str, Any]:
    runs = [r for r in records if r[0] == "R"]
    in_window = [r for r in runs if start <= r[3] <= start + window]
    lags = sorted(r[3] - r[2] for r in in_window)
    seen = Counter((r[1], round(r[2], 3)) for r in runs)
    duplicates = sum(count - 1 for count in seen.values() if count > 1)
    # Run, reported missed or refused: not a gap (refused points are counted apart).
    reported = {(r[1], round(r[2], 3)) for r in records}
    latest: dict[str, float] = defaultdict(lambda: -math.inf)
    for r in runs:
        latest[r[1]] = max(latest[r[1]], r[2])
    lost = behind = 0
    grid = [start + k for k in range(int(window))]
    for index in range(jobs):
        job_id = f"j{index}"
        for point in grid:
            if (job_id, round(point, 3)) in reported:
                continue
            if point < latest[job_id]:
                lost += 1
            else:
                behind += 1
    per_node = Counter(r[4] for r in in_window)
    figures: dict[str, Any] = {
        "runs_per_s": len(in_window) / window,
        "runs_in_window": len(in_window),
        "lag_p50_s": _quantile(lags, 0.5),
        "lag_p99_s": _quantile(lags, 0.99),
        "duplicates": duplicates,
        "lost": lost,
        "behind": behind,
        "missed": sum(1 for r in records if r[0] == "M"),
        "refused": sum(1 for r in records if r[0] == "X"),
        "top_share": max(per_node.values()) / len(in_window) if in_window else math.nan,
    }
    if killed_at is not None:
        victims_jobs = {r[1] for r in runs if r[4] == victim and r[3] >= killed_at - 2}
        waits = []
        for job_id in victims_jobs:
            after = [r for r in runs if r[1] == job_id and r[2] > killed_at and r[4] != victim]
            if after:
                first = min(after, key=lambda r: r[2])
                waits.append(first[3] - first[2])
        figures["takeover_s"] = max(waits) if waits else math.nan
    return figures


def _quantile(values: list[float], fraction: float) -> float:
    if not values:
        return math.nan
    position = (len(values) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return values[low] + (values[high] - values[low]) * (position - low)


# --- the sizes mode -------------------------------------------------------------------------------


def sizes(stored_sizes: list[int], due: int = 500, repeats: int = 5) -> None:
    """Print the cost of claiming ``due`` due jobs among each number of stored jobs."""
    from sqlalchemy import create_engine, text

    print(f"claim of {due} due jobs    stored  claim CPU ms [min..max]  query ms [min..max]  plan")
    for stored in stored_sizes:
        schema = f"bench_sizes_{uuid.uuid4().hex[:8]}"
        engine = create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            command = [sys.executable, os.path.abspath(__file__), "--sizes-worker", schema]
            command += [str(stored), str(due), str(repeats)]
            env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
            out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            print(out.stdout.rstrip().splitlines()[-2], flush=True)
        finally:
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            engine.dispose()


def sizes_worker(schema: str, stored: int, due: int, repeats: int) -> None:
    """Seed ``stored`` jobs (``due`` of them due) and time claims of the due ones."""
    import json
    import statistics

    from sqlalchemy import text

    from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
    from obssched.testing import ManualScheduler

    store = SQLAlchemyJobStore(url=PG_URL, tableschema=schema, cluster=True, node_id="sizes")
    scheduler = ManualScheduler(metrics=False, tracing=False, timezone="UTC")
    scheduler.add_jobstore(store)
    scheduler.start(paused=True)
    now = datetime.now(UTC)
    for index in range(due):
        scheduler.add_job(
            "bench_cluster:noop", "interval", hours=1, id=f"d{index}", next_run_time=now
        )
    table = f'"{schema}".obssched_jobs'
    running = f'"{schema}".obssched_jobs_running'
    later = int((now + timedelta(days=1)).timestamp() * 1_000_000)
    due_at = int((now - timedelta(seconds=1)).timestamp() * 1_000_000)
    with store.engine.begin() as conn:
        conn.execute(
            text(
                f"INSERT INTO {table} (id, next_run_time, func_ref, state) "
                f"SELECT 'f' || g, {later} + g, func_ref, state FROM {table}, "
                "generate_series(1, :count) AS g WHERE id = 'd0'"
            ),
            {"count": stored - due},
        )
        conn.execute(text(f"ANALYZE {table}"))
    node = store._node
    assert node is not None
    claims = node.claims
    cpu: list[float] = []
    query_ms: list[float] = []
    plan = ""
    for _ in range(repeats):
        with store.engine.begin() as conn:
            conn.execute(
                text(
                    f"UPDATE {table} SET next_run_time = {due_at}, lease_owner = NULL, "
                    "lease_until = NULL WHERE id LIKE 'd%'"
                )
            )
            conn.execute(text(f"DELETE FROM {running}"))
        with store.engine.connect() as conn:
            query = claims.claim_query(now)
            compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
            explained = conn.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled}")).scalar()
            top = (json.loads(explained) if isinstance(explained, str) else explained)[0]
            query_ms.append(float(top["Execution Time"]))
            node_plan = top["Plan"]
            while "Index Name" not in node_plan and node_plan.get("Plans"):
                node_plan = node_plan["Plans"][0]
            plan = f"{node_plan['Node Type']} {node_plan.get('Index Name', '')}".strip()
            conn.rollback()
        began = time.process_time()
        claimed = claims.claim_due(now)
        cpu.append((time.process_time() - began) * 1000)
        claims.release(claimed)
        assert len(claimed) == due, f"claimed {len(claimed)} of {due}"
    scheduler.shutdown()
    print(
        f"{'':<24}{stored:>8,} {statistics.median(cpu):>8.1f} [{min(cpu):.1f}..{max(cpu):.1f}]"
        f" {statistics.median(query_ms):>8.2f} [{min(query_ms):.2f}..{max(query_ms):.2f}]"
        f"  {plan}"
    )
    print(json.dumps({"stored": stored, "cpu_ms": cpu, "query_ms": query_ms, "plan": plan}))


# --- the harness's cells ----------------------------------------------------------------------


def _cells(quick: bool) -> list[Any]:
    from _harness import Cell, Metric

    metrics = (
        Metric("runs_per_s", "runs per second", "runs/s", "higher", 0),
        Metric("lag_p50_s", "start lag p50", "s", "lower", 3),
        Metric("lag_p99_s", "start lag p99", "s", "lower", 3),
        Metric("node_cpu_ms", "node CPU per run", "ms", "lower", 3),
        Metric("pg_cpu_ms", "PostgreSQL CPU per run", "ms", "lower", 3),
        Metric("duplicates", "duplicates", "runs", None, 0),
        Metric("lost", "lost (gaps)", "runs", None, 0),
        Metric("behind", "never reached (backlog)", "runs", None, 0),
        Metric("missed", "reported missed", "runs", None, 0),
        Metric("refused", "refused (max_instances)", "runs", None, 0),
        Metric("top_share", "top node's share", "", None, 2),
    )
    kill_metrics = (*metrics, Metric("takeover_s", "takeover after the kill", "s", "lower", 2))
    jobs = 200 if quick else 1000
    return [
        # More jobs than one node can run each second: what it sustains is its capacity, which
        # the 1,000-job cells cannot show once a node keeps up with all of them.
        Cell("capacity", f"1x{3 * jobs}", metrics),
        Cell("steady", f"1x{jobs}", metrics),
        Cell("steady", f"3x{jobs}", metrics),
        Cell("steady", "3x100", metrics),
        Cell("kill", f"3x{jobs}", kill_metrics),
    ]


def _targets(quick: bool) -> list[Any]:
    from _harness import Target

    jobs = 200 if quick else 1000
    one = f"steady/1x{jobs}"
    three = f"steady/3x{jobs}"

    def cand(cell: str, key: str) -> Any:
        return lambda summary: summary[cell][key]["median"]["obssched"]

    def not_run(cell: str) -> Any:
        """The most runs lost or refused in one of obssched's repeats of ``cell``."""

        def figure(summary: dict[str, Any]) -> float:
            lost = summary[cell]["lost"]["values"]["obssched"]
            refused = summary[cell]["refused"]["values"]["obssched"]
            if not lost or len(lost) != len(refused):
                raise KeyError(cell)
            return max(a + b for a, b in zip(lost, refused, strict=True))

        return figure

    return [
        Target("steady", "node CPU per run", "obssched <= 0.3 ms", cand(one, "node_cpu_ms"), 0.3),
        Target("steady", "one node: lag p99", "obssched < 1 s", cand(one, "lag_p99_s"), 1.0),
        Target(
            "capacity",
            "throughput vs APScheduler 4 (one node, 3x the jobs it can run)",
            ">= 5x (cost ratio <= 0.2)",
            lambda summary: summary[f"capacity/1x{3 * jobs}"]["runs_per_s"]["ratio"],
            0.2,
        ),
        Target("steady", "duplicates", "obssched: 0", cand(three, "duplicates"), 0),
        Target("steady", "lost or refused", "obssched: 0 in every repeat", not_run(three), 0),
        Target(
            "steady",
            "top node's share (3 nodes)",
            "<= 1/3 + 0.15",
            cand(three, "top_share"),
            1 / 3 + 0.15,
        ),
        Target(
            "kill",
            "duplicates after a kill",
            "obssched: 0",
            cand(f"kill/3x{jobs}", "duplicates"),
            0,
        ),
        Target(
            "kill",
            "lost or refused after a kill",
            "obssched: 0 in every repeat",
            not_run(f"kill/3x{jobs}"),
            0,
        ),
    ]


def _worker(kill: bool) -> Any:
    def work(lib: str, param: str, quick: bool) -> dict[str, Any]:
        lib = "obssched" if lib == "obssched" else "aps4"
        nodes, jobs = (int(part) for part in param.split("x"))
        window = 9.0 if quick else 30.0 if kill else 20.0
        return run_cell(lib, nodes, jobs, window, kill)

    return work


def main() -> None:
    """Entry point of the parent, the cell workers and the node processes."""
    if len(sys.argv) > 1 and sys.argv[1] == "--node":
        node_main(sys.argv[2:])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--sizes-worker":
        schema, stored, due, repeats = sys.argv[2:]
        sizes_worker(schema, int(stored), int(due), int(repeats))
        return
    sys.path.insert(0, HERE)
    from _harness import run_parent, worker_main

    if "--worker" in sys.argv:
        worker_main(
            {"steady": _worker(False), "capacity": _worker(False), "kill": _worker(True)},
            sys.argv[1:],
        )
        return
    if "--sizes" in sys.argv:
        index = sys.argv.index("--sizes")
        sizes([int(size) for size in sys.argv[index + 1].split(",")])
        return
    sys.exit(
        run_parent(
            os.path.abspath(__file__),
            _cells,
            _targets,
            sys.argv[1:],
            lambda cell, quick: 240.0,
            baseline_name="APScheduler 4.0.0a6",
        )
    )


if __name__ == "__main__":
    main()
