"""Cluster mode, which claimed runs began: recorded before each body starts.

A claimed run that never began can safely run on another node if its own dies; one that began
must not run again (unless its job asks for recovery). So a node records, in the run's
``_running`` row (``started_through``), each run of its claims as its body is about to begin,
and commits that before the body starts. Quartz keeps acquired and executing triggers apart
the same way.

The record is made by a run hook (:class:`StartHook`): executors call it in the thread or task
that runs the body, right before it (or at submission for a body run in another process,
which is earlier and so still safe). Executors that do not call run hooks (APScheduler 3's)
get no such record: their claims are written as begun from the start, as every run was before.

Bodies starting together share one commit (:class:`StartMarks`): the first to arrive writes
every mark waiting, the others wait for that commit. The deletes of the rows of runs that ended
go out in the same commits.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from obssched.exceptions import RunTakenOverError
from obssched.executors.base import BaseExecutor
from obssched.jobstores._sql.bulk import ClaimStatements

if TYPE_CHECKING:
    from obssched._runs import RemoteWrapper, RunInfo
    from obssched.jobstores._sql.access import StoreAccess
    from obssched.jobstores._sql.claims import Claims

__all__ = ["StartHook", "StartMarks", "reports_body_start"]


def reports_body_start(executor: object) -> bool:
    """Whether ``executor`` calls the run hooks before each job body (obssched's executors, and
    those implementing ``submit_runs``' work hand-over) rather than running bodies through
    APScheduler 3's ``submit_job``/``_do_submit_job``, which call none."""
    if not isinstance(executor, BaseExecutor):
        return False
    kind = type(executor)
    return (
        kind.submit_job is BaseExecutor.submit_job
        and kind._do_submit_runs is not BaseExecutor._do_submit_runs
    )


class StartMarks:
    """Writes the marks of runs about to begin, and the deletes of runs that ended, several
    in one commit.

    A caller that finds no write in progress becomes the writer: it writes what is pending,
    then what arrived meanwhile, until nothing is (past :attr:`ROUNDS` batches, a caller waiting
    for its mark takes over). A mark's caller returns once its mark is committed; an end's
    caller does not wait, and no end is left unwritten once the writer returns (unless the
    write failed: see :meth:`_drain`).

    Args:
        access: the store's tables and transactions.
    """

    ROUNDS = 4

    def __init__(self, access: StoreAccess) -> None:
        self._access = access
        self._lock = threading.Lock()
        self._committed = threading.Condition(self._lock)
        self._pending: dict[str, int] = {}  # run key -> latest run time (micros) begun
        self._ended: list[str] = []  # run keys of the runs that ended
        self._next_batch = 1  # the batch the pending marks go out in
        self._finished = 0  # the last batch written (or failed)
        self._writing = False
        # Rows found taken over by another node when their runs' starts were written: their
        # runs (and later ones of the same claim) must not begin here. Dropped as they end.
        self._lost: set[str] = set()
        self._statements = ClaimStatements(access.tables)

    def mark(self, run_key: str, micros: int) -> bool:
        """Record that the run of ``run_key`` at ``micros`` begins; return once committed (or
        once writing it failed, which is logged: the body runs either way).

        Returns ``False`` when the write found the row no longer this node's: another node took
        it over (this one stalled past its lease) and handles its runs; the body must not start
        here.
        """
        with self._lock:
            if micros > self._pending.get(run_key, -1):
                self._pending[run_key] = micros
            if not self._wait_or_write(self._next_batch):
                return run_key not in self._lost
        self._drain()
        with self._lock:
            return run_key not in self._lost

    def end(self, keys: list[str]) -> None:
        """Delete the ``_running`` rows ``keys`` (their runs ended) with the next write; one
        that fails is retried with the write after it."""
        with self._lock:
            self._ended.extend(keys)
            if self._lost:
                self._lost.difference_update(keys)
            if self._writing:
                return
            self._writing = True
        self._drain()

    def defer(self, keys: list[str]) -> None:
        """Queue the deletes of the ``_running`` rows ``keys`` without writing them now (the
        database just failed, or a step about to be woken syncs them first): the next write
        takes them, at the latest the heartbeat's."""
        with self._lock:
            self._ended.extend(keys)
            if self._lost:
                self._lost.difference_update(keys)

    def sync(self) -> None:
        """Return once every end queued before the call is committed, or its write failed (a
        claim counting the runs in flight must not count one that ended). The caller becomes
        the writer if none is writing; otherwise it waits for the writer, which always gives
        up its role (see :meth:`_drain`)."""
        with self._lock:
            if not self._ended and not self._writing:
                return
            # Queued ends go out in the next batch; with none queued, the batch being written
            # holds every end queued so far.
            if not self._wait_or_write(self._next_batch if self._ended else self._next_batch - 1):
                return
        self._drain()

    def _wait_or_write(self, ticket: int) -> bool:
        """Under the lock: wait until batch ``ticket`` is written, or take over the writing
        when no one writes (return ``True``: the caller must then drain)."""
        while self._finished < ticket:
            if not self._writing:
                self._writing = True
                return True
            self._committed.wait()
        return False

    def flush(self) -> None:
        """Write what is pending now (the heartbeat retries failed deletes so)."""
        self.end([])

    def _drain(self) -> None:
        """Write batches while any is pending (the caller is the writer).

        Deciding to stop and giving up the writer's role happen under one lock, so whatever
        arrives before that is written by this writer and whatever arrives after finds no
        writer and writes itself. Past :attr:`ROUNDS` batches the writer hands over only when
        marks are pending (their callers are waiting and one takes over); deletes alone have
        nobody waiting for them, so it writes them itself. After a failed write it stops: the
        waiting marks' callers take over, and the deletes are retried by the next write (the
        next claim syncs them, the heartbeat flushes them).
        """
        rounds = 0
        number: int | None = None  # the batch being written
        ended: list[str] = []
        failed = False
        lost: list[str] = []
        held: list[str] = []
        try:
            while True:
                with self._lock:
                    if number is not None:
                        self._finished = number
                        number = None
                        if self._lost and held:
                            # Rows this node holds again (taken back from a node that died).
                            self._lost.difference_update(held)
                        if lost:
                            self._lost.update(lost)
                        self._committed.notify_all()
                        if failed:
                            self._ended[:0] = ended
                    if (
                        failed
                        or not (self._pending or self._ended)
                        or (rounds >= self.ROUNDS and self._pending)
                    ):
                        self._writing = False
                        self._committed.notify_all()
                        return
                    batch, self._pending = self._pending, {}
                    ended, self._ended = self._ended, []
                    number = self._next_batch
                    self._next_batch += 1
                rounds += 1
                failed, lost, held = self._write(batch, ended)
        except BaseException:
            # The write was interrupted (KeyboardInterrupt in the loop thread): its marks'
            # callers are released as if it failed, its deletes are kept, and the next caller
            # becomes the writer instead of every later one waiting forever.
            with self._lock:
                if number is not None:
                    self._finished = number
                    self._ended[:0] = ended
                self._writing = False
                self._committed.notify_all()
            raise

    def _write(self, batch: dict[str, int], ended: list[str]) -> tuple[bool, list[str], list[str]]:
        """Write ``batch`` and ``ended`` in one transaction; return whether it failed, the keys
        of ``batch`` whose rows another node took over, and those this node holds."""
        # Only this node's rows (another took a row over if this node was deemed dead). Not
        # waiting for the flush to disk nor for synchronous standbys: the commit is visible to
        # every node at once, and only a crash of the database server within its WAL writer's
        # delay, or a failover to a standby that missed it, could lose it (a lost mark makes a
        # begun run look never begun; a lost delete leaves a row this node no longer tracks,
        # counting against max_instances until a heartbeat two leases later settles it: see
        # Membership). Waiting for the disk instead caps the runs a node can begin at a batch
        # per fsync.
        parameters = {
            "keys": list(batch),
            "marks": list(batch.values()),
            "node": self._access.node_id,
            "ended": ended,
        }

        def write(conn: Connection) -> list[str]:
            # Through SQLAlchemy's driver-level call (the statement keeps psycopg's
            # placeholders): its errors are wrapped, so they are counted, a lost connection is
            # invalidated, and transient ones are retried like any other store write.
            result = conn.exec_driver_sql(self._statements.mark_and_end, parameters)
            return list(result.scalars().all())

        try:
            # One statement, one writer at a time: on the connection kept for it, in
            # autocommit (its own transaction), a single round trip.
            held = self._access.write_alone(write)
        except Exception:
            if batch:
                self._access.logger.exception(
                    "Could not record the start of %d runs; another node may run them again "
                    "if this one dies",
                    len(batch),
                )
            if ended:
                self._access.logger.warning(
                    "Could not record the end of %d runs; retrying", len(ended)
                )
            return True, [], []
        lost: list[str] = []
        if len(held) < len(batch):
            lost = sorted(set(batch) - set(held) - set(ended))
            if lost:
                # This node stalled past its lease and another took its runs over: that node
                # handles them, so they do not begin here (their callers end them with an error).
                self._access.count_error()
                self._access.logger.warning(
                    "Runs %s do not begin on node %r, which no longer holds them: another node "
                    "took them over",
                    ", ".join(lost),
                    self._access.node_id,
                )
        return False, lost, held


class StartHook:
    """The run hook that records the start of this node's claimed runs.

    Args:
        claims: the node's claims, which know the ``_running`` row of each run.
    """

    def __init__(self, claims: Claims) -> None:
        self._claims = claims

    def wrap(self, run: RunInfo) -> AbstractContextManager[object] | None:
        """Record ``run``'s start if it is one of this node's claims; nothing to wrap.

        Raises:
            RunTakenOverError: another node took the run over (see :meth:`Claims.run_begins`).
        """
        self._begin(run)
        return None

    def remote(self, run: RunInfo) -> RemoteWrapper | None:
        """A body run in another process: recorded now, at submission (before it can begin).

        Raises:
            RunTakenOverError: another node took the run over.
        """
        self._begin(run)
        return None

    def _begin(self, run: RunInfo) -> None:
        if not self._claims.run_begins(run.job_id, run.jobstore, run.scheduled_run_time):
            raise RunTakenOverError(run.job_id, self._claims.node_id, run.scheduled_run_time)
