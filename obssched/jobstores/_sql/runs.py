"""Runs in flight, kept in the ``_running`` table so that a killed scheduler's runs are reported.

A run whose job's next run time was saved has left the jobs table for good: if the process dies
before the run ends, nothing would ever report that run time. So the store records each run
still in flight in the ``_running`` table, in the same transaction that saves its job, and
deletes the record when the run ends. Whoever finds a record its owner can no longer delete
(another cluster node once the owner's lease expired, or the same single-node store when it
restarts) hands the run to the scheduling loop as an
:class:`~obssched.jobstores.base.OrphanedRun`: the loop reports it abandoned (an
:data:`~obssched.events.EVENT_JOB_ERROR` event per run time, with a
:class:`~obssched.exceptions.JobAbandonedError`) and, if the job asks for it (``recover=True``),
runs it again.

A record is deleted only once the loop has taken its orphaned run and come back for more, so a
process that dies in between leaves it to be reported again rather than never.

:class:`RunLedger` is the single-node bookkeeping; the cluster records its claims itself and
shares :func:`orphans_of`.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, insert, select

from obssched.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    SchedulerEvent,
)
from obssched.exceptions import JobAbandonedError
from obssched.jobstores._sql.codec import to_micros
from obssched.jobstores.base import OrphanedRun

if TYPE_CHECKING:
    from obssched.job import Job
    from obssched.jobstores._sql.access import StoreAccess

__all__ = [
    "RUN_EVENTS",
    "FoundRow",
    "OrphanQueue",
    "RowBatch",
    "RunLedger",
    "orphans_of",
    "run_times_of",
    "split_begun",
]

RUN_EVENTS = EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED
"""The events that start and end a run."""


def run_times_of(row: Any) -> list[datetime]:
    """The run times a ``_running`` row records."""
    return [datetime.fromisoformat(text) for text in json.loads(row.run_times)]


def split_begun(row: Any) -> tuple[list[datetime], list[datetime]]:
    """The run times of a ``_running`` row that (may have) begun, and those that never did
    (its ``started_through``: NULL, unknown, counts every run as begun)."""
    run_times = run_times_of(row)
    through = getattr(row, "started_through", None)
    if through is None:
        return run_times, []
    begun = [moment for moment in run_times if (to_micros(moment) or 0) <= through]
    return begun, run_times[len(begun) :]


def orphans_of(access: StoreAccess, row: Any) -> tuple[OrphanedRun | None, OrphanedRun | None]:
    """What the loop is handed for a ``_running`` row: the report of its abandoned runs (those
    that began; ``None`` if none did, which is then not counted), and the re-run of the runs
    that never began and, when the job (or the store) asks for recovery, of those that did,
    if the job can still be loaded (``None``: nothing to run again)."""
    begun, never_begun = split_begun(row)
    job: Job | None
    try:
        job = access.decode_state(row.state)
    except Exception:
        access.logger.exception("Cannot load job %r to run its orphaned runs", row.job_id)
        job = None
    if job is None:  # nothing can run again: every run is reported lost
        begun, never_begun = begun + never_begun, []
    executor = job.executor if job is not None else None
    report = None
    if begun:
        error = JobAbandonedError(row.job_id, row.node_id, begun)
        access.count_abandoned(row.job_name)
        report = OrphanedRun(row.job_id, row.job_name, executor, begun, error, None)
    again = list(never_begun)
    if begun and job is not None and access.wants_recovery(job):
        access.logger.info("Recovering the abandoned run of job %r", row.job_id)
        again = begun + again
    elif never_begun:
        access.logger.info("Running the runs of job %r its node never began", row.job_id)
    if not again or job is None:
        return report, None
    return report, OrphanedRun(row.job_id, row.job_name, executor, again, None, job)


@dataclass
class _Run:
    job: Job
    run_time: datetime
    run_key: str = ""  # assigned when the row is prepared
    written: bool = False  # the row is committed: ending the run deletes it
    ended: bool = False
    submitted: bool = False


@dataclass
class FoundRow:
    """A ``_running`` row found abandoned. ``rerun`` is what tracks the run of it started again
    (anything with a ``submitted`` flag), if the job asks for recovery: once submitted, the
    row is the re-run's."""

    run_key: str
    rerun: Any = None


