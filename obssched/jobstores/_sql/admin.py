"""Reading and changing a SQL store's jobs as plain data, without importing their functions.

``obssched jobs`` runs wherever an operator is, rarely where the job functions import. A row of
obssched's layout holds everything it shows as data: the callable as a ``module:qualname``
reference, the trigger as a JSON dict, the next run time in a column and in the state. So
listing, pausing, resuming and running a job now read and rewrite that data and never import
the callable (a trigger of the user's own class is imported only to resume its job), nor unpickle
anything.

A row that cannot be decoded (malformed, written by a newer obssched, an unknown trigger, an
APScheduler 3 pickle kept in place) is still listed, with :attr:`StoredJob.problem` saying why;
it can be removed, but not paused, resumed or run now (:class:`UndecodableJobError`).

Every change also marks the store changed (:func:`~obssched.jobstores._sql.changes.mark_changed`)
in the same transaction, so a scheduler serving the store wakes at once to follow it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError

from obssched._serialization import JOB_DATA_VERSION, loads_args
from obssched.exceptions import JobLookupError, ObsschedError
from obssched.jobstores._sql.changes import mark_changed
from obssched.jobstores._sql.codec import micros_to_datetime, to_micros
from obssched.jobstores._sql.engine import ErrorCounter, with_retries
from obssched.jobstores._sql.rows import JobRows, NativeRows
from obssched.jobstores._sql.schema import Tables

__all__ = [
    "PICKLED_ARGUMENTS",
    "JobChangeError",
    "StoreAdmin",
    "StoredJob",
    "UndecodableJobError",
]

PICKLED_ARGUMENTS = "<pickled: not read>"
"""What :attr:`StoredJob.args` and ``kwargs`` hold for arguments stored as a pickle."""

_REQUIRED = (
    "id",
    "name",
    "func",
    "arguments",
    "trigger",
    "executor",
    "misfire_grace_time",
    "coalesce",
    "max_instances",
)
_ATTEMPTS = 5  # compare-and-set rounds lost to the scheduler's own writes before giving up
_logger = logging.getLogger("obssched.jobstores.admin")


class JobChangeError(ObsschedError, ValueError):
    """A stored job cannot be changed from outside its scheduler; the message says why."""

    def __init__(self, job_id: str, action: str, reason: str) -> None:
        self.job_id = job_id
        self.action = action
        self.reason = reason
        super().__init__(f"Cannot {action} job {job_id!r}: {reason}")


class UndecodableJobError(JobChangeError):
    """A stored job cannot be changed without loading it, and cannot be decoded here."""


@dataclass(frozen=True)
class StoredJob:
    """A stored job as its row tells it, without its callable imported."""

    id: str
    next_run_time: datetime | None
    """From the ``next_run_time`` column: the one the scheduler reads (``None``: paused)."""
    func_ref: str | None = None
    name: str | None = None
    trigger: str | None = None
    """The trigger as text (``interval[0:15:00]``), or its class reference for a user's own."""
    executor: str | None = None
    misfire_grace_time: Any = None
    coalesce: Any = None
    max_instances: Any = None
    recover: Any = None
    timeout: Any = None
    args: Any = ()
    kwargs: Any = field(default_factory=dict)
    state_version: int | None = None
    """The version of the stored job data (``JOB_DATA_VERSION`` when written by this obssched)."""
    problem: str | None = None
    """Why the row cannot be loaded, or ``None``."""

    @property
    def paused(self) -> bool:
        """Whether the job has no next run time."""
        return self.next_run_time is None

    @property
    def loadable(self) -> bool:
        """Whether the row decodes (its callable may still fail to import where it runs)."""
        return self.problem is None


@dataclass
class _Row:
    """A decoded row: the job, and the state document to rewrite (``None`` if undecodable)."""

    job: StoredJob
    data: dict[str, Any] | None
    state: Any


