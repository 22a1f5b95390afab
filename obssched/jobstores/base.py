"""The job store interface (APScheduler 3's ``BaseJobStore``) and its errors."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from datetime import datetime
from typing import TYPE_CHECKING

from obssched.exceptions import ConflictingIdError, JobLookupError, TransientJobError

if TYPE_CHECKING:
    from obssched.job import Job
    from obssched.schedulers.base import BaseScheduler

__all__ = ["BaseJobStore", "ConflictingIdError", "JobLookupError", "TransientJobError"]


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

    _scheduler: BaseScheduler | None = None
    _alias: str | None = None
    _logger: logging.Logger = logging.getLogger("obssched.jobstores")

    def start(self, scheduler: BaseScheduler, alias: str) -> None:
        """Called by the scheduler when it starts or when the store is added to a running one."""
        self._scheduler = scheduler
        self._alias = alias
        self._logger = logging.getLogger(f"obssched.jobstores.{alias}")

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

    @property
    def abandoned_counts(self) -> dict[str, int]:
        """Runs abandoned by dead nodes, by job name (``obssched_job_abandoned_total``)."""
        return {}

    def acquire_due_jobs(self, now: datetime) -> list[Job]:
        """Return the due jobs this scheduler may process now, leasing them where shared."""
        return self.get_due_jobs(now)

    _plans_run_times = False
    """Whether :meth:`planned_run_times` may answer (the loop asks only stores that say so)."""

    def planned_run_times(self, job: Job) -> tuple[list[datetime], datetime | None] | None:
        """The run times due and the next run time this store decided for ``job`` when it
        leased it (``None``: the loop works them out). A store that computes them to lease a
        job hands them on, so that a trigger with jitter is not asked twice for one run."""
        return None

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