class OrphanQueue:
    """Orphaned runs waiting for the scheduling loop, and the rows of those it has taken.

    A row is settled (deleted, or kept as its submitted re-run's) only after the loop took its
    run and came back: a process that dies in between leaves the row to be reported again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._orphans: list[OrphanedRun] = []
        self._found: list[FoundRow] = []
        self._handed: list[FoundRow] = []

    def add(self, orphans: list[OrphanedRun], found: list[FoundRow]) -> None:
        """Queue ``orphans``, found in the rows ``found``."""
        with self._lock:
            self._orphans.extend(orphans)
            self._found.extend(found)

    def take(self) -> list[OrphanedRun]:
        """The queued orphaned runs, for the loop (once)."""
        if not (self._orphans or self._found):
            return []
        with self._lock:
            orphans, self._orphans = self._orphans, []
            self._handed.extend(self._found)
            self._found = []
        return orphans

    def pending_keys(self) -> list[str]:
        """The rows queued or taken and not settled yet (they must stay until settled)."""
        with self._lock:
            return [row.run_key for row in (*self._found, *self._handed)]

    def settle(self) -> list[FoundRow]:
        """The rows of the runs taken so far that are to be deleted now: all but those of
        submitted re-runs."""
        if not self._handed:
            return []
        with self._lock:
            handed, self._handed = self._handed, []
        return [row for row in handed if row.rerun is None or not row.rerun.submitted]


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

    def __init__(self, access: StoreAccess) -> None:
        self._access = access
        self._lock = threading.Lock()
        self._runs: dict[tuple[str, int], _Run] = {}  # (job id, run time) -> run in flight
        self._unwritten: list[_Run] = []
        self._stale_keys: list[str] = []  # rows of ended runs whose delete failed
        # A fresh prefix per process: a restarted node may keep its node id.
        self._prefix = f"{access.node_id}:{uuid.uuid4().hex[:8]}:"
        self._sequence = itertools.count(1)
        self.taken_over = False
        self._orphans = OrphanQueue()
        self._recovering: dict[tuple[str, int], _Run] = {}  # re-runs not yet submitted

    def on_event(self, event: SchedulerEvent) -> None:
        """Track runs of this store's jobs: submitted during a step, and ended."""
        if getattr(event, "jobstore", None) != self._access.alias:
            return
        job_id: str = getattr(event, "job_id", "")
        if event.code == EVENT_JOB_SUBMITTED:
            submitted: datetime = event.scheduled_run_times[0]  # type: ignore[attr-defined]
            key = (job_id, _micros(submitted))
            acquired = self._access.acquired()
            if acquired is None or job_id not in acquired:
                self._submitted_rerun(key)
                return  # not submitted by a scheduling step of this store
            run = _Run(acquired[job_id], submitted)
            with self._lock:
                self._runs[key] = run
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

    def _submitted_rerun(self, key: tuple[str, int]) -> None:
        if not self._recovering:
            return
        with self._lock:
            rerun = self._recovering.pop(key, None)
            if rerun is not None:
                rerun.submitted = True
                self._runs[key] = rerun

    def pending(self) -> bool:
        """Whether rows wait to be written or deleted."""
        return bool(self._unwritten or self._stale_keys)

    def take(self, now: datetime) -> RowBatch:
        """Prepare the rows of the runs still in flight, and the deletes that failed before."""
        access = self._access
        with self._lock:
            runs = [run for run in self._unwritten if not run.ended]
            self._unwritten = []
            stale, self._stale_keys = self._stale_keys, []
        rows = []
        claimed_at = to_micros(now)
        for run in runs:
            job = run.job
            run.run_key = f"{self._prefix}{next(self._sequence)}"
            rows.append(
                {
                    "run_key": run.run_key,
                    "job_id": job.id,
                    "job_name": job.name,
                    "node_id": access.node_id,
                    "run_times": json.dumps([run.run_time.isoformat()]),
                    "claimed_at": claimed_at,
                    "state": access.row_values(job)["state"],
                }
            )
        return RowBatch(runs, rows, stale)

    def write(self, conn: Connection, batch: RowBatch) -> None:
        """Write ``batch`` in ``conn``'s transaction (again, if the transaction is retried)."""
        running = self._access.tables.running
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
        running = self._access.tables.running
        try:
            self._access.write(
                lambda conn: conn.execute(delete(running).where(running.c.run_key.in_(keys)))
            )
        except Exception:
            self._access.logger.warning("Could not record the end of %d runs; retrying", len(keys))
            with self._lock:
                self._stale_keys.extend(keys)

    def take_over(self) -> None:
        """Find the runs a previous life of this store left in flight, for the loop to report
        (and to run again, those whose jobs ask for it)."""
        access = self._access
        running = access.tables.running
        rows = access.write(lambda conn: conn.execute(select(running)).all())
        orphans: list[OrphanedRun] = []
        found: list[FoundRow] = []
        recovering: dict[tuple[str, int], _Run] = {}
        for row in rows:
            report, rerun = orphans_of(access, row)
            if report is not None:
                orphans.append(report)
            run = None
            if rerun is not None and rerun.job is not None:
                orphans.append(rerun)
                run = _Run(rerun.job, rerun.run_times[-1], row.run_key, written=True)
                recovering[(rerun.job_id, _micros(run.run_time))] = run
            found.append(FoundRow(row.run_key, run))
        with self._lock:
            self._recovering.update(recovering)
        self._orphans.add(orphans, found)
        self.taken_over = True

    def take_orphans(self) -> list[OrphanedRun]:
        """Hand the runs found abandoned to the loop, once it has settled those it took before
        (their rows deleted, but those of submitted re-runs)."""
        stale = self._orphans.settle()
        if stale:
            with self._lock:
                for row in stale:
                    if row.rerun is not None:
                        self._recovering.pop((row.rerun.job.id, _micros(row.rerun.run_time)), None)
            self.delete_rows([row.run_key for row in stale])
        return self._orphans.take()


def _micros(moment: datetime) -> int:
    micros = to_micros(moment)
    assert micros is not None
    return micros
