"""The built-in listeners on real obssched schedulers and executors."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from obssched.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from obssched.executors.asyncio import AsyncIOExecutor
from obssched.executors.pool import ProcessPoolExecutor, ThreadPoolExecutor
from obssched.jobstores.memory import MemoryJobStore
from obssched.schedulers.asyncio import AsyncIOScheduler
from obssched.schedulers.background import BackgroundScheduler
from obssched.testing import EventRecorder, ManualClock, ManualScheduler

from . import jobs

ENDED = EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, {"scheduler": "default", **labels})


@pytest.fixture
def clock() -> ManualClock:
    """A manual clock at 2024-01-01 00:00 UTC."""
    return ManualClock()


@pytest.fixture
def manual(
    clock: ManualClock, registry: CollectorRegistry, provider: TracerProvider
) -> Iterator[ManualScheduler]:
    """A started manual scheduler with the built-in listeners on the test's registry/provider."""
    scheduler = ManualScheduler(clock=clock, metrics_registry=registry, tracer_provider=provider)
    scheduler.start()
    yield scheduler
    scheduler.shutdown()


def test_builtin_attached_by_default(
    manual: ManualScheduler, clock: ManualClock, registry: CollectorRegistry
) -> None:
    """A started scheduler counts runs with no extra code."""
    manual.add_job(jobs.current_trace, "interval", seconds=10, name="ticker")
    clock.advance(10)
    manual.tick()
    labels = {"job_name": "ticker", "executor": "default"}
    assert sample(registry, "obssched_job_executed_total", **labels) == 1.0


def test_opt_out(clock: ManualClock, registry: CollectorRegistry) -> None:
    """metrics=False and tracing=False attach nothing."""
    scheduler = ManualScheduler(
        clock=clock, metrics=False, tracing=False, metrics_registry=registry
    )
    scheduler.start()
    scheduler.add_job(jobs.current_trace, "interval", seconds=10, name="ticker")
    clock.advance(10)
    scheduler.tick()
    scheduler.shutdown()
    assert sample(registry, "obssched_events_total", event="job_executed") is None


def test_error_run(
    manual: ManualScheduler, clock: ManualClock, registry: CollectorRegistry
) -> None:
    """A failing job counts as errored with its exception type."""
    manual.add_job(jobs.fail, "interval", seconds=10, name="failing")
    clock.advance(10)
    manual.tick()
    labels = {"job_name": "failing", "executor": "default", "error_type": "RuntimeError"}
    assert sample(registry, "obssched_job_errored_total", **labels) == 1.0


def test_missed_and_coalesced(
    manual: ManualScheduler, clock: ManualClock, registry: CollectorRegistry
) -> None:
    """Run times later than the grace time count as missed; coalesced ones as coalesced."""
    manual.add_job(
        jobs.current_trace, "interval", seconds=10, name="late", misfire_grace_time=1,
        coalesce=True,
    )  # fmt: skip
    clock.advance(35)
    manual.tick()
    missed = sample(registry, "obssched_job_missed_total", job_name="late") or 0.0
    coalesced = sample(registry, "obssched_job_coalesced_total", job_name="late") or 0.0
    assert missed + coalesced == 3.0
    assert coalesced >= 2.0


def test_removed_job(manual: ManualScheduler, registry: CollectorRegistry) -> None:
    """A removed job's gauge series disappear."""
    job = manual.add_job(jobs.current_trace, "interval", seconds=10, name="gone")
    assert sample(registry, "obssched_job_running", job_name="gone") == 0.0
    job.remove()
    assert sample(registry, "obssched_job_running", job_name="gone") is None
    assert sample(registry, "obssched_job_next_run_timestamp_seconds", job_name="gone") is None


def test_two_schedulers(clock: ManualClock, registry: CollectorRegistry) -> None:
    """Two schedulers in one process and registry keep their series apart."""
    schedulers = [
        ManualScheduler(clock=clock, name=name, metrics_registry=registry, tracing=False)
        for name in ("a", "b")
    ]
    for scheduler in schedulers:
        scheduler.start()
    schedulers[0].add_job(jobs.current_trace, "interval", seconds=10, name="ticker")
    clock.advance(10)
    for scheduler in schedulers:
        scheduler.tick()
        scheduler.shutdown()
    labels = {"job_name": "ticker", "executor": "default"}
    assert registry.get_sample_value("obssched_job_executed_total", {"scheduler": "a", **labels})
    assert (
        registry.get_sample_value("obssched_job_executed_total", {"scheduler": "b", **labels})
        is None
    )


