"""The built-in metrics listener, driven by hand-made events of a fake scheduler."""

from __future__ import annotations

from datetime import timedelta

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from obssched.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from obssched.exceptions import JobTimeoutError
from obssched.observability import attach_builtin
from obssched.observability._listener import MetricsListener
from obssched.observability._metrics import MetricStore
from obssched.observability._names import JobNames

from .conftest import T0, FakeScheduler


class JobFailedError(Exception):
    """A job's own error type."""


def attach(scheduler: FakeScheduler, registry: CollectorRegistry, **kwargs: object) -> None:
    attach_builtin(scheduler, registry=registry, tracing=False, **kwargs)  # type: ignore[arg-type]


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, {"scheduler": "default", **labels})


JOB = {"job_name": "report", "executor": "default"}


def test_submission_counts(scheduler: FakeScheduler, registry: CollectorRegistry) -> None:
    """Each submission increments obssched_job_submitted_total for the job's name and executor."""
    attach(scheduler, registry)
    job = scheduler.add_job("id-1", "report")
    scheduler.submit(job, T0)
    assert value(registry, "obssched_job_submitted_total", **JOB) == 1.0


def test_success_counts_and_observes(scheduler: FakeScheduler, registry: CollectorRegistry) -> None:
    """A successful run counts as executed and observes run time, start delay and queue wait."""
    attach(scheduler, registry)
    job = scheduler.add_job("id-1", "report")
    scheduler.run(job, late=0.5, wait=0.25, duration=2.0)
    assert value(registry, "obssched_job_executed_total", **JOB) == 1.0
    run = {**JOB, "outcome": "success"}
    assert value(registry, "obssched_job_run_duration_seconds_sum", **run) == 2.0
    assert value(registry, "obssched_job_run_duration_seconds_bucket", **run, le="1.0") == 0.0
    assert value(registry, "obssched_job_run_duration_seconds_bucket", **run, le="2.5") == 1.0
    assert value(registry, "obssched_job_start_delay_seconds_sum", **JOB) == 0.75
    assert value(registry, "obssched_executor_queue_wait_seconds_sum", executor="default") == 0.25


def test_error_counts_by_type(scheduler: FakeScheduler, registry: CollectorRegistry) -> None:
    """A failed run counts under its exception's qualified class name, with outcome=error."""
    attach(scheduler, registry)
    job = scheduler.add_job("id-1", "report")
    scheduler.run(job, duration=3.0, exception=JobFailedError("boom"))
    error_type = f"{__name__}.JobFailedError"
    assert value(registry, "obssched_job_errored_total", **JOB, error_type=error_type) == 1.0
    assert value(registry, "obssched_job_executed_total", **JOB) == 0.0
    run = {**JOB, "outcome": "error"}
    assert value(registry, "obssched_job_run_duration_seconds_sum", **run) == 3.0


def test_a_timed_out_run_counts_as_a_timeout_and_an_error(
    scheduler: FakeScheduler, registry: CollectorRegistry
) -> None:
    """A run ended by its timeout counts in obssched_job_timeouts_total as well as an error."""
    attach(scheduler, registry)
    job = scheduler.add_job("id-1", "report")
    scheduler.run(job, exception=JobFailedError("boom"))
    assert value(registry, "obssched_job_timeouts_total", job_name="report") is None
    scheduler.run(job, duration=5.0, exception=JobTimeoutError("id-1", 5.0, T0, 5.0))
    assert value(registry, "obssched_job_timeouts_total", job_name="report") == 1.0
    error_type = "obssched.exceptions.JobTimeoutError"
    assert value(registry, "obssched_job_errored_total", **JOB, error_type=error_type) == 1.0


def test_builtin_error_type_is_bare(scheduler: FakeScheduler, registry: CollectorRegistry) -> None:
    """Builtin exceptions are labelled by their bare name."""
    attach(scheduler, registry)
    job = scheduler.add_job("id-1", "report")
    scheduler.run(job, exception=ValueError("x"))
    assert value(registry, "obssched_job_errored_total", **JOB, error_type="ValueError") == 1.0


