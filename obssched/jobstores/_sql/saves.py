"""The single-node store's deferred saves.

The jobs one scheduling step processes are saved together, with the runs they submitted, in one
transaction when the step releases them. A save that fails (an outage) stays queued and is
retried before the store is read again, so nothing is lost while the process lives.

Each save is a compare-and-set against the row as the step read it: ``obssched jobs`` (or any
other writer) may change a job while a step holds it, and that change is newer than what the
step worked out from the old row. A save whose row changed meanwhile is dropped, the row
stands, and the next step reads the job from it.

The caller holds the store's lock around every method.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Connection, and_, bindparam, select

if TYPE_CHECKING:
    from obssched.job import Job
    from obssched.jobstores._sql.rows import JobRows
    from obssched.jobstores._sql.runs import RunLedger

__all__ = ["DeferredSaves", "guard_columns"]

_GUARD = "was_"  # prefix of the bound values the compare-and-set compares with


def guard_columns(rows: JobRows) -> tuple[Column[Any], ...]:
    """The columns a save compares with the row as read: every loaded column that a change of
    the job rewrites (the next run time and the serialized job; not the id, nor the callable's
    reference, which the serialized job repeats)."""
    table = rows.table
    return tuple(
        column
        for column in rows.columns
        if column is not table.c.id and column is not rows.func_ref_column
    )


@dataclass(frozen=True)
class _Save:
    """A queued save: the job to write (``None``: remove its row), and the guarded columns'
    values of the row it was worked out from."""

    job: Job | None
    read: dict[str, Any]


class DeferredSaves:
    """Saves of the jobs acquired by the current step, written by :meth:`flush`."""

    def __init__(self, rows: JobRows) -> None:
        self._rows = rows
        self._guards = guard_columns(rows)
        self.acquired: dict[str, Job] | None = None
        """The jobs being processed in the current step, by id (``None`` between steps)."""
        self._read: dict[str, dict[str, Any]] = {}
        self._pending: dict[str, _Save] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def acquire(self, rows: Iterable[Any], jobs: Sequence[Job]) -> None:
        """Start a step processing ``jobs``, loaded from ``rows`` (selected with the layout's
        columns): their saves will be compared with these rows."""
        self.acquired = {job.id: job for job in jobs}
        names = [column.name for column in self._guards]
        self._read = {
            row.id: {name: row._mapping[name] for name in names}
            for row in rows
            if row.id in self.acquired
        }

    def release(self) -> None:
        """End the step: later writes of its jobs are direct, not deferred."""
        self.acquired = None
        self._read = {}

    def defer_update(self, job: Job) -> bool:
        """Queue the save of an acquired job; ``False`` if ``job`` is not acquired.

        Raises:
            SerializationError: the job cannot be stored (refused now, not at release).
        """
        if self.acquired is None or job.id not in self.acquired:
            return False
        self._rows.values(job)
        self._pending[job.id] = _Save(job, self._read[job.id])
        return True

    def defer_removal(self, job_id: str) -> bool:
        """Queue the removal of an acquired job; ``False`` if it is not acquired."""
        if self.acquired is None or job_id not in self.acquired:
            return False
        self._pending[job_id] = _Save(None, self._read[job_id])
        return True

    def superseded(self, job_id: str) -> None:
        """A direct write of ``job_id`` succeeded: a save of it still waiting from a step whose
        flush failed is older, and must not overwrite it when it is retried."""
        if self.acquired is None or job_id not in self.acquired:
            self._pending.pop(job_id, None)

    def clear(self) -> None:
        """Forget every queued save (every job was removed)."""
        self._pending.clear()

    def flush(
        self,
        ledger: RunLedger | None,
        now: Callable[[], datetime] | None,
        transact: Callable[[Callable[[Connection], list[str]]], list[str]],
    ) -> list[str]:
        """Write the queued saves, with the ledger's runs in flight, by one ``transact`` call;
        they stay queued if it fails.

        Returns:
            The ids of the jobs whose saves were dropped because their rows changed (or were
            removed) since the step read them.
        """
        if not self._pending and (ledger is None or not ledger.pending()):
            return []
        updates: list[dict[str, Any]] = []
        removals: list[dict[str, Any]] = []
        for job_id, save in self._pending.items():
            read = {_GUARD + name: value for name, value in save.read.items()}
            if save.job is None:
                removals.append({"job_id": job_id, **read})
            else:
                updates.append({"job_id": job_id, **read, **self._rows.values(save.job)})
        batch = ledger.take(now()) if ledger is not None and now is not None else None

        def write(conn: Connection) -> list[str]:
            dropped = self._update(conn, updates) + self._remove(conn, removals)
            if batch is not None:
                assert ledger is not None
                ledger.write(conn, batch)
            return dropped

        try:
            dropped = transact(write)
        except BaseException:
            if batch is not None:
                assert ledger is not None
                ledger.not_written(batch)
            raise
        self._pending.clear()
        self._reread(updates, dropped)
        if batch is not None:
            assert ledger is not None
            ledger.written(batch)
        return dropped

    def _unchanged(self) -> Any:
        """The compare-and-set condition: the row is still the one the step read."""
        table = self._rows.table
        return and_(
            table.c.id == bindparam("job_id"),
            *(column == bindparam(_GUARD + column.name) for column in self._guards),
        )

    def _update(self, conn: Connection, updates: list[dict[str, Any]]) -> list[str]:
        """Write ``updates`` where their rows are unchanged; return the ids that were not."""
        if not updates:
            return []
        table = self._rows.table
        names = [name for name in updates[0] if name != "job_id" and not name.startswith(_GUARD)]
        statement = (
            table.update()
            .where(self._unchanged())
            .values({name: bindparam(name) for name in names})
        )
        if self._all_changed(conn.execute(statement, updates).rowcount, len(updates), conn):
            return []
        # Some rows did not match: those not holding what was just written were changed (or
        # removed) by someone else.
        ids = [update["job_id"] for update in updates]
        columns = [table.c.id, *self._guards]
        found = {row.id: row for row in conn.execute(select(*columns).where(table.c.id.in_(ids)))}
        return [
            update["job_id"]
            for update in updates
            if update["job_id"] not in found
            or any(
                found[update["job_id"]]._mapping[column.name] != update[column.name]
                for column in self._guards
            )
        ]

    def _remove(self, conn: Connection, removals: list[dict[str, Any]]) -> list[str]:
        """Delete the rows of ``removals`` that are unchanged; return the ids of those kept."""
        if not removals:
            return []
        table = self._rows.table
        statement = table.delete().where(self._unchanged())
        if self._all_changed(conn.execute(statement, removals).rowcount, len(removals), conn):
            return []
        ids = [removal["job_id"] for removal in removals]
        return list(conn.execute(select(table.c.id).where(table.c.id.in_(ids))).scalars())

    @staticmethod
    def _all_changed(rowcount: int, expected: int, conn: Connection) -> bool:
        """Whether an executemany's row count shows that every statement matched its row."""
        return bool(conn.dialect.supports_sane_multi_rowcount) and rowcount == expected

    def _reread(self, updates: list[dict[str, Any]], dropped: list[str]) -> None:
        """A job of the current step saved now may be saved again in the same step (a
        ``modify_job`` while it runs): compare that save with the row just written."""
        if self.acquired is None:
            return
        skipped = set(dropped)
        for update in updates:
            job_id = update["job_id"]
            if job_id in self._read and job_id not in skipped:
                self._read[job_id] = {column.name: update[column.name] for column in self._guards}
