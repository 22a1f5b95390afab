"""Administering a SQL store's jobs as plain data: nothing imported, every row listed."""

from __future__ import annotations

import base64
import json
import pickle
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, event, insert, select, update

from obssched.exceptions import JobLookupError
from obssched.jobstores._sql.admin import (
    PICKLED_ARGUMENTS,
    JobChangeError,
    StoreAdmin,
    UndecodableJobError,
)
from obssched.jobstores._sql.aps3_table import Aps3Rows, define_aps3_table
from obssched.jobstores._sql.changes import read_change_token
from obssched.jobstores._sql.codec import to_micros
from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.testing import ManualClock, ManualScheduler
from obssched.triggers.interval import IntervalTrigger

FUNC = "jobstores.jobfuncs:record"
GONE = "nowhere_to_be_found.tasks:report"
NOW = datetime(2024, 1, 1, tzinfo=UTC)

StoreFactory = Callable[..., SQLAlchemyJobStore]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Creates stores on one set of tables (an SQLite file, or a PostgreSQL schema)."""
    if request.param == "sqlite":
        options: dict[str, Any] = {"url": f"sqlite:///{tmp_path / 'jobs.sqlite'}"}
    else:
        options = {
            "url": request.getfixturevalue("postgres_url"),
            "tableschema": request.getfixturevalue("pg_schema"),
        }
    return lambda **extra: SQLAlchemyJobStore(**options, **extra)


@pytest.fixture
def scheduler(make_store: StoreFactory) -> Iterator[ManualScheduler]:
    """A started manual scheduler on a fresh SQL store, at 2024-01-01 00:00 UTC."""
    sched = ManualScheduler(
        clock=ManualClock(NOW.isoformat()), metrics=False, tracing=False, timezone="UTC"
    )
    sched.add_jobstore(make_store())
    sched.start()
    yield sched
    sched.shutdown()


@pytest.fixture
def store(scheduler: ManualScheduler) -> SQLAlchemyJobStore:
    """The scheduler's store."""
    found = scheduler.context.jobstores["default"]
    assert isinstance(found, SQLAlchemyJobStore)
    return found


@pytest.fixture
def admin(store: SQLAlchemyJobStore) -> StoreAdmin:
    """An administrator of the same tables, as ``obssched jobs`` opens them."""
    opened = StoreAdmin(store.engine, store.tables)
    opened.prepare()
    return opened


def set_state(
    store: SQLAlchemyJobStore, job_id: str, edit: Callable[[dict[str, Any]], Any]
) -> None:
    """Rewrite a stored job's JSON state with ``edit`` (which may return raw bytes instead)."""
    jobs = store.tables.jobs
    with store.engine.begin() as conn:
        state = conn.execute(select(jobs.c.state).where(jobs.c.id == job_id)).scalar_one()
        data = json.loads(state)
        result = edit(data)
        raw = result if isinstance(result, bytes) else json.dumps(data).encode()
        func = data.get("func") if isinstance(data, dict) else None
        values: dict[str, Any] = {"state": raw}
        if isinstance(func, str):
            values["func_ref"] = func
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))


def rename_function(store: SQLAlchemyJobStore, job_id: str) -> None:
    """Make the stored job's function one that imports nowhere."""
    set_state(store, job_id, lambda data: data.update(func=GONE))


def change_token(store: SQLAlchemyJobStore) -> str | None:
    with store.engine.connect() as conn:
        return read_change_token(conn, store.tables)


def test_lists_jobs_whose_function_does_not_import(
    scheduler: ManualScheduler, store: SQLAlchemyJobStore, admin: StoreAdmin
) -> None:
    """A job whose function imports nowhere is listed with its name, trigger and next run."""
    scheduler.add_job(FUNC, "interval", minutes=15, id="rates", name="Exchange rates")
    rename_function(store, "rates")
    [job] = admin.list_jobs()
    assert (job.id, job.name, job.func_ref) == ("rates", "Exchange rates", GONE)
    assert job.trigger == "interval[0:15:00]"
    assert job.next_run_time == NOW + timedelta(minutes=15)
    assert (job.loadable, job.paused, job.state_version) == (True, False, 1)


def test_lists_every_field_of_a_job(scheduler: ManualScheduler, admin: StoreAdmin) -> None:
    """get_job gives the job's options and decoded arguments."""
    scheduler.add_job(
        FUNC,
        "cron",
        hour=3,
        id="nightly",
        args=[1, "a"],
        kwargs={"when": NOW},
        max_instances=2,
        misfire_grace_time=30,
        coalesce=False,
        timeout=60,
    )
    job = admin.get_job("nightly")
    assert job is not None
    assert job.trigger == "cron[hour='3']"
    assert (job.args, job.kwargs) == ((1, "a"), {"when": NOW})
    assert (job.max_instances, job.misfire_grace_time, job.coalesce, job.timeout) == (
        2,
        30,
        False,
        60,
    )
    assert (job.executor, job.recover) == ("default", False)


