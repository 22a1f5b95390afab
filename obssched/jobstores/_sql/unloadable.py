"""Rows that cannot be loaded: kept in the table untouched, reported once per process."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from obssched._refs import ref_to_obj
from obssched.events import EVENT_JOB_ERROR, JobExecutionEvent
from obssched.jobstores._sql.codec import UnloadableJob

if TYPE_CHECKING:
    from obssched._context import SchedulerContext
    from obssched.job import Job
    from obssched.jobstores._sql.rows import JobRows
    from obssched.schedulers.base import BaseScheduler

__all__ = ["UnloadableRows", "broken_refs"]


def broken_refs(refs: Iterable[str]) -> dict[str, Exception]:
    """Return the references among ``refs`` that do not import, with the import error."""
    broken: dict[str, Exception] = {}
    for ref in refs:
        try:
            ref_to_obj(ref)
        except Exception as exc:
            broken[ref] = exc
    return broken


class UnloadableRows:
    """The rows of one store found unloadable; each is logged and reported as an event once.

    Not locked: the dict operations it does are atomic, and a row reported twice by two threads
    racing is logged twice at worst.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._rows: dict[str, UnloadableJob] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._rows

    def ids(self) -> list[str]:
        """The ids of the unloadable rows."""
        return list(self._rows)

    def jobs(self) -> list[UnloadableJob]:
        """The unloadable rows, in the order they were found."""
        return list(self._rows.values())

    def forget(self, job_id: str) -> None:
        """The row was loaded after all, or removed."""
        self._rows.pop(job_id, None)

    def clear(self) -> None:
        """Every row was removed."""
        self._rows.clear()

    def report(
        self,
        context: SchedulerContext | None,
        alias: str | None,
        job_id: str,
        func_ref: str,
        next_run_time: datetime | None,
        error: BaseException,
    ) -> None:
        """Record the row, log it and dispatch an ``EVENT_JOB_ERROR`` (once per row)."""
        if job_id in self._rows:
            return
        self._rows[job_id] = UnloadableJob(job_id, func_ref, next_run_time, error)
        self._logger.error(
            "Job %r (%s) in job store %r cannot be loaded and is left in the table untouched: %s",
            job_id,
            func_ref,
            alias,
            error,
        )
        if context is not None:
            context.dispatch(
                JobExecutionEvent(
                    EVENT_JOB_ERROR,
                    job_id,
                    alias,
                    next_run_time or context.clock.now(),
                    exception=error,
                    job_name=func_ref,
                )
            )

    def load(
        self,
        layout: JobRows,
        rows: Iterable[Any],
        scheduler: BaseScheduler,
        context: SchedulerContext | None,
        alias: str | None,
    ) -> list[Job]:
        """Load the jobs of ``rows``; report the rows that cannot be loaded and skip them."""
        jobs: list[Job] = []
        for row in rows:
            try:
                jobs.append(layout.load(row, scheduler, alias or "default"))
            except Exception as exc:
                next_run_time = layout.from_db_time(row.next_run_time)
                self.report(context, alias, row.id, layout.func_ref(row), next_run_time, exc)
            else:
                self.forget(row.id)
        return jobs

    def scan_refs(
        self,
        layout: JobRows,
        read: Callable[[Callable[[Connection], Any]], Any],
        context: SchedulerContext | None,
        alias: str | None,
    ) -> None:
        """Check each distinct callable reference of the table once, so that paused rows are
        found too (for a layout that keeps the reference in a column)."""
        column = layout.func_ref_column
        if column is None:
            return
        refs = read(lambda conn: conn.execute(select(column).distinct()).all())
        broken = broken_refs(ref for (ref,) in refs)
        if not broken:
            return
        jobs = layout.table
        query = select(jobs.c.id, column, jobs.c.next_run_time).where(column.in_(list(broken)))
        for row in read(lambda conn: conn.execute(query).all()):
            next_run_time = layout.from_db_time(row.next_run_time)
            self.report(context, alias, row.id, row.func_ref, next_run_time, broken[row.func_ref])
