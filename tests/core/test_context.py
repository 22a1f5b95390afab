"""The scheduler context: what schedulers hand the components they start."""

from __future__ import annotations

from typing import Any

from obssched._context import SchedulerContext, context_of
from obssched.events import EVENT_SCHEDULER_STARTED, SchedulerEvent
from obssched.testing import ManualScheduler


class _ForeignScheduler:
    """Stands in for APScheduler 3's scheduler: events arrive at ``_dispatch_event``."""

    def __init__(self) -> None:
        self.received: list[Any] = []

    def _dispatch_event(self, event: Any) -> None:
        self.received.append(event)


def test_an_obssched_scheduler_hands_out_its_own_context(scheduler: ManualScheduler) -> None:
    """context_of returns the scheduler's public context, the same object each time."""
    assert context_of(scheduler) is scheduler.context


def test_no_scheduler_gets_a_standalone_context_that_announces_submissions() -> None:
    """A component started without a scheduler gets a context of its own."""
    context = context_of(None)
    assert isinstance(context, SchedulerContext)
    assert context.announces_submissions is True


def test_a_foreign_scheduler_receives_events_at_its_dispatch_method() -> None:
    """A scheduler that is not obssched's gets events through ``_dispatch_event``."""
    foreign = _ForeignScheduler()
    event = SchedulerEvent(EVENT_SCHEDULER_STARTED)
    context_of(foreign).dispatch(event)
    assert foreign.received == [event]


def test_a_foreign_dispatch_method_set_after_the_start_is_used() -> None:
    """The foreign scheduler's dispatch method is looked up per event, not at start."""
    foreign = _ForeignScheduler()
    context = context_of(foreign)
    later: list[Any] = []
    foreign._dispatch_event = later.append  # type: ignore[method-assign]
    context.dispatch(SchedulerEvent(EVENT_SCHEDULER_STARTED))
    assert [event.code for event in later] == [EVENT_SCHEDULER_STARTED]


def test_executors_leave_submission_events_to_a_foreign_scheduler() -> None:
    """APScheduler 3's scheduler dispatches its own submission events."""
    assert context_of(_ForeignScheduler()).announces_submissions is False
