"""A job store in a SQL database through SQLAlchemy 2 Core (APScheduler 3's ``SQLAlchemyJobStore``).

SQLite is the embedded default; PostgreSQL (psycopg 3) is for several schedulers sharing one
database with ``cluster=True``. Jobs are stored as versioned plain data (JSON, with the callable
as a ``module:qualname`` reference); ``serializer="pickle"`` is an opt-in for arguments JSON
cannot express, only for a database you trust.

A row that cannot be loaded (its function was renamed or removed, its data is malformed) is never
deleted: it stays in the table, is reported once per process with a log record and an
:data:`~obssched.events.EVENT_JOB_ERROR` :class:`~obssched.events.JobExecutionEvent` (its
``scheduled_run_time`` is the row's stored next run time, or the time it was found if it is paused,
and its ``exception`` the load error), is counted by :meth:`SQLAlchemyJobStore.unloadable_count`
and listed by :meth:`SQLAlchemyJobStore.get_unloadable_jobs`.
"""

from __future__ import annotations

import os
import pickle
import socket
import threading
from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import URL, Connection, Engine, MetaData, bindparam, func, select
from sqlalchemy.exc import IntegrityError

from obssched._refs import maybe_ref, ref_to_obj
from obssched.events import EVENT_JOB_ERROR, JobExecutionEvent
from obssched.exceptions import ConflictingIdError, JobLookupError
from obssched.jobstores._sql.access import StoreAccess
from obssched.jobstores._sql.codec import (
    Serializer,
    UnloadableJob,
    decode_job,
    encode_job,
    micros_to_datetime,
    to_micros,
)
from obssched.jobstores._sql.engine import ErrorCounter, make_engine, with_retries
from obssched.jobstores._sql.notify import Listener
from obssched.jobstores._sql.runs import RUN_EVENTS, RunLedger
from obssched.jobstores._sql.schema import SchemaVersionError, define_tables, ensure_schema
from obssched.jobstores.base import BaseJobStore, OrphanedRun, RunPlan

if TYPE_CHECKING:
    from obssched.job import Job
    from obssched.jobstores._sql.cluster import ClusterNode
    from obssched.schedulers.base import BaseScheduler

__all__ = ["SQLAlchemyJobStore", "SchemaVersionError", "UnloadableJob"]

_T = TypeVar("_T")
_REMOVED = object()


