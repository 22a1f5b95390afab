"""Per-run cost of the built-in metrics and tracing, before against after, in fresh processes.

Each *cell* is measured by a worker process that imports obssched from a given source tree, so two
versions of ``obssched/observability`` can be compared on the same core: ``--base REV`` builds a
tree in a temporary directory from the working tree's ``obssched/`` with ``observability/`` taken
from git revision ``REV``. Without ``--base`` (or with ``--aa``) the working tree is compared with
itself, which shows the noise. Rounds are interleaved (before and after back to back, alternating
which goes first) and every figure is CPU time (``time.process_time``: all threads of the worker,
so a BatchSpanProcessor's export thread is counted) per run, in microseconds.

Cells:

* ``metrics``: a run's submission and terminal events fed straight to the built-in listener, with
  tracing off; what the metrics add per run.
* ``tracing-batch`` / ``tracing-simple``: the same plus the run hook around the (empty) body, with
  tracing on: a sampling SDK TracerProvider whose spans go to a no-op exporter through a
  BatchSpanProcessor (the production setup; queue large enough that nothing is dropped) or a
  SimpleSpanProcessor.
* ``scheduler``: a ManualScheduler with the inline executor running 1,000 due jobs per tick; the
  cost per run with metrics on, and with metrics and tracing (batch) on, minus that with both off,
  measured alternately in one process.
* Every ``listener`` cell also times one bare span start and end on the same provider between
  its batches, and reports the per-run cost scaled to the issue's machine (where that span cost
  16 us): ``us_per_run / span_us * 16``. Load on a shared machine inflates both alike, so the
  scaled figure is the steadier one to hold against the targets.
* ``primitives``: the building blocks the issue quotes (a cached prometheus-client counter child
  ``inc``, a histogram ``observe``, an SDK span start and end) so figures can be scaled to another
  machine or load.

Run: ``.venv/bin/python benchmarks/bench_listeners.py --base a7dc28e --rounds 7``.
"""

from __future__ import annotations

import argparse
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
from typing import Any

from _harness import run_worker_process, worker_main

REPO = Path(__file__).resolve().parent.parent
RUNS = 4000
BATCHES = 5
JOBS_PER_TICK = 1000
ISSUE_SPAN_US = 16.0
"""What one SDK span start and end cost on the machine the issue's targets were set on."""


# --- source trees -------------------------------------------------------------------------------


def base_tree(rev: str) -> Path:
    """Return a temporary tree: the working tree's obssched/ with observability/ from ``rev``."""
    root = Path(tempfile.mkdtemp(prefix=f"obssched-{rev[:12]}-"))
    shutil.copytree(REPO / "obssched", root / "obssched", ignore=shutil.ignore_patterns("*.pyc"))
    shutil.rmtree(root / "obssched" / "observability")
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "obssched/observability"],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
    return root


def use_tree(tree: str) -> None:
    """Import obssched from ``tree`` in this worker (before anything imports it)."""
    assert "obssched" not in sys.modules
    sys.path.insert(0, tree)
    import obssched

    assert Path(obssched.__file__).resolve().is_relative_to(Path(tree).resolve()), obssched.__file__


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


