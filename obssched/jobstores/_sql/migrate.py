"""Converting the jobs of an APScheduler 3 job table into obssched's tables.

Each ``job_state`` is unpickled (which runs code stored in the database: only for a database
you trust), converted by :mod:`.aps3_state` and written as obssched's versioned plain data. Jobs
whose id is already in obssched's table are left as they are, so a second run changes nothing;
the source table is kept unless asked to drop it, and never dropped while some of its jobs could
not be converted. A successful run records the source as migrated in the ``_meta`` table, which
lets the store start beside the kept source table.
"""

from __future__ import annotations

import importlib.util
import pickle
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, select

from obssched._refs import ref_to_obj
from obssched.exceptions import MigrationError
from obssched.jobstores._sql.aps3_state import (
    APS3_INSTALL_HINT,
    job_state_from_aps3,
    unpickle_aps3_state,
)
from obssched.jobstores._sql.aps3_table import (
    define_aps3_table,
    is_aps3_layout,
    migrated_marker,
    table_columns,
)
from obssched.jobstores._sql.codec import Serializer, encode_state, to_micros
from obssched.jobstores._sql.schema import Tables, ensure_schema

__all__ = ["ConvertedJob", "MigrationReport", "NotConverted", "apscheduler_importable", "migrate"]


@dataclass(frozen=True)
class ConvertedJob:
    """A job converted (or, in a dry run, convertible) into obssched's table."""

    id: str
    name: str
    trigger: str
    next_run_time: datetime | None
    note: str = ""
    """A warning that did not stop the conversion (the callable does not import here)."""


@dataclass(frozen=True)
class NotConverted:
    """A source row left out, and why."""

    id: str
    reason: str


@dataclass
class MigrationReport:
    """What :func:`migrate` did (or, in a dry run, would do)."""

    source: str
    target: str
    dry_run: bool
    converted: list[ConvertedJob] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    """Ids already in obssched's table: left as they are."""
    not_converted: list[NotConverted] = field(default_factory=list)
    dropped_source: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-compatible data."""
        return {
            "source": self.source,
            "target": self.target,
            "dry_run": self.dry_run,
            "converted": [
                {
                    "id": job.id,
                    "name": job.name,
                    "trigger": job.trigger,
                    "next_run_time": job.next_run_time.isoformat() if job.next_run_time else None,
                    "note": job.note or None,
                }
                for job in self.converted
            ],
            "already_present": self.already_present,
            "not_converted": [{"id": row.id, "reason": row.reason} for row in self.not_converted],
            "dropped_source": self.dropped_source,
        }


def apscheduler_importable() -> bool:
    """Whether the ``apscheduler`` package (needed to unpickle its triggers) can be imported."""
    return importlib.util.find_spec("apscheduler") is not None


def migrate(
    engine: Engine,
    tables: Tables,
    source: str,
    *,
    serializer: Serializer = "json",
    pickle_protocol: int = pickle.HIGHEST_PROTOCOL,
    dry_run: bool = False,
    drop_source: bool = False,
) -> MigrationReport:
    """Convert the jobs of the APScheduler 3 table ``source`` into ``tables``.

    Raises:
        MigrationError: there is no table ``source``, it is not laid out as APScheduler 3's, or
            it is the target table itself, or the ``apscheduler`` package is not importable.
    """
    url = engine.url.render_as_string(hide_password=True)
    schema = tables.jobs.schema
    if source == tables.jobs.name:
        raise MigrationError(source, url, "it is the table obssched would migrate into")
    if not apscheduler_importable():
        raise MigrationError(
            source,
            url,
            "its job_state column holds pickled APScheduler 3 objects, and reading them needs "
            f"the apscheduler package (3.x) importable here: {APS3_INSTALL_HINT}",
        )
    with engine.connect() as conn:
        columns = table_columns(conn, source, schema)
        target_exists = table_columns(conn, tables.jobs.name, schema) is not None
    if columns is None:
        raise MigrationError(source, url, "there is no such table")
    if not is_aps3_layout(columns):
        raise MigrationError(
            source,
            url,
            f"its columns {sorted(columns)} are not APScheduler 3's (id, next_run_time, job_state)",
        )
    aps_table = define_aps3_table(MetaData(), source, schema)
    if not dry_run:
        ensure_schema(engine, tables)
    report = MigrationReport(source, tables.jobs.name, dry_run)
    with engine.begin() as conn:
        present: set[str] = set()
        if target_exists or not dry_run:
            present = {row.id for row in conn.execute(select(tables.jobs.c.id))}
        query = select(aps_table.c.id, aps_table.c.job_state).order_by(aps_table.c.id)
        new_rows = []
        for row in conn.execute(query).all():
            if row.id in present:
                report.already_present.append(row.id)
                continue
            try:
                converted, values = _convert(row.id, row.job_state, serializer, pickle_protocol)
            except Exception as exc:
                report.not_converted.append(NotConverted(row.id, str(exc)))
                continue
            report.converted.append(converted)
            new_rows.append(values)
        if dry_run:
            return report
        if new_rows:
            conn.execute(tables.jobs.insert(), new_rows)
        _mark_migrated(conn, tables, source, len(new_rows) + len(report.already_present))
        if drop_source and not report.not_converted:
            aps_table.drop(conn)
            report.dropped_source = True
    return report


def _convert(
    job_id: str, blob: bytes, serializer: Serializer, pickle_protocol: int
) -> tuple[ConvertedJob, dict[str, Any]]:
    state = job_state_from_aps3(unpickle_aps3_state(blob, job_id))
    note = ""
    try:
        ref_to_obj(state["func"])
    except Exception as exc:
        note = f"its callable {state['func']} does not import here ({exc})"
    next_run_time = state["next_run_time"]
    values = {
        "id": state["id"],
        "next_run_time": to_micros(next_run_time),
        "func_ref": state["func"],
        "state": encode_state(state, serializer, pickle_protocol),
    }
    converted = ConvertedJob(state["id"], state["name"], str(state["trigger"]), next_run_time, note)
    return converted, values


def _mark_migrated(conn: Connection, tables: Tables, source: str, jobs: int) -> None:
    meta = tables.meta
    marker = migrated_marker(source)
    conn.execute(meta.delete().where(meta.c.name == marker))
    conn.execute(meta.insert().values(name=marker, value=f"{jobs} job(s)"))