@pytest.mark.realtime
def test_thread_pool_nesting(
    registry: CollectorRegistry, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """In the thread pool, a job's own spans nest under the run's span, current in the body."""
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(2)},
        metrics_registry=registry,
        tracer_provider=provider,
    )
    recorder = EventRecorder(scheduler, ENDED)
    scheduler.add_job(jobs.traced_work, args=[provider], name="worker")
    scheduler.start()
    try:
        (event,) = recorder.wait_for_count(ENDED, 1)
    finally:
        scheduler.shutdown()
    spans = {span.name: span for span in exporter.get_finished_spans()}
    run, own = spans["run worker"], spans["job's own work"]
    assert own.parent is not None
    assert own.parent.span_id == run.context.span_id
    assert event.retval == (
        format(run.context.trace_id, "032x"),
        format(run.context.span_id, "016x"),
    )
    assert (run.attributes or {})["obssched.outcome"] == "success"


@pytest.mark.realtime
def test_thread_pool_max_instances(registry: CollectorRegistry, provider: TracerProvider) -> None:
    """A run refused for max_instances is counted, and the blocked run ends at zero running."""
    release = threading.Event()
    scheduler = BackgroundScheduler(metrics_registry=registry, tracer_provider=provider)
    scheduler.add_job(jobs.block, "interval", seconds=0.2, args=[release], name="slow")
    scheduler.start()
    # Listening from after start(), the recorder hears each event once the built-in listener
    # has counted it, so every refusal re-checks the counter.
    recorder = EventRecorder(scheduler, ENDED | EVENT_JOB_MAX_INSTANCES)
    try:
        labels = {"job_name": "slow", "executor": "default"}
        recorder.wait_for(
            lambda _: (sample(registry, "obssched_job_max_instances_total", **labels) or 0) >= 1
        )
        assert sample(registry, "obssched_job_running", job_name="slow") == 1.0
        scheduler.pause()
        release.set()
        recorder.wait_for_count(EVENT_JOB_EXECUTED, 1)
        assert sample(registry, "obssched_job_running", job_name="slow") == 0.0
    finally:
        scheduler.shutdown()


