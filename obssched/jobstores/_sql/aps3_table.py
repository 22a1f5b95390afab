"""APScheduler 3's job table: finding it, refusing to start beside it unread, and using it in place.

APScheduler 3's ``SQLAlchemyJobStore`` keeps one table (``apscheduler_jobs`` by default) with
``id``, ``next_run_time`` (float seconds since the epoch, UTC) and ``job_state`` (a pickle of
``Job.__getstate__()``). obssched opens such a table in place when told
``serializer="pickle"``; with any other options it refuses to start while the table holds jobs
that were not migrated, rather than start empty in silence.
"""

from __future__ import annotations

import calendar
import pickle
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    Connection,
    Float,
    LargeBinary,
    MetaData,
    Table,
    Unicode,
    func,
    select,
)
from sqlalchemy import inspect as inspect_database

from obssched.exceptions import SerializationError, UnmigratedJobsError
from obssched.jobstores._sql.aps3_state import (
    job_from_aps3_state,
    job_to_aps3_state,
    unpickle_aps3_state,
)

if TYPE_CHECKING:
    from obssched.job import Job
    from obssched.jobstores._sql.codec import Serializer
    from obssched.jobstores._sql.schema import Tables
    from obssched.schedulers.base import BaseScheduler

__all__ = [
    "APS3_COLUMNS",
    "APS3_TABLE",
    "Aps3Rows",
    "define_aps3_table",
    "in_place_rows",
    "is_aps3_layout",
    "migrated_marker",
    "opens_in_place",
    "table_columns",
]

APS3_TABLE = "apscheduler_jobs"
"""APScheduler 3's default job table."""

APS3_COLUMNS = frozenset({"id", "next_run_time", "job_state"})
"""The columns of APScheduler 3's job table."""


def migrated_marker(source: str) -> str:
    """The ``_meta`` row name that records the jobs of ``source`` as migrated."""
    return f"migrated_from:{source}"[:64]


def define_aps3_table(metadata: MetaData, tablename: str, schema: str | None) -> Table:
    """Declare a job table in APScheduler 3's layout (the same column types it creates)."""
    return Table(
        tablename,
        metadata,
        Column("id", Unicode(191), primary_key=True),
        Column("next_run_time", Float(25), index=True),
        Column("job_state", LargeBinary, nullable=False),
        schema=schema,
    )


def table_columns(conn: Connection, tablename: str, schema: str | None) -> set[str] | None:
    """The column names of a table, or ``None`` if there is no such table."""
    inspector = inspect_database(conn)
    if not inspector.has_table(tablename, schema=schema):
        return None
    return {column["name"] for column in inspector.get_columns(tablename, schema=schema)}


def is_aps3_layout(columns: set[str] | None) -> bool:
    """Whether a table with ``columns`` is laid out as APScheduler 3's job table."""
    return columns is not None and columns >= APS3_COLUMNS and "state" not in columns


def _count_rows(conn: Connection, tablename: str, schema: str | None) -> int:
    table = Table(tablename, MetaData(), Column("id", Unicode(191)), schema=schema)
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _migrated(conn: Connection, tables: Tables, source: str) -> bool:
    meta = tables.meta
    if table_columns(conn, meta.name, meta.schema) is None:
        return False
    marker = migrated_marker(source)
    return conn.execute(select(meta.c.value).where(meta.c.name == marker)).first() is not None