def test_missed_counts(scheduler: FakeScheduler, registry: CollectorRegistry) -> None:
    """A missed run time increments obssched_job_missed_total and its coalesced times."""
    attach(scheduler, registry)
    scheduler.add_job("id-1", "report")
    scheduler.dispatch(
        JobExecutionEvent(
            EVENT_JOB_MISSED, "id-1", "default", T0, job_name="report", executor="default",
            coalesced_run_times=[T0 - timedelta(minutes=2), T0 - timedelta(minutes=1)],
        )
    )  # fmt: skip
    assert value(registry, "obssched_job_missed_total", job_name="report") == 1.0
    assert value(registry, "obssched_job_coalesced_total", job_name="report") == 2.0


def test_coalesced_counts(scheduler: FakeScheduler, registry: CollectorRegistry) -> None:
    """Run times dropped by coalescing on a submission increment obssched_job_coalesced_total."""
    attach(scheduler, registry)
    job = scheduler.add_job("id-1", "report")
    scheduler.submit(job, T0, coalesced=(T0 - timedelta(minutes=1),))
    assert value(registry, "obssched_job_coalesced_total", job_name="report") == 1.0


def test_max_instances_counts(scheduler: FakeScheduler, registry: CollectorRegistry) -> None:
    """A refused submission increments obssched_job_max_instances_total."""
    attach(scheduler, registry)
    scheduler.add_job("id-1", "report")
    scheduler.dispatch(
        JobSubmissionEvent(
            EVENT_JOB_MAX_INSTANCES, "id-1", "default", [T0], job_name="report",
            executor="default", run_id=7, submitted_at=T0,
        )
    )  # fmt: skip
    assert value(registry, "obssched_job_max_instances_total", **JOB) == 1.0
    assert value(registry, "obssched_job_submitted_total", **JOB) == 0.0


@pytest.mark.parametrize(
    ("name", "labels"),
    [
        ("obssched_job_submitted_total", JOB),
        ("obssched_job_executed_total", JOB),
        ("obssched_job_max_instances_total", JOB),
        ("obssched_job_missed_total", {"job_name": "report"}),
        ("obssched_job_coalesced_total", {"job_name": "report"}),
    ],
    ids=["submitted", "executed", "max_instances", "missed", "coalesced"],
)
def test_counters_start_at_zero(
    scheduler: FakeScheduler, registry: CollectorRegistry, name: str, labels: dict[str, str]
) -> None:
    """Adding a job creates its counters at 0, so rates exist before the first run."""
    attach(scheduler, registry)
    scheduler.add_job("id-1", "report")
    assert value(registry, name, **labels) == 0.0


def test_jobs_present_at_attach_start_at_zero(
    scheduler: FakeScheduler, registry: CollectorRegistry
) -> None:
    """Jobs added before the listeners were attached also get their counters at 0."""
    scheduler.add_job("id-1", "report")
    attach(scheduler, registry)
    assert value(registry, "obssched_job_executed_total", **JOB) == 0.0


def test_events_counted_by_name(scheduler: FakeScheduler, registry: CollectorRegistry) -> None:
    """Every event increments obssched_events_total under its event name."""
    attach(scheduler, registry)
    job = scheduler.add_job("id-1", "report")
    scheduler.run(job)
    scheduler.run(job)
    assert value(registry, "obssched_events_total", event="job_added") == 1.0
    assert value(registry, "obssched_events_total", event="job_submitted") == 2.0
    assert value(registry, "obssched_events_total", event="job_executed") == 2.0


def test_event_counters_start_at_zero(
    scheduler: FakeScheduler, registry: CollectorRegistry
) -> None:
    """Each event the listener subscribes to is counted from 0 before it first happens."""
    attach(scheduler, registry)
    assert value(registry, "obssched_events_total", event="job_error") == 0.0
    assert value(registry, "obssched_events_total", event="scheduler_paused") == 0.0
    assert value(registry, "obssched_events_total", event="executor_added") is None


def test_last_success_and_error(scheduler: FakeScheduler, registry: CollectorRegistry) -> None:
    """The last success and last error gauges hold the end times of those runs."""
    attach(scheduler, registry)
    job = scheduler.add_job("id-1", "report")
    scheduler.run(job, late=0, wait=0, duration=1.0)
    scheduler.run(job, late=0, wait=0, duration=1.0, exception=ValueError("x"))
    success = value(registry, "obssched_job_last_success_timestamp_seconds", job_name="report")
    error = value(registry, "obssched_job_last_error_timestamp_seconds", job_name="report")
    assert success == (T0 + timedelta(seconds=1)).timestamp()
    assert error == (T0 + timedelta(seconds=2)).timestamp()