def test_lists_paused_jobs_last(scheduler: ManualScheduler, admin: StoreAdmin) -> None:
    """Jobs come by next run time, paused ones last."""
    scheduler.add_job(FUNC, "interval", hours=2, id="later")
    scheduler.add_job(FUNC, "interval", hours=1, id="paused", next_run_time=None)
    scheduler.add_job(FUNC, "interval", hours=1, id="sooner")
    assert [job.id for job in admin.list_jobs()] == ["sooner", "later", "paused"]
    assert admin.list_jobs()[-1].paused


UNDECODABLE: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "not-json": (lambda data: b"\x80 not json", "its state is not JSON"),
    "not-an-object": (lambda data: b"[1, 2]", "its state is not a JSON object (list)"),
    "newer-version": (
        lambda data: data.update(version=99),
        "written by a newer obssched (job data version 99; this one reads up to 1)",
    ),
    "missing-field": (lambda data: data.pop("executor"), "its state lacks 'executor'"),
    "unknown-trigger": (
        lambda data: data["trigger"].update(type="lunar"),
        "its trigger cannot be read (ValueError: Unknown trigger type 'lunar'",
    ),
    "trigger-not-an-object": (
        lambda data: data.update(trigger=7),
        "its trigger is not a JSON object (7)",
    ),
    "bad-arguments": (
        lambda data: data.update(
            arguments={"args": [{"__obssched__": ["lunar", 1]}], "kwargs": {}}
        ),
        "its arguments cannot be read",
    ),
}


@pytest.mark.parametrize("breakage", list(UNDECODABLE), ids=list(UNDECODABLE))
def test_an_undecodable_row_is_listed_with_the_reason(
    scheduler: ManualScheduler, store: SQLAlchemyJobStore, admin: StoreAdmin, breakage: str
) -> None:
    """A row that cannot be decoded is listed, not loadable, with why."""
    edit, reason = UNDECODABLE[breakage]
    scheduler.add_job(FUNC, "interval", hours=1, id="broken")
    scheduler.add_job(FUNC, "interval", hours=2, id="fine")
    set_state(store, "broken", edit)
    broken, fine = admin.list_jobs()
    assert broken.id == "broken"
    assert not broken.loadable
    assert broken.problem is not None
    assert reason in broken.problem
    assert broken.next_run_time == NOW + timedelta(hours=1)
    assert fine.loadable


@pytest.mark.parametrize("action", ["pause", "resume", "run-now"])
def test_an_undecodable_row_cannot_be_changed_and_the_error_says_why(
    scheduler: ManualScheduler, store: SQLAlchemyJobStore, admin: StoreAdmin, action: str
) -> None:
    """pause, resume and run-now refuse a row they cannot decode, naming the job and why."""
    scheduler.add_job(FUNC, "interval", hours=1, id="broken")
    set_state(store, "broken", lambda data: data.update(version=99))
    change = {
        "pause": lambda: admin.pause("broken"),
        "resume": lambda: admin.resume("broken", NOW),
        "run-now": lambda: admin.run_now("broken", NOW),
    }[action]
    with pytest.raises(UndecodableJobError, match=f"Cannot {action} job 'broken': it was written"):
        change()
    assert admin.get_job("broken") == admin.list_jobs()[0]


def test_an_undecodable_row_can_be_removed(
    scheduler: ManualScheduler, store: SQLAlchemyJobStore, admin: StoreAdmin
) -> None:
    """remove deletes a row that cannot be decoded."""
    scheduler.add_job(FUNC, "interval", hours=1, id="broken")
    set_state(store, "broken", lambda data: b"garbage")
    admin.remove("broken")
    assert admin.list_jobs() == []


@pytest.mark.parametrize(
    "change",
    [
        lambda admin: admin.remove("nope"),
        lambda admin: admin.pause("nope"),
        lambda admin: admin.resume("nope", NOW),
        lambda admin: admin.run_now("nope", NOW),
    ],
    ids=["remove", "pause", "resume", "run-now"],
)
def test_a_missing_job_is_a_lookup_error(
    admin: StoreAdmin, change: Callable[[StoreAdmin], Any]
) -> None:
    """Every change of an id that is not stored raises JobLookupError."""
    with pytest.raises(JobLookupError, match="nope"):
        change(admin)


def test_get_job_of_a_missing_id_is_none(admin: StoreAdmin) -> None:
    """get_job returns None for an id that is not stored."""
    assert admin.get_job("nope") is None


