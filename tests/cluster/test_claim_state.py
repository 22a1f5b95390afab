"""A claim writes a job's new next run time into its stored state in place, and the state it
leaves is the one the loop would have saved; a state the patch cannot place, or a trigger
that keeps state of its own, is written whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from obssched.jobstores._sql.codec import encode_job, next_run_time_patch
from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.testing import ManualScheduler
from obssched.triggers.combining import OrTrigger
from obssched.triggers.cron import CronTrigger
from obssched.triggers.interval import IntervalTrigger

from .probes import ARGUMENT_BROKEN, BreakableArgument, CountingTrigger

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOOP = "jobstores.jobfuncs:record"
MOMENT = datetime(2024, 1, 1, 0, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (b'{"id":"j","next_run_time":"2024-01-01T00:00:00+00:00","x":1}', (27, 27)),
        (b'{"id":"j","next_run_time":null}', (27, 4)),
        (b'{"a":{"next_run_time":"x"},"next_run_time":"y"}', None),
        (b'{"a":"\\"next_run_time\\":1","next_run_time":null}', (44, 4)),
        (b'{"next_run_time":12}', None),
        (b'{"id":"j"}', None),
    ],
    ids=["string", "null", "twice", "escaped-in-an-argument", "number", "absent"],
)
def test_the_patch_places_the_next_run_time_only_where_it_is_found_once(
    state: bytes, expected: tuple[int, int] | None
) -> None:
    """Position (1-based) and length of the stored value, or none when it is ambiguous."""
    patch = next_run_time_patch(state, MOMENT)
    assert (None if patch is None else patch[:2]) == expected
    if patch is not None:
        position, length, moment = patch
        patched = state[: position - 1] + f'"{moment}"'.encode() + state[position - 1 + length :]
        assert b'"next_run_time":"2024-01-01T00:01:00+00:00"' in patched


def stored(store: SQLAlchemyJobStore, job_id: str) -> tuple[int, bytes, bytes]:
    """The job's row (next run time, state) and the state of its ``_running`` row."""
    jobs, running = store.tables.jobs, store.tables.running
    with store.engine.connect() as conn:
        row = conn.execute(
            select(jobs.c.next_run_time, jobs.c.state).where(jobs.c.id == job_id)
        ).one()
        run_state = conn.execute(
            select(running.c.state).where(running.c.job_id == job_id)
        ).scalar_one()
    return row.next_run_time, bytes(row.state), bytes(run_state)


@pytest.mark.postgresql
@pytest.mark.parametrize(
    "options",
    [
        {"trigger": "interval", "minutes": 1, "start_date": T0},
        {"trigger": "cron", "minute": "*", "timezone": "Europe/Paris"},
        {"trigger": "interval", "minutes": 1, "start_date": T0, "kwargs": {"next_run_time": 1}},
        {"trigger": CountingTrigger(T0)},
        {"trigger": "interval", "minutes": 1},
        {"trigger": OrTrigger([IntervalTrigger(minutes=1), CronTrigger(hour=5, timezone=UTC)])},
    ],
    ids=[
        "interval",
        "cron-in-a-zone",
        "argument-named-like-the-key",
        "stateful-trigger",
        "interval-starting-at-its-first-run",
        "combining-an-interval-starting-at-its-first-run",
    ],
)
def test_a_claimed_job_is_stored_as_the_loop_would_save_it(
    store: SQLAlchemyJobStore, scheduler: ManualScheduler, options: dict[str, Any]
) -> None:
    """After the claim the row's state is byte for byte the whole encoding of the job at its
    new next run time, and the ``_running`` row holds that state too (with the start date an
    interval without one takes from its first run)."""
    scheduler.add_job(NOOP, id="j", next_run_time=T0, misfire_grace_time=None, **options)
    claimed = store.acquire_due_jobs(T0)
    [job] = claimed
    plan = store.planned_run_times(job)
    assert plan is not None
    assert plan.next_run_time == T0 + timedelta(minutes=1)
    job.next_run_time = plan.next_run_time
    micros, state, run_state = stored(store, "j")
    store.release_jobs(claimed)
    assert micros == int(plan.next_run_time.timestamp() * 1_000_000)
    assert state == encode_job(job, "json", 5)
    assert run_state == state


