"""Flat with size: obssched against APScheduler 3.11 at 100,000 stored and 1,000,000 held jobs.

Run ``python benchmarks/bench_size.py --help``; the "Flat with size" section of
``benchmarks/README.md`` explains each figure. Each measurement runs in a fresh interpreter
(``--worker``); the parent interleaves the libraries (see ``_harness.py``).

- ``sqlstart/N``: a file SQLite database filled beforehand with N interval, cron and date jobs
  through the library's own ``SQLAlchemyJobStore`` (each library on its own table layout), then
  the time from constructing ``BackgroundScheduler(jobstores={"default": store})`` and calling
  ``start()`` until the scheduling loop knows its next wakeup, with the process CPU and memory.
- ``memory/N``: Python heap growth per interval job in the memory store, as ``bench_core.py``'s
  ``memory`` cell measures it, at a million jobs.
- ``flat/N``: the cost of one ``add_job`` into a memory store already holding N jobs.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import importlib
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# The harness sits beside this script; importing this file as a module must find it too.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    CANDIDATE,
    Cell,
    Metric,
    Target,
    cpu_seconds,
    import_lib,
    percentile,
    rss_bytes,
    run_parent,
    shutdown_bounded,
    worker_main,
)

SEED = 20_261_207
DAY_S = 86_400
# Every stored job's first run lies 60 days or more ahead, so a filled database can be reused
# for FILL_MAX_AGE_DAYS without any job having come due (a start must not turn into a burst).
FILL_LEAD_DAYS = 60
FILL_MAX_AGE_DAYS = 30
# Bump when the filled job set changes: cached databases of another version are not reused.
FILL_VERSION = 1
# A text reference both libraries resolve in the worker (this script's directory is on the path).
JOB_FUNC = "bench_size:noop"
START_TARGET_S = 2.0


def noop(*args: Any) -> None:
    """The body of every job; never runs."""


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


# --- 1. SQLite start on N stored jobs -------------------------------------------------------------


def _fingerprint(lib: str) -> str:
    """A digest of the library's source: a database filled by other code is not reused."""
    package = Path(str(importlib.import_module(lib).__file__))
    digest = hashlib.sha1(f"{FILL_VERSION}".encode())
    for path in sorted(package.parent.rglob("*.py")):
        digest.update(str(path.relative_to(package.parent)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _cache_dir() -> Path:
    configured = os.environ.get("OBSSCHED_BENCH_SIZE_CACHE")
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / f"obssched-bench-size-{os.getuid()}"


def _filled_database(lib: str, jobs: int, timeout: float) -> Path:
    """Return a database holding ``jobs`` stored jobs of ``lib``, filling it in a fresh
    interpreter if no fresh enough one is cached (the fill is never part of a measurement)."""
    cache = _cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{lib}-{jobs}-{_fingerprint(lib)}.sqlite"
    if path.exists() and time.time() - path.stat().st_mtime < FILL_MAX_AGE_DAYS * DAY_S:
        return path
    partial = path.with_suffix(".filling")
    partial.unlink(missing_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "fill", "--lib", lib]
    command += ["--param", f"{jobs}:{partial}"]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=False
    )
    if completed.returncode != 0:
        tail = " | ".join((completed.stdout + completed.stderr).strip().splitlines()[-3:])
        raise RuntimeError(f"filling the database failed: {tail}")
    partial.replace(path)
    return path


def work_fill(lib: str, param: str, quick: bool) -> dict[str, Any]:
    """Fill a new SQLite database with N jobs through the library's store (a helper of
    ``sqlstart``, run in its own interpreter; not a cell)."""
    count, _, target = param.partition(":")
    jobs = int(count)
    sqlalchemy = importlib.import_module("sqlalchemy")
    engine = sqlalchemy.create_engine(f"sqlite:///{target}")

    # Only the fill skips waiting for the disk at each commit; the file is the same.
    @sqlalchemy.event.listens_for(engine, "connect")
    def _no_sync(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA synchronous=OFF")

    store = import_lib(lib, "jobstores.sqlalchemy").SQLAlchemyJobStore(engine=engine)
    background = import_lib(lib, "schedulers.background")
    options = {"metrics": False, "tracing": False} if lib == CANDIDATE else {}
    scheduler = background.BackgroundScheduler(jobstores={"default": store}, **options)
    scheduler.start(paused=True)
    rng = random.Random(SEED)
    base = time.time() + FILL_LEAD_DAYS * DAY_S
    started = time.perf_counter()
    for index in range(jobs):
        common = {"args": (index, "payload"), "id": f"job-{index:07d}"}
        kind = index % 3
        if kind == 0:
            start = _utc(base + rng.uniform(0, DAY_S))
            seconds = rng.randint(60, DAY_S)
            scheduler.add_job(JOB_FUNC, "interval", seconds=seconds, start_date=start, **common)
        elif kind == 1:
            hour, minute = rng.randrange(24), rng.randrange(60)
            start = _utc(base)
            scheduler.add_job(
                JOB_FUNC, "cron", hour=hour, minute=minute, start_date=start, **common
            )
        else:
            run_date = _utc(base + rng.uniform(0, 300 * DAY_S))
            scheduler.add_job(JOB_FUNC, "date", run_date=run_date, **common)
    fill_s = time.perf_counter() - started
    stored = len(scheduler.get_jobs())
    shutdown_bounded(scheduler, wait=False)
    engine.dispose()
    if stored != jobs:
        raise RuntimeError(f"the fill stored {stored} jobs, not {jobs}")
    return {"fill_s": fill_s, "jobs": stored}


def work_sqlstart(lib: str, param: str, quick: bool) -> dict[str, Any]:
    """Construct and start a scheduler on a SQLite store of N jobs; time until the loop's first
    step knows the next wakeup, then time the first ``get_jobs()``."""
    jobs = int(param)
    filled = _filled_database(lib, jobs, timeout=1800.0)
    workdir = Path(tempfile.mkdtemp(prefix="bench-size-"))
    database = workdir / "jobs.sqlite"
    shutil.copyfile(filled, database)
    sqlalchemy_store = import_lib(lib, "jobstores.sqlalchemy")
    background = import_lib(lib, "schedulers.background")
    known = threading.Event()
    wakeup_known: list[float] = []
    gc.collect()
    rss_before = rss_bytes()
    cpu_started = cpu_seconds()
    started = time.perf_counter()
    store = sqlalchemy_store.SQLAlchemyJobStore(url=f"sqlite:///{database}")
    # The loop asks each store for its next run time at the end of its first step (both
    # libraries); an instance attribute sees that call without changing what it does.
    next_run_time = store.get_next_run_time

    def watched_next_run_time() -> Any:
        value = next_run_time()
        if not known.is_set():
            wakeup_known.append(time.perf_counter())
            known.set()
        return value

    store.get_next_run_time = watched_next_run_time
    scheduler = background.BackgroundScheduler(jobstores={"default": store})
    scheduler.start()
    start_returned = time.perf_counter()
    if not known.wait(120.0):
        raise RuntimeError("the scheduler did not reach its first wakeup within 120 s")
    cpu_s = cpu_seconds() - cpu_started
    rss_ready = rss_bytes()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    listed_started = time.perf_counter()
    listed = len(scheduler.get_jobs())
    get_jobs_s = time.perf_counter() - listed_started
    clean_shutdown = shutdown_bounded(scheduler, wait=False)
    shutil.rmtree(workdir, ignore_errors=True)
    if listed != jobs:
        raise RuntimeError(f"get_jobs() returned {listed} jobs, not {jobs}")
    return {
        "ready_s": wakeup_known[0] - started,
        "start_call_s": start_returned - started,
        "cpu_s": cpu_s,
        "peak_rss_mb": peak_kib / 1024,
        "rss_growth_mb": (rss_ready - rss_before) / 2**20,
        "get_jobs_s": get_jobs_s,
        "jobs": listed,
        "clean_shutdown": clean_shutdown,
    }


# --- 2. memory store: heap per job ---------------------------------------------------------------


def _paused_scheduler(lib: str) -> Any:
    scheduler = import_lib(lib, "schedulers.background").BackgroundScheduler()
    scheduler.start(paused=True)
    # One add first, so lazily imported modules and caches are not charged to the jobs.
    scheduler.add_job(noop, "interval", seconds=60, args=(0, "payload"), id="warm-up")
    scheduler.remove_job("warm-up")
    return scheduler


def work_memory(lib: str, param: str, quick: bool) -> dict[str, Any]:
    """Python heap growth (tracemalloc) per interval job with two arguments, scheduler paused:
    ``bench_core.py``'s ``memory`` cell at another size."""
    job_count = int(param)
    rng = random.Random(SEED)
    scheduler = _paused_scheduler(lib)
    seconds = [rng.uniform(1.0, 3600.0) for _ in range(job_count)]
    gc.collect()
    rss_before = rss_bytes()
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    for index, period in enumerate(seconds):
        scheduler.add_job(noop, "interval", seconds=period, args=(index, "payload"))
    gc.collect()
    after, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_growth = rss_bytes() - rss_before
    clean_shutdown = shutdown_bounded(scheduler, wait=False)
    return {
        "bytes_per_job": (after - before) / job_count,
        "peak_bytes_per_job": (peak - before) / job_count,
        # RSS also holds tracemalloc's own records: read it against the other library's only.
        "rss_per_job": rss_growth / job_count,
        "clean_shutdown": clean_shutdown,
    }


# --- 3. memory store: add cost by size ------------------------------------------------------------


def work_flat(lib: str, param: str, quick: bool) -> dict[str, Any]:
    """Pre-fill N interval jobs, then time 1,000 more adds one by one (gc left on)."""
    store_size = int(param)
    measured = 200 if quick else 1000
    rng = random.Random(SEED)
    scheduler = _paused_scheduler(lib)
    seconds = [rng.uniform(1.0, 3600.0) for _ in range(store_size + measured)]
    prefill_started = time.perf_counter()
    for index in range(store_size):
        scheduler.add_job(noop, "interval", seconds=seconds[index], args=(index, "payload"))
    prefill_s = time.perf_counter() - prefill_started
    timings_ns = []
    for index in range(store_size, store_size + measured):
        started = time.perf_counter_ns()
        scheduler.add_job(noop, "interval", seconds=seconds[index], args=(index, "payload"))
        timings_ns.append(time.perf_counter_ns() - started)
    stored = len(scheduler.get_jobs())
    clean_shutdown = shutdown_bounded(scheduler, wait=False)
    timings_us = [t / 1e3 for t in timings_ns]
    return {
        "mean_us": sum(timings_us) / measured,
        "p50_us": percentile(timings_us, 0.50),
        "p99_us": percentile(timings_us, 0.99),
        "max_us": max(timings_us),
        "prefill_us": prefill_s / store_size * 1e6,
        "jobs_lost": store_size + measured - stored,
        "clean_shutdown": clean_shutdown,
    }


WORKERS = {
    "sqlstart": work_sqlstart,
    "memory": work_memory,
    "flat": work_flat,
    "fill": work_fill,
}

# --- what the parent reports ----------------------------------------------------------------------

SQLSTART_METRICS = (
    Metric("ready_s", "start to next wakeup", "s", "lower", 3),
    Metric("start_call_s", "  start() returned", "s", "lower", 3),
    Metric("cpu_s", "process CPU to wakeup", "s", "lower", 3),
    Metric("peak_rss_mb", "peak RSS (process)", "MB", "lower", 1),
    Metric("rss_growth_mb", "RSS growth to wakeup", "MB", "lower", 1),
    Metric("get_jobs_s", "first get_jobs()", "s", "lower", 3),
    Metric("jobs", "jobs listed", "jobs", None, 0),
)
MEMORY_METRICS = (
    Metric("bytes_per_job", "heap per job", "B", "lower", 0),
    Metric("peak_bytes_per_job", "heap peak per job", "B", "lower", 0),
    Metric("rss_per_job", "RSS growth per job", "B", "lower", 0),
)
FLAT_METRICS = (
    Metric("mean_us", "add_job mean", "us"),
    Metric("p50_us", "add_job p50", "us"),
    Metric("p99_us", "add_job p99", "us"),
    Metric("max_us", "add_job worst", "us"),
    Metric("prefill_us", "pre-fill add mean", "us"),
    Metric("jobs_lost", "jobs lost", "jobs", None, 0),
)


def sizes(quick: bool) -> dict[str, list[str]]:
    """The parameter of each workload's cells; quick sizes keep a smoke run short."""
    if quick:
        return {"sqlstart": ["2000"], "memory": ["20000"], "flat": ["1000", "20000"]}
    return {"sqlstart": ["100000"], "memory": ["1000000"], "flat": ["1000", "1000000"]}


def cells_for(quick: bool) -> list[Cell]:
    """Every cell of the benchmark, in the order they are run and printed."""
    metrics = {"sqlstart": SQLSTART_METRICS, "memory": MEMORY_METRICS, "flat": FLAT_METRICS}
    # Heap bytes per job repeat to the byte, and tracing a million adds takes minutes; a start
    # on 100,000 rows varies little and each costs a copy of the database.
    max_repeats = {"memory": 1, "sqlstart": 3}
    return [
        Cell(workload, param, metrics[workload], max_repeats.get(workload))
        for workload, params in sizes(quick).items()
        for param in params
    ]


def _ratio(summary: dict[str, Any], *, cell: str, key: str) -> float:
    ratio = summary[cell][key]["ratio"]
    if ratio is None:
        raise KeyError(cell)
    return float(ratio)


def _median(summary: dict[str, Any], cell: str, key: str) -> float:
    value = summary[cell][key]["median"][CANDIDATE]
    if value is None:
        raise KeyError(cell)
    return float(value)


def targets_for(quick: bool) -> list[Target]:
    """The goals of the issue, each a figure read from the summary that must not exceed a limit."""
    size = sizes(quick)
    start = f"sqlstart/{size['sqlstart'][0]}"
    memory = f"memory/{size['memory'][0]}"
    flat_small, flat_big = f"flat/{size['flat'][0]}", f"flat/{size['flat'][-1]}"
    return [
        Target(
            "sqlstart",
            f"{start} start",
            f"next wakeup known within {START_TARGET_S:g} s of construction",
            lambda s: _median(s, start, "ready_s"),
            START_TARGET_S,
        ),
        Target(
            "memory",
            f"{memory} heap per job",
            "<= APScheduler's: cost ratio <= 1",
            functools.partial(_ratio, cell=memory, key="bytes_per_job"),
            1.0,
        ),
        Target(
            "flat",
            f"{flat_big} vs {flat_small} per add",
            "mean add cost grows <= 20% (issue 2's rule): ratio <= 1.2",
            lambda s: _median(s, flat_big, "mean_us") / _median(s, flat_small, "mean_us"),
            1.2,
        ),
    ]


def timeout_for(cell: Cell, quick: bool) -> float:
    """How long one worker may take before it is killed and reported as an error; a start
    worker may first have to fill its database."""
    if quick:
        return 300.0
    return 2400.0 if cell.workload == "sqlstart" else 1200.0


def main(argv: list[str]) -> int:
    """Dispatch to the worker or the parent."""
    if "--worker" in argv:
        worker_main(WORKERS, argv)
    return run_parent(str(Path(__file__).resolve()), cells_for, targets_for, argv, timeout_for)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
