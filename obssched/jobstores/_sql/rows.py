"""How a job maps to a row of the jobs table, and back.

:class:`JobRows` is what the store asks of a table layout; :class:`NativeRows` is obssched's own
(``id``, ``next_run_time`` in integer microseconds, ``func_ref``, ``state``), and
:class:`obssched.jobstores._sql.aps3_table.Aps3Rows` is APScheduler 3's, for a table kept in
place.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Column, Select, Table, Text, cast, func, select

from obssched._serialization import JOB_DATA_VERSION
from obssched.exceptions import SerializationError
from obssched.jobstores._sql.codec import (
    Serializer,
    decode_job,
    decode_labels,
    encode_job,
    micros_to_datetime,
    to_micros,
)

if TYPE_CHECKING:
    from obssched.job import Job
    from obssched.schedulers.base import BaseScheduler

__all__ = ["JobRows", "NativeRows"]

# SQLite has had its JSON functions built in since 3.38 (earlier builds had them as an option).
_SQLITE_JSON = (3, 38)


class JobRows(Protocol):
    """A layout of the jobs table: which columns hold a job, and how it is written and read."""

    table: Table
    """The jobs table; it has an ``id`` and a ``next_run_time`` column in every layout."""

    columns: tuple[Column[Any], ...]
    """The columns to select to load a job (``id`` and ``next_run_time`` among them)."""

    func_ref_column: Column[Any] | None
    """The column that names each job's callable, if the layout has one."""

    def to_db_time(self, moment: datetime | None) -> Any:
        """Return ``moment`` as the ``next_run_time`` column stores it."""

    def from_db_time(self, value: Any) -> datetime | None:
        """Return a ``next_run_time`` column value as an aware datetime."""

    def values(self, job: Job) -> dict[str, Any]:
        """Return the values of every column but ``id``.

        Raises:
            SerializationError: the job cannot be stored in this layout; the message says why.
        """

    def load(self, row: Any, scheduler: BaseScheduler, alias: str) -> Job:
        """Rebuild the job of a row selected with :attr:`columns`."""

    def func_ref(self, row: Any) -> str:
        """The callable's reference as far as the row tells without loading it."""


class NativeRows:
    """obssched's own layout: versioned plain data, the callable's reference in a column."""

    def __init__(self, table: Table, serializer: Serializer, pickle_protocol: int) -> None:
        self.table = table
        columns = table.c
        self.columns: tuple[Column[Any], ...] = (
            columns.id,
            columns.func_ref,
            columns.next_run_time,
            columns.state,
        )
        self.func_ref_column: Column[Any] | None = columns.func_ref
        self._serializer: Serializer = serializer
        self._pickle_protocol = pickle_protocol

    def to_db_time(self, moment: datetime | None) -> int | None:
        """Integer microseconds since the epoch (exact, unlike a float)."""
        return to_micros(moment)

    def from_db_time(self, value: Any) -> datetime | None:
        """Invert :meth:`to_db_time`."""
        return micros_to_datetime(value)

    def values(self, job: Job) -> dict[str, Any]:
        """The row of ``job`` (see :func:`~obssched.jobstores._sql.codec.encode_job`)."""
        return {
            "next_run_time": to_micros(job.next_run_time),
            "func_ref": job.func_ref,
            "state": encode_job(job, self._serializer, self._pickle_protocol),
        }

    def load(self, row: Any, scheduler: BaseScheduler, alias: str) -> Job:
        """Decode the row's state (pickled arguments only if the store allows pickle)."""
        return decode_job(row.state, scheduler, alias, self._serializer == "pickle")

    def func_ref(self, row: Any) -> str:
        """The ``func_ref`` column."""
        return str(row.func_ref)

    def labels_query(self, dialect: str, version: tuple[int | str, ...] | None) -> Select[Any]:
        """Select what :meth:`labels` needs of every row: on SQLite, the id and the name,
        executor and data version read by the database's own JSON functions (rows that are not
        JSON are left out); elsewhere the id and the state."""
        jobs = self.table
        if dialect != "sqlite" or tuple(version or ())[:2] < _SQLITE_JSON:
            return select(jobs.c.id, jobs.c.state)
        document = cast(jobs.c.state, Text)
        fields = [func.json_extract(document, f"$.{key}") for key in _LABEL_KEYS]
        return select(jobs.c.id, *fields).where(func.json_valid(document) == 1)

    def labels(self, rows: Iterable[Any]) -> list[tuple[str, str, str]]:
        """Return ``(id, name, executor)`` of the rows selected with :meth:`labels_query`,
        leaving out those whose data cannot be read."""
        labels: list[tuple[str, str, str]] = []
        for row in rows:
            if len(row) == 2:
                try:
                    name, executor = decode_labels(row[1])
                except SerializationError:
                    continue
            else:
                name, executor, version = row[1:]
                if not (
                    isinstance(name, str)
                    and isinstance(executor, str)
                    and isinstance(version, int)
                    and version <= JOB_DATA_VERSION
                ):
                    continue
            labels.append((row[0], name, executor))
        return labels


_LABEL_KEYS = ("name", "executor", "version")
