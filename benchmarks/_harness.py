"""Machinery shared by the benchmarks: fresh-process workers, interleaving, paired ratios, tables.

A benchmark script has two faces. As a *parent* it plans cells (a workload and a parameter), runs
each cell once per library per repeat in a fresh interpreter, interleaving the libraries and
alternating which goes first, and summarises. As a *worker* (``--worker NAME --lib LIB --param P``)
it runs one measurement and prints one JSON object on the last line of stdout.

Every ratio is a *cost ratio*, obssched's cost over APScheduler's: ``B / A`` for metrics where lower
is better (CPU, latency, bytes) and ``A / B`` for metrics where higher is better (throughput). So
a ratio below 1 always means obssched is better, and ``0.5`` reads "half the cost" or "twice the
throughput". Ratios are computed per repeat on the pair of runs made back to back, then the median
is taken, which cancels most of the drift of a shared machine.

A cell may also name a *floor*: a bare variant (no scheduler, only the threads and wakeups the
workload needs) run as a third slot in the same repeats, interleaved with the two libraries.
Its metrics marked ``floor=True`` get a second paired ratio, obssched's figure over the floor's,
so a target can be set against what the machine charges in that very run.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

__all__ = [
    "BASELINE",
    "CANDIDATE",
    "FLOOR",
    "Cell",
    "Metric",
    "OutcomeCounter",
    "Target",
    "cpu_seconds",
    "import_lib",
    "percentile",
    "plan_runs",
    "rss_bytes",
    "run_parent",
    "run_worker_process",
    "shutdown_bounded",
    "worker_main",
]

BASELINE = "apscheduler"
CANDIDATE = "obssched"
LIBRARIES = (BASELINE, CANDIDATE)
FLOOR = "floor"
"""The slot name of a cell's floor variant (its ``lib`` is the variant, e.g. ``"threads"``)."""


# --- what is measured ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """One figure a worker reports.

    ``better`` is ``"lower"`` or ``"higher"`` for figures that get a cost ratio, or ``None`` for
    figures that are shown side by side only (counts, where a ratio of zeros means nothing).
    ``floor`` marks a figure that the cell's floor variant reports too (a lower-is-better cost):
    it also gets the paired ratio candidate / floor.
    """

    key: str
    label: str
    unit: str
    better: str | None = "lower"
    digits: int = 1
    floor: bool = False


@dataclass(frozen=True)
class Cell:
    """One workload at one parameter; its metrics are what its worker reports.

    ``max_repeats`` caps the repeats of a cell whose figures do not vary from run to run (heap
    bytes), so that slow, deterministic measurements are not paid for five times. ``floor``
    names the bare variant the cell's worker runs, when asked for that ``lib``, as a third slot
    beside the libraries (``None``: no floor).
    """

    workload: str
    param: str
    metrics: tuple[Metric, ...]
    max_repeats: int | None = None
    floor: str | None = None


@dataclass(frozen=True)
class Target:
    """A goal from the issue, checked on the summary once all runs are in: ``figure <= limit``.

    ``figure`` reads the summary (see :func:`summarize`) and raises ``KeyError`` when it cannot be
    computed (a worker failed); the target is then reported as N/A.
    """

    workload: str
    name: str
    goal: str
    figure: Callable[[dict[str, Any]], float]
    limit: float


@dataclass
class RunResult:
    """What one worker process returned."""

    cell: Cell
    lib: str
    slot: str
    repeat: int
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    wall_s: float = 0.0


# --- helpers for workers ------------------------------------------------------------------------


def import_lib(lib: str, module: str) -> ModuleType:
    """Import ``{lib}.{module}``, e.g. ``import_lib("obssched", "schedulers.background")``."""
    return importlib.import_module(f"{lib}.{module}")


def cpu_seconds() -> float:
    """CPU time of this process, all threads, user plus system."""
    return time.process_time()


def rss_bytes() -> int:
    """Current resident set size of this process (Linux ``/proc``), or 0 where unavailable."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            resident_pages = int(statm.read().split()[1])
    except OSError:
        return 0
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (0..1) by linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class OutcomeCounter:
    """A listener that counts job outcomes and signals when ``expected`` of them have arrived.

    Listeners run on executor or scheduler threads, so every update holds a lock. The time of the
    last outcome is read with :func:`time.time` to compare with the scheduled run times.
    """

    def __init__(self, events: ModuleType, expected: int) -> None:
        self.codes = {
            events.EVENT_JOB_EXECUTED: "executed",
            events.EVENT_JOB_MISSED: "missed",
            events.EVENT_JOB_ERROR: "error",
        }
        self.mask = events.EVENT_JOB_EXECUTED | events.EVENT_JOB_MISSED | events.EVENT_JOB_ERROR
        self.expected = expected
        self.counts = dict.fromkeys(self.codes.values(), 0)
        self.total = 0
        self.first_time: float | None = None
        self.last_time: float | None = None
        self.done = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        now = time.time()
        with self._lock:
            outcome = self.codes.get(event.code, "other")
            self.counts[outcome] = self.counts.get(outcome, 0) + 1
            self.total += 1
            if self.first_time is None:
                self.first_time = now
            self.last_time = now
            if self.total >= self.expected:
                self.done.set()


