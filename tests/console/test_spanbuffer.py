"""The span buffer: which runs' traces it keeps, and that it stays within its bounds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode

from obssched.console import SpanBuffer, attach_span_buffer, make_wsgi_app
from obssched.testing import ManualClock, ManualScheduler

from ._console_support import call, settings

T0 = datetime(2024, 1, 1, tzinfo=UTC)
MS = 1_000_000


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    """An SDK tracer provider, shut down after the test."""
    provider = TracerProvider()
    yield provider
    provider.shutdown()


def buffer_on(provider: TracerProvider, **limits: int) -> SpanBuffer:
    """A span buffer added to ``provider``."""
    buffer = attach_span_buffer(provider, SpanBuffer(**limits))
    assert buffer is not None
    return buffer


def traced_run(
    provider: TracerProvider,
    job: str,
    scheduled: datetime,
    duration_ms: int,
    *,
    failed: bool = False,
    children: int = 1,
    child_text: str | list[str] = "",
) -> str:
    """Record a run span with ``children`` spans of the job's own under it, the way obssched's
    tracer does, and a mark of the job's own 0.5 ms in."""
    tracer = provider.get_tracer("test")
    start = int(scheduled.timestamp() * 1e9)
    root = tracer.start_span(
        f"run {job}",
        attributes={"obssched.job.id": job, "obssched.scheduled_time": scheduled.isoformat()},
        start_time=start,
    )
    root.add_event("cache warmed", timestamp=start + MS // 2)
    context = trace.set_span_in_context(root)
    for n in range(children):
        child = tracer.start_span(
            f"step {n}", context=context, start_time=start + MS, attributes={"text": child_text}
        )
        child.end(start + 2 * MS)
    if failed:
        root.set_status(Status(StatusCode.ERROR, "boom"))
    root.end(start + duration_ms * MS)
    return format(root.get_span_context().trace_id, "032x")


def at(seconds: int) -> datetime:
    """A scheduled run time ``seconds`` after T0."""
    return T0 + timedelta(seconds=seconds)


def test_a_failed_runs_whole_trace_is_kept(provider: TracerProvider) -> None:
    """A failed run's trace is kept with its child spans, offsets relative to the run span."""
    buffer = buffer_on(provider)
    trace_id = traced_run(provider, "j", at(0), 40, failed=True, children=2)
    kept = buffer.trace_of("j", at(0))
    assert kept is not None
    assert kept.trace_id == trace_id
    spans = kept.spans_json()
    assert [span["name"] for span in spans] == ["run j", "step 0", "step 1"]
    root, child = spans[0], spans[1]
    assert (root["start_offset_ms"], root["duration_ms"], root["status"]) == (0.0, 40.0, "error")
    assert (child["start_offset_ms"], child["duration_ms"]) == (1.0, 1.0)
    assert child["parent_span_id"] == root["span_id"]
    assert root["parent_span_id"] is None


def test_span_events_are_served(provider: TracerProvider) -> None:
    """A span's events are served by name and offset from the run span's start."""
    buffer = buffer_on(provider)
    traced_run(provider, "j", at(0), 40, failed=True, children=0)
    kept = buffer.trace_of("j", at(0))
    assert kept is not None
    (root,) = kept.spans_json()
    assert root["events"] == [{"name": "cache warmed", "offset_ms": 0.5}]


def test_events_kept_per_span_are_bounded(provider: TracerProvider) -> None:
    """A span with many events keeps its first few, names cut to attribute_text_limit."""
    buffer = buffer_on(provider, attribute_text_limit=4)
    tracer = provider.get_tracer("test")
    start = int(at(0).timestamp() * 1e9)
    root = tracer.start_span(
        "run j",
        attributes={"obssched.job.id": "j", "obssched.scheduled_time": at(0).isoformat()},
        start_time=start,
    )
    for n in range(40):
        root.add_event(f"event {n}", timestamp=start + n * MS)
    root.set_status(Status(StatusCode.ERROR))
    root.end(start + 50 * MS)
    kept = buffer.trace_of("j", at(0))
    assert kept is not None
    events = kept.spans_json()[0]["events"]
    assert len(events) == 16
    assert events[0] == {"name": "even", "offset_ms": 0.0}


def test_the_slowest_runs_of_a_job_are_kept(provider: TracerProvider) -> None:
    """Of a job's successful runs, only the slowest_per_job slowest keep their spans."""
    buffer = buffer_on(provider, slowest_per_job=2)
    for n, duration in enumerate([10, 50, 20, 40, 30]):
        traced_run(provider, "j", at(n), duration)
    kept = sorted(t.duration_ns // MS for t in buffer.traces())
    assert kept == [40, 50]


def test_every_run_gets_its_trace_id_kept_or_not(provider: TracerProvider) -> None:
    """A run whose spans were not kept still has its trace id, for a link to a trace UI."""
    buffer = buffer_on(provider, slowest_per_job=1)
    traced_run(provider, "j", at(0), 50)
    trace_id = traced_run(provider, "j", at(1), 10)
    assert buffer.trace_of("j", at(1)) is None
    assert buffer.trace_id_of("j", at(1)) == trace_id


def test_a_trace_that_is_not_a_run_is_dropped(provider: TracerProvider) -> None:
    """Spans of a trace whose root is not a run span are not kept."""
    buffer = buffer_on(provider)
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("request"), tracer.start_as_current_span("query"):
        pass
    assert buffer.traces() == []
    assert buffer.span_count() == (0, 0)


def test_kept_traces_are_bounded_oldest_first(provider: TracerProvider) -> None:
    """Past max_traces, the oldest kept trace goes first."""
    buffer = buffer_on(provider, max_traces=3)
    for n in range(5):
        traced_run(provider, f"job-{n}", at(n), 10, failed=True)
    assert [t.job_id for t in buffer.traces()] == ["job-2", "job-3", "job-4"]


def test_spans_in_all_are_bounded(provider: TracerProvider) -> None:
    """Kept and waiting spans together never exceed max_spans."""
    buffer = buffer_on(provider, max_spans=25)
    for n in range(10):
        traced_run(provider, f"job-{n}", at(n), 10, failed=True, children=4)
    kept, waiting = buffer.span_count()
    assert kept + waiting <= 25
    assert buffer.dropped_spans > 0


def test_spans_per_trace_are_bounded(provider: TracerProvider) -> None:
    """A trace keeps at most max_spans_per_trace spans, its run span always among them."""
    buffer = buffer_on(provider, max_spans_per_trace=5)
    traced_run(provider, "j", at(0), 10, failed=True, children=50)
    kept = buffer.trace_of("j", at(0))
    assert kept is not None
    names = [span["name"] for span in kept.spans_json()]
    assert len(names) == 5
    assert "run j" in names


def test_traces_waiting_for_their_root_are_bounded(provider: TracerProvider) -> None:
    """Traces whose root has not ended are bounded by max_pending_traces."""
    buffer = buffer_on(provider, max_pending_traces=3)
    tracer = provider.get_tracer("test")
    roots = [tracer.start_span(f"root {n}") for n in range(6)]
    for root in roots:
        tracer.start_span("child", context=trace.set_span_in_context(root)).end()
    assert buffer.span_count() == (0, 3)


def test_attribute_text_is_cut(provider: TracerProvider) -> None:
    """Long attribute values are cut to attribute_text_limit characters."""
    buffer = buffer_on(provider, attribute_text_limit=10)
    traced_run(provider, "j", at(0), 10, failed=True, child_text="x" * 1000)
    kept = buffer.trace_of("j", at(0))
    assert kept is not None
    assert kept.spans_json()[1]["attributes"]["text"] == "x" * 10 + "..."


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://app:hunter2@db/prod", "postgresql://app:***@db/prod"),
        ("host=db password=hunter2", "host=db password=***"),
        ("see postgresql://app:hunter2-and-a-long-secret@db/prod", "see postgresql://app:***"),
        (["token=hunter2", "plain"], ["token=***", "plain"]),
    ],
    ids=["url", "dsn", "url-cut-in-its-password", "list"],
)
def test_attribute_secrets_are_hidden(
    provider: TracerProvider, text: str | list[str], shown: str | list[str]
) -> None:
    """Passwords in attribute text are replaced, even where the text was cut inside one."""
    buffer = buffer_on(provider, attribute_text_limit=40)
    traced_run(provider, "j", at(0), 10, failed=True, child_text=text)
    kept = buffer.trace_of("j", at(0))
    assert kept is not None
    assert kept.spans_json()[1]["attributes"]["text"] == shown


