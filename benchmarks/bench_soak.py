"""Soak benchmark: N interval jobs every second for a long window; does anything grow?

Run ``python benchmarks/bench_soak.py --help``; ``benchmarks/README.md`` ("Soak") explains each
figure. Each run is a fresh interpreter (``--worker soak``) that samples itself every few seconds:
resident memory, Python's allocated blocks, threads, file descriptors, outcomes counted by one
listener and, for obssched, the time and size of a ``GET /metrics`` from ``start_http_server``. With
``--library both`` the libraries run back to back, alternating which goes first per repeat, and
the table shows both and the paired cost ratios, as ``bench_core.py`` does.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import math
import os
import statistics
import sys
import threading
import time
from array import array
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# The harness sits beside this script; importing this file as a module must find it too.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    BASELINE,
    CANDIDATE,
    Cell,
    Metric,
    RunResult,
    cpu_seconds,
    import_lib,
    percentile,
    plan_runs,
    run_worker_process,
    shutdown_bounded,
    summarize,
    worker_main,
)

PROFILES = {"default": (20_000, 600), "hour": (1_000, 3_600)}
WARMUP_FRACTION = 0.2
CALIBRATION_ADDS = 200
# Outcomes of runs due before the window's end may arrive after it; wait for them until the
# counts have not moved for this long (APScheduler drops coalesced runs without an event, so
# "everything accounted for" may never come).
DRAIN_QUIET_S = 3.0
DRAIN_MAX_S = 30.0
YEAR_S = 365 * 86_400
OUTCOMES = ("executed", "missed", "errors", "skipped", "coalesced")


def noop() -> None:
    """The job body."""


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _sleep_until(timestamp: float) -> None:
    remaining = timestamp - time.time()
    if remaining > 0:
        time.sleep(remaining)


def sample_period(seconds: float) -> float:
    """Seconds between samples: a few seconds, but at least 30 samples in a short run."""
    return min(5.0, max(1.0, seconds / 30))


# --- worker ---------------------------------------------------------------------------------------


class SoakCounter:
    """Counts outcomes, all of them and those of runs scheduled before ``window_end``.

    One listener for submitted, executed, missed, error and max-instances events; it runs on
    scheduler and executor threads, so every update holds a lock. Coalesced run times are counted
    where obssched reports them (``coalesced_run_times`` on the submission, miss and max-instances
    events); APScheduler 3.11 drops them without an event.
    """

    def __init__(self, events: Any, window_end: float) -> None:
        self.window_end = window_end
        self.names = {
            events.EVENT_JOB_EXECUTED: "executed",
            events.EVENT_JOB_MISSED: "missed",
            events.EVENT_JOB_ERROR: "errors",
            events.EVENT_JOB_MAX_INSTANCES: "skipped",
        }
        self.submitted = events.EVENT_JOB_SUBMITTED
        self.max_instances = events.EVENT_JOB_MAX_INSTANCES
        # The events that carry a run's earlier, coalesced run times; each such run time is on
        # exactly one of them.
        self.reports_coalesced = {
            self.submitted,
            events.EVENT_JOB_MISSED,
            events.EVENT_JOB_MAX_INSTANCES,
        }
        self.mask = self.submitted | events.EVENT_JOB_MISSED | events.EVENT_JOB_ERROR
        self.mask |= events.EVENT_JOB_EXECUTED | events.EVENT_JOB_MAX_INSTANCES
        self.total = dict.fromkeys(OUTCOMES, 0)
        self.window = dict.fromkeys(OUTCOMES, 0)
        self._lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        code = event.code
        end = self.window_end
        coalesced = getattr(event, "coalesced_run_times", ())
        if code == self.submitted or code == self.max_instances:
            run_times = event.scheduled_run_times
        elif code in self.names:
            run_times = (event.scheduled_run_time,)
        else:
            return
        with self._lock:
            if coalesced and code in self.reports_coalesced:
                self.total["coalesced"] += len(coalesced)
                self.window["coalesced"] += sum(1 for t in coalesced if t.timestamp() < end)
            if code == self.submitted:
                return
            name = self.names[code]
            self.total[name] += len(run_times)
            self.window[name] += sum(1 for t in run_times if t.timestamp() < end)

    def snapshot(self) -> tuple[dict[str, int], dict[str, int]]:
        """Copies of the running totals and the in-window counts."""
        with self._lock:
            return dict(self.total), dict(self.window)


def _proc_status() -> dict[str, int]:
    """VmRSS (bytes) and Threads from /proc/self/status; empty where there is no /proc."""
    fields: dict[str, int] = {}
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key == "VmRSS":
                    fields["rss"] = int(value.split()[0]) * 1024
                elif key == "Threads":
                    fields["threads"] = int(value)
    except OSError:
        import resource

        # ru_maxrss is the peak, not the current size: better than nothing off Linux.
        fields["rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return fields


def _count_entries(path: str) -> int:
    try:
        return len(os.listdir(path))
    except OSError:
        return -1


def _scrape(port: int) -> tuple[float, int]:
    """One ``GET /metrics`` over loopback: (milliseconds, body bytes)."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    elapsed_ms = (time.perf_counter() - started) * 1e3
    if response.status != 200:
        raise RuntimeError(f"GET /metrics answered {response.status}")
    return elapsed_ms, len(body)


