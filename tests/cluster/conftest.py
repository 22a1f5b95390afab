"""Fixtures for the cluster tests: node processes (the PostgreSQL ones are shared), and a paused
manual scheduler at 2024-01-01 with a started cluster store for the in-process tests (modules
with a ``scheduler`` or ``store`` of their own use theirs)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.testing import ManualClock, ManualScheduler

HERE = Path(__file__).resolve().parent
T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def spawn_node() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Starts ``clusternode`` processes; kills any still running at the end of the test."""
    processes: list[subprocess.Popen[str]] = []
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(HERE.parent.parent)]))

    def spawn(*args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "clusternode", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        return process

    yield spawn
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)  # also closes the pipes


@pytest.fixture
def scheduler() -> Iterator[ManualScheduler]:
    """A manual scheduler at T0, shut down at the end if it ran."""
    scheduler = ManualScheduler(clock=ManualClock(T0), metrics=False, tracing=False, timezone="UTC")
    yield scheduler
    if scheduler.running:
        scheduler.shutdown()


@pytest.fixture
def store(postgres_url: str, pg_schema: str, scheduler: ManualScheduler) -> SQLAlchemyJobStore:
    """A started cluster store (node "here") of a paused scheduler."""
    store = SQLAlchemyJobStore(
        url=postgres_url, tableschema=pg_schema, cluster=True, node_id="here", lease_seconds=60
    )
    scheduler.add_jobstore(store)
    scheduler.start(paused=True)
    return store