class StoreAdmin:
    """Reads and changes the jobs of a SQL store's table, by plain data.

    Args:
        engine: the database.
        tables: the store's tables (see :func:`~obssched.jobstores._sql.schema.define_tables`).
        layout: the table's row layout; obssched's own unless given (an APScheduler 3 table kept
            in place is listed, but only its ids and next run times can be read without
            unpickling).
        wait: how to pause before retrying a lost connection (default: really wait).
    """

    def __init__(
        self,
        engine: Engine,
        tables: Tables,
        layout: JobRows | None = None,
        wait: Callable[[float], Any] | None = None,
    ) -> None:
        self.engine = engine
        self.tables = tables
        self.layout: JobRows = layout or NativeRows(tables.jobs, "json", 5)
        self._native = isinstance(self.layout, NativeRows)
        self._errors = ErrorCounter()
        self._wait: Callable[[float], Any] = wait or threading.Event().wait

    def prepare(self) -> None:
        """Check the tables before the first command: create missing ones, as a store does.

        Raises:
            UnmigratedJobsError: an APScheduler 3 job table beside obssched's holds jobs that
                were not migrated.
            SchemaVersionError: the tables were made by a newer obssched.
        """
        from obssched.jobstores._sql.aps3_table import opens_in_place
        from obssched.jobstores._sql.schema import ensure_schema

        if self._native:
            self._transact(lambda conn: opens_in_place(conn, self.tables, "json"))
            with_retries(
                lambda: ensure_schema(self.engine, self.tables), self._errors, _logger, self._wait
            )

    # -- reading -------------------------------------------------------------------------------

    def list_jobs(self) -> list[StoredJob]:
        """Every stored job, decodable or not, by next run time, paused jobs last."""
        jobs = self.layout.table
        query = select(*self._columns()).order_by(
            jobs.c.next_run_time.is_(None), jobs.c.next_run_time, jobs.c.id
        )
        rows = self._transact(lambda conn: conn.execute(query).all())
        return [self._decode(row).job for row in rows]

    def get_job(self, job_id: str) -> StoredJob | None:
        """The job with ``job_id``, or ``None``."""
        row = self._transact(lambda conn: self._select(conn, job_id))
        return None if row is None else self._decode(row).job

    # -- changing ------------------------------------------------------------------------------

    def remove(self, job_id: str) -> None:
        """Remove the job's row, decodable or not.

        Raises:
            JobLookupError: no such job is stored.
        """
        jobs = self.layout.table

        def delete(conn: Connection) -> int:
            count = int(conn.execute(jobs.delete().where(jobs.c.id == job_id)).rowcount)
            if count:
                self._mark_changed(conn)
            return count

        if not self._transact(delete):
            raise JobLookupError(job_id)

    def pause(self, job_id: str) -> StoredJob:
        """Clear the job's next run time.

        Raises:
            JobLookupError: no such job is stored.
            UndecodableJobError: the row cannot be decoded here.
        """
        stored = self._reschedule(job_id, "pause", lambda _row: None)
        assert stored is not None
        return stored

    def run_now(self, job_id: str, now: datetime) -> StoredJob:
        """Make the job due at ``now`` (paused or not); its trigger goes on from that run.

        Raises:
            JobLookupError: no such job is stored.
            UndecodableJobError: the row cannot be decoded here.
        """
        stored = self._reschedule(job_id, "run-now", lambda _row: now)
        assert stored is not None
        return stored

    def resume(self, job_id: str, now: datetime) -> StoredJob | None:
        """Give the job the next fire time of its trigger from ``now``; remove it, and return
        ``None``, if its trigger will never fire again (as ``Scheduler.resume_job`` does).

        Raises:
            JobLookupError: no such job is stored.
            UndecodableJobError: the row cannot be decoded, or its trigger rebuilt, here.
        """

        def next_fire_time(row: _Row) -> datetime | None:
            from obssched.triggers._state import trigger_from_dict

            assert row.data is not None
            try:
                trigger = trigger_from_dict(row.data["trigger"])
                return trigger.get_next_fire_time(None, now)
            except Exception as exc:
                raise UndecodableJobError(
                    row.job.id,
                    "resume",
                    f"its trigger cannot be rebuilt here ({type(exc).__name__}: {exc})",
                ) from exc

        return self._reschedule(job_id, "resume", next_fire_time, remove_when_done=True)

    # -- internals -----------------------------------------------------------------------------

    def _reschedule(
        self,
        job_id: str,
        action: str,
        next_run: Callable[[_Row], datetime | None],
        remove_when_done: bool = False,
    ) -> StoredJob | None:
        """Rewrite the job's next run time in its column and its state, by compare-and-set on
        the state, so a save the scheduler makes meanwhile is not overwritten with older data:
        the change is then worked out again from the new row."""
        jobs = self.layout.table
        for _attempt in range(_ATTEMPTS):
            row = self._transact(lambda conn: self._select(conn, job_id))
            if row is None:
                raise JobLookupError(job_id)
            decoded = self._decode(row)
            if decoded.data is None:
                assert decoded.job.problem is not None
                raise UndecodableJobError(job_id, action, decoded.job.problem)
            moment = next_run(decoded)
            current = jobs.c.id == job_id
            unchanged = current & (jobs.c.state == decoded.state)
            if moment is None and remove_when_done:
                statement: Any = jobs.delete().where(unchanged)
                result = None
            else:
                data = dict(decoded.data)
                data["next_run_time"] = moment.isoformat() if moment else None
                state = json.dumps(data, separators=(",", ":")).encode()
                micros = to_micros(moment)
                statement = jobs.update().where(unchanged).values(next_run_time=micros, state=state)
                result = self._decode_values(job_id, micros, decoded.job.func_ref, state)

            def change(conn: Connection, statement: Any = statement) -> int:
                count = int(conn.execute(statement).rowcount)
                if count:
                    self._mark_changed(conn)
                return count

            try:
                if self._transact(change):
                    return None if result is None else result.job
            except IntegrityError:
                continue  # another process wrote the first change token meanwhile
        raise JobChangeError(
            job_id,
            action,
            f"its row changed {_ATTEMPTS} times while this change was being made; try again",
        )

    def _mark_changed(self, conn: Connection) -> None:
        # An APScheduler 3 table kept in place has no _meta table, nor a watcher to wake.
        if self._native:
            mark_changed(conn, self.tables)

    def _columns(self) -> tuple[Any, ...]:
        jobs = self.layout.table
        if self._native:
            return (jobs.c.id, jobs.c.next_run_time, jobs.c.func_ref, jobs.c.state)
        return (jobs.c.id, jobs.c.next_run_time)

    def _select(self, conn: Connection, job_id: str) -> Any:
        jobs = self.layout.table
        return conn.execute(select(*self._columns()).where(jobs.c.id == job_id)).first()

    def _decode(self, row: Any) -> _Row:
        if not self._native:
            return _Row(
                StoredJob(
                    id=row.id,
                    next_run_time=self.layout.from_db_time(row.next_run_time),
                    problem="it is an APScheduler 3 pickle (job_state), which is not unpickled "
                    "here; migrate the table with 'obssched jobs migrate'",
                ),
                None,
                None,
            )
        return self._decode_values(row.id, row.next_run_time, row.func_ref, row.state)

    def _decode_values(self, job_id: str, micros: Any, func_ref: Any, state: Any) -> _Row:
        base = StoredJob(id=job_id, next_run_time=micros_to_datetime(micros), func_ref=func_ref)
        data, problem = _parse_state(state)
        if data is None:
            return _Row(replace(base, problem=problem), None, state)
        job = _read_document(base, data)
        return _Row(job, data if job.problem is None else None, state)

    def _transact(self, operation: Callable[[Connection], Any]) -> Any:
        def attempt() -> Any:
            with self.engine.begin() as conn:
                return operation(conn)

        return with_retries(attempt, self._errors, _logger, self._wait)


