"""/metrics shows how long each event listener takes, from the bus's sampled timings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from obssched._eventbus import TIMING_SAMPLE
from obssched.events import EVENT_SCHEDULER_PAUSED, SchedulerEvent
from obssched.observability._collector import collector_for
from obssched.observability._exposition import write_collector
from obssched.testing import ManualClock, ManualScheduler


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock("2024-01-01T00:00:00+00:00")


@pytest.fixture
def scheduler(clock: ManualClock, registry: CollectorRegistry) -> Iterator[ManualScheduler]:
    sched = ManualScheduler(
        clock=clock, timezone="UTC", metrics_registry=registry, tracing=False, name="s"
    )
    sched.start()

    def audit(event: SchedulerEvent) -> None:
        clock.advance(0.5)

    sched.context.events.add(audit, EVENT_SCHEDULER_PAUSED, name="audit")
    for _ in range(TIMING_SAMPLE):
        sched.context.events.dispatch(SchedulerEvent(EVENT_SCHEDULER_PAUSED))
    yield sched
    sched.shutdown()


def test_a_listener_s_timed_calls_are_a_summary(
    scheduler: ManualScheduler, registry: CollectorRegistry
) -> None:
    """The summary counts the timed calls and sums their seconds, per listener."""
    labels = {"scheduler": "s", "listener": "audit"}
    count = registry.get_sample_value("obssched_listener_duration_seconds_count", labels)
    total = registry.get_sample_value("obssched_listener_duration_seconds_sum", labels)
    longest = registry.get_sample_value("obssched_listener_max_duration_seconds", labels)
    assert (count, total, longest) == (1.0, 0.5, 0.5)


def test_obssched_s_renderer_writes_the_summary(
    scheduler: ManualScheduler, registry: CollectorRegistry
) -> None:
    """obssched's own renderer writes the summary's type, count and sum per listener."""
    collector = collector_for(registry, create=False)
    assert collector is not None
    out: list[str] = []
    write_collector(collector, out, openmetrics=False)
    text = "".join(out)
    assert "# TYPE obssched_listener_duration_seconds summary\n" in text
    assert 'obssched_listener_duration_seconds_count{listener="audit",scheduler="s"} 1\n' in text
    assert 'obssched_listener_duration_seconds_sum{listener="audit",scheduler="s"} 0.5\n' in text
