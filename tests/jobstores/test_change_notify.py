"""A scheduler serving a SQL store wakes at once for changes made with ``obssched jobs``."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import pytest
from sqlalchemy import MetaData, create_engine

from obssched.jobstores._sql.access import StoreAccess
from obssched.jobstores._sql.admin import StoreAdmin
from obssched.jobstores._sql.changes import ChangeWatcher, mark_changed, watch_changes
from obssched.jobstores._sql.schema import define_tables, ensure_schema
from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.schedulers.background import BackgroundScheduler

RAN = threading.Event()
WOKE = threading.Event()
LONG = 3600.0  # a heartbeat and a next run no test waits for: only a wakeup makes them sooner


def mark_ran() -> None:
    """The job the tests make due with ``obssched jobs run-now``."""
    RAN.set()


class WatchedScheduler(BackgroundScheduler):
    """A background scheduler that notes each wakeup request."""

    def wakeup(self) -> None:
        WOKE.set()
        super().wakeup()


def admin_command(*args: str, url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``obssched jobs ARGS --store URL`` in a process of its own, away from this module."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OBSSCHED_")}
    return subprocess.run(
        [sys.executable, "-m", "obssched", "jobs", *args, "--store", url],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("postgresql-cluster", marks=pytest.mark.postgresql),
    ]
)
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A running scheduler serving a store with one job due in an hour; the store's URL."""
    options: dict[str, Any] = {}
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    else:
        # The schema by search path, so that the command line names the same tables.
        schema = request.getfixturevalue("pg_schema")
        url = (
            f"{request.getfixturevalue('postgres_url')}?options={quote(f'-csearch_path={schema}')}"
        )
        options["cluster"] = request.param == "postgresql-cluster"
    scheduler = WatchedScheduler(
        heartbeat_interval=LONG, metrics=False, tracing=False, timezone="UTC"
    )
    scheduler.add_jobstore(SQLAlchemyJobStore(url=url, **options))
    scheduler.start()
    scheduler.add_job(f"{__name__}:mark_ran", "interval", seconds=LONG, id="job")
    RAN.clear()
    WOKE.clear()
    yield url
    scheduler.shutdown()


@pytest.mark.realtime
def test_run_now_from_another_process_runs_the_job(served: str, tmp_path: Path) -> None:
    """The job made due by ``obssched jobs run-now`` runs long before the heartbeat."""
    result = admin_command("run-now", "job", url=served, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert RAN.wait(60), "the job did not run after run-now"


@pytest.mark.realtime
@pytest.mark.parametrize("action", ["pause", "resume", "remove"])
def test_each_change_from_another_process_wakes_the_scheduler(
    served: str, tmp_path: Path, action: str
) -> None:
    """pause, resume and remove each wake the scheduler serving the store."""
    result = admin_command(action, "job", url=served, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert WOKE.wait(60), f"the scheduler was not woken after {action}"


@pytest.fixture
def tables_engine(tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    """An SQLite file with a store's tables."""
    engine = create_engine(f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    tables = define_tables(MetaData(), "obssched_jobs", None)
    ensure_schema(engine, tables)
    yield engine, tables
    engine.dispose()


def test_a_poll_wakes_only_after_a_change(tables_engine: tuple[Any, Any]) -> None:
    """The first read is the baseline; a new token wakes once."""
    engine, tables = tables_engine
    wakes: list[None] = []
    watcher = ChangeWatcher(engine, tables, lambda: wakes.append(None), logging.getLogger())
    assert watcher.poll() is False
    with engine.begin() as conn:
        mark_changed(conn, tables)
    assert watcher.poll() is True
    assert watcher.poll() is False
    with engine.begin() as conn:
        mark_changed(conn, tables)
    assert watcher.poll() is True
    assert len(wakes) == 2


def test_a_failing_read_is_logged_once_until_it_works_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An unreadable token is logged once per outage, and its end once."""
    engine = create_engine(f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    tables = define_tables(MetaData(), "obssched_jobs", None)
    watcher = ChangeWatcher(engine, tables, lambda: None, logging.getLogger("test.changes"))
    with caplog.at_level(logging.INFO, logger="test.changes"):
        assert watcher.poll() is False
        assert watcher.poll() is False
        ensure_schema(engine, tables)
        assert watcher.poll() is False
    assert [record.levelname for record in caplog.records] == ["WARNING", "INFO"]
    assert "change token" in caplog.records[0].getMessage()
    engine.dispose()


def test_an_in_memory_database_is_not_watched() -> None:
    """No other process can change an in-memory SQLite database: nothing watches it."""
    engine = create_engine("sqlite://")
    assert watch_changes(cast("StoreAccess", None), engine) is None
    engine.dispose()


@pytest.mark.realtime
def test_the_watcher_thread_wakes_the_scheduler(tables_engine: tuple[Any, Any]) -> None:
    """Started, the watcher reads the token on its own and wakes for a change."""
    engine, tables = tables_engine
    woke = threading.Event()
    watcher = ChangeWatcher(engine, tables, woke.set, logging.getLogger(), interval=0.05)
    watcher.start()
    try:
        StoreAdmin(engine, tables).list_jobs()
        with engine.begin() as conn:
            mark_changed(conn, tables)
        assert woke.wait(30)
    finally:
        watcher.stop()