def test_pause_is_what_the_store_then_loads(
    scheduler: ManualScheduler, store: SQLAlchemyJobStore, admin: StoreAdmin
) -> None:
    """A paused row loads as a paused job, its other fields untouched."""
    scheduler.add_job(FUNC, "interval", hours=1, id="job", args=[1])
    paused = admin.pause("job")
    assert paused.paused
    job = store.lookup_job("job")
    assert job is not None
    assert job.next_run_time is None
    assert job.args == (1,)


def test_run_now_makes_the_job_due_now(
    scheduler: ManualScheduler, store: SQLAlchemyJobStore, admin: StoreAdmin
) -> None:
    """run-now makes even a paused job due at the given time, where the store finds it due."""
    scheduler.add_job(FUNC, "interval", hours=1, id="job", next_run_time=None)
    moment = NOW + timedelta(seconds=5)
    assert admin.run_now("job", moment).next_run_time == moment
    assert [job.id for job in store.get_due_jobs(moment)] == ["job"]
    job = store.lookup_job("job")
    assert job is not None
    assert job.next_run_time == moment


def test_resume_takes_the_next_fire_time_from_now(
    scheduler: ManualScheduler, store: SQLAlchemyJobStore, admin: StoreAdmin
) -> None:
    """resume sets the trigger's next fire time after the given time."""
    scheduler.add_job(FUNC, IntervalTrigger(hours=1, start_date=NOW), id="job")
    admin.pause("job")
    resumed = admin.resume("job", NOW + timedelta(minutes=90))
    assert resumed is not None
    assert resumed.next_run_time == NOW + timedelta(hours=2)
    job = store.lookup_job("job")
    assert job is not None
    assert job.next_run_time == NOW + timedelta(hours=2)


def test_resume_removes_a_job_whose_trigger_is_done(
    scheduler: ManualScheduler, admin: StoreAdmin
) -> None:
    """A job whose trigger will not fire again is removed by resume, as resume_job does."""
    trigger = IntervalTrigger(minutes=1, start_date=NOW, end_date=NOW + timedelta(minutes=2))
    scheduler.add_job(FUNC, trigger, id="once")
    admin.pause("once")
    assert admin.resume("once", NOW + timedelta(hours=1)) is None
    assert admin.list_jobs() == []


def test_a_trigger_class_of_the_application_is_named_not_imported(
    scheduler: ManualScheduler, store: SQLAlchemyJobStore, admin: StoreAdmin
) -> None:
    """A trigger of the user's own class is shown by reference; resuming it when it does not
    import says so."""
    scheduler.add_job(FUNC, "interval", hours=1, id="job")
    own = {"type": "class", "class": "nowhere_to_be_found.triggers:Lunar", "state": {}}
    set_state(store, "job", lambda data: data.update(trigger=own))
    [job] = admin.list_jobs()
    assert job.loadable
    assert job.trigger == "nowhere_to_be_found.triggers:Lunar (a trigger class of the application)"
    admin.pause("job")
    with pytest.raises(UndecodableJobError, match="its trigger cannot be rebuilt here"):
        admin.resume("job", NOW)


def test_pickled_arguments_are_not_unpickled(
    make_store: StoreFactory, store: SQLAlchemyJobStore, admin: StoreAdmin
) -> None:
    """Arguments stored as a pickle are shown as such, and a pause keeps them for the store."""
    sched = ManualScheduler(
        clock=ManualClock(NOW.isoformat()), metrics=False, tracing=False, timezone="UTC"
    )
    sched.add_jobstore(make_store(serializer="pickle", tablename="pickled_jobs"))
    sched.start()
    try:
        sched.add_job(FUNC, "interval", hours=1, id="job", args=[{1, 2}])
        pickled_store = sched.context.jobstores["default"]
        assert isinstance(pickled_store, SQLAlchemyJobStore)
        pickled = StoreAdmin(pickled_store.engine, pickled_store.tables)
        [job] = pickled.list_jobs()
        assert (job.args, job.kwargs, job.loadable) == (PICKLED_ARGUMENTS, PICKLED_ARGUMENTS, True)
        pickled.pause("job")
        loaded = pickled_store.lookup_job("job")
        assert loaded is not None
        assert (loaded.args, loaded.next_run_time) == (({1, 2},), None)
    finally:
        sched.shutdown()


def test_a_pickle_that_is_not_base64_is_not_read(
    scheduler: ManualScheduler, store: SQLAlchemyJobStore, admin: StoreAdmin
) -> None:
    """A row whose arguments are a pickle is listed without unpickling anything."""
    scheduler.add_job(FUNC, "interval", hours=1, id="job")
    payload = base64.b64encode(pickle.dumps(((), {}))).decode()
    set_state(store, "job", lambda data: data.update(arguments={"pickle": payload}))
    [job] = admin.list_jobs()
    assert job.args == PICKLED_ARGUMENTS