def opens_in_place(conn: Connection, tables: Tables, serializer: Serializer) -> bool:
    """Decide whether the store's job table is APScheduler 3's, kept in place.

    It is when the store uses ``serializer="pickle"`` and its table has APScheduler 3's layout,
    or does not exist yet and bears APScheduler 3's default name.

    Raises:
        UnmigratedJobsError: an APScheduler 3 job table that these options would not read holds
            jobs (the store's own table, or ``apscheduler_jobs`` beside it, unless its jobs were
            migrated).
    """
    jobs = tables.jobs
    schema = jobs.schema
    url = conn.engine.url.render_as_string(hide_password=True)
    columns = table_columns(conn, jobs.name, schema)
    if is_aps3_layout(columns):
        if serializer == "pickle":
            return True
        raise UnmigratedJobsError(jobs.name, _count_rows(conn, jobs.name, schema), url)
    if columns is None and serializer == "pickle" and jobs.name == APS3_TABLE:
        return True
    if jobs.name != APS3_TABLE and is_aps3_layout(table_columns(conn, APS3_TABLE, schema)):
        rows = _count_rows(conn, APS3_TABLE, schema)
        if rows and not _migrated(conn, tables, APS3_TABLE):
            raise UnmigratedJobsError(APS3_TABLE, rows, url)
    return False


def in_place_rows(
    conn: Connection, tables: Tables, serializer: Serializer, pickle_protocol: int, cluster: bool
) -> Aps3Rows | None:
    """The row layout of the store's table if it is APScheduler 3's kept in place (creating the
    table if it does not exist yet), else ``None``; see :func:`opens_in_place`.

    Raises:
        UnmigratedJobsError: see :func:`opens_in_place`.
        ValueError: a cluster was asked for on APScheduler 3's table.
    """
    if not opens_in_place(conn, tables, serializer):
        return None
    jobs = tables.jobs
    if cluster:
        raise ValueError(
            f"cluster=True cannot use APScheduler 3's table {jobs.name!r} in place: it has no "
            "lease columns; migrate it with 'obssched jobs migrate'"
        )
    # A MetaData of its own: the store's already declares obssched's layout by that name.
    table = define_aps3_table(MetaData(), jobs.name, jobs.schema)
    table.create(conn, checkfirst=True)
    return Aps3Rows(table, pickle_protocol)


def to_timestamp(moment: datetime | None) -> float | None:
    """``moment`` as APScheduler 3 stores it: float seconds since the epoch (its formula)."""
    if moment is None:
        return None
    return calendar.timegm(moment.utctimetuple()) + moment.microsecond / 1_000_000


def from_timestamp(value: float | None) -> datetime | None:
    """Invert :func:`to_timestamp` (the result is in UTC)."""
    return None if value is None else datetime.fromtimestamp(value, UTC)


class Aps3Rows:
    """APScheduler 3's layout, read and written the way APScheduler 3.11 does, so that either
    scheduler can open the table the other wrote."""

    func_ref_column: Column[Any] | None = None

    def __init__(self, table: Table, pickle_protocol: int) -> None:
        self.table = table
        self.columns: tuple[Column[Any], ...] = (
            table.c.id,
            table.c.next_run_time,
            table.c.job_state,
        )
        self._pickle_protocol = pickle_protocol

    def to_db_time(self, moment: datetime | None) -> float | None:
        """Float seconds since the epoch."""
        return to_timestamp(moment)

    def from_db_time(self, value: Any) -> datetime | None:
        """Invert :meth:`to_db_time`."""
        return from_timestamp(value)

    def values(self, job: Job) -> dict[str, Any]:
        """The row APScheduler 3.11 would write for the same job.

        Raises:
            SerializationError: the job cannot be expressed as an APScheduler 3 job, or pickled.
        """
        state = job_to_aps3_state(job)
        try:
            blob = pickle.dumps(state, self._pickle_protocol)
        except Exception as exc:
            raise SerializationError(f"Job {job.id!r} cannot be pickled: {exc}") from exc
        return {"next_run_time": to_timestamp(job.next_run_time), "job_state": blob}

    def load(self, row: Any, scheduler: BaseScheduler, alias: str) -> Job:
        """Unpickle the row's APScheduler 3 state into an obssched job."""
        return job_from_aps3_state(unpickle_aps3_state(row.job_state, row.id), scheduler, alias)

    def func_ref(self, row: Any) -> str:
        """Unknown without unpickling: the row keeps it inside ``job_state``."""
        return "?"
