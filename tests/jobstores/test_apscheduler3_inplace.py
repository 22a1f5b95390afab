"""APScheduler 3's job table: never passed over in silence, and usable in place with pickle."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text

from jobstores import jobfuncs
from jobstores.aps3_fixtures import (
    EXPECTED_NEXT_RUN_TIMES,
    FUNC,
    START,
    aps_read_jobs,
    aps_scheduler,
    aps_write_jobs,
)
from obssched.exceptions import ObsschedError, UnmigratedJobsError
from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.testing import ManualClock, ManualScheduler


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    """A database URL and the schema to use in it (a fresh one on PostgreSQL)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.sqlite'}", None
    return request.getfixturevalue("postgres_url"), request.getfixturevalue("pg_schema")


@pytest.fixture
def start_obssched() -> Iterator[Any]:
    """Starts manual obssched schedulers on stores; shuts them all down afterwards."""
    started: list[ManualScheduler] = []

    def start(store: SQLAlchemyJobStore, clock: ManualClock | None = None) -> ManualScheduler:
        clock = clock or ManualClock("2030-01-01T00:00:00+00:00")
        sched = ManualScheduler(clock=clock, metrics=False, tracing=False, timezone="UTC")
        sched.add_jobstore(store)
        sched.start()
        started.append(sched)
        return sched

    yield start
    for sched in started:
        if sched.running:
            sched.shutdown()


def in_place(url: str, schema: str | None) -> SQLAlchemyJobStore:
    """A store on APScheduler 3's table, in place."""
    return SQLAlchemyJobStore(
        url, tablename="apscheduler_jobs", serializer="pickle", tableschema=schema
    )


def table_names(url: str, schema: str | None) -> set[str]:
    """The tables in the database (or schema)."""
    engine = create_engine(url)
    with engine.connect() as conn:
        names = set(inspect(conn).get_table_names(schema=schema))
    engine.dispose()
    return names


@pytest.mark.parametrize(
    "options",
    [{}, {"tablename": "apscheduler_jobs"}, {"serializer": "pickle"}],
    ids=["defaults", "json-on-its-table", "pickle-on-another-table"],
)
def test_a_store_that_would_not_read_the_aps3_table_refuses_to_start(
    database: tuple[str, str | None], options: dict[str, Any], start_obssched: Any
) -> None:
    """The error names the table and the migrate command, and no obssched table is created."""
    url, schema = database
    aps_write_jobs(url, schema)
    store = SQLAlchemyJobStore(url, tableschema=schema, **options)
    with pytest.raises(UnmigratedJobsError) as caught:
        start_obssched(store)
    assert isinstance(caught.value, ObsschedError)
    assert isinstance(caught.value, RuntimeError)
    assert (caught.value.table, caught.value.rows) == ("apscheduler_jobs", 4)
    assert "'apscheduler_jobs'" in str(caught.value)
    assert "obssched jobs migrate --store" in str(caught.value)
    assert table_names(url, schema) == {"apscheduler_jobs"}


def test_an_empty_aps3_table_does_not_block_the_defaults(
    database: tuple[str, str | None], start_obssched: Any
) -> None:
    """Nothing would be lost: a store with default options starts beside an empty one."""
    url, schema = database
    aps_scheduler(url, schema).shutdown()
    sched = start_obssched(SQLAlchemyJobStore(url, tableschema=schema))
    assert sched.get_jobs() == []


def test_in_place_obssched_runs_what_aps3_wrote_and_aps3_reads_back_what_obssched_saved(
    database: tuple[str, str | None], start_obssched: Any
) -> None:
    """APScheduler writes 4 jobs; obssched runs them in place at their times, paused stays
    paused; APScheduler then reads the same next run times obssched saved."""
    url, schema = database
    stored = aps_write_jobs(url, schema)
    jobfuncs.CALLS.clear()
    clock = ManualClock("2030-01-01T00:00:00+00:00")
    sched = start_obssched(in_place(url, schema), clock)
    assert {job.id: job.next_run_time for job in sched.get_jobs()} == stored
    for hour in (1, 2, 3):
        clock.set(f"2030-01-01T0{hour}:00:00+00:00")
        sched.tick()
    assert jobfuncs.CALLS == [(("interval",), {}), (("date",), {}), (("cron",), {})]
    saved = {job.id: job.next_run_time for job in sched.get_jobs()}
    assert saved == {
        "cron": EXPECTED_NEXT_RUN_TIMES["cron"].replace(day=2),
        "interval": EXPECTED_NEXT_RUN_TIMES["interval"].replace(hour=7),
        "paused": None,
    }
    sched.shutdown()
    assert {job_id: found[0] for job_id, found in aps_read_jobs(url, schema).items()} == saved
    assert table_names(url, schema) == {"apscheduler_jobs"}


