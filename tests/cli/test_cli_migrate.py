"""`obssched jobs migrate`: APScheduler 3.11's stored jobs become obssched's, run from the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from jobstores import jobfuncs
from jobstores.aps3_fixtures import EXPECTED_NEXT_RUN_TIMES, FUNC, aps_scheduler, aps_write_jobs
from sqlalchemy import create_engine, inspect, make_url, text

from obssched.cli import ExitCode
from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.testing import ManualClock, ManualScheduler

from .conftest import Workdir

pytestmark = [pytest.mark.realtime]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db_url(request: pytest.FixtureRequest, workdir: Workdir) -> str:
    """The URL of a database (SQLite file, or a fresh PostgreSQL schema as the search path)."""
    if request.param == "sqlite":
        return workdir.store
    schema = request.getfixturevalue("pg_schema")
    url = make_url(request.getfixturevalue("postgres_url"))
    url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture
def obssched_on(db_url: str) -> Iterator[Any]:
    """Starts manual obssched schedulers on the migrated database; shuts them down after."""
    started: list[ManualScheduler] = []

    def start(clock: ManualClock) -> ManualScheduler:
        sched = ManualScheduler(clock=clock, metrics=False, tracing=False, timezone="UTC")
        sched.add_jobstore(SQLAlchemyJobStore(url=db_url))
        sched.start()
        started.append(sched)
        return sched

    yield start
    for sched in started:
        if sched.running:
            sched.shutdown()


def migrate(workdir: Workdir, db_url: str, *options: str) -> Any:
    """Run ``obssched jobs migrate`` in a subprocess."""
    return workdir.run("jobs", "migrate", "--store", db_url, *options)


def test_migrated_jobs_run_at_their_times_and_stay_paused(
    workdir: Workdir, db_url: str, obssched_on: Any
) -> None:
    """APScheduler writes 4 jobs; after migrate, obssched has the same next run times and runs
    them, and the paused one stays paused."""
    stored = aps_write_jobs(db_url)
    assert stored == EXPECTED_NEXT_RUN_TIMES
    result = migrate(workdir, db_url)
    assert result.returncode == 0, result.stderr
    assert "4 converted, 0 already there, 0 could not be converted" in result.stdout
    assert "runs code stored in the database" in result.stderr

    jobfuncs.CALLS.clear()
    clock = ManualClock("2030-01-01T00:00:00+00:00")
    sched = obssched_on(clock)
    assert {job.id: job.next_run_time for job in sched.get_jobs()} == stored
    paused = sched.get_job("paused")
    assert (paused.kwargs, paused.misfire_grace_time, paused.coalesce, paused.max_instances) == (
        {"which": "paused"},
        60,
        False,
        2,
    )
    for hour in (1, 2, 3):
        clock.set(f"2030-01-01T0{hour}:00:00+00:00")
        sched.tick()
    assert jobfuncs.CALLS == [(("interval",), {}), (("date",), {}), (("cron",), {})]
    assert {job.id: job.next_run_time for job in sched.get_jobs()} == {
        "cron": EXPECTED_NEXT_RUN_TIMES["cron"].replace(day=2),
        "interval": EXPECTED_NEXT_RUN_TIMES["interval"].replace(hour=7),
        "paused": None,
    }


def test_running_migrate_twice_changes_nothing_more(workdir: Workdir, db_url: str) -> None:
    """The second run finds every job already there and writes nothing."""
    aps_write_jobs(db_url)
    assert migrate(workdir, db_url).returncode == 0
    again = migrate(workdir, db_url, "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert (report["converted"], sorted(report["already_present"])) == (
        [],
        ["cron", "date", "interval", "paused"],
    )


def test_dry_run_writes_nothing(workdir: Workdir, db_url: str) -> None:
    """--dry-run reports the jobs it would convert and creates no obssched table."""
    aps_write_jobs(db_url)
    result = migrate(workdir, db_url, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "4 would convert" in result.stdout
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert not inspect(conn).has_table("obssched_jobs")
    engine.dispose()


@pytest.mark.parametrize("drop", [False, True], ids=["kept", "dropped"])
def test_source_table_is_kept_unless_dropped(workdir: Workdir, db_url: str, drop: bool) -> None:
    """The APScheduler table stays unless --drop-source is given."""
    aps_write_jobs(db_url)
    result = migrate(workdir, db_url, *(["--drop-source"] if drop else []))
    assert result.returncode == 0, result.stderr
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert inspect(conn).has_table("apscheduler_jobs") is not drop
    engine.dispose()


def test_a_row_that_cannot_be_converted_is_named_and_blocks_the_drop(
    workdir: Workdir, db_url: str
) -> None:
    """A broken row is reported with its reason, the others are converted, nothing is dropped,
    and the exit code says it failed."""
    aps_write_jobs(db_url)
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE apscheduler_jobs SET job_state = :blob WHERE id = 'date'"),
            {"blob": b"not a pickle"},
        )
    result = migrate(workdir, db_url, "--drop-source")
    assert result.returncode == ExitCode.FAILURE
    assert "could not convert: date: Job 'date' cannot be unpickled" in result.stdout
    assert "3 converted" in result.stdout
    assert "1 APScheduler 3 job(s) could not be converted" in result.stderr
    with engine.connect() as conn:
        assert inspect(conn).has_table("apscheduler_jobs")
    engine.dispose()


def test_a_missing_source_table_is_a_clear_error(workdir: Workdir) -> None:
    """Migrating from a database without the table says so, naming the table."""
    result = migrate(workdir, workdir.store, "--source-table", "old_jobs")
    assert result.returncode == ExitCode.FAILURE
    assert "table 'old_jobs'" in result.stderr
    assert "there is no such table" in result.stderr


def test_without_the_apscheduler_package_migrate_says_what_to_install(
    workdir: Workdir, db_url: str
) -> None:
    """Unpickling APScheduler's triggers needs it: the error says so and how to install it."""
    aps_write_jobs(db_url)
    script = (
        "import sys; sys.modules['apscheduler'] = None; from obssched.cli import main; "
        f"sys.exit(main(['jobs', 'migrate', '--store', {db_url!r}]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=workdir.path,
        env=workdir.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert "needs the apscheduler package (3.x) importable here" in result.stderr
    assert "pip install 'apscheduler>=3.11,<4'" in result.stderr


def test_the_other_commands_refuse_an_unmigrated_database_and_name_migrate(
    workdir: Workdir, db_url: str
) -> None:
    """`obssched jobs list` on a database with APScheduler 3 jobs says to migrate them first."""
    aps_write_jobs(db_url)
    result = workdir.run("jobs", "list", "--store", db_url)
    assert result.returncode == ExitCode.STORE_UNAVAILABLE
    assert "holds 4 APScheduler 3 job(s) in table 'apscheduler_jobs'" in result.stderr
    assert "obssched jobs migrate --store" in result.stderr


def test_arguments_json_cannot_hold_are_named_as_the_reason(workdir: Workdir, db_url: str) -> None:
    """A job whose argument JSON cannot store is left out, with the argument named."""
    sched = aps_scheduler(db_url)
    sched.add_job(FUNC, "cron", hour=3, args=[complex(1, 2)], id="complex")
    sched.shutdown(wait=False)
    result = migrate(workdir, db_url)
    assert result.returncode == ExitCode.FAILURE
    assert "could not convert: complex: args[0] = (1+2j) (complex) cannot be stored as JSON" in (
        result.stdout
    )
