"""Per-run cost of the built-in metrics and tracing, before against after, paired in one process.

``--base REV`` extracts ``obssched/observability`` from git revision ``REV`` into a temporary
directory as the top-level package ``obssched_observability_before`` (its imports of itself
rewritten; everything else it imports is the working tree's core). Each worker, a fresh
interpreter, attaches *both* versions (each to its own scheduler, registry and listener) and
alternates batches of runs between them, so load from other processes on this shared machine hits
both alike; the figure that matters is the per-batch paired ratio. Without ``--base`` (or with
``--aa``) the working tree's package is paired with itself, which shows the noise. Every figure is
CPU time (``time.process_time``: all threads of the worker, so a BatchSpanProcessor's export
thread is counted) per run, in microseconds; medians and [min..max] over workers.

Cells:

* ``listener/metrics``: a run's submission and terminal events fed straight to the built-in
  listener, tracing off: what the metrics add per run.
* ``listener/tracing-batch`` and ``listener/tracing-simple``: the same plus the run hook around the
  (empty) body with tracing on: a sampling SDK TracerProvider whose spans go to a no-op exporter
  through a BatchSpanProcessor (the production setup; queue large enough that nothing is dropped)
  or a SimpleSpanProcessor. Between batches the worker also times one bare span start and end on
  the same provider, and reports the per-run cost scaled to the issue's machine, where that span
  cost 16 us (``us_per_run / span_us * 16``): load inflates both alike, so the scaled figure is
  the steadier one to hold against the 50 us target. The worker also times the *SDK floor*: the
  bare OpenTelemetry calls the required behaviour needs per run (one run span started with its
  nine attributes, made current around the body, one attribute set at the end, the span ended),
  which bounds from below what any implementation of one span per run can reach with that SDK.
* ``scheduler/1000``: ManualSchedulers with the inline executor running 1,000 due jobs (50 names)
  per tick, one with nothing attached and one per version with metrics (and one per version with
  metrics and batch tracing) attached through ``attach_builtin``; the extra CPU per run over the
  bare scheduler. This includes building and dispatching the events, as an APScheduler listener's
  cost does.
* ``primitives/-``: the building blocks the issue quotes (a cached prometheus-client counter child
  ``inc``, a histogram ``observe``, an SDK span start and end).

``--instructions RUNS`` also counts, under callgrind, the instructions per run of the listener
cells (metrics; metrics and tracing with the simple processor; the SDK floor) for each version:
exact whatever the load, where the CPU times above move with it.

Run: ``.venv/bin/python benchmarks/bench_listeners.py --base a7dc28e --rounds 5``
(``--instructions 2000`` to add the counts).
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from _harness import run_worker_process, worker_main

REPO = Path(__file__).resolve().parent.parent
BEFORE = "obssched_observability_before"
RUNS = 4000
BATCHES = 6
JOBS_PER_TICK = 1000
ISSUE_SPAN_US = 16.0
"""What one SDK span start and end cost on the machine the issue's targets were set on."""


# --- versions -----------------------------------------------------------------------------------


def before_package(rev: str) -> Path:
    """Extract ``obssched/observability`` at ``rev`` as the package BEFORE; return its parent."""
    root = Path(tempfile.mkdtemp(prefix=f"obssched-{rev[:12]}-"))
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "obssched/observability"],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
    (root / "obssched" / "observability").rename(root / BEFORE)
    (root / "obssched").rmdir()
    for module in (root / BEFORE).glob("*.py"):
        text = module.read_text(encoding="utf-8")
        module.write_text(text.replace("obssched.observability", BEFORE), encoding="utf-8")
    return root


def versions(before_dir: str) -> dict[str, ModuleType]:
    """Import the two versions to pair: ``{"before": ..., "after": ...}`` (or A against A)."""
    after = importlib.import_module("obssched.observability")
    if before_dir == "-":
        return {"A#1": after, "A#2": after}
    sys.path.insert(0, before_dir)
    return {"before": importlib.import_module(BEFORE), "after": after}


# --- workers ------------------------------------------------------------------------------------


def noop() -> None:
    """The job body: nothing, so only scheduling and listener costs are measured."""