def test_attach_needs_an_sdk_provider() -> None:
    """Without an SDK provider nothing is attached."""
    assert attach_span_buffer(None) is None
    assert attach_span_buffer(trace.NoOpTracerProvider()) is None


@pytest.mark.parametrize("limit", ["max_traces", "max_spans"], ids=str)
def test_limits_must_be_whole_numbers(limit: str) -> None:
    """A negative limit is refused, naming it."""
    with pytest.raises(ValueError, match=limit):
        SpanBuffer(**{limit: -1})


def test_shutdown_forgets_everything(provider: TracerProvider) -> None:
    """Shutting the provider down empties the buffer."""
    buffer = buffer_on(provider)
    traced_run(provider, "j", at(0), 10, failed=True)
    provider.shutdown()
    assert buffer.traces() == []


def failing_job(tracer: trace.Tracer) -> None:
    """A job body that opens its own span and then fails."""
    with tracer.start_as_current_span("load rows"):
        pass
    raise RuntimeError("the job failed")


@pytest.mark.realtime
def test_run_page_serves_the_jobs_own_spans(provider: TracerProvider) -> None:
    """A failed run of a traced scheduler serves its run span, with its queue wait and its
    exception, and the job's own spans under it."""
    buffer = buffer_on(provider)
    clock = ManualClock()
    scheduler = ManualScheduler(clock=clock, metrics=False, tracer_provider=provider)
    scheduler.start()
    try:
        app = make_wsgi_app(
            scheduler,
            settings(trace_url_template="http://jaeger/trace/{trace_id}"),
            spans=buffer,
        )
        scheduler.add_job(
            failing_job, "interval", seconds=5, id="f", args=[provider.get_tracer("job")]
        )
        clock.advance(5)
        scheduler.tick()
        (run,) = call(app, "/api/jobs/f/runs").json()["runs"]
        assert run["spans_kept"] is True
        assert run["trace_url"] == f"http://jaeger/trace/{run['trace_id']}"
        data = call(app, f"/api/runs/{run['run_id']}/spans").json()
        assert data["trace_id"] == run["trace_id"]
        run_span, load = data["spans"]
        assert (run_span["name"], load["name"]) == ("run failing_job", "load rows")
        assert load["parent_span_id"] == run_span["span_id"]
        assert [event["name"] for event in run_span["events"]] == ["exception"]
        assert "obssched.queue_wait" in run_span["attributes"]
    finally:
        scheduler.shutdown()


