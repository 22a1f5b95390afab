"""Job arguments as tagged JSON, and job state as versioned plain data."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from uuid import UUID

import core_jobs
import pytest

from obssched._serialization import dumps_args, job_from_data, job_to_data, loads_args
from obssched.exceptions import SerializationError
from obssched.testing import ManualScheduler

VALUES = [
    datetime(2024, 3, 31, 2, 30, tzinfo=UTC),
    date(2024, 2, 29),
    time(23, 59, 59, 999999),
    timedelta(days=-1, seconds=5, microseconds=7),
    Decimal("3.14159265358979323846"),
    UUID("12345678-1234-5678-1234-567812345678"),
    b"\x00\xffbytes",
    (1, (2, "three")),
    {1, 2, 3},
    {"nested": [1, {"deep": (4,)}]},
    None,
    True,
    1.5,
]


@pytest.mark.parametrize("value", VALUES, ids=[type(v).__name__ for v in VALUES])
def test_argument_round_trip(value: object) -> None:
    """Each supported type survives encoding as JSON and decoding, with its type."""
    args, kwargs = loads_args(dumps_args((value,), {"key": value}))
    assert args == (value,)
    assert kwargs == {"key": value}
    assert type(args[0]) is type(value)


def test_unsupported_argument_is_named() -> None:
    """An argument JSON cannot hold raises SerializationError naming it and the opt-in."""
    with pytest.raises(SerializationError, match=r"kwargs\['conn'\].*serializer=\"pickle\""):
        dumps_args((), {"conn": object()})


def test_non_string_dict_key_is_named() -> None:
    """A dict with a non-string key is refused, naming where it is."""
    with pytest.raises(SerializationError, match=r"args\[0\]"):
        dumps_args(({1: "one"},), {})


def test_job_state_round_trip() -> None:
    """A job survives job_to_data and job_from_data with every attribute."""
    sched = ManualScheduler(timezone="UTC", metrics=False, tracing=False)
    sched.start()
    job = sched.add_job(
        core_jobs.add, "interval", seconds=30, args=(1, 2), id="j", name="adder", coalesce=False
    )
    restored = job_from_data(sched, job_to_data(job))
    assert (restored.id, restored.name, restored.func, restored.args) == (
        "j",
        "adder",
        core_jobs.add,
        (1, 2),
    )
    assert (restored.coalesce, restored.next_run_time) == (False, job.next_run_time)
    assert str(restored.trigger) == str(job.trigger)
    sched.shutdown()


def test_newer_job_state_fails_loudly() -> None:
    """State written by a newer obssched is refused with an explanation, not guessed at."""
    sched = ManualScheduler(metrics=False, tracing=False)
    with pytest.raises(SerializationError, match="newer obssched"):
        job_from_data(sched, {"version": 99, "id": "j"})


def test_job_without_reference_cannot_be_stored() -> None:
    """A job whose callable is a lambda has no reference and is refused, with the reason."""
    sched = ManualScheduler(metrics=False, tracing=False)
    job = sched.add_job(lambda: None, "interval", seconds=1)
    with pytest.raises(SerializationError, match="lambdas"):
        job_to_data(job)