def listener_worker(tree: str, param: str, quick: bool) -> dict[str, Any]:
    """Per-run CPU of the listener (and run hook) fed a run's events directly."""
    use_tree(tree)
    from opentelemetry.context import Context
    from prometheus_client import CollectorRegistry

    from obssched._runs import RunInfo
    from obssched.events import (
        EVENT_JOB_EXECUTED,
        EVENT_JOB_SUBMITTED,
        JobExecutionEvent,
        JobSubmissionEvent,
    )
    from obssched.observability import attach_builtin
    from obssched.triggers.interval import IntervalTrigger

    tracing = param != "metrics"
    provider = provider_with(param.removeprefix("tracing-")) if tracing else None
    scheduler = _FakeScheduler()
    attach_builtin(
        scheduler, metrics=True, tracing=tracing, registry=CollectorRegistry(),
        tracer_provider=provider,
    )  # fmt: skip
    listener, hook = scheduler.listener, scheduler.hook
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    jobs = [(f"id-{i}", f"job-{i}", IntervalTrigger(seconds=60 + i)) for i in range(50)]
    next_id = iter(range(1 << 62))

    def batch(runs: int) -> float:
        """Feed ``runs`` fresh runs; return the CPU seconds of the feeding only."""
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
        start = time.process_time()
        for info, submission, execution in prepared:
            listener(submission)
            if hook is not None:
                with hook.wrap(info):
                    pass
            listener(execution)
        if provider is not None:
            provider.force_flush()  # count the export thread's share of this batch
        return time.process_time() - start

    # The yardstick the issue quotes its figures against, measured between batches on the same
    # provider: one span started and ended (16 us on the issue's machine).
    yardstick = (provider or provider_with("none")).get_tracer("yardstick")
    root = Context()

    def span_us(spans: int = 2000) -> float:
        start = time.process_time()
        for _ in range(spans):
            yardstick.start_span("s", context=root).end()
        if provider is not None:
            provider.force_flush()
        return (time.process_time() - start) / spans * 1e6

    runs = 1000 if quick else RUNS
    batch(runs // 2)  # warm-up: creates every series, cached child and trigger text
    per_run, spans = [], []
    for _ in range(BATCHES):
        per_run.append(batch(runs) / runs * 1e6)
        spans.append(span_us())
    if provider is not None:
        provider.shutdown()
    units = statistics.median(p / s for p, s in zip(per_run, spans, strict=True))
    return {
        "us_per_run": statistics.median(per_run),
        "span_us": statistics.median(spans),
        "issue_scaled_us": units * ISSUE_SPAN_US,
    }


def scheduler_worker(tree: str, param: str, quick: bool) -> dict[str, Any]:
    """Per-run CPU that metrics, and metrics plus tracing, add to a ManualScheduler's runs."""
    use_tree(tree)
    from prometheus_client import CollectorRegistry

    from obssched.testing import ManualClock, ManualScheduler

    jobs = 200 if quick else JOBS_PER_TICK
    configs = {"off": (False, False), "metrics": (True, False), "tracing": (True, True)}
    setups = {}
    for name, (metrics, tracing) in configs.items():
        clock = ManualClock()
        scheduler = ManualScheduler(
            clock=clock, metrics=metrics, tracing=tracing, metrics_registry=CollectorRegistry(),
            tracer_provider=provider_with("batch"),
        )  # fmt: skip
        for index in range(jobs):
            scheduler.add_job(noop, "interval", seconds=1, name=f"job-{index % 50}")
        scheduler.start()
        clock.advance(1)
        scheduler.tick()  # warm-up: creates every series and cached child
        setups[name] = (scheduler, clock)
    samples: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(BATCHES):
        for name, (scheduler, clock) in setups.items():
            clock.advance(1)
            start = time.process_time()
            scheduler.tick()
            samples[name].append((time.process_time() - start) / jobs * 1e6)
    off = statistics.median(samples["off"])
    return {
        "off_us_per_run": off,
        "metrics_extra_us": statistics.median(samples["metrics"]) - off,
        "tracing_extra_us": statistics.median(samples["tracing"]) - off,
    }


def primitives_worker(tree: str, param: str, quick: bool) -> dict[str, Any]:
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

# (workload, param, figure key, label, target in us or None)
CELLS: list[tuple[str, str, list[tuple[str, str, float | None]]]] = [
    ("listener", "metrics", [
        ("us_per_run", "metrics per run", 5.0),
    ]),
    ("listener", "tracing-batch", [
        ("us_per_run", "metrics+tracing (batch)", 50.0),
        ("issue_scaled_us", "  scaled to a 16 us span", 50.0),
        ("span_us", "  one SDK span, batch", None),
    ]),
    ("listener", "tracing-simple", [
        ("us_per_run", "metrics+tracing (simple)", None),
        ("issue_scaled_us", "  scaled to a 16 us span", 50.0),
    ]),
    ("scheduler", "1000", [
        ("metrics_extra_us", "scheduler: metrics extra", 5.0),
        ("tracing_extra_us", "scheduler: metrics+tracing extra", 50.0),
        ("off_us_per_run", "scheduler: run, all off", None),
    ]),
    ("primitives", "-", [
        ("counter_inc_us", "counter child inc", None),
        ("histogram_observe_us", "histogram observe", None),
        ("span_us", "SDK span, no processor", None),
        ("span_batch_us", "SDK span, batch", None),
    ]),
]  # fmt: skip


# --- parent -------------------------------------------------------------------------------------


def _spread(values: list[float]) -> str:
    if not values:
        return "ERR"
    return f"{statistics.median(values):7.2f} [{min(values):6.2f}..{max(values):6.2f}]"


def main(argv: Sequence[str]) -> int:
    """Run the cells before/after (or A/A), interleaved, and print medians and spreads."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--base", help="git revision whose observability/ is 'before'")
    parser.add_argument("--aa", action="store_true", help="compare the working tree with itself")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cells", default=None, help="comma-separated workloads to run")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    after = str(REPO)
    before = str(base_tree(args.base)) if args.base and not args.aa else after
    names = ("before", "after") if before != after else ("A#1", "A#2")
    cells = [c for c in CELLS if args.cells is None or c[0] in args.cells.split(",")]
    values: dict[tuple[str, str, str, str], list[float]] = {}
    ratios: dict[tuple[str, str, str], list[float]] = {}
    print(f"# {names[0]}: {before}\n# {names[1]}: {after}\n# load {os.getloadavg()}", flush=True)
    for round_index in range(args.rounds):
        for cell_index, (workload, param, figures) in enumerate(cells):
            slots = list(zip(names, (before, after), strict=True))
            if (round_index + cell_index) % 2:
                slots.reverse()
            got: dict[str, dict[str, Any]] = {}
            for slot, tree in slots:
                data, error, _ = run_worker_process(
                    __file__, workload, tree, param, args.quick, timeout=600
                )
                if error:
                    print(f"  {workload}/{param} {slot}: ERROR {error}", flush=True)
                    continue
                got[slot] = data
                for key, _, _ in figures:
                    values.setdefault((workload, param, key, slot), []).append(float(data[key]))
            if len(got) == 2:
                for key, _, _ in figures:
                    a, b = got[names[0]][key], got[names[1]][key]
                    if a > 0:
                        ratios.setdefault((workload, param, key), []).append(b / a)
        print(f"  round {round_index + 1}/{args.rounds} done", flush=True)
    print(f"\nCPU us per run: median [min..max] over {args.rounds} rounds; ratio = "
          f"{names[1]}/{names[0]} per round, median [min..max]")  # fmt: skip
    header = f"{'figure':34s} {names[0]:>26s} {names[1]:>26s} {'ratio':>20s}  target"
    print(header + "\n" + "-" * len(header))
    for workload, param, figures in cells:
        for key, label, target in figures:
            a = values.get((workload, param, key, names[0]), [])
            b = values.get((workload, param, key, names[1]), [])
            r = ratios.get((workload, param, key), [])
            ratio = f"{statistics.median(r):5.2f} [{min(r):4.2f}..{max(r):4.2f}]" if r else "-"
            verdict = ""
            if target is not None and b:
                verdict = f"< {target:g}: {'PASS' if statistics.median(b) < target else 'MISS'}"
            print(f"{label:34s} {_spread(a):>26s} {_spread(b):>26s} {ratio:>20s}  {verdict}")
    if before != after:
        shutil.rmtree(Path(before), ignore_errors=True)
    return 0


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker_main(WORKERS, sys.argv[1:])
    sys.exit(main(sys.argv[1:]))
