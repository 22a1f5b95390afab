"""Runs in flight, kept in the ``_running`` table so that a killed scheduler's runs are reported.

A run whose job's next run time was saved has left the jobs table for good: if the process dies
before the run ends, nothing would ever report that run time. So the store records each run
still in flight in the ``_running`` table, in the same transaction that saves its job, and
deletes the record when the run ends. Whoever finds a record its owner can no longer delete
(another cluster node once the owner's lease expired, or the same single-node store when it
restarts) reports the run as abandoned (a :data:`~obssched.events.EVENT_JOB_ERROR` event per
run time, with a :class:`~obssched.exceptions.JobAbandonedError`) and, if the job asks for it
(``recover=True``), runs it again.

:class:`RunLedger` is the single-node bookkeeping; :mod:`._sql.cluster` records claims itself
and shares :func:`report_abandoned` and :func:`recoverable_job`.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, insert, select, update

from obssched.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
    JobSubmissionEvent,
    SchedulerEvent,
)
from obssched.exceptions import JobAbandonedError, MaxInstancesReachedError
from obssched.jobstores._sql.codec import decode_job, encode_job, to_micros

if TYPE_CHECKING:
    from obssched.job import Job
    from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore

__all__ = ["RUN_EVENTS", "RowBatch", "RunLedger", "recoverable_job", "report_abandoned"]

RUN_EVENTS = EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
"""The events that start and end a run."""


def report_abandoned(store: SQLAlchemyJobStore, row: Any) -> list[datetime]:
    """Log, count and dispatch the abandoned run of a ``_running`` row; return its run times."""
    scheduler = store._scheduler
    assert scheduler is not None
    run_times = [datetime.fromisoformat(text) for text in json.loads(row.run_times)]
    error = JobAbandonedError(row.job_id, row.node_id, run_times)
    store._logger.error("%s", error)
    store._count_abandoned(row.job_name)
    for moment in run_times:
        scheduler._dispatch_event(
            JobExecutionEvent(
                EVENT_JOB_ERROR,
                row.job_id,
                store._alias,
                moment,
                exception=error,
                job_name=row.job_name,
            )
        )
    return run_times


def recoverable_job(store: SQLAlchemyJobStore, row: Any) -> Job | None:
    """The job of an abandoned run as it was claimed, if it (or the store) asks for recovery."""
    scheduler = store._scheduler
    assert scheduler is not None
    try:
        pickled = store.serializer == "pickle"
        job = decode_job(row.state, scheduler, store._alias or "default", pickled)
    except Exception:
        store._logger.exception("Cannot load job %r to recover its abandoned run", row.job_id)
        return None
    option = store.recover
    wanted = job.recover or (option if isinstance(option, bool) else job.id in option)
    return job if wanted else None


@dataclass
class _Run:
    job: Job
    run_time: datetime
    run_key: str = ""  # assigned when the row is prepared
    written: bool = False  # the row is committed: ending the run deletes it
    ended: bool = False


@dataclass
class RowBatch:
    """Rows prepared by :meth:`RunLedger.take`, written in the transaction that saves jobs."""

    runs: list[_Run]
    rows: list[dict[str, Any]]
    stale_keys: list[str]


class RunLedger:
    """Single-node bookkeeping of the runs in flight, written with the job saves.

    Runs that end before their step's saves are written (an inline executor, a fast job) never
    touch the table. The others get a row in the saving transaction, deleted when they end.
    """

    def __init__(self, store: SQLAlchemyJobStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._runs: dict[tuple[str, int], _Run] = {}  # (job id, run time) -> run in flight
        self._unwritten: list[_Run] = []
        self._stale_keys: list[str] = []  # rows of ended runs whose delete failed
        # A fresh prefix per process: a restarted node may keep its node id.
        self._prefix = f"{store.node_id}:{uuid.uuid4().hex[:8]}:"
        self._sequence = itertools.count(1)
        self.taken_over = False

    def on_event(self, event: SchedulerEvent) -> None:
        """Track runs of this store's jobs: submitted during a step, and ended."""
        store = self._store
        if getattr(event, "jobstore", None) != store._alias:
            return
        job_id: str = getattr(event, "job_id", "")
        if event.code == EVENT_JOB_SUBMITTED:
            acquired = store._acquired
            if acquired is None or job_id not in acquired:
                return  # not submitted by a scheduling step of this store
            submitted: datetime = event.scheduled_run_times[0]  # type: ignore[attr-defined]
            run = _Run(acquired[job_id], submitted)
            with self._lock:
                self._runs[(job_id, _micros(submitted))] = run
                self._unwritten.append(run)
            return
        ended_at = getattr(event, "scheduled_run_time", None)
        if ended_at is None or isinstance(getattr(event, "exception", None), JobAbandonedError):
            return
        with self._lock:
            ended = self._runs.pop((job_id, _micros(ended_at)), None)
            if ended is None:
                return
            ended.ended = True
            if not ended.written:
                return  # never written, or written() deletes it once committed
        self.delete_rows([ended.run_key])

    def pending(self) -> bool:
        """Whether rows wait to be written or deleted."""
        return bool(self._unwritten or self._stale_keys)

    def take(self, now: datetime) -> RowBatch:
        """Prepare the rows of the runs still in flight, and the deletes that failed before."""
        store = self._store
        with self._lock:
            runs = [run for run in self._unwritten if not run.ended]
            self._unwritten = []
            stale, self._stale_keys = self._stale_keys, []
        rows = []
        for run in runs:
            job = run.job
            run.run_key = f"{self._prefix}{next(self._sequence)}"
            rows.append(
                {
                    "run_key": run.run_key,
                    "job_id": job.id,
                    "job_name": job.name,
                    "node_id": store.node_id,
                    "run_times": json.dumps([run.run_time.isoformat()]),
                    "claimed_at": to_micros(now),
                    "state": encode_job(job, store.serializer, store.pickle_protocol),
                }
            )
        return RowBatch(runs, rows, stale)

    def write(self, conn: Connection, batch: RowBatch) -> None:
        """Write ``batch`` in ``conn``'s transaction (again, if the transaction is retried)."""
        running = self._store.tables.running
        if batch.rows:
            conn.execute(insert(running), batch.rows)
        if batch.stale_keys:
            conn.execute(delete(running).where(running.c.run_key.in_(batch.stale_keys)))

    def written(self, batch: RowBatch) -> None:
        """``batch`` is committed: delete the rows of runs that ended meanwhile."""
        with self._lock:
            for run in batch.runs:
                run.written = True
            ended = [run.run_key for run in batch.runs if run.ended]
        if ended:
            self.delete_rows(ended)

    def not_written(self, batch: RowBatch) -> None:
        """Writing ``batch`` failed: keep it for the next save."""
        with self._lock:
            self._unwritten[:0] = batch.runs
            self._stale_keys.extend(batch.stale_keys)

    def delete_rows(self, keys: list[str]) -> None:
        """Delete the rows of ended runs; on failure retry with the next save."""
        running = self._store.tables.running
        try:
            self._store._write(
                lambda conn: conn.execute(delete(running).where(running.c.run_key.in_(keys)))
            )
        except Exception:
            self._store._logger.warning("Could not record the end of %d runs; retrying", len(keys))
            with self._lock:
                self._stale_keys.extend(keys)

    def take_over(self) -> None:
        """Report the runs a previous life of this store left in flight; recover those asked.

        They are reported before their rows change: a crash in between reports them again
        rather than never.
        """
        store = self._store
        running = store.tables.running
        rows = store._write(lambda conn: conn.execute(select(running)).all())
        recovered: list[tuple[Job, list[datetime], _Run]] = []
        forget: list[str] = []
        rekey: dict[str, str] = {}
        for row in rows:
            run_times = report_abandoned(store, row)
            job = recoverable_job(store, row)
            if job is None:
                forget.append(row.run_key)
                continue
            run = _Run(job, run_times[-1], f"{self._prefix}{next(self._sequence)}", True)
            rekey[row.run_key] = run.run_key
            recovered.append((job, run_times, run))

        def settle(conn: Connection) -> None:
            if forget:
                conn.execute(delete(running).where(running.c.run_key.in_(forget)))
            for old, new in rekey.items():
                conn.execute(
                    update(running)
                    .where(running.c.run_key == old)
                    .values(run_key=new, node_id=store.node_id)
                )

        if rows:
            store._write(settle)
        self.taken_over = True
        for job, run_times, run in recovered:
            self._recover(job, run_times, run)

    def _recover(self, job: Job, run_times: list[datetime], run: _Run) -> None:
        store = self._store
        scheduler = store._scheduler
        assert scheduler is not None
        key = (job.id, _micros(run.run_time))
        with self._lock:
            self._runs[key] = run
        alias = store._alias or "default"
        try:
            executor = scheduler._lookup_executor(job.executor)
            store._logger.info("Recovering the abandoned run of job %r", job.id)
            executor._submit(job, alias, run_times, [])
        except MaxInstancesReachedError:
            store._logger.warning(
                "Recovery of job %r skipped: maximum number of running instances reached (%d)",
                job.id,
                job.max_instances,
            )
            scheduler._dispatch_event(
                JobSubmissionEvent(
                    EVENT_JOB_MAX_INSTANCES,
                    job.id,
                    alias,
                    run_times,
                    job_name=job.name,
                    executor=job.executor,
                    run_id=scheduler._next_run_id(),
                )
            )
            with self._lock:
                self._runs.pop(key, None)
            self.delete_rows([run.run_key])
        except Exception:
            store._logger.exception("Could not recover the abandoned run of job %r", job.id)
            with self._lock:
                dropped = self._runs.pop(key, None)
            if dropped is not None:
                self.delete_rows([run.run_key])


def _micros(moment: datetime) -> int:
    micros = to_micros(moment)
    assert micros is not None
    return micros
