"""PostgreSQL LISTEN/NOTIFY: a job added on one node wakes a sleeping node at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from obssched.clock import SystemClock
from obssched.events import EVENT_JOB_EXECUTED
from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.testing import EventRecorder, ManualScheduler

pytestmark = [pytest.mark.postgresql, pytest.mark.realtime]

CLOCK = SystemClock()  # the notification crosses real connections


class WakeableNode(ManualScheduler):
    """A manual scheduler that tells the test when something asks it to wake up."""

    def __init__(self, **options: Any) -> None:
        self.woken = threading.Event()
        super().__init__(**options)

    def wakeup(self) -> None:
        super().wakeup()
        self.woken.set()


def wait_listening(url: str, schema: str, timeout: float = 30) -> None:
    """Block until a session of the database LISTENs on the channel of ``schema``'s jobs."""
    engine = create_engine(url)
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND query LIKE :listen"
    )
    deadline = CLOCK.monotonic() + timeout
    try:
        while CLOCK.monotonic() < deadline:
            with engine.connect() as conn:
                if conn.execute(query, {"listen": f'LISTEN "obssched_{schema}_%'}).scalar_one():
                    return
            threading.Event().wait(0.05)  # the server tells no one when a session LISTENs
    finally:
        engine.dispose()
    pytest.fail(f"no session listens on the channel of schema {schema} after {timeout}s")


@pytest.fixture
def sleeping_node(postgres_url: str, pg_schema: str) -> Iterator[WakeableNode]:
    """Node A: a cluster scheduler with no jobs and no loop: it steps only when the test ticks."""
    store = SQLAlchemyJobStore(
        url=postgres_url, tableschema=pg_schema, cluster=True, node_id="a", lease_seconds=120
    )
    node = WakeableNode(metrics=False, tracing=False, timezone="UTC", jobstores={"default": store})
    node.start()
    wait_listening(postgres_url, pg_schema)
    node.woken.clear()
    yield node
    node.shutdown()


def test_a_job_added_on_another_node_runs_at_once(
    sleeping_node: WakeableNode, postgres_url: str, pg_schema: str
) -> None:
    """Node B (paused) adds a job due now; node A is woken by it and runs it on that wakeup."""
    recorder = EventRecorder(sleeping_node, EVENT_JOB_EXECUTED)
    store_b = SQLAlchemyJobStore(
        url=postgres_url, tableschema=pg_schema, cluster=True, node_id="b", lease_seconds=120
    )
    node_b = ManualScheduler(metrics=False, tracing=False, timezone="UTC")
    node_b.add_jobstore(store_b)
    node_b.start(paused=True)  # B never processes jobs: only A can run it
    try:
        node_b.add_job("jobstores.jobfuncs:noop", "date", id="now", misfire_grace_time=None)
        assert sleeping_node.woken.wait(timeout=30), "node A was not woken"
        sleeping_node.tick()
        assert [event.job_id for event in recorder.events] == ["now"]
    finally:
        node_b.shutdown()