SAMPLE_FIELDS = (
    "t",
    "rss_mb",
    "blocks",
    "gc0",
    "gc1",
    "gc2",
    "threads",
    "os_threads",
    "fds",
    "cpu_s",
    *OUTCOMES,
    "scrape_ms",
    "scrape_bytes",
)


class SampleLog:
    """Samples kept in columns of doubles allocated up front.

    A list of dicts would grow the very heap being watched by a few blocks per sample, which
    over a long run looks like a leak; writing a double into a preallocated ``array`` allocates
    nothing that stays.
    """

    def __init__(self, capacity: int, counter: SoakCounter, port: int | None) -> None:
        self.columns = {name: array("d", bytes(8 * capacity)) for name in SAMPLE_FIELDS}
        self.capacity = capacity
        self.size = 0
        self.counter = counter
        self.port = port
        self.scrape_errors = 0
        self.last_scrape_error: str | None = None

    def take(self, t: float) -> None:
        """Record everything measured now, ``t`` seconds after the window opened."""
        if self.size == self.capacity:
            raise RuntimeError(f"more than {self.capacity} samples; the schedule is wrong")
        row = self.size
        columns = self.columns
        status = _proc_status()
        totals, _ = self.counter.snapshot()
        columns["t"][row] = t
        columns["rss_mb"][row] = status.get("rss", 0) / 1e6
        columns["blocks"][row] = sys.getallocatedblocks()
        for generation, stats in enumerate(gc.get_stats()):
            columns[f"gc{generation}"][row] = stats["collections"]
        columns["threads"][row] = threading.active_count()
        columns["os_threads"][row] = _count_entries("/proc/self/task")
        columns["fds"][row] = _count_entries("/proc/self/fd")
        columns["cpu_s"][row] = cpu_seconds()
        for name in OUTCOMES:
            columns[name][row] = totals[name]
        columns["scrape_ms"][row] = columns["scrape_bytes"][row] = math.nan
        if self.port is not None:
            try:
                columns["scrape_ms"][row], columns["scrape_bytes"][row] = _scrape(self.port)
            except (OSError, RuntimeError, http.client.HTTPException) as exc:
                self.scrape_errors += 1
                self.last_scrape_error = f"{type(exc).__name__}: {exc}"
        self.size += 1

    def rows(self) -> list[dict[str, float]]:
        """The samples taken, one dict each (built once the run is over)."""
        return [
            {name: column[row] for name, column in self.columns.items()} for row in range(self.size)
        ]


def _slope_per_10min(samples: list[dict[str, float]], key: str) -> float:
    if len(samples) < 2:
        return math.nan
    times = [s["t"] for s in samples]
    if max(times) == min(times):
        return math.nan
    fit = statistics.linear_regression(times, [float(s[key]) for s in samples])
    return fit.slope * 600


