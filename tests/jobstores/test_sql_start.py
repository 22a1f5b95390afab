"""What the SQL job store reads when a scheduler starts on it: the next run time and the jobs'
labels, never the jobs themselves (counted by the job rows decoded, not timed)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from obssched.jobstores._sql import rows as rows_module
from obssched.jobstores._sql.rows import NativeRows
from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.testing import InlineExecutor, ManualClock, ManualScheduler

FUNC = "jobstores.jobfuncs:record"
JOBS = 30


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the job rows decoded into jobs from now on, in order."""
    seen: list[str] = []
    real = rows_module.decode_job

    def counting(state: bytes, *args: Any) -> Any:
        job = real(state, *args)
        seen.append(job.id)
        return job

    monkeypatch.setattr(rows_module, "decode_job", counting)
    return seen


@pytest.fixture
def stored(tmp_path: Path, clock: ManualClock) -> Iterator[Callable[[], SQLAlchemyJobStore]]:
    """Fill a SQLite file with interval, cron and date jobs (job ``i`` named ``name-i``; the
    earliest, ``job-0``, due in two hours); yield a maker of new, unstarted stores on it."""
    url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    filler = ManualScheduler(clock=clock, metrics=False, tracing=False, timezone="UTC")
    filler.add_jobstore(SQLAlchemyJobStore(url=url))
    filler.add_executor(InlineExecutor(), "other")
    filler.start()
    now = clock.now()
    for index in range(JOBS):
        options: dict[str, Any] = {"id": f"job-{index}", "name": f"name-{index}"}
        if index % 3 == 0:
            options.update(trigger="interval", hours=2 + index, executor="other")
        elif index % 3 == 1:
            options.update(trigger="cron", hour=(index % 20) + 2)
        else:
            options.update(trigger="date", run_date=now + timedelta(hours=1 + index))
        filler.add_job(FUNC, args=(index, "payload"), **options)
    filler.shutdown()
    made: list[SQLAlchemyJobStore] = []

    def make() -> SQLAlchemyJobStore:
        store = SQLAlchemyJobStore(url=url)
        made.append(store)
        return store

    yield make
    for store in made:
        store.engine.dispose()


def expected_labels() -> list[tuple[str, str, str]]:
    """The ``(id, name, executor)`` of every job the ``stored`` fixture writes."""
    return sorted(
        (f"job-{i}", f"name-{i}", "other" if i % 3 == 0 else "default") for i in range(JOBS)
    )


def test_a_start_and_its_first_step_decode_no_job(
    stored: Callable[[], SQLAlchemyJobStore], clock: ManualClock, decoded: list[str]
) -> None:
    """Starting on a store of jobs none of which is due, and the first scheduling step,
    decode no job row: the next wakeup comes from the next run time column alone."""
    scheduler = ManualScheduler(
        clock=clock, metrics=False, tracing=False, timezone="UTC", heartbeat_interval=86_400
    )
    scheduler.add_jobstore(stored())
    scheduler.start()
    wait = scheduler.tick()
    scheduler.shutdown()
    assert decoded == []
    assert wait == pytest.approx(timedelta(hours=2).total_seconds())


def test_get_job_labels_lists_every_job_without_decoding_any(
    stored: Callable[[], SQLAlchemyJobStore], clock: ManualClock, decoded: list[str]
) -> None:
    """get_job_labels() returns each job's id, name and executor and decodes no job."""
    store = stored()
    store.start(None, "default")
    labels = store.get_job_labels()
    store.shutdown()
    assert sorted(labels) == expected_labels()
    assert decoded == []


def test_get_job_labels_agrees_with_the_loaded_jobs(
    stored: Callable[[], SQLAlchemyJobStore],
) -> None:
    """The labels are those of the jobs get_all_jobs() loads."""
    store = stored()
    store.start(None, "default")
    labels = store.get_job_labels()
    loaded = [(job.id, job.name, job.executor) for job in store.get_all_jobs()]
    store.shutdown()
    assert sorted(labels) == sorted(loaded)