def test_jobs_obssched_adds_in_place_read_the_same_in_aps3(
    database: tuple[str, str | None], start_obssched: Any
) -> None:
    """Trigger, next run time and arguments of obssched-added jobs are what APScheduler reads."""
    url, schema = database
    sched = start_obssched(in_place(url, schema))
    sched.add_job(FUNC, "cron", day_of_week="mon-fri", hour=9, start_date=START, id="c", args=[1])
    sched.add_job(FUNC, "interval", minutes=90, start_date=START, id="i", kwargs={"k": (1, 2)})
    sched.add_job(FUNC, "date", run_date=START.replace(hour=5), id="d")
    sched.add_job(FUNC, "cron", hour=1, id="p", next_run_time=None)
    written = {job.id: (job.next_run_time, str(job.trigger), job.args) for job in sched.get_jobs()}
    sched.shutdown()
    assert aps_read_jobs(url, schema) == written


def test_the_aps3_table_is_written_with_aps3_column_values(
    database: tuple[str, str | None], start_obssched: Any
) -> None:
    """next_run_time is float epoch seconds, as APScheduler 3.11 writes it; a paused job NULL."""
    url, schema = database
    sched = start_obssched(in_place(url, schema))
    sched.add_job(FUNC, "date", run_date=START.replace(microsecond=250_000), id="d")
    sched.add_job(FUNC, "cron", hour=1, id="p", next_run_time=None)
    sched.shutdown()
    engine = create_engine(url)
    table = f'"{schema}".apscheduler_jobs' if schema else "apscheduler_jobs"
    with engine.connect() as conn:
        rows = dict(conn.execute(text(f"SELECT id, next_run_time FROM {table}")).all())
    engine.dispose()
    assert rows == {"d": START.timestamp() + 0.25, "p": None}


def test_without_the_apscheduler_package_in_place_rows_are_reported_unloadable(
    database: tuple[str, str | None], tmp_path: Path
) -> None:
    """The row stays, and its load error says which package to install."""
    url, schema = database
    aps_write_jobs(url, schema)
    script = f"""
import sys
sys.modules["apscheduler"] = None
from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.testing import ManualScheduler
store = SQLAlchemyJobStore({url!r}, tablename="apscheduler_jobs", serializer="pickle",
                           tableschema={schema!r})
sched = ManualScheduler(metrics=False, tracing=False, timezone="UTC")
sched.add_jobstore(store)
sched.start()
print(len(sched.get_jobs()), store.get_unloadable_jobs()[0].error)
sched.shutdown()
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("0 ")
    assert "needs the apscheduler package (3.x) importable here" in result.stdout


@pytest.mark.postgresql
def test_a_cluster_cannot_share_the_aps3_table_in_place(
    postgres_url: str, pg_schema: str, start_obssched: Any
) -> None:
    """The table has no lease columns: the error says so and points at migrate."""
    aps_write_jobs(postgres_url, pg_schema)
    store = SQLAlchemyJobStore(
        postgres_url,
        tablename="apscheduler_jobs",
        serializer="pickle",
        tableschema=pg_schema,
        cluster=True,
    )
    with pytest.raises(ValueError, match="no lease columns; migrate it"):
        start_obssched(store)


def test_an_aps3_table_in_place_is_not_taken_by_its_scheduler(
    database: tuple[str, str | None], start_obssched: Any
) -> None:
    """In place no owner row is written (APScheduler 3 would not honour it, and the database
    keeps APScheduler 3's layout): a second obssched scheduler is not refused."""
    url, schema = database
    aps_write_jobs(url, schema)
    first = start_obssched(in_place(url, schema))
    second = start_obssched(in_place(url, schema))
    assert first.running
    assert second.running
    assert table_names(url, schema) == {"apscheduler_jobs"}
