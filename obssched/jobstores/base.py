"""The job store interface (APScheduler 3's ``BaseJobStore``) and its errors."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from obssched._context import SchedulerContext, context_of
from obssched.exceptions import ConflictingIdError, JobLookupError, TransientJobError

if TYPE_CHECKING:
    from obssched.job import Job
    from obssched.schedulers.base import BaseScheduler

__all__ = [
    "BaseJobStore",
    "ConflictingIdError",
    "JobLookupError",
    "OrphanedRun",
    "RunPlan",
    "TransientJobError",
]


@dataclass(frozen=True)
class RunPlan:
    """What a store that claims runs decided for one due job (see
    :meth:`BaseJobStore.planned_run_times`); the scheduling loop acts on it.

    Attributes:
        run_times: the run times to submit, in order (only the last due one when the job
            coalesces).
        next_run_time: the job's next run time after them (``None``: the job is finished).
        missed: run times past the job's ``misfire_grace_time``, reported missed.
        coalesced: the earlier run times folded into ``run_times`` by coalescing.
        refused: the store could not claim ``run_times`` because the job already has
            ``max_instances`` runs in flight (across the cluster): the loop reports them refused
            instead of submitting them.
    """

    run_times: list[datetime]
    next_run_time: datetime | None
    missed: list[datetime] = field(default_factory=list)
    coalesced: list[datetime] = field(default_factory=list)
    refused: bool = False


@dataclass(frozen=True)
class OrphanedRun:
    """A run its scheduler lost (its process or cluster node died), found by a store.

    Attributes:
        job_id: the job's id.
        job_name: the job's name, when known.
        executor: the alias of the executor the job runs on, when known.
        run_times: the run's scheduled run times.
        error: set when the run had started (a
            :class:`~obssched.exceptions.JobAbandonedError`): the loop reports it failed, one
            ``EVENT_JOB_ERROR`` per run time.
        job: set when the run is to run again (it never started, or the job asks for recovery):
            the loop submits it like a due run.
    """

    job_id: str
    job_name: str | None
    executor: str | None
    run_times: list[datetime]
    error: BaseException | None
    job: Job | None


class BaseJobStore(ABC):
    """Keeps jobs and tells the scheduler which are due.

    Subclasses implement the abstract methods. ``acquire_due_jobs`` and ``release_jobs`` are the
    leasing seam: a store shared by several schedulers hands each due job to one of them; the
    default implementations suit a store that only one scheduler uses.
    """

    due_batch_size: int | None = None
    """The most jobs :meth:`acquire_due_jobs` returns at once (``None``: no limit). The scheduler
    asks again within the same tick while it gets full batches, so the first runs of a large
    burst start before the last ones are even looked at."""

    plans_run_times: bool = False
    """Whether the scheduling loop asks :meth:`planned_run_times` for each due job this store
    returns (it asks only stores that say so)."""

    changes_only_through_scheduler: bool = False
    """Whether every change to this store's jobs goes through its own scheduler (no other
    process or scheduler writes to it). The loop then knows when such a store next has a run
    due, and a heartbeat with nothing due before the next one skips looking at it."""

    _scheduler: BaseScheduler | None = None
    _alias: str | None = None
    _logger: logging.Logger = logging.getLogger("obssched.jobstores")
    _context: SchedulerContext | None = None

    def start(self, scheduler: BaseScheduler | None, alias: str) -> None:
        """Called by the scheduler when it starts or when the store is added to a running one;
        a store used on its own is started with ``scheduler=None``.

        The store reaches the scheduler's services (clock, events, wakeup) through
        ``context_of(scheduler)``, kept here: a standalone context when there is no scheduler.
        """
        self._scheduler = scheduler
        self._alias = alias
        self._logger = logging.getLogger(f"obssched.jobstores.{alias}")
        self._context = context_of(scheduler)

    def shutdown(self) -> None:
        """Free any resources the store holds."""

    @abstractmethod
    def lookup_job(self, job_id: str) -> Job | None:
        """Return the job with ``job_id``, or ``None``."""

    @abstractmethod
    def get_due_jobs(self, now: datetime) -> list[Job]:
        """Return the jobs whose next run time is at or before ``now``, earliest first."""

    @abstractmethod
    def get_next_run_time(self) -> datetime | None:
        """Return the earliest next run time among the stored jobs (``None`` if none)."""

    @abstractmethod
    def get_all_jobs(self) -> list[Job]:
        """Return every job, by next run time, paused jobs last."""

    def get_job_labels(self) -> list[tuple[str, str, str]]:
        """Return ``(id, name, executor)`` of every job: what the built-in metrics label a job
        by. A store that can read these without rebuilding its jobs overrides it."""
        return [(job.id, job.name, job.executor) for job in self.get_all_jobs()]

    @abstractmethod
    def add_job(self, job: Job) -> None:
        """Store ``job``.

        Raises:
            ConflictingIdError: a job with the same id is stored already.
        """

    @abstractmethod
    def update_job(self, job: Job) -> None:
        """Replace the stored job that has ``job.id``.

        Raises:
            JobLookupError: no such job is stored.
        """

    @abstractmethod
    def remove_job(self, job_id: str) -> None:
        """Remove the job with ``job_id``.

        Raises:
            JobLookupError: no such job is stored.
        """

    @abstractmethod
    def remove_all_jobs(self) -> None:
        """Remove every job."""

    def count_jobs(self) -> tuple[int, int]:
        """Return ``(scheduled, paused)`` counts; stores override it with a cheaper query."""
        jobs = self.get_all_jobs()
        paused = sum(1 for job in jobs if job.next_run_time is None)
        return len(jobs) - paused, paused

    # -- what observability reads at scrape time (stores that track these override them) --

    @property
    def error_count(self) -> int:
        """Failed store operations so far (``obssched_jobstore_errors_total``)."""
        return 0

    def unloadable_count(self) -> int:
        """Stored jobs that cannot be loaded (``obssched_jobstore_unloadable_jobs``)."""
        return 0

    def cluster_nodes(self) -> int | None:
        """Live scheduler nodes sharing the store (``obssched_cluster_nodes``); ``None`` when
        the store is not shared."""
        return None

    def cluster_queue(self) -> tuple[int, int] | None:
        """This node's local queue in a shared store: the runs it claimed that have not begun
        (``obssched_cluster_queued_runs``) and how many it may queue
        (``obssched_cluster_max_queued_runs``); ``None`` when the store is not shared. Called
        at scrape time, so it must be cheap and safe from any thread."""
        return None

    @property
    def abandoned_counts(self) -> dict[str, int]:
        """Runs abandoned by dead nodes, by job name (``obssched_job_abandoned_total``)."""
        return {}

    def acquire_due_jobs(self, now: datetime) -> list[Job]:
        """Return the due jobs this scheduler may process now, leasing them where shared."""
        return self.get_due_jobs(now)

    def planned_run_times(self, job: Job) -> RunPlan | None:
        """What this store decided for ``job`` when it claimed it, asked once per due job when
        :attr:`plans_run_times` is true (``None``: the loop works the run times out itself).

        A store that computes the run times to claim a job hands them on, so that a trigger
        with jitter is not asked twice for one run, and says which it could not claim
        (:attr:`RunPlan.refused`) or found missed. The loop still submits, reports and emits
        every event.
        """
        return None

    def take_orphaned_runs(self) -> list[OrphanedRun]:
        """Hand over (once) the runs this store found lost by a dead scheduler since the last
        call; the loop reports or re-runs them. Called once per tick, so it must be cheap when
        there are none. A store that finds some on a background thread keeps them until then
        and wakes the loop (``context.wakeup()``)."""
        return []

    def release_jobs(self, jobs: list[Job]) -> None:
        """Give back the leases on ``jobs`` once their next run times are saved."""

    def _fix_paused_jobs_sorting(self, jobs: list[Job]) -> None:
        """Move paused jobs (no next run time) from the front of ``jobs`` to its end."""
        for index, job in enumerate(jobs):
            if job.next_run_time is not None:
                if index > 0:
                    paused = jobs[:index]
                    del jobs[:index]
                    jobs.extend(paused)
                break

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"