class SQLAlchemyJobStore(BaseJobStore):
    """Stores jobs in a table of a SQL database.

    Args:
        url: a SQLAlchemy URL (``sqlite:///jobs.sqlite``,
            ``postgresql+psycopg://user@host/db``); used when ``engine`` is not given.
        engine: an engine to use instead of creating one.
        tablename: the jobs table; the store also keeps ``<tablename>_meta`` (schema version),
            ``<tablename>_nodes`` and ``<tablename>_running`` (cluster mode).
        metadata: the ``MetaData`` to declare the tables on.
        pickle_protocol: the pickle protocol of ``serializer="pickle"``.
        tableschema: the database schema that holds the tables.
        engine_options: keyword arguments for ``create_engine``.
        serializer: ``"json"`` (default) or ``"pickle"`` (only for a database you trust).
        cluster: share the store between scheduler processes (PostgreSQL only): due runs are
            claimed with leases so each runs once across the cluster.
        node_id: this scheduler's identity in the cluster (default ``<host>-<pid>``).
        lease_seconds: how long a node may stay silent before its jobs and runs are taken
            over; nodes heartbeat every third of it.
        recover: re-run a run abandoned by a dead scheduler: ``True`` for every job, or a
            collection of job ids, besides the jobs added with ``recover=True`` (Quartz's
            "requests recovery"); abandoned runs are reported either way. Alone, the store
            finds the runs a killed process left in flight at its first scheduling step after
            the restart; it assumes it is the only scheduler using its tables.
        batch_size: the most due jobs one scheduling step takes from the store.
    """

    def __init__(
        self,
        url: str | URL | None = None,
        engine: Engine | str | None = None,
        tablename: str = "obssched_jobs",
        metadata: MetaData | str | None = None,
        pickle_protocol: int = pickle.HIGHEST_PROTOCOL,
        tableschema: str | None = None,
        engine_options: dict[str, Any] | None = None,
        *,
        serializer: Serializer = "json",
        cluster: bool = False,
        node_id: str | None = None,
        lease_seconds: float = 15.0,
        recover: bool | Collection[str] = False,
        batch_size: int = 1000,
    ) -> None:
        super().__init__()
        if serializer not in ("json", "pickle"):
            raise ValueError(f'serializer must be "json" or "pickle", got {serializer!r}')
        # Text references ("module:attribute") are resolved, as APScheduler's maybe_ref does.
        given_engine: Engine | None = maybe_ref(engine)
        given_metadata: MetaData | None = maybe_ref(metadata)
        if given_engine is None:
            if not url:
                raise ValueError('Need either "engine" or "url" defined')
            given_engine = make_engine(url, engine_options or {})
            self._owns_engine = True
        else:
            self._owns_engine = False
        engine = given_engine
        if cluster and engine.dialect.name != "postgresql":
            raise ValueError(
                f"cluster=True needs PostgreSQL, not {engine.dialect.name}: the cluster claims "
                "runs with SELECT ... FOR UPDATE SKIP LOCKED across hosts, which SQLite (a "
                "single-host, file-level-locking database) cannot do"
            )
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be positive, got {lease_seconds!r}")
        self.engine = engine
        self.serializer: Serializer = serializer
        self.pickle_protocol = pickle_protocol
        self.cluster = cluster
        # A cluster claim works the run times out: the loop takes them from it.
        self.plans_run_times = cluster
        self.node_id = node_id or f"{socket.gethostname()}-{os.getpid()}"
        self.lease_seconds = float(lease_seconds)
        self.recover = recover
        self.batch_size = batch_size
        # The scheduler asks again within a tick while it gets full batches.
        self.due_batch_size = batch_size
        self.tables = define_tables(given_metadata or MetaData(), tablename, tableschema)
        self._errors = ErrorCounter()
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._unloadable: dict[str, UnloadableJob] = {}
        # The jobs being processed in the current step; their saves (in _pending) and the runs
        # they submitted (in _ledger) are written together by release_jobs().
        self._acquired: dict[str, Job] | None = None
        self._pending: dict[str, Any] = {}
        self._node: ClusterNode | None = None
        self._ledger: RunLedger | None = None
        self._abandoned: dict[str, int] = {}

    # -- life cycle ----------------------------------------------------------------------------

    def start(self, scheduler: BaseScheduler | None, alias: str) -> None:
        """Create the tables if needed, check the schema version and find unloadable rows.

        Raises:
            SchemaVersionError: the table was created by a newer obssched.
        """
        super().start(scheduler, alias)
        self._stopping.clear()
        self._retry(lambda: ensure_schema(self.engine, self.tables))
        self._find_unloadable_refs()
        access = self._access_for_runs(alias)
        if self.cluster:
            from obssched.jobstores._sql.cluster import ClusterNode

            self._node = ClusterNode(access)
            self._node.start()
        else:
            self._ledger = RunLedger(access)
            access.context.events.add(
                self._ledger.on_event, RUN_EVENTS, name="obssched.jobstore.runs"
            )

    def _access_for_runs(self, alias: str) -> StoreAccess:
        """What the run bookkeeping and the cluster node may use of this store."""
        context = self._context
        assert context is not None
        scheduler = self._scheduler
        allow_pickle = self.serializer == "pickle"
        return StoreAccess(
            tables=self.tables,
            alias=alias,
            node_id=self.node_id,
            context=context,
            logger=self._logger,
            recover=self.recover,
            lease_seconds=self.lease_seconds,
            batch_size=self.batch_size,
            write=self._write,
            read=self._read,
            row_values=self._row_values,
            load_rows=self._load_rows,
            without_unloadable=self._without_unloadable,
            decode_state=lambda state: decode_job(
                state, cast("BaseScheduler", scheduler), alias, allow_pickle
            ),
            acquired=lambda: self._acquired,
            count_abandoned=self._count_abandoned,
            make_listener=lambda callback, stop: Listener(self, callback, stop),
        )

    def shutdown(self) -> None:
        """Stop the cluster threads, leave the cluster and close the engine if the store made it."""
        self._stopping.set()
        if self._node is not None:
            self._node.stop()
            self._node = None
        with self._lock:
            try:
                self._flush()
            except Exception:
                self._logger.exception("Could not save the last job changes on shutdown")
        if self._ledger is not None and self._context is not None:
            self._context.events.remove(self._ledger.on_event)
            self._ledger = None
        if self._owns_engine:
            self.engine.dispose()

    # -- observability seams --------------------------------------------------------------------

    @property
    def error_count(self) -> int:
        """Database errors met so far (``obssched_jobstore_errors_total``)."""
        return self._errors.count

    def unloadable_count(self) -> int:
        """Rows found that cannot be loaded (``obssched_jobstore_unloadable_jobs``)."""
        return len(self._unloadable)

    def get_unloadable_jobs(self) -> list[UnloadableJob]:
        """The rows found that cannot be loaded, for ``obssched jobs`` to list."""
        return list(self._unloadable.values())

    def cluster_nodes(self) -> int:
        """Live nodes of the cluster (``obssched_cluster_nodes``); 1 outside cluster mode."""
        return self._node.live_nodes() if self._node is not None else 1

    @property
    def abandoned_counts(self) -> dict[str, int]:
        """Abandoned runs this store reported, by job name (``obssched_job_abandoned_total``)."""
        with self._lock:
            return dict(self._abandoned)

    def _count_abandoned(self, job_name: str) -> None:
        with self._lock:
            self._abandoned[job_name] = self._abandoned.get(job_name, 0) + 1

    # -- reading -------------------------------------------------------------------------------

    def lookup_job(self, job_id: str) -> Job | None:
        """Return the job with ``job_id``, or ``None`` (also for a row that cannot be loaded)."""
        jobs = self.tables.jobs
        query = select(jobs.c.id, jobs.c.func_ref, jobs.c.next_run_time, jobs.c.state).where(
            jobs.c.id == job_id
        )
        rows = self._read(lambda conn: conn.execute(query).all())
        loaded = self._load_rows(rows)
        return loaded[0] if loaded else None

    def get_due_jobs(self, now: datetime) -> list[Job]:
        """Return up to ``batch_size`` jobs due at ``now``, earliest first."""
        jobs = self.tables.jobs
        query = (
            select(jobs.c.id, jobs.c.func_ref, jobs.c.next_run_time, jobs.c.state)
            .where(jobs.c.next_run_time <= to_micros(now))
            .order_by(jobs.c.next_run_time, jobs.c.id)
            .limit(self.batch_size)
        )
        query = self._without_unloadable(query)
        return self._load_rows(self._read(lambda conn: conn.execute(query).all()))

    def get_next_run_time(self) -> datetime | None:
        """Return the earliest next run time among the loadable jobs."""
        if self._node is not None:
            return self._node.next_run_time()
        jobs = self.tables.jobs
        query = self._without_unloadable(select(func.min(jobs.c.next_run_time)))
        return micros_to_datetime(self._read(lambda conn: conn.execute(query).scalar()))

    def get_all_jobs(self) -> list[Job]:
        """Return every loadable job by next run time, paused jobs last."""
        jobs = self.tables.jobs
        query = select(jobs.c.id, jobs.c.func_ref, jobs.c.next_run_time, jobs.c.state).order_by(
            jobs.c.next_run_time.is_(None), jobs.c.next_run_time, jobs.c.id
        )
        return self._load_rows(self._read(lambda conn: conn.execute(query).all()))

    def count_jobs(self) -> tuple[int, int]:
        """Return ``(scheduled, paused)`` with one aggregate query."""
        jobs = self.tables.jobs
        query = select(func.count(jobs.c.next_run_time), func.count())
        row = self._read(lambda conn: conn.execute(query).one())
        return int(row[0]), int(row[1]) - int(row[0])

    # -- writing -------------------------------------------------------------------------------

    def add_job(self, job: Job) -> None:
        """Store ``job``; nothing is written if its state cannot be serialized.

        Raises:
            ConflictingIdError: a job with the same id is stored already.
            SerializationError: an argument cannot be stored; the message names it.
        """
        values = self._row_values(job)
        statement = self.tables.jobs.insert().values(id=job.id, **values)

        def insert(conn: Connection) -> None:
            conn.execute(statement)
            self._notify(conn)

        try:
            self._write(insert)
        except IntegrityError:
            raise ConflictingIdError(job.id) from None
        self._superseded(job.id)

    def update_job(self, job: Job) -> None:
        """Replace the stored job that has ``job.id``.

        Raises:
            JobLookupError: no such job is stored.
        """
        with self._lock:
            if self._node is not None and self._node.settled_by_claim(job.id, job.next_run_time):
                return
            if self._acquired is not None and job.id in self._acquired:
                self._row_values(job)  # refuse unstorable changes now, not at release
                self._pending[job.id] = job
                return
        self._write_update(job)
        self._superseded(job.id)

    def remove_job(self, job_id: str) -> None:
        """Remove the job with ``job_id`` (also a row that cannot be loaded).

        Raises:
            JobLookupError: no such job is stored.
        """
        with self._lock:
            if self._node is not None and self._node.settled_by_claim(job_id, None, removed=True):
                return
            if self._acquired is not None and job_id in self._acquired:
                self._pending[job_id] = _REMOVED
                return
        jobs = self.tables.jobs
        statement = jobs.delete().where(jobs.c.id == job_id)

        def delete(conn: Connection) -> int:
            count = conn.execute(statement).rowcount
            self._notify(conn)
            return count

        if not self._write(delete):
            raise JobLookupError(job_id)
        self._superseded(job_id)
        self._unloadable.pop(job_id, None)

    def _superseded(self, job_id: str) -> None:
        """A direct write of ``job_id`` succeeded: a save of it still waiting from a step whose
        flush failed (an outage) is older, and must not overwrite it when it is retried."""
        with self._lock:
            if self._acquired is None or job_id not in self._acquired:
                self._pending.pop(job_id, None)

    def remove_all_jobs(self) -> None:
        """Remove every job, including rows that cannot be loaded."""
        statement = self.tables.jobs.delete()

        def delete(conn: Connection) -> None:
            conn.execute(statement)
            self._notify(conn)

        with self._lock:
            self._pending.clear()
        self._write(delete)
        self._unloadable.clear()

    # -- the leasing seam ------------------------------------------------------------------------

    def planned_run_times(self, job: Job) -> RunPlan | None:
        """In cluster mode, what the claim decided for ``job`` (see the base class)."""
        node = self._node
        return None if node is None else node.planned_run_times(job.id)

    def take_orphaned_runs(self) -> list[OrphanedRun]:
        """The runs a dead scheduler left in flight: another node's in a cluster, a previous
        process's alone (looked for once, at the first call); see the base class."""
        if self._node is not None:
            return self._node.take_orphaned_runs()
        ledger = self._ledger
        if ledger is None:
            return []
        if not ledger.taken_over:
            try:
                ledger.take_over()
            except Exception:
                self._logger.exception("Could not look for abandoned runs; retrying")
        return ledger.take_orphans()

    def acquire_due_jobs(self, now: datetime) -> list[Job]:
        """Return the due jobs this scheduler processes now.

        Alone, the store defers the jobs' saves to :meth:`release_jobs` and writes them in one
        transaction. In a cluster, due rows are claimed with ``FOR UPDATE SKIP LOCKED`` and their
        next run times advanced in the same transaction, so no other node runs them too.
        """
        if self._node is not None:
            return self._node.claim_due(now)
        if self._ledger is not None and not self._ledger.taken_over:
            self._ledger.take_over()
        with self._lock:
            self._flush()
            jobs = self.get_due_jobs(now)
            self._acquired = {job.id: job for job in jobs}
            return jobs

    def release_jobs(self, jobs: list[Job]) -> None:
        """Save the processed jobs (or give back their cluster leases); never raises.

        A failed save stays queued and is retried before the next step reads due jobs, so a
        database that goes away mid-run loses nothing while this process lives.
        """
        if self._node is not None:
            self._node.release(jobs)
            return
        with self._lock:
            self._acquired = None
            try:
                self._flush()
            except Exception:
                self._logger.exception(
                    "Could not save %d processed jobs; retrying before the next step",
                    len(self._pending),
                )

    # -- internals -----------------------------------------------------------------------------

    def _row_values(self, job: Job) -> dict[str, Any]:
        return {
            "next_run_time": to_micros(job.next_run_time),
            "func_ref": job.func_ref,
            "state": encode_job(job, self.serializer, self.pickle_protocol),
        }

    def _write_update(self, job: Job) -> None:
        jobs = self.tables.jobs
        statement = jobs.update().where(jobs.c.id == job.id).values(**self._row_values(job))

        def update(conn: Connection) -> int:
            count = conn.execute(statement).rowcount
            self._notify(conn)
            return count

        if not self._write(update):
            raise JobLookupError(job.id)

    def _flush(self) -> None:
        """Write the deferred saves, with the runs in flight, in one transaction; they stay
        queued if it fails."""
        ledger = self._ledger
        if not self._pending and (ledger is None or not ledger.pending()):
            return
        jobs = self.tables.jobs
        updates = []
        removals = []
        for job_id, job in self._pending.items():
            if job is _REMOVED:
                removals.append(job_id)
            else:
                updates.append({"job_id": job_id, **self._row_values(job)})
        update = (
            jobs.update()
            .where(jobs.c.id == bindparam("job_id"))
            .values(
                next_run_time=bindparam("next_run_time"),
                func_ref=bindparam("func_ref"),
                state=bindparam("state"),
            )
        )

        batch = ledger.take(self._context.clock.now()) if ledger and self._context else None

        def write(conn: Connection) -> None:
            if updates:
                conn.execute(update, updates)
            if removals:
                conn.execute(jobs.delete().where(jobs.c.id.in_(removals)))
            if batch is not None:
                assert ledger is not None
                ledger.write(conn, batch)

        try:
            self._retry(lambda: self._in_transaction(write))
        except BaseException:
            if batch is not None:
                assert ledger is not None
                ledger.not_written(batch)
            raise
        self._pending.clear()
        if batch is not None:
            assert ledger is not None
            ledger.written(batch)

    def _read(self, operation: Callable[[Connection], _T]) -> _T:
        with self._lock:
            self._flush()
        return self._retry(lambda: self._in_transaction(operation))

    def _write(self, operation: Callable[[Connection], _T]) -> _T:
        return self._retry(lambda: self._in_transaction(operation))

    def _in_transaction(self, operation: Callable[[Connection], _T]) -> _T:
        with self.engine.begin() as conn:
            return operation(conn)

    def _retry(self, operation: Callable[[], _T]) -> _T:
        return with_retries(operation, self._errors, self._logger, self._stopping.wait)

    def _notify(self, conn: Connection) -> None:
        if self._node is not None:
            self._node.notify(conn)

    def _without_unloadable(self, query: Any) -> Any:
        if not self._unloadable:
            return query
        return query.where(self.tables.jobs.c.id.not_in(list(self._unloadable)))

    def _load_rows(self, rows: Iterable[Any]) -> list[Job]:
        # Jobs of a store used without a scheduler have none, as in APScheduler 3.
        scheduler = cast("BaseScheduler", self._scheduler)
        alias = self._alias or "default"
        allow_pickle = self.serializer == "pickle"
        jobs: list[Job] = []
        for row in rows:
            try:
                jobs.append(decode_job(row.state, scheduler, alias, allow_pickle))
            except Exception as exc:
                self._report_unloadable(row.id, row.func_ref, row.next_run_time, exc)
            else:
                self._unloadable.pop(row.id, None)
        return jobs

    def _find_unloadable_refs(self) -> None:
        """Check each distinct callable reference once, so the gauge counts paused rows too."""
        jobs = self.tables.jobs
        refs = self._read(lambda conn: conn.execute(select(jobs.c.func_ref).distinct()).all())
        broken: dict[str, Exception] = {}
        for (ref,) in refs:
            try:
                ref_to_obj(ref)
            except Exception as exc:
                broken[ref] = exc
        if not broken:
            return
        query = select(jobs.c.id, jobs.c.func_ref, jobs.c.next_run_time).where(
            jobs.c.func_ref.in_(list(broken))
        )
        for row in self._read(lambda conn: conn.execute(query).all()):
            self._report_unloadable(row.id, row.func_ref, row.next_run_time, broken[row.func_ref])

    def _report_unloadable(
        self, job_id: str, func_ref: str, next_run_micros: int | None, error: BaseException
    ) -> None:
        if job_id in self._unloadable:
            return
        next_run_time = micros_to_datetime(next_run_micros)
        self._unloadable[job_id] = UnloadableJob(job_id, func_ref, next_run_time, error)
        self._logger.error(
            "Job %r (%s) in job store %r cannot be loaded and is left in the table untouched: %s",
            job_id,
            func_ref,
            self._alias,
            error,
        )
        context = self._context
        if context is not None:
            context.dispatch(
                JobExecutionEvent(
                    EVENT_JOB_ERROR,
                    job_id,
                    self._alias,
                    next_run_time or context.clock.now(),
                    exception=error,
                    job_name=func_ref,
                )
            )

    def __repr__(self) -> str:
        mode = ", cluster" if self.cluster else ""
        return f"<{type(self).__name__} (url={self.engine.url!r}{mode})>"