def summarize_samples(
    samples: list[dict[str, float]], seconds: float, window: dict[str, int], due: int
) -> dict[str, Any]:
    """The figures of one run, from its samples and its in-window outcome counts."""
    warm_t = seconds * WARMUP_FRACTION
    steady = [s for s in samples if s["t"] >= warm_t - 1e-6]
    warm, end = steady[0], samples[-1]
    first = samples[0]
    accounted = sum(window.values())
    scrapes = [s["scrape_ms"] for s in samples if math.isfinite(s["scrape_ms"])]
    cpu_s = end["cpu_s"] - first["cpu_s"]
    result: dict[str, Any] = {
        "rss_start_mb": first["rss_mb"],
        "rss_warm_mb": warm["rss_mb"],
        "rss_end_mb": end["rss_mb"],
        "rss_slope_mb_10min": _slope_per_10min(steady, "rss_mb"),
        "rss_end_over_warm": end["rss_mb"] / warm["rss_mb"] if warm["rss_mb"] else math.nan,
        "blocks_warm_k": warm["blocks"] / 1e3,
        "blocks_end_k": end["blocks"] / 1e3,
        "blocks_slope_k_10min": _slope_per_10min(steady, "blocks") / 1e3,
        "blocks_end_over_warm": end["blocks"] / warm["blocks"],
        "threads_max": int(max(s["threads"] for s in samples)),
        "threads_growth": int(max(s["threads"] for s in steady) - warm["threads"]),
        "os_threads_max": int(max(s["os_threads"] for s in samples)),
        "fds_max": int(max(s["fds"] for s in samples)),
        "fds_growth": int(max(s["fds"] for s in steady) - warm["fds"]),
        "gc2_collections": int(end["gc2"] - first["gc2"]),
        "due": due,
        **window,
        "lost": due - accounted,
        "cpu_pct": cpu_s / seconds * 100,
        "cpu_us_per_run": cpu_s / window["executed"] * 1e6 if window["executed"] else None,
        "samples": len(samples),
    }
    if scrapes:
        result["scrape_p50_ms"] = percentile(scrapes, 0.50)
        result["scrape_p99_ms"] = percentile(scrapes, 0.99)
        result["scrape_max_ms"] = max(scrapes)
        result["scrape_kb"] = max(s["scrape_bytes"] for s in samples if s["scrape_bytes"] > 0)
        result["scrape_kb"] /= 1e3
    return result


def work_soak(lib: str, param: str, quick: bool) -> dict[str, Any]:
    """``param`` is ``JOBSxSECONDS``: that many 1 s interval jobs, sampled for that long."""
    jobs_text, _, seconds_text = param.partition("x")
    jobs, seconds = int(jobs_text), int(seconds_text)
    background = import_lib(lib, "schedulers.background")
    events = import_lib(lib, "events")
    port: int | None = None
    server: Any = None
    if lib == CANDIDATE:
        import obssched

        server = obssched.start_http_server(port=0)
        port = server.port
    scheduler = background.BackgroundScheduler()
    scheduler.start(paused=True)
    # The first run must come after the last add, whose cost varies with the load of a shared
    # machine: time a sample of adds and leave twice what they predict, plus a second.
    sample_started = time.perf_counter()
    for _ in range(CALIBRATION_ADDS):
        scheduler.add_job(noop, "interval", seconds=1, start_date=_utc(time.time() + YEAR_S))
    per_add_s = (time.perf_counter() - sample_started) / CALIBRATION_ADDS
    scheduler.remove_all_jobs()
    window_start = float(math.ceil(time.time() + 1.0 + 2 * jobs * per_add_s))
    window_end = window_start + seconds
    counter = SoakCounter(events, window_end)
    scheduler.add_listener(counter, counter.mask)
    # Start times spread evenly over one second: a steady load of N runs per second, and every
    # job runs exactly ``seconds`` times in [window_start, window_end).
    for index in range(jobs):
        start = _utc(window_start + index / jobs)
        scheduler.add_job(noop, "interval", seconds=1, start_date=start)
    if time.time() > window_start - 0.1:
        shutdown_bounded(scheduler, wait=False)
        raise RuntimeError(
            f"adding {jobs} jobs ran past the first run time (sampled "
            f"{per_add_s * 1e6:.0f} us per add); the machine is too loaded"
        )
    scheduler.resume()
    period = sample_period(seconds)
    log = SampleLog(math.ceil(seconds / period) + 3, counter, port)
    log.take(time.time() - window_start)
    _sleep_until(window_start)
    step = 0
    while True:
        planned = window_start + step * period
        if planned > window_end + 1e-6:
            break
        _sleep_until(planned)
        log.take(time.time() - window_start)
        step += 1
    if log.columns["t"][log.size - 1] < seconds - 1e-3:
        _sleep_until(window_end)
        log.take(time.time() - window_start)
    due = jobs * seconds
    drain_started = time.time()
    last_change = drain_started
    _, window = counter.snapshot()
    while sum(window.values()) < due and time.time() - drain_started < DRAIN_MAX_S:
        time.sleep(0.2)
        _, now_window = counter.snapshot()
        if now_window != window:
            window, last_change = now_window, time.time()
        elif time.time() - last_change >= DRAIN_QUIET_S:
            break
    drain_s = time.time() - drain_started
    clean_shutdown = shutdown_bounded(scheduler, wait=False)
    if server is not None:
        server.close()
    # The sample before the window is the baseline after the adds; the figures use the window.
    before_window, *samples = log.rows()
    result = summarize_samples(samples, seconds, window, due)
    result.update(
        {
            "jobs": jobs,
            "seconds": seconds,
            "rss_after_adds_mb": before_window["rss_mb"],
            "add_us": per_add_s * 1e6,
            "drain_s": drain_s,
            "clean_shutdown": clean_shutdown,
            "scrape_errors": log.scrape_errors,
            "last_scrape_error": log.last_scrape_error,
            "series": samples,
        }
    )
    return result