def provider_with(processor: str) -> Any:
    """A sampling SDK TracerProvider exporting to a no-op exporter through ``processor``."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SimpleSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class NoopExporter(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    if processor == "batch":
        provider.add_span_processor(BatchSpanProcessor(NoopExporter(), max_queue_size=1 << 18))
    elif processor == "simple":
        provider.add_span_processor(SimpleSpanProcessor(NoopExporter()))
    return provider


class _FakeScheduler:
    name = "bench"

    def __init__(self) -> None:
        from obssched.testing import ManualClock

        self.clock = ManualClock()
        self.listener: Callable[[Any], None] = lambda event: None
        self.hook: Any = None

    def add_listener(self, callback: Callable[..., None], mask: int) -> None:
        self.listener = callback

    def remove_listener(self, callback: Callable[..., None]) -> None:
        pass

    def add_run_hook(self, hook: object) -> None:
        self.hook = hook

    def remove_run_hook(self, hook: object) -> None:
        pass

    def get_jobs(self) -> list[object]:
        return []


def _paired(
    batches: dict[str, Callable[[], float]],
    runs: int,
    after_each: Callable[[], float] | None,
    floor: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """Alternate the versions' batches; return per-version medians and the paired ratio.

    ``after_each`` times the yardstick span between rounds of batches; ``floor`` (CPU seconds
    for ``runs`` runs) is reported beside the versions as ``floor``.
    """
    for batch in batches.values():
        batch()  # warm-up: creates every series, cached child and trigger text
    names = list(batches)
    per_run: dict[str, list[float]] = {name: [] for name in names}
    yardstick: list[float] = []
    for index in range(BATCHES):
        for name in names if index % 2 == 0 else reversed(names):
            per_run[name].append(batches[name]() / runs * 1e6)
        if floor is not None:
            per_run.setdefault("floor", []).append(floor() / runs * 1e6)
        if after_each is not None:
            yardstick.append(after_each())
    first, second = names
    pairs = zip(per_run[first], per_run[second], strict=True)
    result: dict[str, Any] = {"ratio": statistics.median(b / a for a, b in pairs)}
    for name, values in per_run.items():
        result[f"{name}_us"] = statistics.median(values)
        if yardstick:
            scaled = [v / s * ISSUE_SPAN_US for v, s in zip(values, yardstick, strict=True)]
            result[f"{name}_scaled_us"] = statistics.median(scaled)
    if yardstick:
        result["span_us"] = statistics.median(yardstick)
    return result


Feed = Callable[[list[Any]], None]
"""Feeds prepared runs to one version's listener and run hook (or to the bare SDK calls)."""


def run_feeder(
    param: str, module: ModuleType | None, provider: Any
) -> tuple[Callable[[int], list[Any]], Feed]:
    """Return ``(prepare, feed)`` for one cell: ``prepare(n)`` builds ``n`` fresh runs (run info,
    submission event, execution event; 50 job names), ``feed`` hands them over. With ``module``
    ``None`` it feeds the *SDK floor*: the bare OpenTelemetry calls one traced run needs (a run
    span started with nine attributes, made current around the body, one attribute set at the
    end, the end), which no implementation of one span per run can undercut."""
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.context import Context
    from prometheus_client import CollectorRegistry

    from obssched._runs import RunInfo
    from obssched.events import (
        EVENT_JOB_EXECUTED,
        EVENT_JOB_SUBMITTED,
        JobExecutionEvent,
        JobSubmissionEvent,
    )
    from obssched.triggers.interval import IntervalTrigger

    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    jobs = [(f"id-{i}", f"job-{i}", IntervalTrigger(seconds=60 + i)) for i in range(50)]
    next_id = iter(range(1 << 62))

    def prepare(runs: int) -> list[Any]:
        prepared = []
        for index in range(runs):
            run_id = next(next_id)
            job_id, name, trigger = jobs[index % len(jobs)]
            scheduled = t0 + timedelta(seconds=run_id)
            submitted = scheduled + timedelta(milliseconds=1)
            started = submitted + timedelta(milliseconds=1)
            finished = started + timedelta(milliseconds=3)
            info = RunInfo(
                run_id, job_id, name, "bench:noop", "default", "default", trigger, scheduled,
                submitted, 0.0,
            )  # fmt: skip
            submission = JobSubmissionEvent(
                EVENT_JOB_SUBMITTED, job_id, "default", [scheduled], job_name=name,
                executor="default", run_id=run_id, submitted_at=submitted,
            )  # fmt: skip
            execution = JobExecutionEvent(
                EVENT_JOB_EXECUTED, job_id, "default", scheduled, job_name=name,
                executor="default", run_id=run_id, submitted_at=submitted, started_at=started,
                finished_at=finished, queue_wait=0.001, run_duration=0.003,
            )  # fmt: skip
            prepared.append((info, submission, execution))
        return prepared

    if module is None:
        tracer = provider.get_tracer("floor")
        empty = Context()

        def floor(prepared: list[Any]) -> None:
            for info, _, _ in prepared:
                attributes = {
                    "obssched.job.id": info.job_id, "obssched.job.name": info.job_name,
                    "obssched.executor": "default", "obssched.jobstore": "default",
                    "obssched.scheduled_time": "2025-01-01T00:00:00+00:00",
                    "obssched.trigger": "interval[0:01:00]", "code.function.name": "bench:noop",
                    "obssched.start_delay": 0.002, "obssched.queue_wait": 0.001,
                }  # fmt: skip
                run = tracer.start_span("run " + info.job_name, empty, attributes=attributes)
                token = otel_context.attach(trace.set_span_in_context(run, empty))
                otel_context.detach(token)
                run.set_attribute("obssched.outcome", "success")
                run.end()

        return prepare, floor

    scheduler = _FakeScheduler()
    module.attach_builtin(
        scheduler, metrics=True, tracing=param != "metrics", registry=CollectorRegistry(),
        tracer_provider=provider,
    )  # fmt: skip
    listener, hook = scheduler.listener, scheduler.hook

    def feed(prepared: list[Any]) -> None:
        for info, submission, execution in prepared:
            listener(submission)
            if hook is not None:
                with hook.wrap(info):
                    pass
            listener(execution)

    return prepare, feed


