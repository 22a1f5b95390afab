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

An APScheduler 3 job table is never passed over in silence: ``serializer="pickle"`` with its
name (``tablename="apscheduler_jobs"``) opens it in place, in APScheduler 3.11's own layout;
any other options refuse to start while it holds jobs that ``obssched jobs migrate`` did not
convert (:class:`~obssched.exceptions.UnmigratedJobsError`).
"""

from __future__ import annotations

import os
import pickle
import socket
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import URL, Connection, Engine, MetaData, create_engine, func, select
from sqlalchemy.exc import IntegrityError

from obssched._refs import maybe_ref
from obssched.exceptions import ConflictingIdError, InvalidArgumentError, JobLookupError
from obssched.jobstores._sql.access import StoreAccess
from obssched.jobstores._sql.changes import ChangeWatcher, watch_changes
from obssched.jobstores._sql.codec import Serializer, UnloadableJob, decode_job
from obssched.jobstores._sql.engine import (
    ErrorCounter,
    HeldConnection,
    open_engine,
    with_retries,
)
from obssched.jobstores._sql.notify import Listener
from obssched.jobstores._sql.rows import JobRows, NativeRows
from obssched.jobstores._sql.runs import RUN_EVENTS, RunLedger
from obssched.jobstores._sql.saves import DeferredSaves
from obssched.jobstores._sql.schema import SchemaVersionError, define_tables, ensure_schema
from obssched.jobstores._sql.unloadable import UnloadableRows
from obssched.jobstores.base import BaseJobStore, OrphanedRun, RunPlan

if TYPE_CHECKING:
    from obssched.job import Job
    from obssched.jobstores._sql.cluster import ClusterNode
    from obssched.jobstores._sql.owner import StoreOwner
    from obssched.schedulers.base import BaseScheduler

__all__ = ["SQLAlchemyJobStore", "SchemaVersionError", "UnloadableJob"]

_T = TypeVar("_T")


class SQLAlchemyJobStore(BaseJobStore):
    """Stores jobs in a table of a SQL database.

    Args:
        url: a SQLAlchemy URL (``sqlite:///jobs.sqlite``,
            ``postgresql+psycopg://user@host/db``); used when ``engine`` is not given.
        engine: an engine to use instead of creating one.
        tablename: the jobs table; the store also keeps ``<tablename>_meta`` (schema version),
            ``<tablename>_owner`` (see ``exclusive``), ``<tablename>_nodes`` (cluster mode)
            and ``<tablename>_running`` (runs in flight). With
            ``serializer="pickle"``, a table in APScheduler 3's layout (or a new one named
            ``apscheduler_jobs``) is used in place, as APScheduler 3.11 reads and writes it.
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
            the restart (the ``exclusive`` row keeps a second scheduler off its tables). An
            APScheduler 3 table kept in place has no room for this bookkeeping: runs are not
            tracked there.
        batch_size: the most due jobs one scheduling step takes from the store.
        max_queued_runs: in cluster mode, the most runs this node holds claimed but not yet
            begun: its local queue, behind busy workers. A claim takes no more runs than the
            queue has room for, and a full queue takes none until half of it has begun; the
            due runs left behind stay in the table for the other nodes (or for this one once it
            catches up, missed or coalesced as their jobs say) instead of piling up here until
            their jobs hit ``max_instances``. The default, 500, is about half a second of work
            for a node running short jobs flat out; lower it for long jobs on few workers
            (roughly the runs the executors can start within a job's interval). Runs on an
            executor that does not report when bodies begin (APScheduler 3's) count until they
            end.
        exclusive: outside cluster mode, the scheduler that starts the store takes it: it
            writes a row in ``<tablename>_owner`` naming its host, process and node, and
            heartbeats it every third of ``lease_seconds``. Another scheduler then refuses to
            start on the store (:class:`~obssched.exceptions.StoreInUseError`) until the row
            is released at shutdown, or left unrefreshed for a whole lease by a process that
            died; a restart takes it at once from a process of its host that no longer runs,
            or from one that had its ``node_id`` (taken over with a warning naming it).
            ``False`` is for tools that only read and change jobs beside the scheduler serving
            the store (``obssched jobs`` does so); a store started without a scheduler
            (``start(None, alias)``) takes nothing either.
            An APScheduler 3 table kept in place is not taken: APScheduler 3 would not honour
            the row, and that mode keeps the database as APScheduler 3 lays it out.
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
        exclusive: bool = True,
        max_queued_runs: int = 500,
    ) -> None:
        super().__init__()
        if serializer not in ("json", "pickle"):
            raise ValueError(f'serializer must be "json" or "pickle", got {serializer!r}')
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be positive, got {lease_seconds!r}")
        if (
            not isinstance(max_queued_runs, int)
            or isinstance(max_queued_runs, bool)
            or max_queued_runs < 1
        ):
            raise InvalidArgumentError(
                "max_queued_runs",
                max_queued_runs,
                f"max_queued_runs must be a whole number of runs, at least 1, got "
                f"{max_queued_runs!r}",
            )
        # create_engine is read from this module at each call, as APScheduler 3's store reads
        # it, so code that patches it there is served.
        self.engine, self._owns_engine = open_engine(
            url, engine, engine_options, cluster, create_engine
        )
        self.serializer: Serializer = serializer
        self.pickle_protocol = pickle_protocol
        self.cluster = cluster
        # A cluster claim works the run times out: the loop takes them from it.
        self.plans_run_times = cluster
        self.node_id = node_id or f"{socket.gethostname()}-{os.getpid()}"
        self.lease_seconds = float(lease_seconds)
        self.recover = recover
        self.batch_size = batch_size
        self.max_queued_runs = max_queued_runs
        self.exclusive = exclusive
        # The scheduler asks again within a tick while it gets full batches.
        self.due_batch_size = batch_size
        # Text references ("module:attribute") are resolved, as APScheduler's maybe_ref does.
        given_metadata: MetaData | None = maybe_ref(metadata)
        self.tables = define_tables(given_metadata or MetaData(), tablename, tableschema)
        # How jobs map to rows; start() switches to APScheduler 3's layout for a table kept
        # in place.
        self._rows: JobRows = NativeRows(self.tables.jobs, serializer, pickle_protocol)
        self._errors = ErrorCounter()
        # The cluster's start marks and run ends, written by one thread at a time.
        self._marks_connection = HeldConnection(self.engine)
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._unloadable = UnloadableRows(self._logger)
        # The saves of the jobs being processed in the current step, written with the runs
        # they submitted (in _ledger) by release_jobs().
        self._saves = DeferredSaves(self._rows)
        self._node: ClusterNode | None = None
        self._ledger: RunLedger | None = None
        self._abandoned: dict[str, int] = {}
        self._owner: StoreOwner | None = None
        self._watcher: ChangeWatcher | None = None

    # -- life cycle ----------------------------------------------------------------------------

    def start(self, scheduler: BaseScheduler | None, alias: str) -> None:
        """Create the tables if needed, check the schema version and find unloadable rows.

        Raises:
            SchemaVersionError: the table was created by a newer obssched.
            UnmigratedJobsError: an APScheduler 3 job table these options would not read
                holds jobs that were not migrated.
        """
        from obssched.jobstores._sql.aps3_table import in_place_rows

        if self._ledger is not None or self._node is not None or self._owner is not None:
            return  # started already: a second start must not subscribe a second run ledger
        super().start(scheduler, alias)
        self._stopping.clear()
        # A store started again after a shutdown (which closed it for good) keeps one anew.
        self._marks_connection = HeldConnection(self.engine)
        options = (self.tables, self.serializer, self.pickle_protocol, self.cluster)
        try:
            in_place = self._read(lambda conn: in_place_rows(conn, *options))
        except Exception:
            # The scheduler does not shut down a store that failed to start: close the
            # connections now rather than leave them to the garbage collector.
            if self._owns_engine:
                self.engine.dispose()
            raise
        if in_place is not None:
            self._rows = in_place
            self._saves = DeferredSaves(in_place)
            return
        self._retry(lambda: ensure_schema(self.engine, self.tables))
        access = self._access_for_runs(alias)
        if scheduler is not None and self.exclusive and not self.cluster:
            self._take_ownership(access)
        self._unloadable.scan_refs(self._rows, self._read, self._context, alias)
        if self.cluster:
            from obssched.jobstores._sql.cluster import ClusterNode

            self._node = ClusterNode(access)
            self._node.start()
        else:
            self._ledger = RunLedger(access)
            access.context.events.add(
                self._ledger.on_event, RUN_EVENTS, name="obssched.jobstore.runs"
            )
            if scheduler is not None:  # wake it for changes made with `obssched jobs`
                self._watcher = watch_changes(access, self.engine)

    def _take_ownership(self, access: StoreAccess) -> None:
        from obssched.jobstores._sql.owner import StoreOwner, can_be_shared

        if not can_be_shared(self.engine.url):
            return
        owner = StoreOwner(access)
        try:
            owner.acquire()
        except Exception:
            if self._owns_engine:
                self.engine.dispose()
            raise
        self._owner = owner

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
            max_queued_runs=self.max_queued_runs,
            write=self._write,
            write_alone=lambda operation: self._retry(
                lambda: self._marks_connection.run(operation)
            ),
            read=self._read,
            row_values=self._row_values,
            load_rows=self._load_rows,
            without_unloadable=self._without_unloadable,
            decode_state=lambda state: decode_job(
                state, cast("BaseScheduler", scheduler), alias, allow_pickle
            ),
            acquired=lambda: self._acquired,
            count_abandoned=self._count_abandoned,
            count_error=self._errors.add,
            make_listener=lambda callback, stop: Listener(self, callback, stop),
        )

    def shutdown(self) -> None:
        """Stop the cluster threads, leave the cluster and close the engine if the store made it."""
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
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
        if self._owner is not None:
            self._owner.release()
            self._owner = None
        self._marks_connection.close()
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
        return self._unloadable.jobs()

    def cluster_nodes(self) -> int:
        """Live nodes of the cluster (``obssched_cluster_nodes``); 1 outside cluster mode."""
        return self._node.live_nodes() if self._node is not None else 1

    def cluster_queue(self) -> tuple[int, int] | None:
        """This node's claimed runs not begun and its ``max_queued_runs``
        (``obssched_cluster_queued_runs``, ``obssched_cluster_max_queued_runs``); ``None``
        outside cluster mode."""
        node = self._node  # read once: shutdown may clear it while a scrape reads
        return node.queue() if node is not None else None

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
        rows = self._rows
        query = select(*rows.columns).where(rows.table.c.id == job_id)
        loaded = self._load_rows(self._read(lambda conn: conn.execute(query).all()))
        return loaded[0] if loaded else None

    def get_due_jobs(self, now: datetime) -> list[Job]:
        """Return up to ``batch_size`` jobs due at ``now``, earliest first."""
        return self._load_rows(self._due_rows(now))

    def _due_rows(self, now: datetime) -> Sequence[Any]:
        rows = self._rows
        jobs = rows.table
        query = (
            select(*rows.columns)
            .where(jobs.c.next_run_time <= rows.to_db_time(now))
            .order_by(jobs.c.next_run_time, jobs.c.id)
            .limit(self.batch_size)
        )
        query = self._without_unloadable(query)
        return self._read(lambda conn: conn.execute(query).all())

    def get_next_run_time(self) -> datetime | None:
        """Return the earliest next run time among the loadable jobs."""
        if self._node is not None:
            return self._node.next_run_time()
        rows = self._rows
        query = self._without_unloadable(select(func.min(rows.table.c.next_run_time)))
        return rows.from_db_time(self._read(lambda conn: conn.execute(query).scalar()))

    def get_all_jobs(self) -> list[Job]:
        """Return every loadable job by next run time, paused jobs last."""
        rows = self._rows
        jobs = rows.table
        query = select(*rows.columns).order_by(
            jobs.c.next_run_time.is_(None), jobs.c.next_run_time, jobs.c.id
        )
        return self._load_rows(self._read(lambda conn: conn.execute(query).all()))

    def get_job_labels(self) -> list[tuple[str, str, str]]:
        """Return ``(id, name, executor)`` of every loadable job, without rebuilding the jobs.

        What counters labelled by job need when a scheduler starts on a large store: one query
        and a JSON parse per row, where :meth:`get_all_jobs` rebuilds every trigger and
        imports every callable. A row whose state cannot be read is left out here; loading it
        reports it, as it does for any row that cannot be loaded.
        """
        rows = self._rows
        if not isinstance(rows, NativeRows):  # APScheduler 3's pickled rows hold no plain data
            return [(job.id, job.name, job.executor) for job in self.get_all_jobs()]
        dialect = self.engine.dialect
        query = rows.labels_query(dialect.name, dialect.server_version_info)
        query = self._without_unloadable(query)
        return rows.labels(self._read(lambda conn: conn.execute(query).all()))

    def count_jobs(self) -> tuple[int, int]:
        """Return ``(scheduled, paused)`` with one aggregate query."""
        query = select(func.count(self._rows.table.c.next_run_time), func.count())
        row = self._read(lambda conn: conn.execute(query).one())
        return int(row[0]), int(row[1]) - int(row[0])

    # -- writing -------------------------------------------------------------------------------

    def add_job(self, job: Job) -> None:
        """Store ``job``; nothing is written if its state cannot be serialized.

        Raises:
            ConflictingIdError: a job with the same id is stored already.
            SerializationError: an argument cannot be stored; the message names it.
        """
        statement = self._rows.table.insert().values(id=job.id, **self._row_values(job))
        try:
            self._change(statement)
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
            if self._saves.defer_update(job):
                return
        jobs = self._rows.table
        statement = jobs.update().where(jobs.c.id == job.id).values(**self._row_values(job))
        if not self._change(statement):
            raise JobLookupError(job.id)
        self._superseded(job.id)

    def remove_job(self, job_id: str) -> None:
        """Remove the job with ``job_id`` (also a row that cannot be loaded).

        Raises:
            JobLookupError: no such job is stored.
        """
        with self._lock:
            if self._node is not None and self._node.settled_by_claim(job_id, None, removed=True):
                return
            if self._saves.defer_removal(job_id):
                return
        jobs = self._rows.table
        if not self._change(jobs.delete().where(jobs.c.id == job_id)):
            raise JobLookupError(job_id)
        self._superseded(job_id)
        self._unloadable.forget(job_id)

    def _superseded(self, job_id: str) -> None:
        with self._lock:
            self._saves.superseded(job_id)

    def remove_all_jobs(self) -> None:
        """Remove every job, including rows that cannot be loaded."""
        with self._lock:
            self._saves.clear()
        self._change(self._rows.table.delete())
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
        transaction, each only if the job's row is still the one read here: a change made
        meanwhile by another writer (``obssched jobs``) stands. In a cluster, due rows are
        claimed with ``FOR UPDATE SKIP LOCKED`` and their next run times advanced in the same
        transaction, so no other node runs them too.
        """
        if self._node is not None:
            return self._node.claim_due(now)
        if self._ledger is not None and not self._ledger.taken_over:
            self._ledger.take_over()
        with self._lock:
            self._flush()
            rows = self._due_rows(now)
            jobs = self._load_rows(rows)
            self._saves.acquire(rows, jobs)
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
            self._saves.release()
            try:
                self._flush()
            except Exception:
                self._logger.exception(
                    "Could not save %d processed jobs; retrying before the next step",
                    len(self._saves),
                )

    # -- internals shared with the cluster and run bookkeeping ----------------------------------

    @property
    def _acquired(self) -> dict[str, Job] | None:
        """The jobs being processed in the current step, by id."""
        return self._saves.acquired

    def _row_values(self, job: Job) -> dict[str, Any]:
        return self._rows.values(job)

    def _flush(self) -> None:
        context = self._context
        now = context.clock.now if context is not None else None
        for job_id in self._saves.flush(self._ledger, now, self._write):
            # The other writer (`obssched jobs`, another process) changed the row after this
            # scheduler read it: its change is the newer one, and the next step reads it.
            self._logger.info(
                "Job %r in job store %r was changed by another writer while it was being "
                "processed; its save was dropped and the stored job stands",
                job_id,
                self._alias,
            )

    def _read(self, operation: Callable[[Connection], _T]) -> _T:
        with self._lock:
            self._flush()
        return self._write(operation)

    def _write(self, operation: Callable[[Connection], _T]) -> _T:
        return self._retry(lambda: self._in_transaction(operation))

    def _in_transaction(self, operation: Callable[[Connection], _T]) -> _T:
        with self.engine.begin() as conn:
            return operation(conn)

    def _retry(self, operation: Callable[[], _T]) -> _T:
        return with_retries(operation, self._errors, self._logger, self._stopping.wait)

    def _change(self, statement: Any) -> int:
        """Execute a change of the jobs table (waking the cluster); return the rows changed."""

        def change(conn: Connection) -> int:
            count = int(conn.execute(statement).rowcount)
            self._notify(conn)
            return count

        return self._write(change)

    def _notify(self, conn: Connection) -> None:
        if self._node is not None:
            self._node.notify(conn)

    def _without_unloadable(self, query: Any) -> Any:
        if not len(self._unloadable):
            return query
        return query.where(self._rows.table.c.id.not_in(self._unloadable.ids()))

    def _load_rows(self, rows: Iterable[Any]) -> list[Job]:
        # Jobs of a store used without a scheduler have none, as in APScheduler 3.
        scheduler = cast("BaseScheduler", self._scheduler)
        return self._unloadable.load(self._rows, rows, scheduler, self._context, self._alias)

    def __repr__(self) -> str:
        mode = ", cluster" if self.cluster else ""
        return f"<{type(self).__name__} (url={self.engine.url!r}{mode})>"