@pytest.mark.realtime
def test_asyncio_nesting(
    registry: CollectorRegistry, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """In the asyncio executor, a coroutine job's own spans nest under the run's span."""

    async def main() -> None:
        scheduler = AsyncIOScheduler(
            executors={"default": AsyncIOExecutor()},
            metrics_registry=registry,
            tracer_provider=provider,
        )
        done = asyncio.Event()
        scheduler.add_listener(lambda _: done.set(), ENDED)
        scheduler.add_job(jobs.async_traced_work, args=[provider], name="coro")
        scheduler.start()
        await asyncio.wait_for(done.wait(), 10)
        scheduler.shutdown()

    asyncio.run(main())
    spans = {span.name: span for span in exporter.get_finished_spans()}
    own = spans["job's own work"]
    assert own.parent is not None
    assert own.parent.span_id == spans["run coro"].context.span_id
    labels = {"job_name": "coro", "executor": "default"}
    assert sample(registry, "obssched_job_executed_total", **labels) == 1.0


@pytest.fixture
def process_scheduler(
    registry: CollectorRegistry, provider: TracerProvider
) -> Iterator[BackgroundScheduler]:
    """A background scheduler whose default executor is a process pool."""
    scheduler = BackgroundScheduler(
        executors={"default": ProcessPoolExecutor(1)},
        metrics_registry=registry,
        tracer_provider=provider,
    )
    yield scheduler
    if scheduler.running:
        scheduler.shutdown()


@pytest.mark.realtime
@pytest.mark.slow
def test_process_pool_context(
    process_scheduler: BackgroundScheduler,
    registry: CollectorRegistry,
    exporter: InMemorySpanExporter,
) -> None:
    """A process-pool job runs under the run's span, which gets its timings from the event."""
    recorder = EventRecorder(process_scheduler, ENDED)
    process_scheduler.add_job(jobs.current_trace, name="remote")
    process_scheduler.start()
    (event,) = recorder.wait_for_count(ENDED, 1, timeout=30)
    process_scheduler.shutdown()  # waits for the listeners of the run's end to finish
    spans = {span.name: span for span in exporter.get_finished_spans()}
    run = spans["run remote"]
    assert event.retval == (
        format(run.context.trace_id, "032x"),
        format(run.context.span_id, "016x"),
    )
    assert (run.attributes or {})["obssched.queue_wait"] >= 0.0
    labels = {"job_name": "remote", "executor": "default"}
    assert sample(registry, "obssched_job_executed_total", **labels) == 1.0


@pytest.mark.realtime
@pytest.mark.slow
def test_process_pool_unpicklable_ends(
    process_scheduler: BackgroundScheduler,
    registry: CollectorRegistry,
    exporter: InMemorySpanExporter,
) -> None:
    """A process-pool run whose arguments cannot be pickled still ends: error, span, gauge."""
    process_scheduler.add_job(jobs.block, args=[threading.Lock()], name="unpicklable")
    process_scheduler.start(paused=True)
    # Listening from after start(), the recorder hears the run's end once the built-in listener
    # has counted it.
    recorder = EventRecorder(process_scheduler, ENDED)
    process_scheduler.resume()
    labels = {"job_name": "unpicklable", "executor": "default", "error_type": "TypeError"}
    recorder.wait_for(
        lambda _: sample(registry, "obssched_job_errored_total", **labels) == 1.0, timeout=30
    )
    assert sample(registry, "obssched_executor_running_jobs", executor="default") == 0.0
    process_scheduler.shutdown()
    assert "run unpicklable" in {span.name for span in exporter.get_finished_spans()}


class _TroubledStore(MemoryJobStore):
    """A memory store reporting what a shared SQL store reports."""

    @property
    def error_count(self) -> int:
        return 3

    def unloadable_count(self) -> int:
        return 2

    def cluster_nodes(self) -> int | None:
        return 4

    def cluster_queue(self) -> tuple[int, int] | None:
        return 7, 10

    @property
    def abandoned_counts(self) -> dict[str, int]:
        return {"nightly": 1}


def test_job_store_health_is_exported(clock: ManualClock, registry: CollectorRegistry) -> None:
    """Store errors, unloadable rows, cluster nodes, the node's queue and abandoned runs appear
    at scrape time."""
    scheduler = ManualScheduler(
        clock=clock,
        metrics_registry=registry,
        tracing=False,
        jobstores={"shared": _TroubledStore()},
    )
    scheduler.start()
    try:
        assert sample(registry, "obssched_jobstore_errors_total", jobstore="shared") == 3
        assert sample(registry, "obssched_jobstore_unloadable_jobs", jobstore="shared") == 2
        assert sample(registry, "obssched_cluster_nodes", jobstore="shared") == 4
        assert sample(registry, "obssched_cluster_queued_runs", jobstore="shared") == 7
        assert sample(registry, "obssched_cluster_max_queued_runs", jobstore="shared") == 10
        assert sample(registry, "obssched_job_abandoned_total", job_name="nightly") == 1
        assert sample(registry, "obssched_jobstore_unloadable_jobs", jobstore="default") == 0
        assert sample(registry, "obssched_cluster_nodes", jobstore="default") is None
        assert sample(registry, "obssched_cluster_queued_runs", jobstore="default") is None
        assert sample(registry, "obssched_cluster_max_queued_runs", jobstore="default") is None
    finally:
        scheduler.shutdown()


def test_a_sql_store_outside_cluster_mode_exports_no_cluster_queue(
    tmp_path: Path, clock: ManualClock, registry: CollectorRegistry
) -> None:
    """A SQLAlchemy store that is not shared has no node queue: neither gauge appears."""
    from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore

    url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    scheduler = ManualScheduler(clock=clock, metrics_registry=registry, tracing=False)
    scheduler.add_jobstore(SQLAlchemyJobStore(url=url), "default")
    scheduler.start()
    try:
        assert sample(registry, "obssched_jobstore_up", jobstore="default") == 1
        assert sample(registry, "obssched_cluster_queued_runs", jobstore="default") is None
        assert sample(registry, "obssched_cluster_max_queued_runs", jobstore="default") is None
    finally:
        scheduler.shutdown()


class _ClusterStore(MemoryJobStore):
    """A memory store posing as one node of a shared store."""

    cluster = True
    node_id = "node-a"


def test_run_span_names_the_cluster_node(
    clock: ManualClock,
    registry: CollectorRegistry,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    """A run from a clustered job store carries the node that ran it as obssched.node."""
    scheduler = ManualScheduler(
        clock=clock,
        metrics_registry=registry,
        tracer_provider=provider,
        jobstores={"default": _ClusterStore()},
    )
    scheduler.add_job(jobs.current_trace, "interval", seconds=1)
    scheduler.start()
    clock.advance(1)
    scheduler.tick()
    scheduler.shutdown()
    (run_span,) = [s for s in exporter.get_finished_spans() if s.name.startswith("run ")]
    assert (run_span.attributes or {})["obssched.node"] == "node-a"


_LATE_GLOBAL_PROVIDER = """
import json
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from obssched.testing import ManualClock, ManualScheduler

clock = ManualClock()
scheduler = ManualScheduler(clock=clock, metrics_registry=CollectorRegistry())
scheduler.start()
scheduler.add_job(print, "interval", seconds=10, args=["-"], name="before")
clock.advance(10)
scheduler.tick()
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
scheduler.remove_all_jobs()
scheduler.add_job(print, "interval", seconds=10, args=["-"], name="after")
clock.advance(10)
scheduler.tick()
print(json.dumps(sorted(span.name for span in exporter.get_finished_spans())))
"""


def test_global_provider_set_after_start_is_used() -> None:
    """Runs go untraced until the application sets a global provider, and are traced after."""
    # The global provider can be set once per process, so this runs in a fresh interpreter.
    result = subprocess.run(
        [sys.executable, "-c", _LATE_GLOBAL_PROVIDER],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(result.stdout.splitlines()[-1]) == ["run after"]


@pytest.mark.parametrize("tracing", [False, True], ids=["untraced", "traced"])
def test_builtin_failure_on_a_run_event_is_counted(
    clock: ManualClock, registry: CollectorRegistry, provider: TracerProvider, tracing: bool
) -> None:
    """A run event the built-in metrics cannot read is counted under obssched.builtin, and the
    scheduler's other listeners still get it."""
    options = {"tracer_provider": provider} if tracing else {"tracing": False}
    scheduler = ManualScheduler(clock=clock, metrics_registry=registry, **options)
    scheduler.start()
    recorder = EventRecorder(scheduler, EVENT_JOB_EXECUTED)
    broken = JobExecutionEvent(EVENT_JOB_EXECUTED, "j", "default", None)  # type: ignore[arg-type]
    broken.run_duration = "long"  # type: ignore[assignment]
    scheduler._dispatch_event(broken)
    assert recorder.events == [broken]
    assert sample(registry, "obssched_listener_errors_total", listener="obssched.builtin") == 1.0
    scheduler.shutdown()


def test_sql_store_scheduler_starts_with_metrics_and_counts_its_stored_jobs(
    tmp_path: pytest.TempPathFactory, clock: ManualClock, registry: CollectorRegistry
) -> None:
    """A scheduler on a SQLAlchemy store starts with the built-in metrics on, whether its
    database is new or already holds jobs, and the stored jobs' counters start at 0."""
    from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore

    url = f"sqlite:///{tmp_path}/jobs.sqlite"  # type: ignore[operator]
    first = ManualScheduler(clock=clock, metrics_registry=CollectorRegistry(), tracing=False)
    first.add_jobstore(SQLAlchemyJobStore(url=url), "default")
    first.add_job(jobs.current_trace, "interval", seconds=10, name="stored", id="kept")
    first.start()
    first.shutdown()
    second = ManualScheduler(clock=clock, metrics_registry=registry, tracing=False)
    second.add_jobstore(SQLAlchemyJobStore(url=url), "default")
    second.start()
    try:
        labels = {"job_name": "stored", "executor": "default"}
        assert sample(registry, "obssched_job_executed_total", **labels) == 0.0
    finally:
        second.shutdown()


def test_a_date_job_removed_before_its_run_ends_leaves_no_gauge(
    manual: ManualScheduler, clock: ManualClock, registry: CollectorRegistry
) -> None:
    """A one-shot job is removed when its run is submitted; the run's end does not bring back
    the last-success series its removal dropped, while the counters keep the run."""
    pool = ThreadPoolExecutor(2)
    manual.add_executor(pool, "threads")
    recorder = EventRecorder(manual)
    manual.add_job(
        jobs.current_trace, "date", run_date=clock.now(), name="oneshot", executor="threads"
    )
    manual.tick()
    recorder.wait_for_count(ENDED, 1)
    assert (
        sample(registry, "obssched_job_last_success_timestamp_seconds", job_name="oneshot") is None
    )
    labels = {"job_name": "oneshot", "executor": "threads"}
    assert sample(registry, "obssched_job_executed_total", **labels) == 1.0


def test_renaming_a_job_drops_its_old_names_gauges(
    manual: ManualScheduler, clock: ManualClock, registry: CollectorRegistry
) -> None:
    """modify_job(name=...) moves a job's gauges to its new name: the old name's last-success
    series goes once no job uses that name."""
    job = manual.add_job(jobs.current_trace, "interval", seconds=10, name="before")
    clock.advance(10)
    manual.tick()
    assert sample(registry, "obssched_job_last_success_timestamp_seconds", job_name="before")
    manual.modify_job(job.id, name="after")
    assert (
        sample(registry, "obssched_job_last_success_timestamp_seconds", job_name="before") is None
    )


def test_remove_all_jobs_of_a_store_drops_gauges_of_jobs_added_before_start(
    clock: ManualClock, registry: CollectorRegistry
) -> None:
    """Jobs added before start() are known in their job store once committed, so clearing that
    store drops their series."""
    scheduler = ManualScheduler(clock=clock, metrics_registry=registry, tracing=False)
    scheduler.add_jobstore(MemoryJobStore(), "other")
    scheduler.add_job(jobs.current_trace, "interval", seconds=10, name="early", jobstore="other")
    scheduler.start()
    try:
        clock.advance(10)
        scheduler.tick()
        assert sample(registry, "obssched_job_last_success_timestamp_seconds", job_name="early")
        scheduler.remove_all_jobs("other")
        gauge = "obssched_job_last_success_timestamp_seconds"
        assert sample(registry, gauge, job_name="early") is None
    finally:
        scheduler.shutdown()


def test_coalesced_run_times_of_a_refused_run_are_counted(
    manual: ManualScheduler, clock: ManualClock, registry: CollectorRegistry
) -> None:
    """Run times coalesced into a run that max_instances refuses still count as coalesced."""
    pool = ThreadPoolExecutor(2)
    manual.add_executor(pool, "threads")
    release = threading.Event()
    manual.add_job(
        jobs.block, "interval", seconds=10, args=(release,), name="busy", executor="threads",
        max_instances=1, coalesce=True, misfire_grace_time=None,
    )  # fmt: skip
    try:
        clock.advance(10)
        manual.tick()  # one run starts and blocks
        clock.advance(30)
        manual.tick()  # three run times due: two coalesced into one run, which is refused
        assert (
            sample(
                registry, "obssched_job_max_instances_total", job_name="busy", executor="threads"
            )
            == 1.0
        )
        assert sample(registry, "obssched_job_coalesced_total", job_name="busy") == 2.0
    finally:
        release.set()


def test_two_running_schedulers_with_one_name_are_reported(
    clock: ManualClock, registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    """Two running schedulers left at the default name on one registry would merge their
    series: the second one's attachment says so in the log."""
    first = ManualScheduler(clock=clock, metrics_registry=registry, tracing=False)
    second = ManualScheduler(clock=clock, metrics_registry=registry, tracing=False)
    first.start()
    try:
        with caplog.at_level("WARNING", logger="obssched.observability"):
            second.start()
        assert "Two schedulers named 'default'" in caplog.text
    finally:
        second.shutdown()
        first.shutdown()