def shutdown_bounded(scheduler: Any, wait: bool, timeout: float = 15.0) -> bool:
    """Shut ``scheduler`` down on a helper thread; return False if it did not finish in time.

    A scheduler under development may hang in ``shutdown``; the worker must still report.
    """
    finished = threading.Event()
    failure: list[BaseException] = []

    def target() -> None:
        try:
            scheduler.shutdown(wait=wait)
        except BaseException as exc:
            failure.append(exc)
        finally:
            finished.set()

    threading.Thread(target=target, name="bench-shutdown", daemon=True).start()
    completed = finished.wait(timeout)
    if failure:
        raise failure[0]
    return completed


# --- worker side --------------------------------------------------------------------------------

Worker = Callable[[str, str, bool], dict[str, Any]]


def worker_main(workers: dict[str, Worker], argv: Sequence[str]) -> None:
    """Run one measurement and print it as one JSON line, then leave without waiting on threads.

    Exits with status 0 and a JSON object on success, 1 and ``{"error": ...}`` on failure. Leaving
    through ``os._exit`` keeps a hung executor thread from hanging the benchmark.
    """
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", required=True, choices=sorted(workers))
    parser.add_argument("--lib", required=True)
    parser.add_argument("--param", required=True)
    parser.add_argument("--quick", action="store_true")
    args, _ = parser.parse_known_args(argv)
    status = 0
    try:
        result = workers[args.worker](args.lib, args.param, args.quick)
    except BaseException as exc:
        lines = traceback.format_exception(exc)
        result = {"error": f"{type(exc).__name__}: {exc}", "traceback": "".join(lines[-6:])}
        status = 1
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def run_worker_process(
    script: str, workload: str, lib: str, param: str, quick: bool, timeout: float
) -> tuple[dict[str, Any], str | None, float]:
    """Run one worker in a fresh interpreter; return ``(data, error, wall seconds)``."""
    command = [sys.executable, script, "--worker", workload, "--lib", lib, "--param", param]
    if quick:
        command.append("--quick")
    started = time.perf_counter()
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {}, f"worker timed out after {timeout:.0f} s", time.perf_counter() - started
    wall = time.perf_counter() - started
    data: dict[str, Any] = {}
    for line in reversed(completed.stdout.splitlines()):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        break
    if "error" in data:
        return data, str(data["error"]), wall
    if completed.returncode != 0 or not data:
        tail = " | ".join(completed.stderr.strip().splitlines()[-3:])
        return data, f"worker exited {completed.returncode}: {tail or 'no output'}", wall
    return data, None, wall


# --- parent side --------------------------------------------------------------------------------