@pytest.mark.parametrize(
    ("dialect", "version"),
    [
        pytest.param("sqlite", (3, 40, 1), id="sqlite-json-functions"),
        pytest.param("sqlite", (3, 37, 2), id="old-sqlite-python"),
        pytest.param("postgresql", (16, 1), id="other-database-python"),
    ],
)
def test_both_ways_of_reading_labels_agree(
    stored: Callable[[], SQLAlchemyJobStore], dialect: str, version: tuple[int, ...]
) -> None:
    """Labels read by SQLite's JSON functions and labels parsed in Python are the same."""
    store = stored()
    layout = NativeRows(store.tables.jobs, "json", 5)
    query = layout.labels_query(dialect, version)
    with store.engine.connect() as conn:
        found = conn.execute(query).all()
    assert len(found[0]) == (4 if version >= (3, 38) and dialect == "sqlite" else 2)
    assert sorted(layout.labels(found)) == expected_labels()


@pytest.mark.parametrize(
    "state",
    [
        b"not json at all",
        b"[1, 2]",
        b'{"version": 99, "name": "n", "executor": "default"}',
        b'{"version": 1, "executor": "default"}',
    ],
    ids=["not-json", "not-an-object", "newer-version", "no-name"],
)
@pytest.mark.parametrize("version", [(3, 40, 1), (3, 37, 2)], ids=["sql", "python"])
def test_rows_whose_labels_cannot_be_read_are_left_out(
    stored: Callable[[], SQLAlchemyJobStore],
    state: bytes,
    version: tuple[int, ...],
) -> None:
    """A row whose state cannot be read as a job document is left out of the labels, both
    ways, and the other rows are still listed."""
    store = stored()
    jobs = store.tables.jobs
    with store.engine.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.id == "job-4").values(state=state))
    layout = NativeRows(jobs, "json", 5)
    with store.engine.connect() as conn:
        found = conn.execute(layout.labels_query("sqlite", version)).all()
    labels = layout.labels(found)
    assert sorted(labels) == [label for label in expected_labels() if label[0] != "job-4"]


def test_get_job_labels_leaves_out_a_job_whose_function_is_gone(
    stored: Callable[[], SQLAlchemyJobStore], clock: ManualClock
) -> None:
    """A row whose callable no longer imports is found at start and not labelled."""
    store = stored()
    jobs = store.tables.jobs
    with store.engine.begin() as conn:
        state = conn.execute(select(jobs.c.state).where(jobs.c.id == "job-5")).scalar_one()
        gone = "jobstores.jobfuncs:gone"
        conn.execute(
            update(jobs)
            .where(jobs.c.id == "job-5")
            .values(func_ref=gone, state=state.replace(FUNC.encode(), gone.encode()))
        )
    scheduler = ManualScheduler(clock=clock, metrics=False, tracing=False, timezone="UTC")
    scheduler.add_jobstore(store)
    scheduler.start()
    labels = store.get_job_labels()
    scheduler.shutdown()
    assert store.unloadable_count() == 1
    assert sorted(labels) == [label for label in expected_labels() if label[0] != "job-5"]


@pytest.mark.postgresql
def test_get_job_labels_on_postgresql(
    postgres_url: str, pg_schema: str, clock: ManualClock, decoded: list[str]
) -> None:
    """On PostgreSQL the labels are parsed from each row's state, and no job is decoded."""
    scheduler = ManualScheduler(clock=clock, metrics=False, tracing=False, timezone="UTC")
    store = SQLAlchemyJobStore(url=postgres_url, tableschema=pg_schema)
    scheduler.add_jobstore(store)
    scheduler.start()
    for index in range(3):
        scheduler.add_job(FUNC, "interval", hours=1, id=f"job-{index}", name=f"name-{index}")
    decoded.clear()
    labels = store.get_job_labels()
    scheduler.shutdown()
    assert sorted(labels) == [(f"job-{i}", f"name-{i}", "default") for i in range(3)]
    assert decoded == []
