"""PostgreSQL LISTEN/NOTIFY: a job added on one node wakes a sleeping node at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from obssched.clock import SystemClock
from obssched.events import EVENT_JOB_EXECUTED
from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.schedulers.background import BackgroundScheduler
from obssched.testing import ManualScheduler

pytestmark = [pytest.mark.postgresql, pytest.mark.realtime]

CLOCK = SystemClock()
HEARTBEAT = 60.0  # node A's longest sleep: without the notification it would not wake sooner


@pytest.fixture
def sleeping_node(postgres_url: str, pg_schema: str) -> Iterator[BackgroundScheduler]:
    """Node A: a cluster scheduler with no jobs, asleep for up to a minute."""
    store = SQLAlchemyJobStore(
        url=postgres_url, tableschema=pg_schema, cluster=True, node_id="a", lease_seconds=120
    )
    node = BackgroundScheduler(
        metrics=False,
        tracing=False,
        timezone="UTC",
        heartbeat_interval=HEARTBEAT,
        jobstores={"default": store},
    )
    node.start()
    yield node
    node.shutdown(wait=True)


def test_a_job_added_on_another_node_runs_at_once(
    sleeping_node: BackgroundScheduler, postgres_url: str, pg_schema: str
) -> None:
    """Node B (paused) adds a job due now; node A runs it long before its heartbeat."""
    ran = threading.Event()

    def on_executed(event: Any) -> None:
        ran.set()

    sleeping_node.add_listener(on_executed, EVENT_JOB_EXECUTED)
    sleeping_node.wakeup()
    threading.Event().wait(1.0)  # let A's loop go back to sleep, on its empty store
    store_b = SQLAlchemyJobStore(
        url=postgres_url, tableschema=pg_schema, cluster=True, node_id="b", lease_seconds=120
    )
    node_b = ManualScheduler(metrics=False, tracing=False, timezone="UTC")
    node_b.add_jobstore(store_b)
    node_b.start(paused=True)  # B never processes jobs: only A can run it
    try:
        added = CLOCK.monotonic()
        node_b.add_job("jobstores.jobfuncs:noop", "date", id="now", misfire_grace_time=None)
        assert ran.wait(timeout=10), "node A was not woken"
        assert CLOCK.monotonic() - added < 5 < HEARTBEAT
    finally:
        node_b.shutdown()
