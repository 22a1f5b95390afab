"""Printing, exporting and importing a scheduler's jobs."""

from __future__ import annotations

import json
import os
from typing import IO, TYPE_CHECKING, Any

from obssched._serialization import job_from_data, job_to_data

if TYPE_CHECKING:
    from obssched.schedulers.base import BaseScheduler

__all__ = ["export_jobs", "import_jobs", "print_jobs"]

EXPORT_VERSION = 1


def print_jobs(scheduler: BaseScheduler, jobstore: str | None, out: IO[str]) -> None:
    """Write a readable listing of the jobs, as APScheduler does: the pending jobs while the
    scheduler is stopped, each job store's jobs while it runs."""
    with scheduler._jobstores_lock:
        if not scheduler.running:
            print("Pending jobs:", file=out)
            if scheduler._pending_jobs:
                for job, alias, _ in scheduler._pending_jobs:
                    if jobstore in (None, alias):
                        print(f"    {job}", file=out)
            else:
                print("    No pending jobs", file=out)
            return
        for alias, store in sorted(scheduler._jobstores.items()):
            if jobstore in (None, alias):
                print(f"Jobstore {alias}:", file=out)
                jobs = store.get_all_jobs()
                for job in jobs:
                    print(f"    {job}", file=out)
                if not jobs:
                    print("    No scheduled jobs", file=out)


def export_jobs(
    scheduler: BaseScheduler, outfile: str | os.PathLike[str] | IO[str], jobstore: str | None
) -> None:
    """Write the jobs as JSON: ``{"version": 1, "jobs": [...]}``."""
    data = {
        "version": EXPORT_VERSION,
        "jobs": [job_to_data(job) for job in scheduler.get_jobs(jobstore)],
    }
    if isinstance(outfile, (str, os.PathLike)):  # a path; anything else is an open file
        with open(outfile, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=2)
    else:
        json.dump(data, outfile, indent=2)


def import_jobs(
    scheduler: BaseScheduler, infile: str | os.PathLike[str] | IO[str], jobstore: str
) -> None:
    """Add every job of an export to ``jobstore``, replacing jobs with the same ids."""
    data: Any
    if isinstance(infile, (str, os.PathLike)):
        with open(infile, encoding="utf-8") as file:
            data = json.load(file)
    else:
        data = json.load(infile)
    if not isinstance(data, dict) or data.get("version", 0) > EXPORT_VERSION:
        raise ValueError(
            f"This export (version {data.get('version') if isinstance(data, dict) else '?'}) "
            f"is not readable by this obssched, which reads up to version {EXPORT_VERSION}"
        )
    jobs = [job_from_data(scheduler, item) for item in data["jobs"]]
    with scheduler._jobstores_lock:
        if scheduler.running:
            # Every job's store and executor are looked up before any job is added, so a bad
            # one leaves the import undone rather than half done.
            scheduler._lookup_jobstore(jobstore)
            for job in jobs:
                scheduler._lookup_executor(job.executor)
        for job in jobs:
            if not scheduler.running:
                scheduler._pending_jobs.append((job, jobstore, True))
            else:
                scheduler._real_add_job(job, jobstore, True)
