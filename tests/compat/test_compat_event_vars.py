"""Differential tests: what ``vars(event)`` gives a listener on APScheduler 3.11 and on obssched,
for the same jobs run the same way."""

from __future__ import annotations

import importlib
import threading
from datetime import UTC, datetime
from typing import Any

import pytest


def _returns() -> int:
    return 42


def _raises() -> None:
    raise ValueError("bad value 7")


def _events_seen(lib: str) -> dict[int, dict[str, Any]]:
    """Run one job that returns and one that raises; keep ``vars()`` of each event by code."""
    events = importlib.import_module(f"{lib}.events")
    background = importlib.import_module(f"{lib}.schedulers.background")
    seen: dict[int, dict[str, Any]] = {}
    done = threading.Event()

    def listener(event: Any) -> None:
        seen.setdefault(event.code, vars(event))
        if events.EVENT_JOB_EXECUTED in seen and events.EVENT_JOB_ERROR in seen:
            done.set()

    scheduler = background.BackgroundScheduler(timezone=UTC)
    scheduler.add_listener(listener, events.EVENT_ALL)
    scheduler.start()
    try:
        # With no trigger, both libraries run the job once, now.
        scheduler.add_job(_returns, id="returns")
        scheduler.add_job(_raises, id="raises")
        assert done.wait(30), f"{lib}: the two runs did not both end"
    finally:
        scheduler.shutdown(wait=True)
    return seen


@pytest.fixture(scope="module")
def both() -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]]]:
    return _events_seen("obssched"), _events_seen("apscheduler")


def test_every_event_has_a_vars_mapping_with_apschedulers_names(
    both: tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]]],
) -> None:
    """For every event code both libraries emitted, ``vars(event)`` holds every attribute name
    APScheduler 3.11's holds (obssched's additions may come on top)."""
    ours, theirs = both
    assert set(theirs) <= set(ours)
    for code, attributes in theirs.items():
        missing = set(attributes) - set(ours[code])
        assert not missing, f"event {code}: vars() lacks {sorted(missing)}"


def test_vars_of_run_events_carry_the_same_values(
    both: tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]]],
) -> None:
    """The executed event's return value and the error event's exception read the same through
    ``vars()`` in both libraries."""
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED

    ours, theirs = both
    for key in ("code", "alias", "job_id", "jobstore", "retval"):
        assert ours[EVENT_JOB_EXECUTED][key] == theirs[EVENT_JOB_EXECUTED][key]
    assert ours[EVENT_JOB_EXECUTED]["retval"] == 42
    ours_error, theirs_error = ours[EVENT_JOB_ERROR], theirs[EVENT_JOB_ERROR]
    assert type(ours_error["exception"]) is type(theirs_error["exception"]) is ValueError
    assert str(ours_error["exception"]) == str(theirs_error["exception"]) == "bad value 7"
    assert "ValueError: bad value 7" in ours_error["traceback"]


def test_vars_is_a_copy() -> None:
    """Writing to the mapping ``vars(event)`` returned does not change the event."""
    from obssched.events import EVENT_JOB_EXECUTED, JobExecutionEvent

    event = JobExecutionEvent(
        EVENT_JOB_EXECUTED, "a", "default", datetime(2030, 1, 1, tzinfo=UTC), retval=1
    )
    vars(event)["retval"] = 2
    assert event.retval == 1
