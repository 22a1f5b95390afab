"""Cluster mode: several schedulers sharing one PostgreSQL job store.

A :class:`ClusterNode` is this scheduler's membership in the cluster. It claims due runs under
leases (:mod:`._sql.claims`), heart-beats and takes over the runs of dead nodes
(:mod:`._sql.heartbeat`), and wakes the other nodes when the jobs change (``LISTEN/NOTIFY``).
The ``_running`` table makes ``max_instances`` hold across the cluster and outlives a node
killed mid-run: the runs it left that had begun are reported abandoned by another node, and run
again for jobs that ask for recovery; those it had claimed but not begun run on another node.
A run hook records each claimed run's start before its body begins (:mod:`._sql.starts`).
The node decides nothing it reports: its claims reach the scheduling loop as
:class:`~obssched.jobstores.base.RunPlan` objects and the runs it takes over as
:class:`~obssched.jobstores.base.OrphanedRun` objects.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from obssched.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
)
from obssched.exceptions import JobAbandonedError
from obssched.jobstores._sql.claims import Claims
from obssched.jobstores._sql.heartbeat import Membership
from obssched.jobstores._sql.notify import notify
from obssched.jobstores._sql.starts import StartHook

if TYPE_CHECKING:
    from obssched.job import Job
    from obssched.jobstores._sql.access import StoreAccess
    from obssched.jobstores.base import OrphanedRun, RunPlan

__all__ = ["ClusterNode", "JobAbandonedError"]

# A run ends executed, failed, or missed: an executor written against APScheduler 3 (its
# run_job) reports a run that waited past its grace time missed instead of running it.
_RUN_EVENTS = EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED


class ClusterNode:
    """This scheduler's membership in a cluster sharing one job store.

    Args:
        access: the store's tables, transactions and scheduler context.
    """

    def __init__(self, access: StoreAccess) -> None:
        self._access = access
        self.node_id = access.node_id
        self._stop = threading.Event()
        self.claims = Claims(access)
        self.membership = Membership(access, self.claims)
        self._start_hook = StartHook(self.claims)
        self._listener = access.make_listener(self._on_notification, self._stop)
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Join the cluster: register, take over runs left by a previous life, start the
        heartbeat and notification threads."""
        self.membership.join()
        context = self._access.context
        context.events.add(self.claims.on_event, _RUN_EVENTS, name="obssched.jobstore.runs")
        context.run_hooks = (*context.run_hooks, self._start_hook)
        self._threads = [
            threading.Thread(
                target=self.membership.run,
                args=(self._stop,),
                name="obssched-heartbeat",
                daemon=True,
            ),
            threading.Thread(target=self._listener.run, name="obssched-listen", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Leave the cluster; runs still in flight become abandoned for the others to report."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        context = self._access.context
        context.events.remove(self.claims.on_event)
        context.run_hooks = tuple(
            hook for hook in context.run_hooks if hook is not self._start_hook
        )
        self.membership.leave()

    # -- what the store delegates --------------------------------------------------------------

    def claim_due(self, now: datetime) -> list[Job]:
        """Claim the due jobs no other node holds (see :meth:`Claims.claim_due`)."""
        self.membership.settle()
        return self.claims.claim_due(now)

    def planned_run_times(self, job_id: str) -> RunPlan | None:
        """What this step's claim decided for the job (taken once)."""
        return self.claims.planned_run_times(job_id)

    def settled_by_claim(
        self, job_id: str, next_run_time: datetime | None, *, removed: bool = False
    ) -> bool:
        """Whether the loop's save of ``job_id`` was already written by this step's claim."""
        return self.claims.settled_by_claim(job_id, next_run_time, removed=removed)

    def release(self, jobs: list[Job]) -> None:
        """Give back the leases of this step's jobs."""
        self.claims.release(jobs)

    def next_run_time(self) -> datetime | None:
        """The earliest moment a job may be claimed."""
        return self.claims.next_run_time()

    def take_orphaned_runs(self) -> list[OrphanedRun]:
        """The runs taken over from dead nodes since the last call."""
        return self.membership.take_orphans()

    def beat(self) -> None:
        """Heartbeat once now (the heartbeat thread does it every third of the lease)."""
        self.membership.beat()

    def live_nodes(self) -> int:
        """How many nodes heart-beat within the lease."""
        return self.membership.live_nodes()

    def queue(self) -> tuple[int, int]:
        """The runs this node claimed that have not begun, and how many it may queue."""
        return self.claims.queue()

    def notify(self, conn: Connection) -> None:
        """Wake the other nodes once ``conn``'s transaction commits."""
        notify(conn, self._listener.channel, self.node_id)

    def _on_notification(self, payload: str) -> None:
        if payload != self.node_id:
            self._access.context.wakeup()
