"""Printing, exporting and importing a scheduler's jobs.

:func:`import_jobs` reads obssched's exports and APScheduler 3.11's: the latter embed objects as
``{"__apscheduler_class__", "__apscheduler_state__"}`` (triggers) and as
``{"__apscheduler_pickle__"}`` (datetimes, zones, cron fields), which are rebuilt as APScheduler
itself rebuilds them (so the ``apscheduler`` package must be importable, and the file trusted:
unpickling runs code) and converted to obssched's triggers.

These functions are three of the scheduler's own methods, kept out of its class so that
``schedulers/base.py`` stays small: they read its locks, pending jobs and stores as its methods
do, and nothing outside the scheduler calls them.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
from typing import IO, TYPE_CHECKING, Any

from obssched._refs import ref_to_obj
from obssched._serialization import job_from_data, job_to_data
from obssched.exceptions import SerializationError

if TYPE_CHECKING:
    from obssched.job import Job
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
    """Write the jobs as JSON in APScheduler 3.11's envelope:
    ``{"version": 1, "scheduler_version": <obssched's version>, "jobs": [...]}``."""
    from obssched import __version__

    data = {
        "version": EXPORT_VERSION,
        "scheduler_version": __version__,
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
    """Add every job of an export (obssched's, or APScheduler 3.11's) to ``jobstore``, replacing
    jobs with the same ids.

    Raises:
        ValueError: the export is of a newer version.
        SerializationError: a job cannot be read; for an APScheduler 3 export, also when the
            ``apscheduler`` package is not importable.
    """
    text: str
    if isinstance(infile, (str, os.PathLike)):
        with open(infile, encoding="utf-8") as file:
            text = file.read()
    else:
        text = infile.read()
    data: Any = json.loads(text)
    if not isinstance(data, dict) or data.get("version", 0) > EXPORT_VERSION:
        raise ValueError(
            f"This export (version {data.get('version') if isinstance(data, dict) else '?'}) "
            f"is not readable by this obssched, which reads up to version {EXPORT_VERSION}"
        )
    if _is_aps3_export(data):
        jobs = _aps3_jobs(scheduler, text, jobstore)
    else:
        jobs = [job_from_data(scheduler, item) for item in data["jobs"]]
        for job in jobs:
            # As in APScheduler 3.11, imported arguments are the JSON lists the file holds.
            job.args = list(job.args)  # type: ignore[assignment]
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


def _is_aps3_export(data: dict[str, Any]) -> bool:
    """APScheduler 3.11 writes each trigger as an embedded object (both write the same envelope,
    so only the jobs tell the two apart)."""
    jobs = data.get("jobs") or []
    return any(
        isinstance(item, dict)
        and isinstance(item.get("trigger"), dict)
        and "__apscheduler_class__" in item["trigger"]
        for item in jobs
    )


def _aps3_object(value: dict[str, Any]) -> Any:
    """Rebuild an object APScheduler 3.11's export embedded in JSON (the others stay dicts)."""
    if "__apscheduler_pickle__" in value:
        return pickle.loads(base64.b64decode(value["__apscheduler_pickle__"]))
    if "__apscheduler_class__" in value and "__apscheduler_state__" in value:
        cls = ref_to_obj(value["__apscheduler_class__"])
        instance = cls.__new__(cls)
        instance.__setstate__(value["__apscheduler_state__"])
        return instance
    return value


def _aps3_jobs(scheduler: BaseScheduler, text: str, jobstore: str) -> list[Job]:
    from obssched.jobstores._sql.aps3_state import APS3_INSTALL_HINT, job_from_aps3_state

    try:
        data = json.loads(text, object_hook=_aps3_object)
    except (ImportError, LookupError) as exc:
        raise SerializationError(
            "This APScheduler 3 export embeds APScheduler objects; reading it needs the "
            f"apscheduler package (3.x) importable here ({APS3_INSTALL_HINT}): {exc}"
        ) from exc
    jobs = []
    for item in data["jobs"]:
        job = job_from_aps3_state(item, scheduler, jobstore)
        # APScheduler keeps the arguments as JSON gives them: a list stays a list.
        job.args = item["args"]
        jobs.append(job)
    return jobs
