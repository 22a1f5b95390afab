"""What a SQL job store hands its run bookkeeping and its cluster node when it starts.

:class:`~obssched.jobstores._sql.runs.RunLedger` and
:class:`~obssched.jobstores._sql.cluster.ClusterNode` work on the store's tables with the
store's transactions and row format. They get exactly that, as the public methods of a
:class:`StoreAccess` the store builds from its own internals, and reach the scheduler only
through the :class:`~obssched._context.SchedulerContext` in it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import Connection

if TYPE_CHECKING:
    from obssched._context import SchedulerContext
    from obssched.job import Job
    from obssched.jobstores._sql.notify import Listener
    from obssched.jobstores._sql.schema import Tables

__all__ = ["StoreAccess"]

_T = TypeVar("_T")
Transaction = Callable[[Callable[[Connection], Any]], Any]


class StoreAccess:
    """The operations of a :class:`~obssched.jobstores.sqlalchemy.SQLAlchemyJobStore` that its
    run bookkeeping and cluster node use.

    Args:
        tables: the store's tables.
        alias: the store's alias in its scheduler.
        node_id: this scheduler's identity in the ``_running`` and ``_nodes`` tables.
        context: the scheduler's services (clock, event bus, wakeup).
        logger: the store's logger.
        recover: the store's ``recover`` option.
        lease_seconds: the cluster lease.
        batch_size: the most due jobs one scheduling step claims.
        max_queued_runs: the most runs this node holds claimed but not begun (cluster mode).
        write: runs an operation in a transaction, retrying transient errors.
        write_alone: runs an operation of one statement on a connection held for it, in
            autocommit, retrying transient errors.
        read: the same, after writing the saves the store deferred.
        row_values: the jobs-table values of a job (``next_run_time``, ``func_ref``, ``state``).
        load_rows: the loadable jobs of rows selected from the jobs table.
        without_unloadable: a jobs-table query narrowed to the rows that can be loaded.
        decode_state: the job a ``state`` value holds.
        acquired: the jobs the current single-node step is processing, by id.
        count_abandoned: counts one abandoned run of the named job.
        count_error: counts one error of the store (``obssched_jobstore_errors_total``) that
            was survived without a failed transaction, so no retry counted it.
        make_listener: a notification listener calling back with each payload until the event
            is set.
    """

    def __init__(
        self,
        *,
        tables: Tables,
        alias: str,
        node_id: str,
        context: SchedulerContext,
        logger: logging.Logger,
        recover: bool | Collection[str],
        lease_seconds: float,
        batch_size: int,
        max_queued_runs: int,
        write: Transaction,
        write_alone: Transaction,
        read: Transaction,
        row_values: Callable[[Job], dict[str, Any]],
        load_rows: Callable[[Iterable[Any]], list[Job]],
        without_unloadable: Callable[[Any], Any],
        decode_state: Callable[[Any], Job],
        acquired: Callable[[], Mapping[str, Job] | None],
        count_abandoned: Callable[[str], None],
        count_error: Callable[[], None],
        make_listener: Callable[[Callable[[str], None], threading.Event], Listener],
    ) -> None:
        self.tables = tables
        self.alias = alias
        self.node_id = node_id
        self.context = context
        self.logger = logger
        self.recover = recover
        self.lease_seconds = lease_seconds
        self.batch_size = batch_size
        self.max_queued_runs = max_queued_runs
        self._write = write
        self._write_alone = write_alone
        self._read = read
        self.row_values = row_values
        self.load_rows = load_rows
        self.without_unloadable = without_unloadable
        self.decode_state = decode_state
        self.acquired = acquired
        self.count_abandoned = count_abandoned
        self.count_error = count_error
        self.make_listener = make_listener

    def write(self, operation: Callable[[Connection], _T]) -> _T:
        """Run ``operation`` in a transaction, retrying transient errors; return its result."""
        return cast("_T", self._write(operation))

    def write_alone(self, operation: Callable[[Connection], _T]) -> _T:
        """Run ``operation``, a single statement, in autocommit on a connection kept for it
        (no pool checkout, ping or transaction around it), retrying transient errors; return
        its result. Only one caller at a time gets the connection: for a hot path that one
        thread writes at a time."""
        return cast("_T", self._write_alone(operation))

    def read(self, operation: Callable[[Connection], _T]) -> _T:
        """Like :meth:`write`, once the store's deferred saves are written."""
        return cast("_T", self._read(operation))

    def now(self) -> datetime:
        """The scheduler's time."""
        return self.context.clock.now()

    def wants_recovery(self, job: Job) -> bool:
        """Whether an abandoned run of ``job`` is to run again (the job's or the store's
        ``recover`` option)."""
        option = self.recover
        return bool(job.recover) or (option if isinstance(option, bool) else job.id in option)