def test_removed_job_drops_gauges(scheduler: FakeScheduler, registry: CollectorRegistry) -> None:
    """Removing a job drops its event-updated gauge series but keeps its counters."""
    attach(scheduler, registry)
    job = scheduler.add_job("id-1", "report")
    scheduler.run(job)
    scheduler.remove_job(job)
    assert value(registry, "obssched_job_last_success_timestamp_seconds", job_name="report") is None
    assert value(registry, "obssched_job_executed_total", **JOB) == 1.0


def test_gauges_kept_while_name_in_use(
    scheduler: FakeScheduler, registry: CollectorRegistry
) -> None:
    """Removing one of two jobs that share a name keeps the name's gauges."""
    attach(scheduler, registry)
    first = scheduler.add_job("id-1", "report")
    scheduler.add_job("id-2", "report")
    scheduler.run(first)
    scheduler.remove_job(first)
    assert value(registry, "obssched_job_last_success_timestamp_seconds", job_name="report")


def test_names_past_limit_fold(scheduler: FakeScheduler, registry: CollectorRegistry) -> None:
    """Job names beyond the limit share job_name="__other__"."""
    attach(scheduler, registry, job_name_limit=1)
    scheduler.add_job("id-1", "first")
    second = scheduler.add_job("id-2", "second")
    scheduler.run(second)
    assert value(registry, "obssched_job_executed_total", job_name="__other__", executor="default")
    assert (
        value(registry, "obssched_job_executed_total", job_name="second", executor="default")
        is None
    )


def test_two_schedulers_apart(registry: CollectorRegistry) -> None:
    """Two schedulers sharing a registry are told apart by the scheduler label."""
    first, second = FakeScheduler(name="a"), FakeScheduler(name="b")
    attach(first, registry)
    attach(second, registry)
    first.run(first.add_job("id-1", "report"))
    labels = {"job_name": "report", "executor": "default"}
    assert (
        registry.get_sample_value("obssched_job_executed_total", {"scheduler": "a", **labels}) == 1
    )
    assert (
        registry.get_sample_value("obssched_job_executed_total", {"scheduler": "b", **labels})
        is None
    )


def test_reattaching_shares_metrics(registry: CollectorRegistry) -> None:
    """A scheduler attached again (a restart) keeps counting into the same series."""
    for _ in range(2):
        scheduler = FakeScheduler()
        attach(scheduler, registry)
        scheduler.run(scheduler.add_job("id-1", "report"))
    assert value(registry, "obssched_job_executed_total", **JOB) == 2.0


def test_custom_buckets(scheduler: FakeScheduler, registry: CollectorRegistry) -> None:
    """Configured buckets replace the default ones."""
    attach(scheduler, registry, buckets=(1.0, 7.0))
    scheduler.run(scheduler.add_job("id-1", "report"), duration=5.0)
    run = {**JOB, "outcome": "success"}
    assert value(registry, "obssched_job_run_duration_seconds_bucket", **run, le="7.0") == 1.0
    assert value(registry, "obssched_job_run_duration_seconds_bucket", **run, le="2.5") is None


def test_conflicting_buckets_refused(registry: CollectorRegistry) -> None:
    """Asking for other buckets on a registry whose histograms exist raises ValueError."""
    attach(FakeScheduler(name="a"), registry, buckets=(1.0,))
    with pytest.raises(ValueError, match="buckets"):
        attach(FakeScheduler(name="b"), registry, buckets=(2.0,))


def test_exemplars_carry_sampled_trace(
    scheduler: FakeScheduler, registry: CollectorRegistry, provider: TracerProvider
) -> None:
    """Executed increments and run-time observations carry the run span's ids as exemplars."""
    attach_builtin(scheduler, registry=registry, tracer_provider=provider)
    scheduler.run(scheduler.add_job("id-1", "report"))
    text = openmetrics_latest(registry).decode()
    executed = next(line for line in text.splitlines() if "job_executed_total{" in line)
    assert '# {span_id="' in executed
    assert 'trace_id="' in executed
    duration = [line for line in text.splitlines() if "run_duration_seconds_bucket" in line]
    assert any("trace_id=" in line for line in duration)