def listener_worker(before_dir: str, param: str, quick: bool) -> dict[str, Any]:
    """Per-run CPU of each version's listener (and run hook) fed a run's events directly."""
    from opentelemetry.context import Context

    tracing = param != "metrics"
    provider = provider_with(param.removeprefix("tracing-")) if tracing else None
    runs = 1000 if quick else RUNS

    def timed(feeder: tuple[Callable[[int], list[Any]], Feed]) -> Callable[[], float]:
        prepare, feed = feeder

        def batch() -> float:
            """Feed ``runs`` fresh runs; return the CPU seconds of the feeding only."""
            prepared = prepare(runs)
            start = time.process_time()
            feed(prepared)
            if provider is not None:
                provider.force_flush()  # count the export thread's share of this batch
            return time.process_time() - start

        return batch

    span_us = None
    if provider is not None:
        yardstick = provider.get_tracer("yardstick")
        root = Context()

        def span_us() -> float:
            start = time.process_time()
            for _ in range(2000):
                yardstick.start_span("s", context=root).end()
            provider.force_flush()
            return (time.process_time() - start) / 2000 * 1e6

    floor = None if provider is None else timed(run_feeder(param, None, provider))
    batches = {
        name: timed(run_feeder(param, module, provider))
        for name, module in versions(before_dir).items()
    }
    result = _paired(batches, runs, span_us, floor)
    if provider is not None:
        provider.shutdown()
    return result


def count_worker(before_dir: str, param: str, slot: str, runs: int) -> None:
    """Feed ``runs`` runs to one version (``slot``; ``floor``: the SDK floor) with callgrind's
    instrumentation on for the feeding only (after a warm-up of 500 runs)."""
    provider = provider_with("simple") if param != "metrics" else None
    module = None if slot == "floor" else versions(before_dir)[slot]
    prepare, feed = run_feeder(param, module, provider)
    feed(prepare(500))
    prepared = prepare(runs)
    control = ["callgrind_control", "-i"]
    subprocess.run([*control, "on", str(os.getpid())], check=True, capture_output=True)
    feed(prepared)
    subprocess.run([*control, "off", str(os.getpid())], check=True, capture_output=True)


