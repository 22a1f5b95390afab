"""With PostgreSQL: the group commits of run start marks and ends. A claim counts as in flight
no run whose end was recorded before it, even while another thread is still writing; each
batch's statement writes what it was handed, and its failures count as the store's."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, select

from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.testing import ManualScheduler

pytestmark = [pytest.mark.postgresql]

T0 = datetime(2024, 1, 1, tzinfo=UTC)
WAIT = 30  # seconds: only a hang ever waits this long


class GatedWrites:
    """Stands in for the store access of the start marks: each write waits for ``gate`` (after
    setting ``entered``), then runs on the store."""

    def __init__(self, access: Any) -> None:
        self._access = access
        self.entered = threading.Event()
        self.gate = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._access, name)

    def write_alone(self, operation: Any) -> Any:
        """Wait for the gate, then run ``operation`` on the store's connection for it."""
        self.entered.set()
        assert self.gate.wait(WAIT)
        return self._access.write_alone(operation)


class WatchedCondition(threading.Condition):
    """A condition that sets ``waiting`` whenever a thread starts waiting on it."""

    def __init__(self, lock: Any) -> None:
        super().__init__(lock)
        self.waiting = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        """Say that a thread waits, then wait."""
        self.waiting.set()
        return super().wait(timeout)


def running_row(store: SQLAlchemyJobStore, run_key: str, job_id: str) -> None:
    """A ``_running`` row of this node's run of ``job_id``."""
    row = {
        "run_key": run_key,
        "job_id": job_id,
        "job_name": job_id,
        "node_id": "here",
        "run_times": "[]",
        "claimed_at": 0,
        "state": b"",
        "started_through": 0,
    }
    with store.engine.begin() as conn:
        conn.execute(insert(store.tables.running).values(**row))


def hand_over(store: SQLAlchemyJobStore, run_key: str, node_id: str) -> None:
    """Give the ``_running`` row ``run_key`` to ``node_id`` (as a take-over does)."""
    running = store.tables.running
    with store.engine.begin() as conn:
        conn.execute(running.update().where(running.c.run_key == run_key).values(node_id=node_id))


def test_a_run_ended_during_another_threads_write_does_not_count_against_max_instances(
    store: SQLAlchemyJobStore, scheduler: ManualScheduler
) -> None:
    """The claim waits for the queued delete of an ended run, so its next run is not refused."""
    scheduler.add_job(
        "jobstores.jobfuncs:noop",
        "interval",
        minutes=1,
        start_date=T0,
        next_run_time=T0,
        id="j",
        max_instances=1,
        misfire_grace_time=None,
    )
    running_row(store, "busy", "other")
    running_row(store, "stale", "j")
    node = store._node
    assert node is not None
    marks = node.claims._marks
    gated = GatedWrites(marks._access)
    watched = WatchedCondition(marks._lock)
    marks._access, marks._committed = gated, watched  # type: ignore[assignment]
    worker = threading.Thread(target=marks.mark, args=("busy", 5), daemon=True)
    worker.start()
    assert gated.entered.wait(WAIT)  # a body's start mark is being written
    node.claims.delete_running(["stale"])  # the run of j ended: queued for that writer
    # The gate opens once a thread waits for the writer (the claim, syncing the delete).
    opener = threading.Thread(
        target=lambda: watched.waiting.wait(WAIT) and gated.gate.set(), daemon=True
    )
    opener.start()
    try:
        claimed = store.acquire_due_jobs(T0)
        plan = store.planned_run_times(next(job for job in claimed if job.id == "j"))
        store.release_jobs(claimed)
    finally:
        gated.gate.set()
        worker.join(WAIT)
    assert plan is not None
    assert (plan.refused, plan.run_times) == (False, [T0])


def failing_running_table(store: SQLAlchemyJobStore) -> None:
    """Make every update or delete of the store's ``_running`` rows raise in the database."""
    schema = store.tables.running.schema
    table = f'"{schema}"."{store.tables.running.name}"'
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            f'CREATE FUNCTION "{schema}".refuse() RETURNS trigger LANGUAGE plpgsql AS '
            "$$ BEGIN RAISE EXCEPTION 'refused'; END $$"
        )
        conn.exec_driver_sql(
            f"CREATE TRIGGER refuse BEFORE UPDATE OR DELETE ON {table} "
            f'FOR EACH ROW EXECUTE FUNCTION "{schema}".refuse()'
        )


