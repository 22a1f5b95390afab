"""The ``timeout`` job option: validated, defaulted, modified and stored like the others."""

from __future__ import annotations

import math
import pickle
from typing import Any

import core_jobs
import pytest

from obssched.exceptions import InvalidJobOptionError
from obssched.testing import ManualClock, ManualScheduler


def test_jobs_have_no_timeout_by_default(scheduler: ManualScheduler) -> None:
    """A job added without a timeout has none."""
    scheduler.start()
    assert scheduler.add_job(core_jobs.record, "interval", seconds=5).timeout is None


@pytest.mark.parametrize("value", [0.5, 30, None], ids=["float", "int", "none"])
def test_add_job_takes_a_timeout(scheduler: ManualScheduler, value: float | None) -> None:
    """add_job stores a positive timeout, or None, as given."""
    scheduler.start()
    job = scheduler.add_job(core_jobs.record, "interval", seconds=5, timeout=value)
    assert job.timeout == value


@pytest.mark.parametrize(
    "value", [0, -1, math.inf, math.nan], ids=["zero", "negative", "infinite", "nan"]
)
def test_a_timeout_that_is_not_positive_and_finite_is_a_value_error(
    scheduler: ManualScheduler, value: float
) -> None:
    """A number that is not positive and finite is refused with a ValueError naming it."""
    with pytest.raises(ValueError, match=f"got {value!r}"):
        scheduler.add_job(core_jobs.record, "interval", seconds=5, timeout=value)


@pytest.mark.parametrize("value", ["5", True, [1]], ids=["text", "bool", "list"])
def test_a_timeout_that_is_not_a_number_is_a_type_error(
    scheduler: ManualScheduler, value: Any
) -> None:
    """A value that is not a number is refused with a TypeError naming it."""
    with pytest.raises(InvalidJobOptionError, match="timeout must be") as info:
        scheduler.add_job(core_jobs.record, "interval", seconds=5, timeout=value)
    assert isinstance(info.value, TypeError)
    assert repr(value) in str(info.value)


def test_modify_job_changes_the_timeout(scheduler: ManualScheduler) -> None:
    """modify_job sets and clears the timeout."""
    scheduler.start()
    job = scheduler.add_job(core_jobs.record, "interval", seconds=5, id="j")
    assert scheduler.modify_job("j", timeout=2.5).timeout == 2.5
    assert scheduler.modify_job("j", timeout=None).timeout is None
    assert job.id == "j"


def test_scheduled_job_takes_a_timeout(scheduler: ManualScheduler) -> None:
    """The scheduled_job decorator passes the timeout on."""
    scheduler.scheduled_job("interval", seconds=5, id="decorated", timeout=3)(core_jobs.record)
    scheduler.start()
    assert scheduler.get_job("decorated").timeout == 3


@pytest.mark.parametrize("started", [True, False], ids=["running", "pending"])
def test_job_defaults_give_the_timeout(clock: ManualClock, started: bool) -> None:
    """job_defaults' timeout applies to jobs added before and after start."""
    sched = ManualScheduler(
        clock=clock, timezone="UTC", metrics=False, tracing=False, job_defaults={"timeout": "7"}
    )
    if started:
        sched.start()
    sched.add_job(core_jobs.record, "interval", seconds=5, id="j")
    if not started:
        sched.start()
    assert sched.get_job("j").timeout == 7.0
    sched.shutdown()


def test_a_pending_job_without_defaults_has_no_timeout(scheduler: ManualScheduler) -> None:
    """A job added before start, with no timeout in job_defaults, has none."""
    scheduler.add_job(core_jobs.record, "interval", seconds=5, id="j")
    scheduler.start()
    assert scheduler.get_job("j").timeout is None


def test_job_defaults_refuse_a_bad_timeout(clock: ManualClock) -> None:
    """A job_defaults timeout that is not a positive number is refused, naming it."""
    with pytest.raises(ValueError, match="-3"):
        ManualScheduler(clock=clock, timezone="UTC", job_defaults={"timeout": -3})


def test_the_timeout_survives_the_job_state(scheduler: ManualScheduler) -> None:
    """A job's timeout is kept in its state and read back."""
    scheduler.start()
    job = scheduler.add_job(core_jobs.record, "interval", seconds=5, timeout=4)
    assert pickle.loads(pickle.dumps(job)).timeout == 4


def test_a_state_without_a_timeout_reads_as_none(scheduler: ManualScheduler) -> None:
    """A job state written before the option existed (or with no timeout) has no timeout key
    and reads back as no limit."""
    scheduler.start()
    job = scheduler.add_job(core_jobs.record, "interval", seconds=5)
    state = job.__getstate__()
    assert "timeout" not in state
    assert pickle.loads(pickle.dumps(job)).timeout is None


@pytest.mark.parametrize("value", [4.5, None], ids=["set", "none"])
def test_the_timeout_survives_the_sql_store(
    clock: ManualClock, tmp_path: Any, value: float | None
) -> None:
    """The SQL store's JSON job state keeps the timeout (and writes no key without one)."""
    from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore

    url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    sched = ManualScheduler(
        clock=clock, timezone="UTC", jobstores={"default": SQLAlchemyJobStore(url)}
    )
    sched.start()
    sched.add_job(core_jobs.record, "interval", seconds=5, id="j", timeout=value)
    sched.shutdown()
    reopened = ManualScheduler(
        clock=clock, timezone="UTC", jobstores={"default": SQLAlchemyJobStore(url)}
    )
    reopened.start(paused=True)
    assert reopened.get_job("j").timeout == value
    reopened.shutdown()