WORKERS: dict[str, Callable[[str, str, bool], dict[str, Any]]] = {"soak": work_soak}


# --- parent ---------------------------------------------------------------------------------------

SOAK_METRICS = (
    Metric("rss_warm_mb", "RSS after warm-up", "MB"),
    Metric("rss_end_mb", "RSS at end", "MB"),
    Metric("rss_slope_mb_10min", "RSS slope after warm-up", "MB/10min", None, 2),
    Metric("rss_end_over_warm", "RSS end / warm-up", "x", None, 3),
    Metric("blocks_warm_k", "heap blocks after warm-up", "k"),
    Metric("blocks_end_k", "heap blocks at end", "k"),
    Metric("blocks_slope_k_10min", "heap blocks slope", "k/10min", None, 2),
    Metric("threads_max", "threads max", "threads", None, 0),
    Metric("threads_growth", "threads growth", "threads", None, 0),
    Metric("os_threads_max", "OS threads max", "threads", None, 0),
    Metric("fds_max", "open fds max", "fds", None, 0),
    Metric("fds_growth", "open fds growth", "fds", None, 0),
    Metric("due", "runs due", "runs", None, 0),
    Metric("executed", "executed", "runs", None, 0),
    Metric("missed", "missed", "runs", None, 0),
    Metric("skipped", "max-instances skipped", "runs", None, 0),
    Metric("coalesced", "coalesced (reported)", "runs", None, 0),
    Metric("errors", "errors", "runs", None, 0),
    Metric("lost", "lost (no outcome)", "runs", None, 0),
    Metric("cpu_pct", "CPU", "% core", "lower"),
    Metric("cpu_us_per_run", "CPU per executed run", "us", "lower"),
    Metric("gc2_collections", "gen-2 collections", "count", None, 0),
    Metric("scrape_p50_ms", "/metrics scrape p50", "ms", None, 2),
    Metric("scrape_p99_ms", "/metrics scrape p99", "ms", None, 2),
    Metric("scrape_max_ms", "/metrics scrape max", "ms", None, 2),
    Metric("scrape_kb", "/metrics size, max", "kB", None, 1),
)


def _fmt(value: Any, digits: int) -> str:
    if not isinstance(value, int | float) or not math.isfinite(value):
        return "-"
    if abs(value) >= 10_000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def format_soak_table(cell: Cell, summary: dict[str, Any], slots: list[str]) -> str:
    """One row per figure: each library's median, and with both, the paired cost ratio."""
    both = len(slots) == 2
    header = f"{'figure':<26} {'unit':<9}" + "".join(f" {slot:>13}" for slot in slots)
    if both:
        header += f" {'cost ratio':>10} {'[min..max]':>13}"
    lines = [header, "-" * len(header)]
    entry = summary[f"{cell.workload}/{cell.param}"]
    for metric in cell.metrics:
        stats = entry[metric.key]
        row = f"{metric.label:<26} {metric.unit:<9}"
        for slot in slots:
            row += f" {_fmt(stats['median'][slot], metric.digits):>13}"
        if both:
            ratios = stats["ratios"]
            ratio = f"{stats['ratio']:.2f}" if stats["ratio"] is not None else "-"
            spread = f"[{min(ratios):.2f}..{max(ratios):.2f}]" if ratios else ""
            row += f" {ratio:>10} {spread:>13}"
        lines.append(row)
    return "\n".join(lines)