def test_exemplar_is_the_run_spans_ids_value_and_end(
    scheduler: FakeScheduler,
    registry: CollectorRegistry,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    """A run's exemplars name its span's trace and span ids in hex, with the observed value and
    the run's end as their timestamp."""
    attach_builtin(scheduler, registry=registry, tracer_provider=provider)
    scheduler.run(scheduler.add_job("id-1", "report"), late=0.5, wait=0.25, duration=2.0)
    (span,) = exporter.get_finished_spans()
    ids = {"trace_id": f"{span.context.trace_id:032x}", "span_id": f"{span.context.span_id:016x}"}
    families = {
        family.name: family
        for family in text_string_to_metric_families(openmetrics_latest(registry).decode())
    }
    executed = next(s for s in families["obssched_job_executed"].samples if s.exemplar)
    durations = [
        s.exemplar for s in families["obssched_job_run_duration_seconds"].samples if s.exemplar
    ]
    assert span.end_time is not None
    assert executed.exemplar is not None
    assert (executed.exemplar.labels, executed.exemplar.value) == (ids, 1.0)
    assert float(executed.exemplar.timestamp) == pytest.approx(span.end_time / 1e9, abs=1e-6)
    assert [(e.labels, e.value) for e in durations] == [(ids, 2.0)]


def test_no_exemplar_when_unsampled(scheduler: FakeScheduler, registry: CollectorRegistry) -> None:
    """Runs whose span is not sampled leave no exemplar."""
    provider = TracerProvider(sampler=ALWAYS_OFF)
    attach_builtin(scheduler, registry=registry, tracer_provider=provider)
    scheduler.run(scheduler.add_job("id-1", "report"))
    assert "trace_id" not in openmetrics_latest(registry).decode()


def test_listener_errors_counted(
    scheduler: FakeScheduler, registry: CollectorRegistry, provider: TracerProvider
) -> None:
    """An exception inside the built-in listener is counted, not raised."""
    attach_builtin(scheduler, registry=registry, tracer_provider=provider)
    broken = JobExecutionEvent(EVENT_JOB_MISSED, "id-1", None, None)  # type: ignore[arg-type]
    scheduler.dispatch(broken)
    assert value(registry, "obssched_listener_errors_total", listener="obssched.builtin") == 1.0


def test_detach_stops_counting(scheduler: FakeScheduler, registry: CollectorRegistry) -> None:
    """After detach() the scheduler's events are no longer counted."""
    handle = attach_builtin(scheduler, registry=registry, tracing=False)
    job = scheduler.add_job("id-1", "report")
    handle.detach()
    scheduler.run(job)
    assert value(registry, "obssched_job_executed_total", **JOB) == 0.0


@pytest.mark.parametrize(
    ("exception", "outcome"), [(None, "success"), (JobFailedError("x"), "error")], ids=str
)
def test_every_run_observed_alike(
    scheduler: FakeScheduler,
    registry: CollectorRegistry,
    exception: Exception | None,
    outcome: str,
) -> None:
    """Later runs of a job are observed like its first: every timing of every run is summed."""
    attach(scheduler, registry)
    job = scheduler.add_job("id-1", "report")
    scheduler.run(job, late=0.5, wait=0.25, duration=2.0, exception=exception)
    scheduler.run(job, late=1.0, wait=0.5, duration=4.0, exception=exception)
    run = {**JOB, "outcome": outcome}
    assert value(registry, "obssched_job_run_duration_seconds_sum", **run) == 6.0
    assert value(registry, "obssched_job_run_duration_seconds_count", **run) == 2.0
    assert value(registry, "obssched_job_start_delay_seconds_sum", **JOB) == 2.25
    assert value(registry, "obssched_executor_queue_wait_seconds_sum", executor="default") == 0.75


def test_run_that_never_started_observes_no_timing(
    scheduler: FakeScheduler, registry: CollectorRegistry
) -> None:
    """A run that failed before its body started counts its error and observes no timing."""
    attach(scheduler, registry)
    job = scheduler.add_job("id-1", "report")
    scheduler.finish(scheduler.submit(job, T0), started_at=None, exception=RuntimeError("gone"))
    assert value(registry, "obssched_job_errored_total", **JOB, error_type="RuntimeError") == 1.0
    run = {**JOB, "outcome": "error"}
    assert value(registry, "obssched_job_run_duration_seconds_count", **run) == 0.0
    assert value(registry, "obssched_job_start_delay_seconds_count", **JOB) == 0.0
    assert value(registry, "obssched_executor_queue_wait_seconds_count", executor="default") == 0.0


def test_early_start_observed_as_no_delay(
    scheduler: FakeScheduler, registry: CollectorRegistry
) -> None:
    """A run that started before its scheduled time is observed with a start delay of 0."""
    attach(scheduler, registry)
    job = scheduler.add_job("id-1", "report")
    scheduler.run(job, late=-1.0, wait=0.25)
    assert value(registry, "obssched_job_start_delay_seconds_sum", **JOB) == 0.0
    assert value(registry, "obssched_job_start_delay_seconds_bucket", **JOB, le="0.005") == 1.0


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [(0.0, "0.005"), (0.005, "0.005"), (0.006, "0.01"), (7200.5, "14400.0"), (1e9, "+Inf")],
    ids=["zero", "first-bound", "past-first-bound", "late-bound", "past-last-bound"],
)
def test_each_timing_lands_in_the_bucket_of_its_upper_bound(
    scheduler: FakeScheduler, registry: CollectorRegistry, seconds: float, bucket: str
) -> None:
    """A run time, start delay or queue wait equal to a bound lands in that bound's bucket and one
    just above it in the next, whether it falls in the first bucket or a later one."""
    attach(scheduler, registry)
    job = scheduler.add_job("id-1", "report")
    scheduler.run(job, late=0.0, wait=seconds, duration=seconds)
    lower = {"0.005": None, "0.01": "0.005", "14400.0": "7200.0", "+Inf": "14400.0"}[bucket]
    run = {**JOB, "outcome": "success"}
    histograms = [
        ("obssched_job_run_duration_seconds_bucket", run),
        ("obssched_job_start_delay_seconds_bucket", JOB),
        ("obssched_executor_queue_wait_seconds_bucket", {"executor": "default"}),
    ]
    for name, labels in histograms:
        assert value(registry, name, **labels, le=bucket) == 1.0
        if lower is not None:
            assert value(registry, name, **labels, le=lower) == 0.0