def plan_runs(
    cells: Iterable[Cell], slots: Sequence[tuple[str, str]], repeats: int, *, floors: bool = True
) -> list[tuple[Cell, str, str, int]]:
    """Order the runs: per repeat and cell, every slot back to back, rotating which goes first.

    ``slots`` is ``[(slot_name, lib), (slot_name, lib)]``; for an A/A run both libs are the same.
    A cell with a ``floor`` (when ``floors``) adds the slot ``(FLOOR, cell.floor)``; the rotation
    puts each of its three slots first, in the middle and last once every three repeats (with two
    slots, it alternates). Returns ``(cell, slot_name, lib, repeat)`` tuples.
    """
    plan = []
    cells = list(cells)
    for repeat in range(repeats):
        for index, cell in enumerate(cells):
            if cell.max_repeats is not None and repeat >= cell.max_repeats:
                continue
            mine = list(slots)
            if floors and cell.floor is not None:
                mine.append((FLOOR, cell.floor))
            shift = (repeat + index) % len(mine)
            ordered = mine[shift:] + mine[:shift]
            plan.extend((cell, slot, lib, repeat) for slot, lib in ordered)
    return plan


def _ratio(metric: Metric, base: float, cand: float) -> float | None:
    if metric.better is None or not all(map(math.isfinite, (base, cand))):
        return None
    numerator, denominator = (cand, base) if metric.better == "lower" else (base, cand)
    if denominator <= 0:
        return None
    return numerator / denominator


def _paired_ratios(
    metric: Metric, base_runs: dict[int, RunResult], cand_runs: dict[int, RunResult]
) -> list[float]:
    """The cost ratio of each repeat in which both slots reported ``metric``."""
    ratios = []
    for repeat, base in base_runs.items():
        cand = cand_runs.get(repeat)
        if cand is None:
            continue
        b, c = base.data.get(metric.key), cand.data.get(metric.key)
        if isinstance(b, int | float) and isinstance(c, int | float):
            ratio = _ratio(metric, float(b), float(c))
            if ratio is not None:
                ratios.append(ratio)
    return ratios


def summarize(results: list[RunResult], slot_names: tuple[str, str]) -> dict[str, Any]:
    """Per cell and metric: each slot's values and median, the paired cost ratios and their median.

    The summary maps ``"workload/param"`` to ``{metric_key: {...}}`` and is what targets read.
    A metric marked ``floor`` of a cell whose floor ran also has the floor slot among its values
    and medians, and ``floor_ratios`` / ``floor_ratio``: candidate over floor, paired by repeat.
    """
    base_slot, cand_slot = slot_names
    summary: dict[str, Any] = {}
    cells: dict[tuple[str, str], Cell] = {}
    for result in results:
        cells[(result.cell.workload, result.cell.param)] = result.cell
    for (workload, param), cell in cells.items():
        mine = [r for r in results if (r.cell.workload, r.cell.param) == (workload, param)]
        slots = slot_names
        if any(r.slot == FLOOR for r in mine):
            slots = (*slot_names, FLOOR)
        by_slot = {
            slot: {r.repeat: r for r in mine if r.slot == slot and r.error is None}
            for slot in slots
        }
        errors = sorted({f"{r.slot}: {r.error}" for r in mine if r.error})
        entry: dict[str, Any] = {"errors": errors}
        for metric in cell.metrics:
            shown = slots if metric.floor else slot_names
            values = {
                slot: [
                    float(r.data[metric.key])
                    for r in by_slot[slot].values()
                    if isinstance(r.data.get(metric.key), int | float)
                ]
                for slot in shown
            }
            ratios = _paired_ratios(metric, by_slot[base_slot], by_slot[cand_slot])
            entry[metric.key] = {
                "values": values,
                "median": {s: statistics.median(v) if v else None for s, v in values.items()},
                "ratios": ratios,
                "ratio": statistics.median(ratios) if ratios else None,
            }
            if FLOOR in shown:
                floor_ratios = _paired_ratios(metric, by_slot[FLOOR], by_slot[cand_slot])
                entry[metric.key]["floor_ratios"] = floor_ratios
                entry[metric.key]["floor_ratio"] = (
                    statistics.median(floor_ratios) if floor_ratios else None
                )
        summary[f"{workload}/{param}"] = entry
    return summary