def _parse_state(state: Any) -> tuple[dict[str, Any] | None, str | None]:
    try:
        data = json.loads(bytes(state))
    except ValueError as exc:
        return None, f"its state is not JSON ({exc})"
    if not isinstance(data, dict):
        return None, f"its state is not a JSON object ({type(data).__name__})"
    return data, None


def _read_document(base: StoredJob, data: dict[str, Any]) -> StoredJob:
    """Fill in what the document says, as far as it says it, and why it cannot be loaded."""
    version = data.get("version")
    name, func = data.get("name"), data.get("func")
    job = replace(
        base,
        func_ref=func if isinstance(func, str) else base.func_ref,
        name=name if isinstance(name, str) else None,
        executor=data.get("executor"),
        misfire_grace_time=data.get("misfire_grace_time"),
        coalesce=data.get("coalesce"),
        max_instances=data.get("max_instances"),
        recover=data.get("recover", False),
        timeout=data.get("timeout"),
        state_version=version if isinstance(version, int) else None,
    )
    if not isinstance(version, int) or isinstance(version, bool) or version > JOB_DATA_VERSION:
        return replace(
            job,
            problem=f"it was written by a newer obssched (job data version {version!r}; this "
            f"one reads up to {JOB_DATA_VERSION})",
        )
    trigger, trigger_problem = _read_trigger(data.get("trigger"))
    args, kwargs, arguments_problem = _read_arguments(data.get("arguments"))
    job = replace(job, trigger=trigger, args=args, kwargs=kwargs)
    missing = [field for field in _REQUIRED if field not in data]
    if missing:
        return replace(job, problem=f"its state lacks {', '.join(map(repr, missing))}")
    return replace(job, problem=trigger_problem or arguments_problem)


def _read_trigger(trigger: Any) -> tuple[str | None, str | None]:
    """The trigger as text, and why it cannot be read; a trigger of the application's own
    class is named, not imported."""
    from obssched.triggers._state import trigger_from_dict

    if not isinstance(trigger, dict):
        return None, f"its trigger is not a JSON object ({trigger!r})"
    if trigger.get("type") == "class":
        return f"{trigger.get('class')} (a trigger class of the application)", None
    try:
        return str(trigger_from_dict(trigger)), None
    except Exception as exc:
        return None, f"its trigger cannot be read ({type(exc).__name__}: {exc})"


def _read_arguments(arguments: Any) -> tuple[Any, Any, str | None]:
    """The arguments (pickled ones are not unpickled), and why they cannot be read."""
    if isinstance(arguments, dict) and set(arguments) == {"pickle"}:
        return PICKLED_ARGUMENTS, PICKLED_ARGUMENTS, None
    try:
        args, kwargs = loads_args(json.dumps(arguments))
    except Exception as exc:
        return (), {}, f"its arguments cannot be read ({exc})"
    return args, kwargs, None
