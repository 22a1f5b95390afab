"""The tables of the SQL job store, creating them, and refusing a schema from a newer obssched."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    select,
    text,
    update,
)

from obssched.exceptions import ObsschedError

__all__ = ["SCHEMA_VERSION", "SchemaVersionError", "Tables", "define_tables", "ensure_schema"]

SCHEMA_VERSION = 3
"""The version of the table layout this obssched writes; recorded in the ``_meta`` table.

Version 2 added the ``_owner`` table (which scheduler serves a store outside cluster mode);
version 3 the ``started_through`` column of the ``_running`` table (which runs of a cluster
claim have begun). An older store gets what it lacks, and the new version, when this obssched
opens it; the rows it holds read as they are (a ``_running`` row without ``started_through``
counts as begun).
"""

# An advisory lock key ("obss" in ASCII) so nodes starting together do not race to create tables.
_PG_SCHEMA_LOCK = 0x6F627373


class SchemaVersionError(ObsschedError, RuntimeError):
    """The job table was created by a newer obssched, whose layout this one cannot read."""

    def __init__(self, table: str, found: int, supported: int) -> None:
        self.table = table
        self.found = found
        self.supported = supported
        super().__init__(
            f"The job table {table!r} has schema version {found}, but this obssched only knows "
            f"versions up to {supported}; upgrade obssched on this node (or point it at another "
            "table) instead of letting it misread the jobs"
        )


@dataclass(frozen=True)
class Tables:
    """The job store's tables, all named after the jobs table."""

    jobs: Table
    meta: Table
    nodes: Table
    running: Table
    owner: Table


def define_tables(metadata: MetaData, tablename: str, schema: str | None) -> Tables:
    """Declare the tables on ``metadata``.

    Times are integer microseconds since the epoch (UTC): exact, cheap to index and compare.
    """
    jobs = Table(
        tablename,
        metadata,
        Column("id", String(191), primary_key=True),
        Column("next_run_time", BigInteger, nullable=True),
        Column("func_ref", String(512), nullable=False),
        Column("state", LargeBinary, nullable=False),
        # The cluster lease: which node is processing the job, and until when it may.
        Column("lease_owner", String(191), nullable=True),
        Column("lease_until", BigInteger, nullable=True),
        Index(f"ix_{tablename}_next_run_time", "next_run_time"),
        Index(f"ix_{tablename}_lease_until", "lease_until"),
        schema=schema,
    )
    meta = Table(
        f"{tablename}_meta",
        metadata,
        Column("name", String(64), primary_key=True),
        Column("value", String(255), nullable=False),
        schema=schema,
    )
    nodes = Table(
        f"{tablename}_nodes",
        metadata,
        Column("node_id", String(191), primary_key=True),
        Column("host", String(255), nullable=False),
        Column("pid", Integer, nullable=False),
        Column("started_at", BigInteger, nullable=False),
        Column("last_seen", BigInteger, nullable=False),
        schema=schema,
    )
    running = Table(
        f"{tablename}_running",
        metadata,
        Column("run_key", String(255), primary_key=True),
        Column("job_id", String(191), nullable=False),
        Column("job_name", String(255), nullable=False),
        Column("node_id", String(191), nullable=False),
        Column("run_times", Text, nullable=False),
        Column("claimed_at", BigInteger, nullable=False),
        # The job as it was claimed, so a run can be recovered even if the job is gone since.
        Column("state", LargeBinary, nullable=False),
        # The latest of ``run_times`` whose body began: those after it never did, so another
        # node may run them if this one dies. 0: none began yet; NULL: unknown (rows written
        # where body starts are not reported, and older rows), all count as begun.
        Column("started_through", BigInteger, nullable=True),
        Index(f"ix_{tablename}_running_job_id", "job_id"),
        Index(f"ix_{tablename}_running_node_id", "node_id"),
        schema=schema,
    )
    # One row at most: the scheduler serving the store outside cluster mode, and its heartbeat.
    owner = Table(
        f"{tablename}_owner",
        metadata,
        Column("slot", String(16), primary_key=True),
        Column("token", String(64), nullable=False),
        Column("node_id", String(191), nullable=False),
        Column("host", String(255), nullable=False),
        Column("pid", Integer, nullable=False),
        Column("since", BigInteger, nullable=False),
        Column("last_seen", BigInteger, nullable=False),
        schema=schema,
    )
    return Tables(jobs, meta, nodes, running, owner)


def ensure_schema(engine: Engine, tables: Tables) -> None:
    """Create missing tables and record the schema version, or refuse a newer one.

    Raises:
        SchemaVersionError: the tables were made by a newer obssched.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_SCHEMA_LOCK})
        tables.meta.create(conn, checkfirst=True)
        found = _read_version(conn, tables)
        if found is not None and found > SCHEMA_VERSION:
            raise SchemaVersionError(tables.jobs.name, found, SCHEMA_VERSION)
        for table in (tables.jobs, tables.nodes, tables.running, tables.owner):
            table.create(conn, checkfirst=True)
        meta = tables.meta
        if found is None:
            conn.execute(meta.insert().values(name="schema_version", value=str(SCHEMA_VERSION)))
        elif found < SCHEMA_VERSION:
            # Older layouts lack tables, created above, and columns, added here: the rows
            # read as they are.
            _add_missing_columns(conn, tables)
            conn.execute(
                update(meta)
                .where(meta.c.name == "schema_version")
                .values(value=str(SCHEMA_VERSION))
            )


def _add_missing_columns(conn: Connection, tables: Tables) -> None:
    """Add the columns a table from an older layout lacks (nullable: old rows keep NULL)."""
    for table in (tables.running,):
        present = {column["name"] for column in inspect(conn).get_columns(table.name, table.schema)}
        for column in table.columns:
            if column.name in present:
                continue
            kind = column.type.compile(dialect=conn.dialect)
            quoted = conn.dialect.identifier_preparer.quote(column.name)
            table_name = conn.dialect.identifier_preparer.format_table(table)
            conn.execute(text(f"ALTER TABLE {table_name} ADD COLUMN {quoted} {kind}"))


def _read_version(conn: Connection, tables: Tables) -> int | None:
    meta = tables.meta
    value = conn.execute(select(meta.c.value).where(meta.c.name == "schema_version")).scalar()
    return None if value is None else int(value)
