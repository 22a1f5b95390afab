"""The console's actions on a job: pause, resume, run now, remove, through the public job API.

Each calls the scheduler's own job API (``pause_job``, ``resume_job``, ``modify_job``,
``remove_job``), which saves the change in the job's store and wakes the scheduling loop, so a
job run "now" is submitted at once rather than at the next heartbeat.
"""

from __future__ import annotations

from typing import Any

from obssched.exceptions import JobLookupError

__all__ = ["ACTIONS", "perform"]

ACTIONS = ("pause", "resume", "run", "remove")
"""The actions ``POST /api/jobs/<id>/<action>`` performs."""


def perform(scheduler: Any, action: str, job_id: str) -> dict[str, Any]:
    """Perform ``action`` on the job ``job_id``; return what was done.

    Raises:
        JobLookupError: no such job.
        ValueError: an action not in :data:`ACTIONS`.
    """
    if action == "pause":
        job = scheduler.pause_job(job_id)
        return _done(action, job_id, getattr(job, "next_run_time", None))
    if action == "resume":
        job = scheduler.resume_job(job_id)
        if job is None:  # its trigger had no more fire times: the job was removed
            return {"ok": True, "action": action, "job_id": job_id, "removed": True}
        return _done(action, job_id, getattr(job, "next_run_time", None))
    if action == "run":
        if scheduler.get_job(job_id) is None:
            raise JobLookupError(job_id)
        job = scheduler.modify_job(job_id, next_run_time=scheduler.clock.now())
        return _done(action, job_id, getattr(job, "next_run_time", None))
    if action == "remove":
        scheduler.remove_job(job_id)
        return {"ok": True, "action": action, "job_id": job_id, "removed": True}
    raise ValueError(f"unknown action {action!r}: use one of {', '.join(ACTIONS)}")


def _done(action: str, job_id: str, next_run_time: Any) -> dict[str, Any]:
    return {
        "ok": True,
        "action": action,
        "job_id": job_id,
        "removed": False,
        "next_run_time": None if next_run_time is None else next_run_time.isoformat(),
    }