@pytest.mark.parametrize("write", ["mark", "end"])
def test_a_failed_start_mark_or_end_counts_as_a_store_error(
    store: SQLAlchemyJobStore, write: str
) -> None:
    """A start mark or end the database refuses is counted in the store's errors."""
    running_row(store, "k", "j")
    failing_running_table(store)
    node = store._node
    assert node is not None
    before = store.error_count
    if write == "mark":
        node.claims._marks.mark("k", 5)
    else:
        node.claims.delete_running(["k"])
    assert store.error_count == before + 1


@pytest.mark.realtime  # the retry after the failure waits in real time
def test_the_marks_connection_the_server_drops_is_counted_logged_and_replaced(
    store: SQLAlchemyJobStore, caplog: pytest.LogCaptureFixture
) -> None:
    """The connection the start marks and ends keep is not pinged: when the server has
    terminated it, the next write fails once (counted and logged), is retried on a new
    connection, and is written."""
    running_row(store, "k1", "j")
    running_row(store, "k2", "j")
    node = store._node
    assert node is not None
    node.claims.delete_running(["k1"])
    access = node.claims._marks._access
    pid = access.write_alone(lambda conn: conn.exec_driver_sql("SELECT pg_backend_pid()").scalar())
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
    before = store.error_count
    with caplog.at_level(logging.WARNING, logger="obssched.jobstores"):
        node.claims.delete_running(["k2"])
    running = store.tables.running
    with store.engine.connect() as conn:
        left = conn.execute(select(running.c.run_key)).scalars().all()
    assert left == []
    assert store.error_count == before + 1
    assert any("retrying" in record.getMessage() for record in caplog.records)


def test_a_run_that_begins_and_ends_in_one_batch_loses_its_row(
    store: SQLAlchemyJobStore,
) -> None:
    """A start mark and the end of the same row, written together, delete the row."""
    running_row(store, "busy", "other")
    running_row(store, "k", "j")
    node = store._node
    assert node is not None
    marks = node.claims._marks
    gated = GatedWrites(marks._access)
    watched = WatchedCondition(marks._lock)
    marks._access, marks._committed = gated, watched  # type: ignore[assignment]
    writer = threading.Thread(target=marks.mark, args=("busy", 5), daemon=True)
    writer.start()
    assert gated.entered.wait(WAIT)  # batch 1 is being written: the next two share batch 2
    node.claims.delete_running(["k"])
    starter = threading.Thread(target=marks.mark, args=("k", 5), daemon=True)
    starter.start()
    try:
        assert watched.waiting.wait(WAIT)  # the start of "k" is queued behind batch 1
    finally:
        gated.gate.set()
        writer.join(WAIT)
        starter.join(WAIT)
    running = store.tables.running
    with store.engine.connect() as conn:
        keys = conn.execute(select(running.c.run_key)).scalars().all()
    assert keys == ["busy"]


