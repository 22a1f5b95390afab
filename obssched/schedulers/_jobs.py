"""Finding, listing and removing jobs across a scheduler's pending list and job stores."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from obssched.exceptions import JobLookupError

if TYPE_CHECKING:
    from obssched.job import Job
    from obssched.jobstores.base import BaseJobStore

__all__ = ["PendingJob", "find_job", "list_jobs", "take_job"]

PendingJob = tuple["Job", str, bool]
"""A job added before start: ``(job, job store alias, replace_existing)``."""


def find_job(
    pending: list[PendingJob],
    stores: Mapping[str, BaseJobStore],
    job_id: str,
    jobstore: str | None,
) -> tuple[Job, str | None]:
    """Return the job and its store alias (``None`` while pending).

    Raises:
        JobLookupError: no such job.
    """
    for job, alias, _ in pending:
        if job.id == job_id and jobstore in (None, alias):
            return job, None
    for alias, store in stores.items():
        if jobstore in (None, alias):
            found = store.lookup_job(job_id)
            if found is not None:
                return found, alias
    raise JobLookupError(job_id, jobstore)


def list_jobs(
    pending: list[PendingJob], stores: Mapping[str, BaseJobStore], jobstore: str | None
) -> list[Job]:
    """Return the pending jobs, then each store's jobs (of ``jobstore`` only, if given)."""
    jobs = [job for job, alias, _ in pending if jobstore in (None, alias)]
    for alias, store in stores.items():
        if jobstore in (None, alias):
            jobs.extend(store.get_all_jobs())
    return jobs


def take_job(
    pending: list[PendingJob],
    stores: Mapping[str, BaseJobStore],
    job_id: str,
    jobstore: str | None,
) -> tuple[Job | None, str]:
    """Remove the job from the pending list or its store; return it and its store alias.

    A stored row that cannot be loaded into a job is removed too (as APScheduler, which asks
    each store to remove the id, does); the job returned is then ``None``.

    Raises:
        JobLookupError: no such job.
    """
    for index, (job, alias, _) in enumerate(pending):
        if job.id == job_id and jobstore in (None, alias):
            del pending[index]
            return job, alias
    for alias, store in stores.items():
        if jobstore in (None, alias):
            found = store.lookup_job(job_id)
            try:
                store.remove_job(job_id)
            except JobLookupError:
                continue
            return found, alias
    raise JobLookupError(job_id, jobstore)
