"""Any value given to a job option or a scheduler option either works or is refused with the
documented error, and a refused call leaves the scheduler as it was.

The documented errors are ``ValueError`` and ``TypeError`` (``InvalidJobOptionError``,
``InvalidArgumentError``, ``SerializationError`` and their kin derive from them) and, for an
alias that names nothing, ``UnknownAliasError`` (a ``KeyError``, as in APScheduler 3).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from obssched.exceptions import UnknownAliasError
from obssched.testing import ManualClock, ManualScheduler

pytestmark = pytest.mark.faults

DOCUMENTED = (ValueError, TypeError, UnknownAliasError)

ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.binary(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.datetimes(timezones=st.just(UTC)),
    st.timedeltas(),
    st.sampled_from(["skip", "queue", "default", "1", "-1", "nan", "inf", "Europe/Berlin"]),
)
"""Values of every kind a caller may pass, well-formed or not."""

JOB_OPTIONS = [
    "misfire_grace_time",
    "coalesce",
    "max_instances",
    "next_run_time",
    "timeout",
    "overlap",
    "overlap_queue_limit",
    "name",
    "id",
    "executor",
    "jobstore",
]
MODIFIABLE = [
    "misfire_grace_time",
    "coalesce",
    "max_instances",
    "next_run_time",
    "timeout",
    "overlap",
    "overlap_queue_limit",
    "name",
    "args",
    "kwargs",
]
TRIGGER_ARGS = ["seconds", "minutes", "start_date", "end_date", "jitter", "timezone"]
SCHEDULER_OPTIONS = [
    "timezone",
    "heartbeat_interval",
    "jobstore_retry_interval",
    "metrics_health_limit",
    "job_defaults",
]
EXAMPLES = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def job_body(*args: Any, **kwargs: Any) -> None:
    pass


def scheduler() -> ManualScheduler:
    clock = ManualClock(datetime(2024, 1, 1, tzinfo=UTC))
    sched = ManualScheduler(clock=clock, timezone="UTC", metrics=False, tracing=False)
    sched.start()
    return sched


def stored_jobs(sched: ManualScheduler) -> list[dict[str, Any]]:
    """Every stored job's state, comparable before and after a call."""
    return [job.__getstate__() for job in sched.get_jobs()]


@EXAMPLES
@given(option=st.sampled_from(JOB_OPTIONS), value=ANY_VALUE)
def test_add_job_takes_any_option_value_or_refuses_it_leaving_no_job(
    option: str, value: Any
) -> None:
    """add_job either adds the job or raises a documented error and adds nothing."""
    sched = scheduler()
    try:
        before = stored_jobs(sched)
        try:
            sched.add_job(job_body, "interval", seconds=10, **{option: value})
        except DOCUMENTED:
            assert stored_jobs(sched) == before
        else:
            assert len(sched.get_jobs()) == len(before) + 1
    finally:
        sched.shutdown(wait=False)


@EXAMPLES
@given(argument=st.sampled_from(TRIGGER_ARGS), value=ANY_VALUE)
def test_add_job_takes_any_trigger_argument_or_refuses_it_leaving_no_job(
    argument: str, value: Any
) -> None:
    """A trigger argument of any value makes a job or a documented error, never a half-added
    job."""
    sched = scheduler()
    try:
        trigger_args: dict[str, Any] = {"seconds": 10, argument: value}
        try:
            sched.add_job(job_body, "interval", **trigger_args)
        except DOCUMENTED:
            assert sched.get_jobs() == []
        else:
            assert len(sched.get_jobs()) == 1
    finally:
        sched.shutdown(wait=False)


@EXAMPLES
@given(option=st.sampled_from(MODIFIABLE), value=ANY_VALUE)
def test_modify_job_takes_any_value_or_refuses_it_leaving_the_job_as_it_was(
    option: str, value: Any
) -> None:
    """modify_job either changes the job or raises a documented error and changes nothing."""
    sched = scheduler()
    try:
        sched.add_job(job_body, "interval", seconds=10, id="job", args=(1,))
        before = stored_jobs(sched)
        try:
            sched.modify_job("job", **{option: value})
        except DOCUMENTED:
            assert stored_jobs(sched) == before
    finally:
        sched.shutdown(wait=False)


@EXAMPLES
@given(option=st.sampled_from(SCHEDULER_OPTIONS), value=ANY_VALUE)
def test_configure_takes_any_value_or_refuses_it(option: str, value: Any) -> None:
    """configure() on a stopped scheduler either takes an option or raises a documented
    error; a refused value leaves the scheduler able to start and run a job."""
    sched = ManualScheduler(
        clock=ManualClock(datetime(2024, 1, 1, tzinfo=UTC)), metrics=False, tracing=False
    )
    try:
        sched.configure(**{option: value})
    except DOCUMENTED:
        sched.start()
        sched.add_job(job_body, "date", run_date=sched.clock.now() + timedelta(seconds=1))
        assert len(sched.get_jobs()) == 1
        sched.shutdown(wait=False)
        return
    if option != "job_defaults" or not isinstance(value, dict):
        return
    # job_defaults are checked when a job takes them: documented errors there too
    sched.start()
    try:
        sched.add_job(job_body, "interval", seconds=10)
    except DOCUMENTED:
        assert sched.get_jobs() == []
    finally:
        sched.shutdown(wait=False)


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -1, 0, "1", [], True],
    ids=["nan", "inf", "negative", "zero", "text", "list", "bool"],
)
def test_a_bad_max_instances_is_refused_naming_the_value(value: Any) -> None:
    """The refusal of a bad max_instances names the value given."""
    sched = scheduler()
    try:
        with pytest.raises(DOCUMENTED) as info:
            sched.add_job(job_body, "interval", seconds=10, max_instances=value)
        assert repr(value)[:20] in str(info.value) or str(value)[:20] in str(info.value)
    finally:
        sched.shutdown(wait=False)
