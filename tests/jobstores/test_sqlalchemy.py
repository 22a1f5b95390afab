"""What the SQL job store adds to the contract: unloadable rows, schema versions, serializers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, create_engine, func, make_url, select, update

from obssched.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_REMOVED
from obssched.exceptions import SerializationError
from obssched.jobstores.sqlalchemy import SchemaVersionError, SQLAlchemyJobStore
from obssched.testing import EventRecorder, ManualClock, ManualScheduler

T0 = datetime(2024, 1, 1, tzinfo=UTC)
FUNC = "jobstores.jobfuncs:record"


class Opaque:
    """A value JSON cannot express."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.value == self.value

    def __hash__(self) -> int:
        return self.value


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A SQLite file URL."""
    return f"sqlite:///{tmp_path / 'jobs.sqlite'}"


@pytest.fixture
def run_scheduler(clock: ManualClock) -> Iterator[Any]:
    """Starts manual schedulers on stores and shuts them all down afterwards."""
    started: list[ManualScheduler] = []

    def start(store: SQLAlchemyJobStore) -> ManualScheduler:
        sched = ManualScheduler(clock=clock, metrics=False, tracing=False, timezone="UTC")
        sched.add_jobstore(store)
        sched.start()
        started.append(sched)
        return sched

    yield start
    for sched in started:
        if sched.running:
            sched.shutdown()


def break_function_ref(store: SQLAlchemyJobStore, job_id: str, ref: str) -> None:
    """Rewrite a stored job as if its function had been renamed to ``ref``."""
    jobs = store.tables.jobs
    with store.engine.begin() as conn:
        state = conn.execute(select(jobs.c.state).where(jobs.c.id == job_id)).scalar_one()
        state = state.replace(FUNC.encode(), ref.encode())
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(func_ref=ref, state=state))


def count_rows(store: SQLAlchemyJobStore) -> int:
    """Rows in the jobs table, loadable or not."""
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(store.tables.jobs)).scalar_one())


def test_a_renamed_function_leaves_the_row_and_reports_it_once(
    db_url: str, run_scheduler: Any, clock: ManualClock
) -> None:
    """A row whose function is gone stays, is counted, listed, and reported once."""
    first = run_scheduler(SQLAlchemyJobStore(url=db_url))
    first.add_job(FUNC, "interval", seconds=10, id="renamed")
    first.add_job(FUNC, "interval", seconds=10, id="fine")
    first.shutdown()
    store = SQLAlchemyJobStore(url=db_url)
    break_function_ref(store, "renamed", "jobstores.jobfuncs:gone")

    sched = ManualScheduler(clock=clock, metrics=False, tracing=False, timezone="UTC")
    recorder = EventRecorder(sched)
    sched.add_jobstore(store)
    sched.start()
    for _ in range(3):
        clock.advance(10)
        sched.tick()
    errors = recorder.of(EVENT_JOB_ERROR)
    assert [(event.job_id, type(event.exception)) for event in errors] == [("renamed", LookupError)]
    assert len(recorder.of(EVENT_JOB_EXECUTED)) == 3
    assert store.unloadable_count() == 1
    assert [job.id for job in store.get_unloadable_jobs()] == ["renamed"]
    assert count_rows(store) == 2
    sched.shutdown()


def test_malformed_state_is_reported_not_deleted(db_url: str, run_scheduler: Any) -> None:
    """A row whose state is not valid job data is reported and left in place."""
    store = SQLAlchemyJobStore(url=db_url)
    sched = run_scheduler(store)
    sched.add_job(FUNC, "interval", seconds=10, id="bad")
    jobs = store.tables.jobs
    with store.engine.begin() as conn:
        conn.execute(update(jobs).values(state=b"{not json"))
    assert store.lookup_job("bad") is None
    assert store.get_all_jobs() == []
    assert store.get_next_run_time() is None
    assert (store.unloadable_count(), count_rows(store)) == (1, 1)


def test_unserializable_arguments_are_refused_before_writing(
    db_url: str, run_scheduler: Any
) -> None:
    """The error names the argument and the pickle opt-in, and nothing is stored."""
    store = SQLAlchemyJobStore(url=db_url)
    sched = run_scheduler(store)
    with pytest.raises(SerializationError, match=r"kwargs\['thing'\].*serializer=\"pickle\""):
        sched.add_job(FUNC, "interval", seconds=10, id="x", kwargs={"thing": Opaque(1)})
    assert count_rows(store) == 0


def test_pickle_is_an_explicit_opt_in(db_url: str, run_scheduler: Any) -> None:
    """With serializer="pickle" arbitrary arguments round-trip; a JSON store refuses them."""
    store = SQLAlchemyJobStore(url=db_url, serializer="pickle")
    sched = run_scheduler(store)
    sched.add_job(FUNC, "interval", seconds=10, id="p", args=[Opaque(3)])
    found = store.lookup_job("p")
    assert found is not None
    assert found.args == (Opaque(3),)
    sched.shutdown()
    json_store = SQLAlchemyJobStore(url=db_url)
    run_scheduler(json_store)
    assert json_store.lookup_job("p") is None
    assert "pickle" in str(json_store.get_unloadable_jobs()[0].error)


def test_a_newer_schema_is_refused(db_url: str, run_scheduler: Any) -> None:
    """A table made by a newer obssched raises a clear error instead of being misread."""
    store = SQLAlchemyJobStore(url=db_url)
    run_scheduler(store).shutdown()
    meta = store.tables.meta
    with store.engine.begin() as conn:
        conn.execute(update(meta).where(meta.c.name == "schema_version").values(value="99"))
    with pytest.raises(SchemaVersionError, match="version 99"):
        run_scheduler(SQLAlchemyJobStore(url=db_url))


def test_sqlite_refuses_cluster_mode(db_url: str) -> None:
    """cluster=True on SQLite fails at once with the reason."""
    with pytest.raises(ValueError, match="needs PostgreSQL"):
        SQLAlchemyJobStore(url=db_url, cluster=True)


def test_a_store_needs_a_url_or_an_engine() -> None:
    """Without a url or an engine the store cannot be made."""
    with pytest.raises(ValueError, match="engine"):
        SQLAlchemyJobStore()


def test_sqlite_uses_wal(db_url: str, run_scheduler: Any) -> None:
    """A SQLite file store runs in WAL mode, so readers do not block the scheduler."""
    store = SQLAlchemyJobStore(url=db_url)
    run_scheduler(store)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_scheduler_remove_job_removes_a_row_that_cannot_be_loaded(
    db_url: str, run_scheduler: Any
) -> None:
    """scheduler.remove_job() removes a stored row that cannot be loaded, as APScheduler's
    does, and says so with EVENT_JOB_REMOVED."""
    store = SQLAlchemyJobStore(url=db_url)
    sched = run_scheduler(store)
    sched.add_job(FUNC, "interval", seconds=10, id="bad")
    with store.engine.begin() as conn:
        conn.execute(update(store.tables.jobs).values(state=b"{not json"))
    recorder = EventRecorder(sched)
    sched.remove_job("bad")
    assert count_rows(store) == 0
    assert [e.job_id for e in recorder.of(EVENT_JOB_REMOVED)] == ["bad"]


@pytest.mark.parametrize("url", ["sqlite://", "sqlite+pysqlite:///:memory:"])
def test_in_memory_sqlite_urls_are_recognised(url: str, run_scheduler: Any) -> None:
    """An in-memory SQLite URL, with or without a driver name, is one database for every
    thread: a job added from another thread is seen by the loop."""
    store = SQLAlchemyJobStore(url=url)
    sched = run_scheduler(store)
    adder = threading.Thread(
        target=sched.add_job, args=(FUNC, "interval"), kwargs={"seconds": 10, "id": "j"}
    )
    adder.start()
    adder.join()
    assert [job.id for job in store.get_all_jobs()] == ["j"]


ENGINE_FOR_REFERENCE = None
METADATA_FOR_REFERENCE = MetaData()


def test_apscheduler_constructor_forms(db_url: str, run_scheduler: Any) -> None:
    """url may be a SQLAlchemy URL, and engine and metadata "module:attribute" references, as
    APScheduler 3.11 accepts them."""
    global ENGINE_FOR_REFERENCE
    store = SQLAlchemyJobStore(url=make_url(db_url))
    assert store.engine.url.database == make_url(db_url).database
    store.engine.dispose()
    ENGINE_FOR_REFERENCE = create_engine(db_url)  # type: ignore[assignment]
    referenced = SQLAlchemyJobStore(
        engine=f"{__name__}:ENGINE_FOR_REFERENCE", metadata=f"{__name__}:METADATA_FOR_REFERENCE"
    )
    assert referenced.engine is ENGINE_FOR_REFERENCE
    assert referenced.tables.jobs.metadata is METADATA_FOR_REFERENCE
    run_scheduler(referenced).add_job(FUNC, "interval", seconds=10, id="ref")
    assert count_rows(referenced) == 1


def test_in_memory_sqlite_works(run_scheduler: Any, clock: ManualClock) -> None:
    """sqlite:// (in memory) keeps one database across threads."""
    store = SQLAlchemyJobStore(url="sqlite://")
    sched = run_scheduler(store)
    sched.add_job(FUNC, "interval", seconds=10, id="mem")
    clock.advance(timedelta(seconds=10))
    sched.tick()
    assert store.count_jobs() == (1, 0)