def _fmt(value: float | None, digits: int) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if abs(value) >= 10_000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def format_table(
    cells: Sequence[Cell], summary: dict[str, Any], slot_names: tuple[str, str]
) -> str:
    """A fixed-width table: one row per cell and metric."""
    base_slot, cand_slot = slot_names
    header = (
        f"{'cell':<16} {'metric':<24} {'unit':<8} {base_slot:>14} {cand_slot:>14} "
        f"{'cost ratio':>10} {'[min..max]':>15}"
    )
    lines = [header, "-" * len(header)]
    for cell in cells:
        entry = summary.get(f"{cell.workload}/{cell.param}")
        if entry is None:
            continue
        name = f"{cell.workload}/{cell.param}"
        for metric in cell.metrics:
            stats = entry[metric.key]
            base = stats["median"][base_slot]
            cand = stats["median"][cand_slot]
            base_text = _fmt(base, metric.digits) if stats["values"][base_slot] else "ERR"
            cand_text = _fmt(cand, metric.digits) if stats["values"][cand_slot] else "ERR"
            ratios = stats["ratios"]
            spread = f"[{min(ratios):.2f}..{max(ratios):.2f}]" if ratios else ""
            ratio = f"{stats['ratio']:.2f}" if stats["ratio"] is not None else "-"
            lines.append(
                f"{name:<16} {metric.label:<24} {metric.unit:<8} {base_text:>14} "
                f"{cand_text:>14} {ratio:>10} {spread:>15}"
            )
            name = ""
            if "floor_ratios" in stats:
                lines.append(_floor_row(cell, metric, stats, cand_slot))
    return "\n".join(lines)


def _floor_row(cell: Cell, metric: Metric, stats: dict[str, Any], cand_slot: str) -> str:
    """The row under a floor metric: the floor's median where the baseline's stands, the
    candidate's again, and the paired ratio candidate / floor."""
    floor_values = stats["values"][FLOOR]
    floor_text = _fmt(stats["median"][FLOOR], metric.digits) if floor_values else "ERR"
    cand_text = (
        _fmt(stats["median"][cand_slot], metric.digits) if stats["values"][cand_slot] else "ERR"
    )
    ratios = stats["floor_ratios"]
    spread = f"[{min(ratios):.2f}..{max(ratios):.2f}]" if ratios else ""
    ratio = f"{stats['floor_ratio']:.2f}" if stats["floor_ratio"] is not None else "-"
    label = f"  vs floor: {cell.floor}"
    return (
        f"{'':<16} {label:<24} {metric.unit:<8} {floor_text:>14} {cand_text:>14} "
        f"{ratio:>10} {spread:>15}"
    )


