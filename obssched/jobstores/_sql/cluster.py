"""Cluster mode: claiming due runs with leases, heartbeats, and taking over from dead nodes.

Each scheduling step claims due rows with ``SELECT ... FOR UPDATE SKIP LOCKED`` and, in the same
transaction, advances each job's next run time, sets its lease (``lease_owner``,
``lease_until``) and records the runs it will submit in the ``_running`` table. A run time is
therefore handed to exactly one node. The ``_running`` rows make ``max_instances`` hold across
the cluster and outlive a node killed mid-run: once the node stops heart-beating for
``lease_seconds``, another node reports each as abandoned, deletes them and, for jobs that ask
for recovery, runs them again.

Leases compare the nodes' own clocks (as Quartz does): keep them synchronised (NTP) well within
``lease_seconds``.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from obssched.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_MODIFIED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
    JobExecutionEvent,
    JobSubmissionEvent,
    SchedulerEvent,
)
from obssched.exceptions import JobAbandonedError
from obssched.jobstores._sql.codec import micros_to_datetime, to_micros
from obssched.jobstores._sql.notify import Listener, notify
from obssched.jobstores._sql.runs import recoverable_job, report_abandoned
from obssched.schedulers._engine import run_times_until

if TYPE_CHECKING:
    from obssched.job import Job
    from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
    from obssched.schedulers.base import BaseScheduler

__all__ = ["ClusterNode", "JobAbandonedError"]


@dataclass
class _Claim:
    run_key: str
    job_id: str
    end_micros: int
    submitted: bool = False


class ClusterNode:
    """This scheduler's membership in a cluster sharing one job store."""

    def __init__(self, store: SQLAlchemyJobStore, scheduler: BaseScheduler, alias: str) -> None:
        self.store = store
        self.scheduler = scheduler
        self.alias = alias
        self.node_id = store.node_id
        self.lease_micros = int(store.lease_seconds * 1_000_000)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # When this node's heartbeats last became regular again (None: not since it started, or
        # since one failed), and when the last one succeeded.
        self._steady_since: int | None = None
        self._last_beat: int | None = None
        self._settled: dict[str, int | None] = {}  # job id -> next run written by the claim
        # job id -> (run times due, next run time) worked out by this step's claim
        self._plans: dict[str, tuple[list[datetime], datetime | None]] = {}
        self._step_claims: dict[str, _Claim] = {}  # job id -> claim of the current step
        self._ends: dict[tuple[str, int], _Claim] = {}  # (job id, last run time) -> claim
        self._unreleased_keys: list[str] = []
        self._sequence = 0
        self._threads: list[threading.Thread] = []
        self._listener = Listener(store, self._on_notification, self._stop)

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Join the cluster: register, report runs left by a previous life, start the threads."""
        now = self._now()
        nodes = self.store.tables.nodes
        own_host = socket.gethostname()

        def register(conn: Connection) -> None:
            conn.execute(delete(nodes).where(nodes.c.node_id == self.node_id))
            conn.execute(
                insert(nodes).values(
                    node_id=self.node_id,
                    host=own_host,
                    pid=_pid(),
                    started_at=now,
                    last_seen=now,
                )
            )

        self.store._write(register)
        running = self.store.tables.running
        self._take_over(running.c.node_id == self.node_id)
        mask = EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR
        self.scheduler.add_listener(self._on_event, mask)
        interval = self.store.lease_seconds / 3
        self._threads = [
            threading.Thread(
                target=self._heartbeat_loop,
                args=(interval,),
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
        self.scheduler.remove_listener(self._on_event)
        nodes = self.store.tables.nodes
        try:
            self.store._write(
                lambda conn: conn.execute(delete(nodes).where(nodes.c.node_id == self.node_id))
            )
        except Exception:
            self.store._logger.exception("Could not leave the cluster cleanly")

    # -- the scheduling step -------------------------------------------------------------------

    def claim_due(self, now: datetime) -> list[Job]:
        """Claim the due jobs no other node holds, advancing them in the same transaction."""
        store = self.store
        jobs_table = store.tables.jobs
        now_micros = to_micros(now)
        assert now_micros is not None
        query = (
            select(
                jobs_table.c.id,
                jobs_table.c.func_ref,
                jobs_table.c.next_run_time,
                jobs_table.c.state,
            )
            .where(
                jobs_table.c.next_run_time <= now_micros,
                or_(
                    jobs_table.c.lease_until.is_(None),
                    jobs_table.c.lease_until < now_micros,
                    jobs_table.c.lease_owner == self.node_id,
                ),
            )
            .order_by(jobs_table.c.next_run_time)
            .limit(store.batch_size)
            .with_for_update(skip_locked=True)
        )
        query = store._without_unloadable(query)
        deferred: list[SchedulerEvent] = []

        def claim(conn: Connection) -> list[Job]:
            deferred.clear()
            with self._lock:
                self._plans.clear()
            jobs = store._load_rows(conn.execute(query).all())
            in_flight = self._running_counts(conn, [job.id for job in jobs])
            claimed: list[Job] = []
            for job in jobs:
                # Each job in a savepoint of its own: one that cannot be processed (its trigger
                # raises, its state cannot be written) is paused, as the single-node loop
                # pauses it, instead of rolling back every node's claim on every step.
                try:
                    with conn.begin_nested():
                        if self._claim_job(conn, job, now, in_flight.get(job.id, 0), deferred):
                            claimed.append(job)
                except Exception:
                    self._forget_claim(job.id)
                    store._logger.exception('Error processing job "%s"; pausing it', job)
                    self._pause(conn, job)
                    deferred.append(
                        JobEvent(
                            EVENT_JOB_MODIFIED,
                            job.id,
                            store._alias,
                            job_name=job.name,
                            executor=job.executor,
                        )
                    )
            return claimed

        claimed = store._write(claim)
        for event in deferred:
            self.scheduler._dispatch_event(event)
        return claimed

    def _forget_claim(self, job_id: str) -> None:
        with self._lock:
            self._settled.pop(job_id, None)
            self._step_claims.pop(job_id, None)
            self._plans.pop(job_id, None)

    def planned_run_times(self, job_id: str) -> tuple[list[datetime], datetime | None] | None:
        """The run times this step's claim worked out for the job (taken once)."""
        with self._lock:
            return self._plans.pop(job_id, None)

    def _pause(self, conn: Connection, job: Job) -> None:
        """Store ``job`` without a next run time (paused) and without a lease."""
        jobs_table = self.store.tables.jobs
        job.next_run_time = None
        try:
            values = self.store._row_values(job)
        except Exception:  # the state cannot be written either: the columns say paused
            values = {"next_run_time": None}
        with conn.begin_nested():
            conn.execute(
                update(jobs_table)
                .where(jobs_table.c.id == job.id)
                .values(**values, lease_owner=None, lease_until=None)
            )

    def _claim_job(
        self,
        conn: Connection,
        job: Job,
        now: datetime,
        in_flight: int,
        deferred: list[SchedulerEvent],
    ) -> bool:
        store = self.store
        jobs_table = store.tables.jobs
        run_times, next_run_time = run_times_until(job, now)
        with self._lock:
            self._plans[job.id] = (run_times, next_run_time)
        coalesced: list[datetime] = run_times[:-1] if job.coalesce else []
        candidates = run_times[-1:] if job.coalesce else run_times
        missed: list[datetime] = []
        if job.misfire_grace_time is not None:
            limit = now - timedelta(seconds=job.misfire_grace_time)
            missed = [moment for moment in candidates if moment < limit]
            candidates = [moment for moment in candidates if moment >= limit]
        refused = bool(candidates) and in_flight >= job.max_instances

        original = job.next_run_time
        job.next_run_time = next_run_time
        try:
            values = store._row_values(job)
        finally:
            job.next_run_time = original
        if next_run_time is None:
            conn.execute(delete(jobs_table).where(jobs_table.c.id == job.id))
        else:
            conn.execute(
                update(jobs_table)
                .where(jobs_table.c.id == job.id)
                .values(
                    **values,
                    lease_owner=self.node_id,
                    lease_until=to_micros(now) + self.lease_micros,  # type: ignore[operator]
                )
            )
        if refused:
            # Another node runs this job up to max_instances: the engine never sees it, so the
            # store reports what the engine would have.
            deferred.extend(self._refusal_events(job, missed, candidates, coalesced, now))
            return False
        with self._lock:
            self._settled[job.id] = to_micros(next_run_time)
            if candidates:
                claim = self._record_claim(conn, job, candidates, now)
                self._step_claims[job.id] = claim
        return True

    def _record_claim(
        self, conn: Connection, job: Job, run_times: list[datetime], now: datetime
    ) -> _Claim:
        self._sequence += 1
        run_key = f"{self.node_id}:{self._sequence}:{to_micros(run_times[0])}"
        conn.execute(
            insert(self.store.tables.running).values(
                run_key=run_key,
                job_id=job.id,
                job_name=job.name,
                node_id=self.node_id,
                run_times=json.dumps([moment.isoformat() for moment in run_times]),
                claimed_at=to_micros(now),
                state=self.store._row_values(job)["state"],
            )
        )
        end_micros = to_micros(run_times[-1])
        assert end_micros is not None
        claim = _Claim(run_key, job.id, end_micros)
        self._ends[(job.id, end_micros)] = claim
        return claim

    def _refusal_events(
        self,
        job: Job,
        missed: list[datetime],
        candidates: list[datetime],
        coalesced: list[datetime],
        now: datetime,
    ) -> list[SchedulerEvent]:
        events: list[SchedulerEvent] = [
            JobExecutionEvent(
                EVENT_JOB_MISSED,
                job.id,
                self.alias,
                moment,
                job_name=job.name,
                executor=job.executor,
                coalesced_run_times=coalesced,
            )
            for moment in missed
        ]
        self.store._logger.warning(
            'Execution of job "%s" skipped: maximum number of running instances reached across '
            "the cluster (%d)",
            job,
            job.max_instances,
        )
        events.append(
            JobSubmissionEvent(
                EVENT_JOB_MAX_INSTANCES,
                job.id,
                self.alias,
                candidates,
                job_name=job.name,
                executor=job.executor,
                run_id=self.scheduler._next_run_id(),
                coalesced_run_times=coalesced,
            )
        )
        return events

    def _running_counts(self, conn: Connection, job_ids: list[str]) -> dict[str, int]:
        if not job_ids:
            return {}
        running = self.store.tables.running
        query = (
            select(running.c.job_id, func.count())
            .where(running.c.job_id.in_(job_ids))
            .group_by(running.c.job_id)
        )
        return {job_id: int(count) for job_id, count in conn.execute(query).all()}

    def settled_by_claim(
        self, job_id: str, next_run_time: datetime | None, *, removed: bool = False
    ) -> bool:
        """Whether the engine's save of ``job_id`` was already written by this step's claim."""
        with self._lock:
            if job_id not in self._settled:
                return False
            expected = self._settled.pop(job_id)
        if removed:
            return expected is None
        return next_run_time is not None and expected == to_micros(next_run_time)

    def release(self, jobs: list[Job]) -> None:
        """Give back the leases of this step's jobs and drop claims that were never submitted."""
        jobs_table = self.store.tables.jobs
        running = self.store.tables.running
        ids = [job.id for job in jobs]
        with self._lock:
            for job_id in ids:
                self._settled.pop(job_id, None)
            unsubmitted = [c for c in self._step_claims.values() if not c.submitted]
            self._step_claims.clear()
            for claim in unsubmitted:
                self._ends.pop((claim.job_id, claim.end_micros), None)
            keys = [claim.run_key for claim in unsubmitted]

        def give_back(conn: Connection) -> None:
            conn.execute(
                update(jobs_table)
                .where(jobs_table.c.id.in_(ids), jobs_table.c.lease_owner == self.node_id)
                .values(lease_owner=None, lease_until=None)
            )
            if keys:
                conn.execute(delete(running).where(running.c.run_key.in_(keys)))

        try:
            self.store._write(give_back)
        except Exception:
            # The leases expire by themselves; the running rows are retried by the heartbeat.
            self.store._logger.exception("Could not release the leases of %d jobs", len(ids))
            with self._lock:
                self._unreleased_keys.extend(keys)

    def next_run_time(self) -> datetime | None:
        """The earliest moment a job may be claimed: a leased job counts at its lease's end."""
        store = self.store
        jobs_table = store.tables.jobs
        free = store._without_unloadable(
            select(func.min(jobs_table.c.next_run_time)).where(
                or_(
                    jobs_table.c.lease_owner.is_(None),
                    jobs_table.c.lease_owner == self.node_id,
                )
            )
        )
        leased = store._without_unloadable(
            select(
                func.min(func.greatest(jobs_table.c.next_run_time, jobs_table.c.lease_until))
            ).where(jobs_table.c.lease_until.is_not(None), jobs_table.c.lease_owner != self.node_id)
        )

        def read(conn: Connection) -> list[Any]:
            return [conn.execute(free).scalar(), conn.execute(leased).scalar()]

        found = [value for value in store._read(read) if value is not None]
        return micros_to_datetime(min(found)) if found else None

    # -- runs ending, heartbeats, takeover --------------------------------------------------------

    def _on_event(self, event: SchedulerEvent) -> None:
        job_id = getattr(event, "job_id", None)
        if job_id is None:
            return
        if event.code == EVENT_JOB_SUBMITTED:
            with self._lock:
                claim = self._step_claims.get(job_id)
                if claim is not None:
                    claim.submitted = True
            return
        run_time = getattr(event, "scheduled_run_time", None)
        if run_time is None or isinstance(getattr(event, "exception", None), JobAbandonedError):
            return
        with self._lock:
            ended = self._ends.pop((job_id, to_micros(run_time) or 0), None)
        if ended is not None:
            self._delete_running([ended.run_key])

    def _delete_running(self, keys: list[str]) -> None:
        running = self.store.tables.running

        def forget(conn: Connection) -> None:
            # Losing this commit in a server crash only makes the run look abandoned later;
            # not waiting for its flush to disk lifts the per-run cost off the fsync.
            conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            conn.execute(delete(running).where(running.c.run_key.in_(keys)))

        try:
            self.store._write(forget)
        except Exception:
            self.store._logger.warning("Could not record the end of %d runs; retrying", len(keys))
            with self._lock:
                self._unreleased_keys.extend(keys)

    def _heartbeat_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.beat()
            except Exception:
                self.store._logger.exception("Cluster heartbeat failed; retrying")

    def beat(self) -> None:
        """Heartbeat once, retry pending cleanups and take over the runs of dead nodes."""
        now = self._now()
        nodes = self.store.tables.nodes

        def touch(conn: Connection) -> None:
            found = conn.execute(
                update(nodes).where(nodes.c.node_id == self.node_id).values(last_seen=now)
            ).rowcount
            if not found:  # declared dead during an outage: join again
                conn.execute(
                    insert(nodes).values(
                        node_id=self.node_id,
                        host=socket.gethostname(),
                        pid=_pid(),
                        started_at=now,
                        last_seen=now,
                    )
                )

        try:
            self.store._write(touch)
        except Exception:
            self._steady_since = None
            raise
        last, self._last_beat = self._last_beat, now
        if self._steady_since is None or last is None or now - last > 2 * self.lease_micros // 3:
            self._steady_since = now  # the beats before this one did not arrive in time
        with self._lock:
            keys, self._unreleased_keys = self._unreleased_keys, []
        if keys:
            self._delete_running(keys)
        if now - self._steady_since < self.lease_micros:
            # After an outage every node's last beat is old, this one's included: another node
            # looks dead only once this one has itself beaten on time for a whole lease, so
            # the nodes that are alive have had the time to beat again. (Quartz adds the same
            # margin to its failed-node threshold.)
            return
        running = self.store.tables.running
        live = select(nodes.c.node_id).where(nodes.c.last_seen >= now - self.lease_micros)
        if self._take_over(running.c.node_id.not_in(live)):
            self.scheduler.wakeup()

    def live_nodes(self) -> int:
        """How many nodes heart-beat within the lease."""
        nodes = self.store.tables.nodes
        cutoff = self._now() - self.lease_micros
        query = select(func.count()).select_from(nodes).where(nodes.c.last_seen >= cutoff)
        return int(self.store._read(lambda conn: conn.execute(query).scalar_one()))

    def _take_over(self, condition: Any) -> int:
        """Report the running rows matching ``condition`` abandoned, delete them, recover some."""
        running = self.store.tables.running
        nodes = self.store.tables.nodes
        cutoff = self._now() - self.lease_micros

        def grab(conn: Connection) -> list[tuple[Any, list[datetime]]]:
            rows = conn.execute(
                select(running).where(condition).with_for_update(skip_locked=True)
            ).all()
            # Reported while the rows are still locked and before they are deleted: a node that
            # dies in between leaves them for another node to report again, never unreported.
            reported = [(row, report_abandoned(self.store, row)) for row in rows]
            if rows:
                conn.execute(
                    delete(running).where(running.c.run_key.in_([row.run_key for row in rows]))
                )
            conn.execute(
                delete(nodes).where(
                    and_(nodes.c.last_seen < cutoff, nodes.c.node_id != self.node_id)
                )
            )
            return reported

        reported = self.store._write(grab)
        for row, run_times in reported:
            job = recoverable_job(self.store, row)
            if job is not None:
                self._recover(job, run_times)
        return len(reported)

    def _recover(self, job: Job, run_times: list[datetime]) -> None:
        store = self.store
        try:
            executor = self.scheduler._lookup_executor(job.executor)
            now = self.scheduler.clock.now()
            claim = store._write(lambda conn: self._record_claim(conn, job, run_times, now))
            claim.submitted = True
            store._logger.info("Recovering the abandoned run of job %r", job.id)
            executor._submit(job, self.alias, run_times, [])
        except Exception:
            store._logger.exception("Could not recover the abandoned run of job %r", job.id)

    def notify(self, conn: Connection) -> None:
        """Wake the other nodes once ``conn``'s transaction commits."""
        notify(conn, self._listener.channel, self.node_id)

    def _on_notification(self, payload: str) -> None:
        if payload != self.node_id:
            self.scheduler.wakeup()

    def _now(self) -> int:
        micros = to_micros(self.scheduler.clock.now())
        assert micros is not None
        return micros


def _pid() -> int:
    import os

    return os.getpid()