def test_removed_jobs_are_counted_and_forgotten(
    scheduler: FakeScheduler, registry: CollectorRegistry
) -> None:
    """Each removal counts in obssched_events_total, and a name's gauges go with its last job."""
    attach(scheduler, registry)
    first = scheduler.add_job("id-1", "report")
    second = scheduler.add_job("id-2", "report")
    scheduler.run(first)
    scheduler.remove_job(first)
    assert value(registry, "obssched_job_last_success_timestamp_seconds", job_name="report")
    scheduler.remove_job(second)
    assert value(registry, "obssched_events_total", event="job_removed") == 2.0
    assert value(registry, "obssched_job_last_success_timestamp_seconds", job_name="report") is None


def test_listener_needs_names_guarded_by_the_store_lock() -> None:
    """The metrics listener refuses job names guarded by a lock other than its store's."""
    store = MetricStore()
    with pytest.raises(ValueError, match="lock"):
        MetricsListener(store, "default", JobNames())
    MetricsListener(store, "default", JobNames(lock=store.lock))


def test_runs_moving_between_buckets_each_land_in_their_own(
    scheduler: FakeScheduler, registry: CollectorRegistry
) -> None:
    """Run times that move up, down and onto a bound from one run to the next are each counted
    in the bucket of their own upper bound."""
    attach(scheduler, registry)
    job = scheduler.add_job("id-1", "report")
    for duration in (2.0, 2.0, 0.001, 2.5, 3.0, 0.005):
        scheduler.run(job, late=0.0, wait=0.0, duration=duration)
    run = {**JOB, "outcome": "success"}
    expected = {"0.005": 2.0, "0.01": 2.0, "1.0": 2.0, "2.5": 5.0, "5.0": 6.0}
    observed = {
        le: value(registry, "obssched_job_run_duration_seconds_bucket", **run, le=le)
        for le in expected
    }
    assert observed == expected