def test_a_mark_of_a_run_another_node_took_over_says_it_must_not_begin_here(
    store: SQLAlchemyJobStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Marking a row this node no longer holds returns False, warns and counts; its own rows
    are marked and return True."""
    running_row(store, "mine", "j")
    running_row(store, "taken", "k")
    hand_over(store, "taken", "other")
    running = store.tables.running
    node = store._node
    assert node is not None
    errors = store.error_count
    with caplog.at_level(logging.WARNING):
        assert node.claims._marks.mark("mine", 5) is True
        assert "do not begin" not in caplog.text
        assert store.error_count == errors
        assert node.claims._marks.mark("taken", 5) is False
        assert node.claims._marks.mark("taken", 6) is False  # a later run of the same claim
    warnings = [r.getMessage() for r in caplog.records if "do not begin" in r.getMessage()]
    assert len(warnings) == 2
    assert store.error_count == errors + 2
    assert "taken" in warnings[0]
    with store.engine.connect() as conn:
        marks = dict(conn.execute(select(running.c.run_key, running.c.started_through)).all())
    assert marks == {"mine": 5, "taken": 0}


def test_a_row_taken_back_is_marked_again(store: SQLAlchemyJobStore) -> None:
    """A row this node lost and then took back (the other node died) is its own again: its
    next mark is written and returns True."""
    running_row(store, "k", "k")
    node = store._node
    assert node is not None
    hand_over(store, "k", "other")
    assert node.claims._marks.mark("k", 5) is False
    hand_over(store, "k", "here")
    assert node.claims._marks.mark("k", 6) is True
    running = store.tables.running
    with store.engine.connect() as conn:
        assert conn.execute(select(running.c.started_through)).scalar_one() == 6


def test_ends_delete_only_this_nodes_rows(store: SQLAlchemyJobStore) -> None:
    """The end of a run whose row another node took over leaves that node's row alone (it
    counts the re-run there against max_instances until that node ends it)."""
    running_row(store, "mine", "j")
    running_row(store, "taken", "k")
    hand_over(store, "taken", "other")
    running = store.tables.running
    node = store._node
    assert node is not None
    node.claims.delete_running(["mine", "taken"])
    node.claims._marks.sync()
    with store.engine.connect() as conn:
        rows = conn.execute(select(running.c.run_key, running.c.node_id)).all()
    assert [tuple(row) for row in rows] == [("taken", "other")]


class CountingWrites:
    """Stands in for the store access of the start marks, counting the writes tried."""

    def __init__(self, access: Any) -> None:
        self._access = access
        self.writes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._access, name)

    def write_alone(self, operation: Any) -> Any:
        """Count the write, then run ``operation`` on the store's connection for it."""
        self.writes += 1
        return self._access.write_alone(operation)


def due_job(scheduler: ManualScheduler, job_id: str) -> None:
    """A job due at T0, every minute."""
    scheduler.add_job(
        "jobstores.jobfuncs:noop",
        "interval",
        minutes=1,
        start_date=T0,
        next_run_time=T0,
        id=job_id,
        misfire_grace_time=None,
    )


def test_a_failed_release_leaves_its_deletes_to_the_heartbeat(
    store: SQLAlchemyJobStore, scheduler: ManualScheduler
) -> None:
    """The deletes of a release that failed are not retried at once, and the next beat
    writes them."""
    due_job(scheduler, "j")
    node = store._node
    assert node is not None
    counting = CountingWrites(node.claims._marks._access)
    node.claims._marks._access = counting  # type: ignore[assignment]
    claimed = store.acquire_due_jobs(T0)
    assert [job.id for job in claimed] == ["j"]
    failing_running_table(store)
    store.release_jobs(claimed)  # never submitted: its _running row is to go
    assert counting.writes == 0
    schema = store.tables.running.schema
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f'DROP FUNCTION "{schema}".refuse() CASCADE')
    node.beat()
    running = store.tables.running
    with store.engine.connect() as conn:
        assert conn.execute(select(running.c.run_key)).all() == []
    assert counting.writes == 1


def test_a_claim_that_only_writes_job_by_job_says_the_batch_failed(
    store: SQLAlchemyJobStore, scheduler: ManualScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    """A batch claim the database refuses is logged with its job count even when every job
    then writes alone."""
    due_job(scheduler, "a")
    due_job(scheduler, "b")
    schema = store.tables.jobs.schema
    table = f'"{schema}"."{store.tables.jobs.name}"'
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            f'CREATE FUNCTION "{schema}".one_at_a_time() RETURNS trigger LANGUAGE plpgsql AS '
            "$$ BEGIN IF (SELECT count(*) FROM changed) > 1 THEN "
            "RAISE EXCEPTION 'one row at a time'; END IF; RETURN NULL; END $$"
        )
        conn.exec_driver_sql(
            f"CREATE TRIGGER one_at_a_time AFTER UPDATE ON {table} "
            "REFERENCING NEW TABLE AS changed FOR EACH STATEMENT "
            f'EXECUTE FUNCTION "{schema}".one_at_a_time()'
        )
    errors = store.error_count
    with caplog.at_level(logging.WARNING):
        claimed = store.acquire_due_jobs(T0)
    errors_of_the_claim = store.error_count - errors
    plans = {job.id: store.planned_run_times(job) for job in claimed}
    store.release_jobs(claimed)
    assert sorted(plans) == ["a", "b"]
    assert all(plan is not None and plan.run_times == [T0] for plan in plans.values())
    warnings = [r.getMessage() for r in caplog.records if "one by one" in r.getMessage()]
    assert len(warnings) == 1
    assert "2 jobs" in warnings[0]
    assert errors_of_the_claim == 1
