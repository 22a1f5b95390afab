"""The built-in tracing, driven by hand-made events and the run hook of a fake scheduler."""

from __future__ import annotations

import pickle
from datetime import timedelta

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from obssched.events import (
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from obssched.observability import attach_builtin

from .conftest import T0, FakeScheduler


def attach(scheduler: FakeScheduler, provider: TracerProvider, **kwargs: object) -> None:
    attach_builtin(scheduler, metrics=False, tracer_provider=provider, **kwargs)  # type: ignore[arg-type]


def spans(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


def test_run_span_covers_submission_to_end(
    scheduler: FakeScheduler, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """The run span opens at submission and closes when the run ends."""
    attach(scheduler, provider)
    job = scheduler.add_job("id-1", "report")
    scheduler.run(job, late=0.5, wait=0.25, duration=2.0)
    run = spans(exporter)["run report"]
    submitted = T0 + timedelta(seconds=0.5)
    assert run.start_time == int(submitted.timestamp()) * 10**9 + 500_000_000
    assert run.end_time is not None
    assert run.start_time is not None
    assert run.end_time - run.start_time == 2_250_000_000
    assert run.parent is None


def test_run_span_attributes(
    scheduler: FakeScheduler, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """The run span carries the obssched.* attributes and code.function.name."""
    attach(scheduler, provider)
    scheduler.run(scheduler.add_job("id-1", "report"), late=0.5, wait=0.25)
    attributes = dict(spans(exporter)["run report"].attributes or {})
    assert attributes == {
        "obssched.job.id": "id-1",
        "obssched.job.name": "report",
        "obssched.executor": "default",
        "obssched.jobstore": "default",
        "obssched.trigger": "interval[0:01:00]",
        "obssched.scheduled_time": T0.isoformat(),
        "obssched.start_delay": 0.75,
        "obssched.queue_wait": 0.25,
        "obssched.outcome": "success",
        "code.function.name": "tests.jobs.tick",
    }


def test_run_span_is_current_in_the_body(
    scheduler: FakeScheduler, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Inside the hook the run span is current, so the job's own spans nest under it; outside
    it nothing is."""
    attach(scheduler, provider)
    job = scheduler.add_job("id-1", "report")
    info = scheduler.submit(job, T0)
    (hook,) = scheduler.run_hooks
    with hook.wrap(info), provider.get_tracer("job").start_as_current_span("inner"):
        pass
    scheduler.finish(info, started_at=T0)
    by_name = spans(exporter)
    assert set(by_name) == {"run report", "inner"}
    run, inner = by_name["run report"], by_name["inner"]
    assert inner.parent is not None
    assert inner.parent.span_id == run.context.span_id
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_body_start_is_the_queue_wait_after_the_span_start(
    scheduler: FakeScheduler, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """One span keeps the queue wait and the run time apart: it starts at submission, its
    queue_wait attribute says when the body started, and it ends with the body."""
    attach(scheduler, provider)
    job = scheduler.add_job("id-1", "report")
    info = scheduler.submit(job, T0)
    scheduler.clock.advance(0.25)
    (hook,) = scheduler.run_hooks
    with hook.wrap(info):
        scheduler.clock.advance(2.0)
    scheduler.finish(info, started_at=info.submitted_at + timedelta(seconds=0.25))
    (run,) = exporter.get_finished_spans()
    assert run.start_time is not None
    assert (run.attributes or {})["obssched.queue_wait"] == 0.25
    assert run.end_time == run.start_time + 2_250_000_000
    assert run.events == ()


def test_error_recorded(
    scheduler: FakeScheduler, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A failed run's span has status ERROR, error.type and the exception as an event, once."""
    attach(scheduler, provider)
    scheduler.run(scheduler.add_job("id-1", "report"), exception=KeyError("gone"))
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "KeyError"
    assert (span.attributes or {})["obssched.outcome"] == "error"
    assert [event.name for event in span.events] == ["exception"]


def test_run_that_fails_before_its_body_gets_a_run_span_only(
    scheduler: FakeScheduler, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A run whose executor failed before the body started still leaves its run span, from
    submission to the end, with the error and no body start."""
    attach(scheduler, provider)
    job = scheduler.add_job("id-1", "report")
    info = scheduler.submit(job, T0)
    scheduler.clock.advance(1.5)
    scheduler.finish(info, started_at=None, exception=RuntimeError("pool is gone"))
    (run,) = exporter.get_finished_spans()
    assert run.name == "run report"
    assert [event.name for event in run.events] == ["exception"]
    assert run.status.status_code is StatusCode.ERROR
    assert (run.attributes or {})["obssched.outcome"] == "error"
    assert run.end_time is not None
    assert run.start_time is not None
    assert run.end_time - run.start_time == 1_500_000_000


def test_end_of_a_body_the_tracer_never_saw_makes_no_span(
    scheduler: FakeScheduler, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """An end that reports a started body the tracer has no record of (a run ended twice, or one
    that started before tracing did) opens no span of its own."""
    attach(scheduler, provider)
    job = scheduler.add_job("id-1", "report")
    info = scheduler.submit(job, T0)
    scheduler.finish(info, started_at=T0)
    assert exporter.get_finished_spans() == ()


def test_hook_before_submission_event(
    scheduler: FakeScheduler, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A body that starts before the submission event is seen still makes one run span."""
    attach(scheduler, provider)
    job = scheduler.add_job("id-1", "report")
    info = scheduler.run_info(job, T0)
    (hook,) = scheduler.run_hooks
    with hook.wrap(info):
        pass
    scheduler.dispatch(
        JobSubmissionEvent(
            0x8000, "id-1", "default", [T0], job_name="report", executor="default",
            run_id=info.run_id, submitted_at=info.submitted_at,
        )
    )  # fmt: skip
    scheduler.finish(info, started_at=T0)
    (run,) = exporter.get_finished_spans()
    assert run.name == "run report"
    assert (run.attributes or {})["obssched.outcome"] == "success"


def test_missed_short_span(
    scheduler: FakeScheduler, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A missed run time leaves a short span with outcome missed."""
    attach(scheduler, provider)
    scheduler.add_job("id-1", "report")
    scheduler.dispatch(
        JobExecutionEvent(EVENT_JOB_MISSED, "id-1", "default", T0, job_name="report",
                          executor="default")
    )  # fmt: skip
    (span,) = exporter.get_finished_spans()
    assert (span.attributes or {})["obssched.outcome"] == "missed"
    assert (span.attributes or {})["obssched.scheduled_time"] == T0.isoformat()


def test_max_instances_short_span(
    scheduler: FakeScheduler, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A run refused for max_instances leaves a short span with that outcome."""
    attach(scheduler, provider)
    scheduler.add_job("id-1", "report")
    scheduler.dispatch(
        JobSubmissionEvent(
            EVENT_JOB_MAX_INSTANCES, "id-1", "default", [T0], job_name="report",
            executor="default", run_id=3, submitted_at=T0,
        )
    )  # fmt: skip
    (span,) = exporter.get_finished_spans()
    assert (span.attributes or {})["obssched.outcome"] == "max_instances"


def test_coalesced_short_spans(
    scheduler: FakeScheduler, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Run times dropped by coalescing each leave a short span, so every scheduled time shows."""
    attach(scheduler, provider)
    job = scheduler.add_job("id-1", "report")
    dropped = T0 - timedelta(minutes=1)
    scheduler.submit(job, T0, coalesced=(dropped,))
    (span,) = exporter.get_finished_spans()
    assert (span.attributes or {})["obssched.outcome"] == "coalesced"
    assert (span.attributes or {})["obssched.scheduled_time"] == dropped.isoformat()


def test_add_job_context_is_link(
    scheduler: FakeScheduler, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """The span current at add_job becomes a link of the job's runs, not their parent."""
    attach(scheduler, provider)
    with provider.get_tracer("app").start_as_current_span("request") as request:
        job = scheduler.add_job("id-1", "report")
    scheduler.run(job)
    run = spans(exporter)["run report"]
    assert run.parent is None
    assert [link.context.span_id for link in run.links] == [request.get_span_context().span_id]


def test_a_job_removed_before_its_run_starts_keeps_its_link(
    scheduler: FakeScheduler, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A date job is removed once its run is submitted, before the run's body starts: the run
    span still carries the link to the span current at add_job, and nothing about the removed
    job is kept once its run has ended."""
    attach(scheduler, provider)
    with provider.get_tracer("app").start_as_current_span("request") as request:
        job = scheduler.add_job("id-1", "report")
    info = scheduler.submit(job, T0)
    scheduler.remove_job(job)
    (hook,) = scheduler.run_hooks
    with hook.wrap(info):
        pass
    scheduler.finish(info, started_at=T0)
    run = spans(exporter)["run report"]
    assert [link.context.span_id for link in run.links] == [request.get_span_context().span_id]
    assert (run.attributes or {})["obssched.trigger"] == "interval[0:01:00]"
    (tracer,) = scheduler.run_hooks
    assert "id-1" not in tracer._jobs
    assert "id-1" not in tracer._links


def test_a_job_replaced_outside_any_span_has_no_link(
    scheduler: FakeScheduler, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A job added again under the same id with no span current drops the old job's link."""
    attach(scheduler, provider)
    with provider.get_tracer("app").start_as_current_span("request"):
        scheduler.add_job("id-1", "report")
    job = scheduler.add_job("id-1", "report")
    scheduler.run(job)
    assert spans(exporter)["run report"].links == ()


def test_the_run_span_never_ends_before_its_body_started(
    scheduler: FakeScheduler, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """The hook reads the body's start after the runner did: when the event's times put the end
    before that reading, the span ends at the body's start rather than before it."""
    attach(scheduler, provider)
    job = scheduler.add_job("id-1", "report")
    info = scheduler.submit(job, T0)
    scheduler.clock.advance(1.0)
    (hook,) = scheduler.run_hooks
    with hook.wrap(info):
        pass
    scheduler.dispatch(
        JobExecutionEvent(
            EVENT_JOB_EXECUTED, "id-1", "default", T0, job_name="report", executor="default",
            run_id=info.run_id, submitted_at=info.submitted_at,
            started_at=info.submitted_at + timedelta(seconds=0.2),
            finished_at=info.submitted_at + timedelta(seconds=0.6),
            queue_wait=0.2, run_duration=0.4,
        )
    )  # fmt: skip
    (run,) = exporter.get_finished_spans()
    assert run.start_time is not None
    assert (run.attributes or {})["obssched.queue_wait"] == 1.0
    assert run.end_time == run.start_time + 1_000_000_000


def test_trace_filter_skips_jobs(
    scheduler: FakeScheduler, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Jobs refused by trace_filter leave no spans."""
    attach(scheduler, provider, trace_filter=lambda job_id, name: name != "heartbeat")
    scheduler.run(scheduler.add_job("id-1", "heartbeat"))
    scheduler.run(scheduler.add_job("id-2", "report"))
    assert [span.name for span in exporter.get_finished_spans()] == ["run report"]


def test_remote_carries_context(
    scheduler: FakeScheduler, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """remote() returns a picklable factory that makes the run's trace current in a worker."""
    attach(scheduler, provider)
    job = scheduler.add_job("id-1", "report")
    info = scheduler.submit(job, T0)
    (hook,) = scheduler.run_hooks
    factory = pickle.loads(pickle.dumps(hook.remote(info)))
    with factory():
        inside = trace.get_current_span().get_span_context()
    scheduler.finish(info, started_at=T0 + timedelta(seconds=1))
    run = spans(exporter)["run report"]
    assert inside.trace_id == run.context.trace_id
    assert inside.span_id == run.context.span_id


def test_remote_body_from_event_times(
    scheduler: FakeScheduler, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """For a body run in another process, the span's timings come from the event."""
    attach(scheduler, provider)
    job = scheduler.add_job("id-1", "report")
    info = scheduler.submit(job, T0)
    (hook,) = scheduler.run_hooks
    hook.remote(info)
    started = T0 + timedelta(seconds=1)
    scheduler.clock.advance(3)
    scheduler.finish(info, started_at=started)
    (run,) = exporter.get_finished_spans()
    assert (run.attributes or {})["obssched.queue_wait"] == 1.0
    assert (run.attributes or {})["obssched.start_delay"] == 1.0
    assert run.end_time == int(scheduler.clock.now().timestamp()) * 10**9


def test_no_span_left_open(
    scheduler: FakeScheduler, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Every run span is closed by its terminal event."""
    handle = attach_builtin(scheduler, metrics=False, tracer_provider=provider)
    job = scheduler.add_job("id-1", "report")
    scheduler.run(job)
    scheduler.run(job, exception=ValueError("x"))
    assert handle.tracer is not None
    assert handle.tracer.open_runs() == 0


class _StartRecorder(SpanProcessor):
    """Keeps the attributes each span had when it started."""

    def __init__(self) -> None:
        self.started: dict[str, dict[str, object]] = {}

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.started[span.name] = dict(span.attributes or {})


def test_run_span_starts_with_timings(
    scheduler: FakeScheduler, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """The run span opens when the body starts, with delay, wait and trigger already set."""
    recorder = _StartRecorder()
    provider.add_span_processor(recorder)
    attach(scheduler, provider)
    scheduler.run(scheduler.add_job("id-1", "report"), late=0.5, wait=0.25)
    started = recorder.started["run report"]
    assert started["obssched.start_delay"] == 0.75
    assert started["obssched.queue_wait"] == 0.25
    assert started["obssched.trigger"] == "interval[0:01:00]"
    assert "obssched.outcome" not in started


def test_no_sdk_means_no_tracing_work(scheduler: FakeScheduler) -> None:
    """With a no-op provider no run hook is added and runs are not tracked."""
    attach_builtin(scheduler, metrics=False, tracer_provider=trace.NoOpTracerProvider())
    job = scheduler.add_job("id-1", "report")
    info = scheduler.run_info(job, T0)
    scheduler.dispatch(
        JobSubmissionEvent(
            0x8000, "id-1", "default", [T0], job_name="report", executor="default",
            run_id=info.run_id, submitted_at=info.submitted_at,
        )
    )  # fmt: skip
    assert scheduler.run_hooks == []