def test_each_change_writes_a_new_change_token(
    scheduler: ManualScheduler, store: SQLAlchemyJobStore, admin: StoreAdmin
) -> None:
    """pause, resume, run-now and remove each mark the store changed; reading does not."""
    scheduler.add_job(FUNC, "interval", hours=1, id="job")
    tokens = [change_token(store)]
    for change in (
        lambda: admin.pause("job"),
        lambda: admin.resume("job", NOW),
        lambda: admin.run_now("job", NOW),
        lambda: admin.remove("job"),
    ):
        change()
        tokens.append(change_token(store))
    admin.list_jobs()
    assert change_token(store) == tokens[-1]
    assert tokens[0] is None
    assert len(set(tokens)) == 5


def test_the_schedulers_own_changes_leave_the_token(
    scheduler: ManualScheduler, store: SQLAlchemyJobStore
) -> None:
    """Jobs added and paused through the scheduler do not mark the store changed."""
    scheduler.add_job(FUNC, "interval", hours=1, id="job")
    scheduler.pause_job("job")
    assert change_token(store) is None


def test_an_apscheduler3_table_is_listed_without_unpickling(tmp_path: Path) -> None:
    """Rows of an APScheduler 3 table kept in place are listed by id and next run time, and
    can be removed but not paused."""
    store = SQLAlchemyJobStore(url=f"sqlite:///{tmp_path / 'aps.sqlite'}")
    table = define_aps3_table(MetaData(), "apscheduler_jobs", None)
    with store.engine.begin() as conn:
        table.create(conn)
        conn.execute(
            insert(table).values(id="legacy", next_run_time=NOW.timestamp(), job_state=b"x")
        )
    admin = StoreAdmin(store.engine, store.tables, Aps3Rows(table, 5))
    admin.prepare()
    [job] = admin.list_jobs()
    assert (job.id, job.next_run_time) == ("legacy", NOW)
    assert job.problem is not None
    assert "APScheduler 3 pickle" in job.problem
    with pytest.raises(UndecodableJobError, match="obssched jobs migrate"):
        admin.pause("legacy")
    admin.remove("legacy")
    assert admin.list_jobs() == []
    store.engine.dispose()


def test_the_column_is_the_next_run_time_shown(
    scheduler: ManualScheduler, store: SQLAlchemyJobStore, admin: StoreAdmin
) -> None:
    """The next run time listed is the column the scheduler queries."""
    scheduler.add_job(FUNC, "interval", hours=1, id="job")
    jobs = store.tables.jobs
    moment = NOW + timedelta(minutes=7)
    with store.engine.begin() as conn:
        conn.execute(update(jobs).values(next_run_time=to_micros(moment)))
    [job] = admin.list_jobs()
    assert job.next_run_time == moment


def change_row_before_each_update(store: SQLAlchemyJobStore, times: int) -> list[str]:
    """Have another connection save the job (as a scheduler would) just before each of the
    next ``times`` updates of its row; return the list of those saves."""
    saves: list[str] = []
    jobs = store.tables.jobs

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if saves and saves[-1] == "saving":
            return  # the save's own statements
        if len(saves) >= times or not (
            statement.startswith("UPDATE ") and f"{jobs.name} SET" in statement
        ):
            return
        saves.append("saving")
        with store.engine.begin() as other:
            state = other.execute(select(jobs.c.state)).scalar_one()
            resaved = json.dumps(json.loads(state), indent=len(saves)).encode()
            other.execute(update(jobs).values(state=resaved))
        saves[-1] = "saved"

    event.listen(store.engine, "before_cursor_execute", before)
    return saves


def test_a_save_between_read_and_write_is_not_overwritten(
    scheduler: ManualScheduler, store: SQLAlchemyJobStore, admin: StoreAdmin
) -> None:
    """When the row changes under a pause, the pause is worked out again from the new row."""
    scheduler.add_job(FUNC, "interval", hours=1, id="job")
    saves = change_row_before_each_update(store, times=1)
    admin.pause("job")
    assert saves == ["saved"]
    job = store.lookup_job("job")
    assert job is not None
    assert job.next_run_time is None


def test_a_row_that_keeps_changing_gives_up_saying_so(
    scheduler: ManualScheduler, store: SQLAlchemyJobStore, admin: StoreAdmin
) -> None:
    """A change that loses to another writer five times in a row is refused, saying why."""
    scheduler.add_job(FUNC, "interval", hours=1, id="job")
    change_row_before_each_update(store, times=100)
    with pytest.raises(JobChangeError, match="Cannot run-now job 'job': its row changed 5 times"):
        admin.run_now("job", NOW)