def checks(data: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """Per-run checks: nothing lost, threads and fds flat, every scrape answered (obssched)."""
    found = [
        ("nothing lost", data.get("lost") == 0, f"lost {data.get('lost')}"),
        ("threads flat", data.get("threads_growth") == 0, f"growth {data.get('threads_growth')}"),
        ("fds flat", data.get("fds_growth") == 0, f"growth {data.get('fds_growth')}"),
    ]
    if "scrape_p50_ms" in data or data.get("scrape_errors"):
        errors = data.get("scrape_errors")
        detail = f"{errors} failed" + (f", last: {data['last_scrape_error']}" if errors else "")
        found.append(("every scrape answered", errors == 0, detail))
    return found


def run_soak(argv: list[str]) -> int:
    """Parse the options, run the plan, print the table and checks; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="default")
    parser.add_argument("--jobs", type=int, default=None, help="default from the profile")
    parser.add_argument("--seconds", type=int, default=None, help="default from the profile")
    parser.add_argument("--library", choices=("obssched", "apscheduler", "both"), default="both")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", dest="json_path", default=None, help="write results here")
    args = parser.parse_args(argv)
    jobs = args.jobs if args.jobs is not None else PROFILES[args.profile][0]
    seconds = args.seconds if args.seconds is not None else PROFILES[args.profile][1]
    if jobs < 1 or seconds < 5:
        parser.error("--jobs must be at least 1 and --seconds at least 5")
    cell = Cell("soak", f"{jobs}x{seconds}", SOAK_METRICS)
    libs = [BASELINE, CANDIDATE] if args.library == "both" else [args.library]
    slots = [(lib, lib) for lib in libs]
    plan = plan_runs([cell], slots, args.repeats)
    # Adds, the drain and the shutdown on top of the window; a worker past this is hung.
    timeout = seconds * 1.1 + 120 + jobs * 2e-4
    print(
        f"# soak: {jobs:,} interval jobs every 1 s for {seconds} s, sampled every "
        f"{sample_period(seconds):g} s; {len(plan)} runs ({' vs '.join(libs)})",
        flush=True,
    )
    script = str(Path(__file__).resolve())
    results: list[RunResult] = []
    for _, slot, lib, repeat in plan:
        gc.collect()
        data, error, wall = run_worker_process(script, "soak", lib, cell.param, False, timeout)
        results.append(RunResult(cell, lib, slot, repeat, data, error, wall))
        print(
            f"  [{repeat + 1}/{args.repeats}] {lib}: {f'ERROR {error}' if error else 'ok'} "
            f"({wall:.0f} s)",
            flush=True,
        )
    names = (libs[0], libs[-1])
    summary = summarize(results, names)
    print()
    print(
        f"Medians over repeats; memory 'after warm-up' is the first sample at "
        f"{WARMUP_FRACTION:.0%} of the window, slopes are least-squares fits from there on. "
        f"cost ratio = {CANDIDATE}/{BASELINE} paired per repeat: < 1 means {CANDIDATE} is better."
    )
    print(format_soak_table(cell, summary, libs))
    print("\nChecks (per run):")
    for result in results:
        if result.error:
            print(f"  N/A  {result.lib} #{result.repeat + 1}: {result.error}")
            continue
        for name, passed, detail in checks(result.data):
            verdict = "PASS" if passed else "MISS"
            print(f"  {verdict} {result.lib} #{result.repeat + 1} {name}: {detail}")
    if args.json_path:
        payload = {
            "jobs": jobs,
            "seconds": seconds,
            "libraries": libs,
            "repeats": args.repeats,
            "runs": [
                {
                    "lib": r.lib,
                    "repeat": r.repeat,
                    "wall_s": round(r.wall_s, 3),
                    "error": r.error,
                    "data": r.data,
                }
                for r in results
            ],
            "summary": summary,
        }
        with open(args.json_path, "w", encoding="utf-8") as out:
            json.dump(payload, out, indent=1)
    return 1 if any(r.error for r in results) else 0


def main(argv: list[str]) -> int:
    """Dispatch to the worker or the parent."""
    if "--worker" in argv:
        worker_main(WORKERS, argv)
    return run_soak(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