def test_a_span_ending_after_its_run_joins_the_kept_trace(provider: TracerProvider) -> None:
    """A span the job left running past its run's end is added to the kept trace."""
    buffer = buffer_on(provider)
    tracer = provider.get_tracer("test")
    start = int(at(0).timestamp() * 1e9)
    root = tracer.start_span(
        "run j",
        attributes={"obssched.job.id": "j", "obssched.scheduled_time": at(0).isoformat()},
        start_time=start,
    )
    late = tracer.start_span("late", context=trace.set_span_in_context(root), start_time=start)
    root.set_status(Status(StatusCode.ERROR))
    root.end(start + 5 * MS)
    late.end(start + 9 * MS)
    kept = buffer.trace_of("j", at(0))
    assert kept is not None
    assert [span["name"] for span in kept.spans_json()] == ["run j", "late"]


def test_a_run_span_with_a_remote_parent_is_a_root(provider: TracerProvider) -> None:
    """A run span continuing a trace from elsewhere still decides its trace's fate."""
    buffer = buffer_on(provider)
    remote = trace.SpanContext(
        trace_id=0x1234, span_id=0x99, is_remote=True, trace_flags=trace.TraceFlags(1)
    )
    parent = trace.set_span_in_context(trace.NonRecordingSpan(remote))
    span = provider.get_tracer("test").start_span(
        "run j",
        context=parent,
        attributes={"obssched.job.id": "j", "obssched.scheduled_time": at(0).isoformat()},
    )
    span.set_status(Status(StatusCode.ERROR))
    span.end()
    kept = buffer.trace_of("j", at(0))
    assert kept is not None
    assert kept.trace_id == format(0x1234, "032x")
    assert kept.spans_json()[0]["parent_span_id"] is None


def test_a_buffer_keeping_no_traces_keeps_only_trace_ids(provider: TracerProvider) -> None:
    """With max_traces 0, no span is kept, but runs still get their trace ids."""
    buffer = buffer_on(provider, max_traces=0)
    trace_id = traced_run(provider, "j", at(0), 10, failed=True)
    assert buffer.traces() == []
    assert buffer.trace_id_of("j", at(0)) == trace_id
