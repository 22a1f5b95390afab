"""Cluster mode, the scheduling step: claiming due runs under leases.

Each step claims due rows with ``SELECT ... FOR UPDATE SKIP LOCKED`` and, in the same
transaction, advances each job's next run time, sets its lease (``lease_owner``,
``lease_until``) and records the runs it will submit in the ``_running`` table. A run time is
therefore handed to exactly one node, and ``max_instances`` holds across the cluster: a job
with that many ``_running`` rows is claimed (its next run time advances) but its runs are
refused. The claim's decisions reach the scheduling loop as
:class:`~obssched.jobstores.base.RunPlan` objects; the loop submits and reports.

The due jobs are shared out among the live nodes: each job belongs to one of them by a hash of
its id (the live nodes ordered by id, as the heartbeat last saw them). A node claims the jobs of
its own share as soon as they are due, and another node's only once they have waited
``steal_seconds`` for it, so a slow or dead node's share is still run. Nodes that briefly
disagree on who is alive only overlap or leave a gap for that while; a claim is exclusive
either way.

A ``_running`` row also says which of its runs began (:mod:`._sql.starts`): a run claimed but
not begun when its node dies runs on another node instead of being lost.

A node claims no more than it can start soon. The runs it claimed that have not begun are its
local queue (behind busy workers, or waiting for the loop to submit them); a claim takes at
most ``max_queued_runs`` minus that queue, so an overloaded node leaves the rest due in the
table for the other nodes, or for itself once its queue has drained, where they are missed or
coalesced as their jobs say. Otherwise its queue would grow without bound until its own jobs
were refused for ``max_instances``, runs it could never have started. A node whose queue is
full claims nothing until half of it has begun: the run that brings it there wakes the loop.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, OperationalError

from obssched._runtimes import plan_runs
from obssched.events import EVENT_JOB_SUBMITTED, SchedulerEvent
from obssched.exceptions import JobAbandonedError
from obssched.jobstores._sql.advance import NO_PATCH, KnownJobs, advanced_row, fixed_trigger
from obssched.jobstores._sql.bulk import ClaimStatements
from obssched.jobstores._sql.codec import micros_to_datetime, to_micros
from obssched.jobstores._sql.starts import StartMarks, reports_body_start
from obssched.jobstores.base import RunPlan

if TYPE_CHECKING:
    from obssched.job import Job
    from obssched.jobstores._sql.access import StoreAccess

__all__ = ["Claim", "Claims"]


@dataclass
class _Decision:
    """What a claim does with one due job: its new row (``values``), its plan, and the
    ``_running`` row of the runs it submits (``run_key``, empty if none)."""

    job: Job
    plan: RunPlan
    values: dict[str, Any]
    run_key: str = ""
    started_through: int | None = None


@dataclass
class Claim:
    """A ``_running`` row of this node: deleted when the run of ``end_micros`` (its last run
    time) ends, or at release if the loop never submitted it."""

    run_key: str
    job_id: str
    end_micros: int
    run_micros: tuple[int, ...] = ()
    submitted: bool = False
    queued: int = 0
    """How many of its runs have not begun (they count in the node's local queue)."""


class Claims:
    """This node's claims: the current step's, and the runs in flight it owns.

    Args:
        access: the store's tables, transactions and row format.
    """

    KNOWN_JOBS = 10_000
    """How many jobs a node keeps decoded from one claim to the next: decoding a row (its JSON,
    its trigger) is most of what a claim costs the node per job, and a job claimed again
    whose row holds the state the last claim wrote is that same job."""

    def __init__(self, access: StoreAccess) -> None:
        self._access = access
        self.node_id = access.node_id
        self.lease_micros = int(access.lease_seconds * 1_000_000)
        # How long another node's due job waits for it before this node claims it: well within
        # the default misfire grace time (1 s), so a dead node's share is late, not missed.
        self.steal_micros = int(min(0.25, access.lease_seconds / 8) * 1_000_000)
        self.share = (0, 1)
        """This node's place among the live nodes, and how many there are (see
        :meth:`share_by`); set by the heartbeat."""
        self._lock = threading.Lock()
        self._settled: dict[str, int | None] = {}  # job id -> next run written by the claim
        # job id -> what this step's claim decided (or why it could not)
        self._plans: dict[str, RunPlan | Exception] = {}
        self._step_claims: dict[str, Claim] = {}  # job id -> claim of the current step
        self._ends: dict[tuple[str, int], Claim] = {}  # (job id, last run time) -> claim
        self._starts: dict[tuple[str, int], Claim] = {}  # (job id, any run time) -> claim
        self._marks = StartMarks(access)
        self._statements = ClaimStatements(access.tables)
        self._sequence = 0
        self._claiming = 0  # claims under way: their rows may be committed and not yet tracked
        self._known = KnownJobs(self.KNOWN_JOBS)
        self.max_queued = access.max_queued_runs
        self.queued = 0
        """Runs claimed (or taken over to run again) that have not begun on this node."""
        # Set when a claim stopped at the queue's limit: claim again (and say so as the next
        # run time) only once half of the queue has begun.
        self._full = False

    # -- the step ------------------------------------------------------------------------------

    def share_by(self, live: list[str]) -> None:
        """Share the jobs out among the ``live`` node ids (this node counts as live)."""
        nodes = sorted({*live, self.node_id})
        self.share = (nodes.index(self.node_id), len(nodes))

    def queue(self) -> tuple[int, int]:
        """This node's local queue and its limit: ``(queued, max_queued_runs)``."""
        with self._lock:
            return self.queued, self.max_queued

    def _mine(self) -> Any:
        """Whether a jobs-table row belongs to this node's share (``None``: all do)."""
        index, count = self.share
        if count <= 1:
            return None
        jobs_table = self._access.tables.jobs
        bucket = func.mod(func.hashtext(jobs_table.c.id).op("&")(0x7FFFFFFF), count)
        return bucket == index

    def claim_query(self, now: datetime, limit: int | None = None) -> Any:
        """The ``SELECT ... FOR UPDATE SKIP LOCKED`` of the (at most ``limit``, by default
        ``batch_size``) rows this node claims at ``now``.

        It reads only due rows, by the index on ``next_run_time`` (a range scan up to ``now``),
        so its cost follows the due rows, not the stored ones.
        """
        access = self._access
        jobs_table = access.tables.jobs
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
            .limit(access.batch_size if limit is None else limit)
            .with_for_update(skip_locked=True)
        )
        mine = self._mine()
        if mine is not None:
            query = query.where(
                or_(mine, jobs_table.c.next_run_time <= now_micros - self.steal_micros)
            )
        return access.without_unloadable(query)

    def claim_due(self, now: datetime) -> list[Job]:
        """Claim the due jobs no other node holds, advancing them in the same transaction: at
        most as many runs as the local queue has room for (see the module's docstring)."""
        with self._lock:
            room = self._room()
            if room <= 0:
                return []
            self._claiming += 1
        try:
            return self._claim_due(now, room)
        finally:
            with self._lock:
                self._claiming -= 1

    def tracked_keys(self) -> list[str] | None:
        """The ``_running`` rows of the runs this node tracks (claimed, or taken over to run
        again, and not ended); ``None`` while a claim is under way, whose rows may be committed
        and not tracked yet."""
        with self._lock:
            if self._claiming:
                return None
            return [claim.run_key for claim in self._ends.values()]

    def _claim_due(self, now: datetime, room: int) -> list[Job]:
        access = self._access
        limit = min(access.batch_size, room)
        query = self.claim_query(now, limit)
        # Runs that ended before this claim must not count against max_instances: their rows'
        # deletes, queued or in another thread's write, are committed first.
        self._marks.sync()

        def claim(
            conn: Connection,
        ) -> tuple[list[Job], list[_Decision], list[tuple[Job, Exception]], int]:
            with self._lock:
                self._plans.clear()
            rows = conn.execute(query).all()
            states = {row.id: row.state for row in rows}
            loaded = self._known.load(rows, access.load_rows)
            in_flight = self._running_counts(conn, [job.id for job in loaded])
            decisions, failed = self._decide(loaded, states, now, in_flight, room)
            # The jobs past the queue's room are not written: their rows stay due, unleased.
            kept = {d.job.id for d in decisions} | {job.id for job, _exc in failed}
            jobs = [job for job in loaded if job.id in kept]
            try:
                # The whole step in a few statements; a savepoint lets one row that cannot be
                # written be found job by job below instead of failing every node's step.
                with conn.begin_nested():
                    self._write_claims(conn, decisions, now)
            except DBAPIError as exc:
                if isinstance(exc, OperationalError) or exc.connection_invalidated:
                    raise
                # Said and counted even if every job then writes alone: the batch failed for a
                # reason.
                access.count_error()
                access.logger.warning(
                    "Could not write the claim of %d jobs at once (%s); writing them one by one",
                    len(decisions),
                    exc.orig,
                )
                written = []
                for decision in decisions:
                    try:
                        with conn.begin_nested():
                            self._write_claims(conn, [decision], now)
                    except DBAPIError as single:
                        if isinstance(single, OperationalError) or single.connection_invalidated:
                            raise
                        failed.append((decision.job, single))
                    else:
                        written.append(decision)
                decisions = written
            # A job that cannot be processed (its trigger raises, its state cannot be written)
            # is paused here and its error handed to the loop, which pauses it as it pauses any
            # job it cannot process.
            for job, _exc in failed:
                self._pause(conn, job)
            return jobs, decisions, failed, len(loaded)

        jobs, decisions, failed, loaded = access.write(claim)
        # Taken on once committed: an attempt whose commit failed and was retried must not
        # leave claims tracked (and counted in the queue) that no row records.
        self._adopt(decisions, failed)
        if len(jobs) < loaded or loaded == limit < access.batch_size:
            self._stopped_at_limit()
        return jobs

    def _room(self) -> int:
        """How many runs a claim may add to the local queue now (the caller holds the lock):
        none while a full queue has not drained to half."""
        if self._full and self.queued > self.max_queued // 2:
            return 0
        room = self.max_queued - self.queued
        # A queue can fill without a claim stopping at its limit (a claim's first job goes in
        # whatever its runs, re-runs taken over are not bounded): once it says it has no room,
        # it waits like a full one, for the run that drains it to half to wake the loop.
        self._full = room <= 0
        return room

    def _stopped_at_limit(self) -> None:
        """A claim left due jobs for want of room: wait for the queue to drain to half."""
        with self._lock:
            if self.queued > self.max_queued // 2:
                self._full = True

    def _dequeue(self, claim: Claim, remaining: int) -> bool:
        """Leave ``remaining`` of ``claim``'s runs queued (the caller holds the lock); return
        whether the queue just drained enough for the loop to be woken to claim again."""
        if remaining >= claim.queued:
            return False
        self.queued -= claim.queued - remaining
        claim.queued = remaining
        if self._full and self.queued <= self.max_queued // 2:
            self._full = False
            return True
        return False

    def _decide(
        self,
        jobs: list[Job],
        states: dict[str, bytes],
        now: datetime,
        in_flight: dict[str, int],
        room: int,
    ) -> tuple[list[_Decision], list[tuple[Job, Exception]]]:
        """Work out each job's runs and new row (no database access) from the job and its
        stored state, stopping before the job whose runs would overflow ``room`` (but never at
        the first)."""
        decisions: list[_Decision] = []
        failed: list[tuple[Job, Exception]] = []
        executors = self._access.context.executors
        queued = 0
        for job in jobs:
            try:
                state = states.get(job.id) if fixed_trigger(job.trigger) else None
                plan = plan_runs(job, now)
                if plan.run_times and queued and queued + len(plan.run_times) > room:
                    break
                values = advanced_row(job, plan.next_run_time, state, self._access.row_values)
            except Exception as exc:
                failed.append((job, exc))
                continue
            decision = _Decision(job, plan, values)
            if plan.run_times and in_flight.get(job.id, 0) >= job.max_instances:
                decision.plan = replace(plan, refused=True)
                self._access.logger.debug(
                    "Job %r has %d runs in flight across the cluster", job.id, in_flight[job.id]
                )
            elif plan.run_times:
                queued += len(plan.run_times)
                with self._lock:
                    self._sequence += 1
                    sequence = self._sequence
                decision.run_key = f"{self.node_id}:{sequence}:{to_micros(plan.run_times[0])}"
                # 0: none of the runs began yet, each is recorded as it does. An executor that
                # does not report body starts leaves it unknown (NULL): every run counts as
                # begun.
                executor = executors.get(job.executor)
                decision.started_through = 0 if reports_body_start(executor) else None
            decisions.append(decision)
        return decisions, failed

    def _write_claims(self, conn: Connection, decisions: list[_Decision], now: datetime) -> None:
        """Advance the claimed jobs, delete the finished ones and insert the ``_running`` rows
        of the runs to submit: one statement each, whatever the number of jobs."""
        access = self._access
        jobs_table = access.tables.jobs
        now_micros = to_micros(now) or 0
        lease = {"lease_owner": self.node_id, "lease_until": now_micros + self.lease_micros}
        advanced = [d for d in decisions if d.values["next_run_time"] is not None]
        finished = [d.job.id for d in decisions if d.values["next_run_time"] is None]
        if advanced:
            patches = [d.values.get("patch") or NO_PATCH for d in advanced]
            conn.execute(
                self._statements.advance,
                {
                    "ids": [d.job.id for d in advanced],
                    "next_run_times": [d.values["next_run_time"] for d in advanced],
                    "states": [d.values["state"] for d in advanced],
                    "positions": [patch[0] for patch in patches],
                    "lengths": [patch[1] for patch in patches],
                    "moments": [patch[2] for patch in patches],
                    **lease,
                },
            )
        claimed = [d for d in decisions if d.run_key]
        if claimed:
            conn.execute(
                self._statements.insert_running,
                {
                    "keys": [d.run_key for d in claimed],
                    "job_ids": [d.job.id for d in claimed],
                    "names": [d.job.name for d in claimed],
                    "node": self.node_id,
                    "run_times": [
                        json.dumps([moment.isoformat() for moment in d.plan.run_times])
                        for d in claimed
                    ],
                    "claimed_at": now_micros,
                    "started": [d.started_through for d in claimed],
                },
            )
        if finished:  # after the _running rows, which copy their last state
            conn.execute(delete(jobs_table).where(jobs_table.c.id.in_(finished)))

    def _adopt(self, decisions: list[_Decision], failed: list[tuple[Job, Exception]]) -> None:
        """Take the written claims on: the plans for the loop, the runs to track."""
        with self._lock:
            for decision in decisions:
                job_id = decision.job.id
                self._known.remember(decision.job, decision.values)
                self._plans[job_id] = decision.plan
                self._settled[job_id] = decision.values["next_run_time"]
                if decision.run_key:
                    claim = self._track(decision.run_key, job_id, decision.plan.run_times)
                    self._step_claims[job_id] = claim
            for job, exc in failed:
                self._step_claims.pop(job.id, None)
                self._plans[job.id] = exc
                self._settled[job.id] = None

    def planned_run_times(self, job_id: str) -> RunPlan | None:
        """What this step's claim decided for the job (taken once).

        Raises:
            Exception: what kept the claim from processing the job (the job is paused).
        """
        with self._lock:
            plan = self._plans.pop(job_id, None)
        if isinstance(plan, Exception):
            raise plan
        return plan

    def _pause(self, conn: Connection, job: Job) -> None:
        """Store ``job`` without a next run time (paused) and without a lease."""
        jobs_table = self._access.tables.jobs
        original = job.next_run_time
        job.next_run_time = None
        try:
            values = self._access.row_values(job)
        except Exception:  # the state cannot be written either: the columns say paused
            values = {"next_run_time": None}
        finally:
            job.next_run_time = original
        with conn.begin_nested():
            conn.execute(
                update(jobs_table)
                .where(jobs_table.c.id == job.id)
                .values(**values, lease_owner=None, lease_until=None)
            )

    def track(self, run_key: str, job_id: str, run_times: list[datetime]) -> Claim:
        """Delete the ``_running`` row ``run_key`` once the run of ``run_times`` ends (the
        claim is marked submitted when the loop submits that run)."""
        with self._lock:
            return self._track(run_key, job_id, run_times)

    def _track(self, run_key: str, job_id: str, run_times: list[datetime]) -> Claim:
        run_micros = tuple(to_micros(moment) or 0 for moment in run_times)
        claim = Claim(run_key, job_id, run_micros[-1], run_micros, queued=len(run_micros))
        self.queued += claim.queued
        self._ends[(job_id, claim.end_micros)] = claim
        for micros in run_micros:
            self._starts[(job_id, micros)] = claim
        return claim

    def _untrack(self, claim: Claim) -> bool:
        """Stop tracking ``claim`` (the caller holds the lock); return whether the loop is to
        be woken (see :meth:`_dequeue`)."""
        if self._ends.get((claim.job_id, claim.end_micros)) is claim:
            del self._ends[(claim.job_id, claim.end_micros)]
        for micros in claim.run_micros:
            if self._starts.get((claim.job_id, micros)) is claim:
                del self._starts[(claim.job_id, micros)]
        return self._dequeue(claim, 0)

    def run_begins(self, job_id: str, jobstore: str, run_time: datetime) -> bool:
        """Record, before its body starts, that the run of ``job_id`` at ``run_time`` begins
        if it is one of this node's claims (see :mod:`._sql.starts`).

        Returns ``False`` when the run must not begin: its row was taken over by another node
        (this one stalled past its lease), which handles it.
        """
        if jobstore != self._access.alias:
            return True
        micros = to_micros(run_time) or 0
        with self._lock:
            claim = self._starts.get((job_id, micros))
            if claim is None:
                return True
            remaining = sum(1 for later in claim.run_micros if later > micros)
            wake = self._dequeue(claim, remaining)
        if wake:
            self._access.context.wakeup()
        return self._marks.mark(claim.run_key, micros)

    def _running_counts(self, conn: Connection, job_ids: list[str]) -> dict[str, int]:
        if not job_ids:
            return {}
        rows = conn.execute(self._statements.in_flight, {"ids": job_ids}).all()
        return {job_id: int(count) for job_id, count in rows}

    def settled_by_claim(
        self, job_id: str, next_run_time: datetime | None, *, removed: bool = False
    ) -> bool:
        """Whether the loop's save of ``job_id`` was already written by this step's claim."""
        with self._lock:
            if job_id not in self._settled:
                return False
            expected = self._settled.pop(job_id)
        if removed:
            return expected is None
        return expected == to_micros(next_run_time)

    def release(self, jobs: list[Job]) -> None:
        """Give back the leases of this step's jobs and drop claims that were never submitted."""
        access = self._access
        ids = [job.id for job in jobs]
        with self._lock:
            for job_id in ids:
                self._settled.pop(job_id, None)
                self._plans.pop(job_id, None)
            unsubmitted = [c for c in self._step_claims.values() if not c.submitted]
            self._step_claims.clear()
            wake = False
            for claim in unsubmitted:
                wake = self._untrack(claim) or wake
            keys = [claim.run_key for claim in unsubmitted]
        if wake:
            access.context.wakeup()

        def give_back(conn: Connection) -> None:
            conn.execute(self._statements.release, {"ids": ids, "node": self.node_id})
            if keys:
                conn.execute(self._statements.delete_running, {"keys": keys, "node": self.node_id})

        try:
            access.write(give_back)
        except Exception:
            # The leases expire by themselves; the running rows are retried by the heartbeat
            # (or the next claim), not at once on the loop thread against a database that
            # just failed.
            access.logger.exception("Could not release the leases of %d jobs", len(ids))
            self._marks.defer(keys)

    def next_run_time(self) -> datetime | None:
        """The earliest moment this node may claim a job: a leased job counts at its lease's
        end, another node's job once it has waited ``steal_micros`` for it; ``None`` while its
        queue is full (the run that drains it wakes the loop)."""
        with self._lock:
            if self._room() <= 0:
                return None
        access = self._access
        jobs_table = access.tables.jobs
        next_run = jobs_table.c.next_run_time
        unleased = or_(jobs_table.c.lease_owner.is_(None), jobs_table.c.lease_owner == self.node_id)
        mine = self._mine()
        wait: Any = literal(0)
        queries = [access.without_unloadable(select(func.min(next_run)).where(unleased))]
        if mine is not None:
            wait = case((mine, 0), else_=self.steal_micros)
            queries = [
                access.without_unloadable(select(func.min(next_run)).where(unleased, mine)),
                access.without_unloadable(select(func.min(next_run) + self.steal_micros)).where(
                    unleased
                ),
            ]
        queries.append(
            access.without_unloadable(
                select(func.min(func.greatest(next_run + wait, jobs_table.c.lease_until))).where(
                    jobs_table.c.lease_until.is_not(None),
                    jobs_table.c.lease_owner != self.node_id,
                )
            )
        )

        def read(conn: Connection) -> list[Any]:
            return [conn.execute(query).scalar() for query in queries]

        found = [value for value in access.read(read) if value is not None]
        return micros_to_datetime(min(found)) if found else None

    # -- runs starting and ending --------------------------------------------------------------

    def on_event(self, event: SchedulerEvent) -> None:
        """Mark this step's claims submitted; delete the ``_running`` row of a run that ended."""
        job_id = getattr(event, "job_id", None)
        if job_id is None:
            return
        if event.code == EVENT_JOB_SUBMITTED:
            run_times: list[datetime] = event.scheduled_run_times  # type: ignore[attr-defined]
            with self._lock:
                claim = self._step_claims.get(job_id)
                if claim is not None:
                    claim.submitted = True
                for moment in run_times:  # a re-run of an orphaned run is tracked by its end
                    rerun = self._ends.get((job_id, to_micros(moment) or 0))
                    if rerun is not None:
                        rerun.submitted = True
            return
        run_time = getattr(event, "scheduled_run_time", None)
        if run_time is None or isinstance(getattr(event, "exception", None), JobAbandonedError):
            return
        with self._lock:
            ended = self._ends.get((job_id, to_micros(run_time) or 0))
            if ended is None:
                return
            wake = self._untrack(ended)
        if wake:
            # Queued, not written: the step the wakeup sets off syncs the deletes queued before
            # it (so it does not count this run against max_instances), and the wakeup does not
            # wait for a write (or a whole backoff while the database is down).
            self._marks.defer([ended.run_key])
            self._access.context.wakeup()
        else:
            self.delete_running([ended.run_key])

    def forget(self, claim: Claim) -> None:
        """Stop tracking ``claim`` (its run was never submitted); its row is deleted apart."""
        with self._lock:
            wake = self._untrack(claim)
        if wake:
            self._access.context.wakeup()

    def delete_running(self, keys: list[str]) -> None:
        """Delete ``_running`` rows with the next batch of marks; on failure it is retried."""
        self._marks.end(keys)

    def retry_deletes(self) -> None:
        """Write the ``_running`` deletes still pending (those that failed before)."""
        self._marks.flush()