def run_parent(
    script: str,
    cells_for: Callable[[bool], Sequence[Cell]],
    targets_for: Callable[[bool], Sequence[Target]],
    argv: Sequence[str],
    timeout_for: Callable[[Cell, bool], float],
    baseline_name: str = "APScheduler 3.11",
) -> int:
    """Parse the parent's options, run the plan, print the table and targets; return exit status.

    ``baseline_name`` names the library the ``apscheduler`` slot runs, in the targets' heading.

    Options: ``--repeats N``, ``--aa LIB`` (that library against itself; no targets), ``--quick``
    (passed on to workers; a smoke run), ``--json PATH`` (raw results and summary),
    ``--workloads a,b`` (filter cells by workload name).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workloads", default=None, help="comma-separated workload names")
    parser.add_argument("--repeats", type=int, default=None, help="default 5 (quick: 1)")
    parser.add_argument("--aa", choices=LIBRARIES, default=None, help="run LIB against itself")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--json", dest="json_path", default=None, help="write results here")
    args = parser.parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 5)
    cells = list(cells_for(args.quick))
    targets = targets_for(args.quick)
    if args.workloads:
        wanted = set(args.workloads.split(","))
        unknown = wanted - {c.workload for c in cells}
        if unknown:
            parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
        cells = [c for c in cells if c.workload in wanted]

    if args.aa:
        slots = [(f"{args.aa}#1", args.aa), (f"{args.aa}#2", args.aa)]
    else:
        slots = [(BASELINE, BASELINE), (CANDIDATE, CANDIDATE)]
    slot_names = (slots[0][0], slots[1][0])
    # An A/A run measures the noise between two runs of one library; it checks no target, so
    # it needs no floors.
    plan = plan_runs(cells, slots, repeats, floors=args.aa is None)
    floored = sorted({c.floor for c in cells if c.floor is not None and args.aa is None})
    print(
        f"# {len(plan)} runs: {len(cells)} cells x up to {repeats} repeats x 2 "
        f"({' vs '.join(slot_names)}){' [quick]' if args.quick else ''}"
        + (f", plus the floors {', '.join(floored)}" if floored else ""),
        flush=True,
    )
    results: list[RunResult] = []
    for cell, slot, lib, repeat in plan:
        gc.collect()
        data, error, wall = run_worker_process(
            script, cell.workload, lib, cell.param, args.quick, timeout_for(cell, args.quick)
        )
        results.append(RunResult(cell, lib, slot, repeat, data, error, wall))
        status = f"ERROR {error}" if error else "ok"
        print(
            f"  [{repeat + 1}/{repeats}] {cell.workload}/{cell.param} {slot}: {status} "
            f"({wall:.1f} s)",
            flush=True,
        )

    summary = summarize(results, slot_names)
    print()
    print(
        "Medians over repeats. cost ratio = median over repeats of the paired ratio "
        f"{slot_names[1]}/{slot_names[0]} (lower-is-better figures) or "
        f"{slot_names[0]}/{slot_names[1]} (higher-is-better): < 1 means {slot_names[1]} is better."
    )
    if any(
        "floor_ratios" in stats
        for e in summary.values()
        for stats in e.values()
        if isinstance(stats, dict)
    ):
        print(
            "A 'vs floor' row shows the floor variant's median (bare threads, no scheduler, run "
            f"in the same repeats) in the {slot_names[0]} column and the paired ratio "
            f"{slot_names[1]}/floor."
        )
    print(format_table(cells, summary, slot_names))
    errors = [(key, e) for key, entry in summary.items() for e in entry["errors"]]
    if errors:
        print("\nErrors:")
        for key, error in errors:
            print(f"  {key} {error}")

    verdicts = []
    if not args.aa:
        print(f"\nTargets (obssched vs {baseline_name}, or vs the floor measured in this run):")
        workloads = {c.workload for c in cells}
        checked = [t for t in targets if t.workload in workloads]
        name_width = max((len(t.name) for t in checked), default=0)
        goal_width = max((len(t.goal) for t in checked), default=0)
        for target in checked:
            try:
                figure = target.figure(summary)
            except (KeyError, TypeError, ZeroDivisionError):
                verdict, shown = "N/A", "-"
            else:
                verdict = "PASS" if figure <= target.limit else "MISS"
                shown = f"{figure:.3g}"
            verdicts.append(
                {"target": target.name, "goal": target.goal, "verdict": verdict, "figure": shown}
            )
            print(
                f"  {verdict:<4} {target.name:<{name_width}}  {target.goal:<{goal_width}}  "
                f"measured {shown}"
            )

    if args.json_path:
        payload = {
            "slots": slot_names,
            "repeats": repeats,
            "quick": args.quick,
            "runs": [
                {
                    "cell": f"{r.cell.workload}/{r.cell.param}",
                    "slot": r.slot,
                    "lib": r.lib,
                    "repeat": r.repeat,
                    "wall_s": round(r.wall_s, 3),
                    "error": r.error,
                    "data": r.data,
                }
                for r in results
            ],
            "summary": summary,
            "targets": verdicts,
        }
        with open(args.json_path, "w", encoding="utf-8") as out:
            json.dump(payload, out, indent=1)
    return 0