def count_instructions(before_dir: str, slots: Sequence[str], runs: int) -> None:
    """Print the exact instructions per run of each version's listener cells under callgrind
    (the simple span processor, so that no export thread runs at its own pace)."""
    print(f"\nInstructions per run under callgrind ({runs} runs after a warm-up):")
    for param in ("metrics", "tracing-simple"):
        for slot in (*slots, *(("floor",) if param != "metrics" else ())):
            with tempfile.NamedTemporaryFile(prefix="callgrind.") as out:
                subprocess.run(
                    [
                        "valgrind", "--tool=callgrind", "--instr-atstart=no",
                        f"--callgrind-out-file={out.name}", sys.executable, __file__,
                        "--count", param, slot, str(runs), before_dir,
                    ],
                    check=True, capture_output=True,
                )  # fmt: skip
                annotated = subprocess.run(
                    ["callgrind_annotate", out.name], check=True, capture_output=True, text=True
                ).stdout
            totals = next(line for line in annotated.splitlines() if "PROGRAM TOTALS" in line)
            total = int(totals.split()[0].replace(",", ""))
            print(f"  {param:16s} {slot:8s} {total / runs:12,.0f}", flush=True)


def scheduler_worker(before_dir: str, param: str, quick: bool) -> dict[str, Any]:
    """Per-run CPU that each version's metrics (and metrics plus tracing) add to a scheduler."""
    from prometheus_client import CollectorRegistry

    from obssched.testing import ManualClock, ManualScheduler

    jobs = 200 if quick else JOBS_PER_TICK
    tracing = param == "tracing"
    provider = provider_with("batch") if tracing else None

    def ticker(module: ModuleType | None) -> Callable[[], float]:
        clock = ManualClock()
        scheduler = ManualScheduler(clock=clock, metrics=False, tracing=False)
        for index in range(jobs):
            scheduler.add_job(noop, "interval", seconds=1, name=f"job-{index % 50}")
        if module is not None:
            module.attach_builtin(
                scheduler, metrics=True, tracing=tracing, registry=CollectorRegistry(),
                tracer_provider=provider,
            )  # fmt: skip
        scheduler.start()

        def tick() -> float:
            clock.advance(1)
            start = time.process_time()
            scheduler.tick()
            if provider is not None:
                provider.force_flush()
            return time.process_time() - start

        return tick

    bare = ticker(None)
    bare_us: list[float] = []
    ticks = {name: ticker(module) for name, module in versions(before_dir).items()}

    def extra(tick: Callable[[], float]) -> Callable[[], float]:
        def both() -> float:
            bare_us.append(bare())
            return tick() - bare_us[-1]

        return both

    result = _paired({name: extra(tick) for name, tick in ticks.items()}, jobs, None)
    result["bare_us"] = statistics.median(bare_us) / jobs * 1e6
    return result


def primitives_worker(before_dir: str, param: str, quick: bool) -> dict[str, Any]:
    """CPU of the primitives the issue's figures are quoted in."""
    from opentelemetry.context import Context
    from prometheus_client import CollectorRegistry, Counter, Histogram

    registry = CollectorRegistry()
    child = Counter("c", "c", ["a", "b"], registry=registry).labels("x", "y")
    histogram = Histogram("h", "h", ["a"], registry=registry).labels("x")
    provider = provider_with("none")
    batch_provider = provider_with("batch")
    tracer = provider.get_tracer("bench")
    batch_tracer = batch_provider.get_tracer("bench")
    root = Context()
    runs = 2000 if quick else 20000

    def timed(step: Callable[[], object]) -> float:
        for _ in range(runs // 10):
            step()
        best = []
        for _ in range(3):
            start = time.process_time()
            for _ in range(runs):
                step()
            best.append((time.process_time() - start) / runs * 1e6)
        return statistics.median(best)

    result = {
        "counter_inc_us": timed(child.inc),
        "histogram_observe_us": timed(lambda: histogram.observe(0.1)),
        "span_us": timed(lambda: tracer.start_span("s", context=root).end()),
        "span_batch_us": timed(lambda: batch_tracer.start_span("s", context=root).end()),
    }
    batch_provider.shutdown()
    return result


WORKERS = {
    "listener": listener_worker,
    "scheduler": scheduler_worker,
    "primitives": primitives_worker,
}

# (workload, param, [(figure suffix, label, target us or None)])
CELLS: list[tuple[str, str, list[tuple[str, str, float | None]]]] = [
    ("listener", "metrics", [("us", "listener: metrics", 5.0)]),
    ("listener", "tracing-batch", [
        ("us", "listener: metrics+tracing, batch", None),
        ("scaled_us", "  scaled to a 16 us span", 50.0),
    ]),
    ("listener", "tracing-simple", [
        ("us", "listener: metrics+tracing, simple", None),
        ("scaled_us", "  scaled to a 16 us span", 50.0),
    ]),
    ("scheduler", "metrics", [("us", "scheduler: metrics extra", 5.0)]),
    ("scheduler", "tracing", [("us", "scheduler: metrics+tracing extra", None)]),
]  # fmt: skip
SHARED = [
    ("listener", "tracing-batch", "floor_us", "SDK floor of a traced run, batch"),
    ("listener", "tracing-batch", "floor_scaled_us", "  scaled to a 16 us span"),
    ("listener", "tracing-simple", "floor_scaled_us", "SDK floor, simple, scaled"),
    ("listener", "tracing-batch", "span_us", "one SDK span, batch processor"),
    ("scheduler", "metrics", "bare_us", "scheduler: bare run"),
    ("primitives", "-", "counter_inc_us", "counter child inc"),
    ("primitives", "-", "histogram_observe_us", "histogram observe"),
    ("primitives", "-", "span_us", "SDK span, no processor"),
    ("primitives", "-", "span_batch_us", "SDK span, batch processor"),
]


# --- parent -------------------------------------------------------------------------------------


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):7.2f} [{min(values):6.2f}..{max(values):6.2f}]"