def claim_one(store: SQLAlchemyJobStore, now: datetime) -> Any:
    """Claim the one job due at ``now`` without running it; return it."""
    [job] = store.acquire_due_jobs(now)
    store.planned_run_times(job)
    store.release_jobs([job])
    return job


@pytest.mark.postgresql
def test_a_job_claimed_again_is_the_same_job_unless_its_row_changed_meanwhile(
    store: SQLAlchemyJobStore, scheduler: ManualScheduler
) -> None:
    """The next claim takes the job object back (at its new next run time, as decoded); once
    the job is changed in the store, the claim after that decodes the new row."""
    scheduler.add_job(
        NOOP, "interval", minutes=1, start_date=T0, id="j", next_run_time=T0,
        misfire_grace_time=None,
    )  # fmt: skip
    first = claim_one(store, T0)
    second = claim_one(store, T0 + timedelta(minutes=1))
    assert second is first
    assert second.next_run_time == T0 + timedelta(minutes=1)
    scheduler.modify_job("j", kwargs={"changed": True})
    third = claim_one(store, T0 + timedelta(minutes=2))
    assert third is not second
    assert third.kwargs == {"changed": True}
    assert third.next_run_time == T0 + timedelta(minutes=2)


@pytest.mark.postgresql
@pytest.mark.parametrize("serializer", ["json", "pickle"])
def test_each_claim_hands_over_the_arguments_as_stored(
    scheduler: ManualScheduler, postgres_url: str, pg_schema: str, serializer: str
) -> None:
    """A job claimed again gets fresh argument values, as decoded from its row: what a run did
    to a mutable argument does not carry over to the next run (as in APScheduler 3)."""
    store = SQLAlchemyJobStore(
        url=postgres_url, tableschema=pg_schema, cluster=True, node_id="here",
        lease_seconds=60, serializer=serializer,
    )  # fmt: skip
    scheduler.add_jobstore(store)
    scheduler.start(paused=True)
    scheduler.add_job(
        NOOP, "interval", minutes=1, start_date=T0, id="j", next_run_time=T0,
        args=[[1]], kwargs={"acc": []}, misfire_grace_time=None,
    )  # fmt: skip
    first = claim_one(store, T0)
    first.args[0].append(2)
    first.kwargs["acc"].append(1)
    second = claim_one(store, T0 + timedelta(minutes=1))
    assert second.trigger is first.trigger
    assert (second.args, second.kwargs) == (([1],), {"acc": []})


@pytest.mark.postgresql
def test_a_reused_job_whose_arguments_no_longer_decode_is_left_out_as_unloadable(
    scheduler: ManualScheduler, postgres_url: str, pg_schema: str
) -> None:
    """Arguments that decoded at one claim and fail at the next make that job unloadable (left
    out, reported once); the other jobs due are still claimed."""
    store = SQLAlchemyJobStore(
        url=postgres_url, tableschema=pg_schema, cluster=True, node_id="here",
        lease_seconds=60, serializer="pickle",
    )  # fmt: skip
    scheduler.add_jobstore(store)
    scheduler.start(paused=True)
    for job_id, args in [("breaks", [BreakableArgument()]), ("healthy", [])]:
        scheduler.add_job(
            NOOP, "interval", minutes=1, start_date=T0, id=job_id, next_run_time=T0,
            args=args, misfire_grace_time=None,
        )  # fmt: skip
    first = store.acquire_due_jobs(T0)
    for job in first:
        store.planned_run_times(job)
    store.release_jobs(first)
    ARGUMENT_BROKEN["now"] = True
    try:
        second = store.acquire_due_jobs(T0 + timedelta(minutes=1))
    finally:
        ARGUMENT_BROKEN["now"] = False
    store.release_jobs(second)
    assert [job.id for job in second] == ["healthy"]
    assert [job.id for job in store.get_unloadable_jobs()] == ["breaks"]
