"""The single-node store's deferred saves.

The jobs one scheduling step processes are saved together, with the runs they submitted, in one
transaction when the step releases them. A save that fails (an outage) stays queued and is
retried before the store is read again, so nothing is lost while the process lives.

The caller holds the store's lock around every method.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam

if TYPE_CHECKING:
    from obssched.job import Job
    from obssched.jobstores._sql.rows import JobRows
    from obssched.jobstores._sql.runs import RunLedger

__all__ = ["DeferredSaves"]

_REMOVED = object()


class DeferredSaves:
    """Saves of the jobs acquired by the current step, written by :meth:`flush`."""

    def __init__(self, rows: JobRows) -> None:
        self._rows = rows
        self.acquired: dict[str, Job] | None = None
        """The jobs being processed in the current step, by id (``None`` between steps)."""
        self._pending: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def defer_update(self, job: Job) -> bool:
        """Queue the save of an acquired job; ``False`` if ``job`` is not acquired.

        Raises:
            SerializationError: the job cannot be stored (refused now, not at release).
        """
        if self.acquired is None or job.id not in self.acquired:
            return False
        self._rows.values(job)
        self._pending[job.id] = job
        return True

    def defer_removal(self, job_id: str) -> bool:
        """Queue the removal of an acquired job; ``False`` if it is not acquired."""
        if self.acquired is None or job_id not in self.acquired:
            return False
        self._pending[job_id] = _REMOVED
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
        transact: Callable[[Callable[[Connection], None]], None],
    ) -> None:
        """Write the queued saves, with the ledger's runs in flight, by one ``transact`` call;
        they stay queued if it fails."""
        if not self._pending and (ledger is None or not ledger.pending()):
            return
        table = self._rows.table
        updates = []
        removals = []
        for job_id, job in self._pending.items():
            if job is _REMOVED:
                removals.append(job_id)
            else:
                updates.append({"job_id": job_id, **self._rows.values(job)})
        update = None
        if updates:
            update = (
                table.update()
                .where(table.c.id == bindparam("job_id"))
                .values({name: bindparam(name) for name in updates[0] if name != "job_id"})
            )
        batch = ledger.take(now()) if ledger is not None and now is not None else None

        def write(conn: Connection) -> None:
            if update is not None:
                conn.execute(update, updates)
            if removals:
                conn.execute(table.delete().where(table.c.id.in_(removals)))
            if batch is not None:
                assert ledger is not None
                ledger.write(conn, batch)

        try:
            transact(write)
        except BaseException:
            if batch is not None:
                assert ledger is not None
                ledger.not_written(batch)
            raise
        self._pending.clear()
        if batch is not None:
            assert ledger is not None
            ledger.written(batch)
