"""A claim writes a whole step at once; a row the database refuses is found job by job, paused
alone, and the other jobs are claimed as if nothing happened."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.testing import ManualClock, ManualScheduler

pytestmark = [pytest.mark.postgresql]

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOOP = "jobstores.jobfuncs:noop"


@pytest.fixture
def started(postgres_url: str, pg_schema: str) -> Iterator[SQLAlchemyJobStore]:
    """A started cluster store with five jobs due at T0 ("bad" among them) whose table refuses
    any next run time for "bad" but none (a check constraint)."""
    store = SQLAlchemyJobStore(
        url=postgres_url, tableschema=pg_schema, cluster=True, node_id="here", lease_seconds=60
    )
    scheduler = ManualScheduler(clock=ManualClock(T0), metrics=False, tracing=False, timezone="UTC")
    scheduler.add_jobstore(store)
    scheduler.start(paused=True)
    for job_id in ("a", "b", "bad", "c", "d"):
        scheduler.add_job(
            NOOP, "interval", minutes=1, start_date=T0, next_run_time=T0, id=job_id,
            misfire_grace_time=None,
        )  # fmt: skip
    table = f'"{pg_schema}"."{store.tables.jobs.name}"'
    with store.engine.begin() as conn:
        t0 = int(T0.timestamp() * 1_000_000)
        conn.execute(
            text(
                f"ALTER TABLE {table} ADD CONSTRAINT refuse_bad "
                f"CHECK (id <> 'bad' OR next_run_time IS NULL OR next_run_time <= {t0})"
            )
        )
    yield store
    scheduler.shutdown()


def test_a_refused_row_pauses_its_job_alone_and_the_others_are_claimed(
    started: SQLAlchemyJobStore,
) -> None:
    """The step's batch fails on "bad"; the four others are advanced and planned, "bad" is
    paused (no next run time, no lease) and its error handed to the loop."""
    store = started
    claimed = store.acquire_due_jobs(T0)
    assert sorted(job.id for job in claimed) == ["a", "b", "bad", "c", "d"]
    plans = {job.id: store.planned_run_times(job) for job in claimed if job.id != "bad"}
    assert {job_id: plan.run_times for job_id, plan in plans.items() if plan} == {
        job_id: [T0] for job_id in ("a", "b", "c", "d")
    }
    bad = next(job for job in claimed if job.id == "bad")
    with pytest.raises(Exception, match="refuse_bad"):
        store.planned_run_times(bad)
    store.release_jobs(claimed)
    jobs = store.tables.jobs
    with store.engine.connect() as conn:
        rows = {row.id: row for row in conn.execute(select(jobs))}
    later = int((T0 + timedelta(minutes=1)).timestamp() * 1_000_000)
    assert {job_id: row.next_run_time for job_id, row in rows.items()} == {
        "a": later, "b": later, "bad": None, "c": later, "d": later,
    }  # fmt: skip
    assert [row.lease_owner for row in rows.values()] == [None] * 5


def test_a_claim_records_one_running_row_per_claimed_job(
    started: SQLAlchemyJobStore,
) -> None:
    """Each job whose runs the claim submits gets its ``_running`` row, written in the batch;
    the refused job gets none."""
    store = started
    claimed = store.acquire_due_jobs(T0)
    running = store.tables.running
    with store.engine.connect() as conn:
        rows = conn.execute(select(running.c.job_id, running.c.node_id)).all()
    assert sorted(rows) == [(job_id, "here") for job_id in ("a", "b", "c", "d")]
    store.release_jobs(claimed)
