"""Fixtures for the scheduler core: a manual clock and a scheduler driven tick by tick."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from obssched.testing import EventRecorder, ManualClock, ManualScheduler


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock("2024-01-01T00:00:00+00:00")


@pytest.fixture
def scheduler(clock: ManualClock) -> Iterator[ManualScheduler]:
    sched = ManualScheduler(clock=clock, timezone="UTC", metrics=False, tracing=False)
    yield sched
    if sched.running:
        sched.shutdown()


@pytest.fixture
def recorder(scheduler: ManualScheduler) -> EventRecorder:
    return EventRecorder(scheduler)