def main(argv: Sequence[str]) -> int:
    """Run every cell in fresh workers, rounds interleaved; print medians, spreads, targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--base", help="git revision whose observability/ is 'before'")
    parser.add_argument("--aa", action="store_true", help="pair the working tree with itself")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cells", default=None, help="comma-separated workloads to run")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--instructions",
        type=int,
        metavar="RUNS",
        help="also count each listener cell's instructions per run under callgrind (exact)",
    )
    args = parser.parse_args(argv)
    before_dir = str(before_package(args.base)) if args.base and not args.aa else "-"
    slots = ("before", "after") if before_dir != "-" else ("A#1", "A#2")
    wanted = None if args.cells is None else set(args.cells.split(","))
    cells = [cell for cell in CELLS if wanted is None or cell[0] in wanted]
    print(f"# {' vs '.join(slots)}; before from {args.base or '-'}; load {os.getloadavg()}")
    data: dict[tuple[str, str], list[dict[str, Any]]] = {}
    plan = [(workload, param) for workload, param, _ in cells]
    if wanted is None or "primitives" in wanted:
        plan.append(("primitives", "-"))
    for round_index in range(args.rounds):
        for workload, param in plan:
            got, error, _ = run_worker_process(
                __file__, workload, before_dir, param, args.quick, timeout=900
            )
            if error:
                print(f"  {workload}/{param}: ERROR {error}", flush=True)
                continue
            data.setdefault((workload, param), []).append(got)
        print(f"  round {round_index + 1}/{args.rounds} done", flush=True)
    print(
        f"\nCPU us per run: median [min..max] over {args.rounds} workers; ratio = "
        f"{slots[1]}/{slots[0]}, median of each worker's paired batches, then over workers"
    )
    header = f"{'figure':36s} {slots[0]:>24s} {slots[1]:>24s} {'ratio':>20s}  target"
    print(header + "\n" + "-" * len(header))
    for workload, param, figures in cells:
        runs = data.get((workload, param), [])
        for suffix, label, target in figures:
            a = [r[f"{slots[0]}_{suffix}"] for r in runs]
            b = [r[f"{slots[1]}_{suffix}"] for r in runs]
            ratios = [r["ratio"] for r in runs]
            ratio = (
                f"{statistics.median(ratios):5.2f} [{min(ratios):4.2f}..{max(ratios):4.2f}]"
                if ratios
                else "-"
            )
            verdict = ""
            if target is not None and b:
                verdict = f"< {target:g}: {'PASS' if statistics.median(b) < target else 'MISS'}"
            print(f"{label:36s} {_spread(a):>24s} {_spread(b):>24s} {ratio:>20s}  {verdict}")
    for workload, param, key, label in SHARED:
        values = [r[key] for r in data.get((workload, param), []) if key in r]
        if values:
            print(f"{label:36s} {_spread(values):>24s}")
    if args.instructions:
        count_instructions(before_dir, slots if before_dir != "-" else slots[:1], args.instructions)
    if before_dir != "-":
        shutil.rmtree(before_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker_main(WORKERS, sys.argv[1:])
    if sys.argv[1:2] == ["--count"]:
        param, slot, runs, before = sys.argv[2:6]
        count_worker(before, param, slot, int(runs))
        sys.exit(0)
    sys.exit(main(sys.argv[1:]))
