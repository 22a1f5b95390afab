"""APScheduler 3.11 itself writing and reading jobs in a SQL database, for the compatibility
tests: four jobs (cron, interval, date, paused) with fixed run times in 2030."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore as ApsStore
from apscheduler.schedulers.base import BaseScheduler as ApsBaseScheduler

FUNC = "jobstores.jobfuncs:record"
START = datetime(2030, 1, 1, tzinfo=UTC)

EXPECTED_NEXT_RUN_TIMES = {
    "cron": datetime(2030, 1, 1, 3, tzinfo=UTC),
    "interval": datetime(2030, 1, 1, 1, tzinfo=UTC),
    "date": datetime(2030, 1, 1, 2, tzinfo=UTC),
    "paused": None,
}
"""What APScheduler 3.11 stores for the four jobs of :func:`aps_write_jobs`."""


class ManualApsScheduler(ApsBaseScheduler):  # type: ignore[misc]
    """APScheduler's base scheduler without a loop: it only reads and writes its store."""

    def wakeup(self) -> None:
        """Nothing to wake."""

    def shutdown(self, wait: bool = True) -> None:
        """Stop, closing the store."""
        super().shutdown(wait)


def aps_scheduler(url: str, schema: str | None = None) -> Any:
    """A started (paused) APScheduler 3.11 scheduler on its SQLAlchemyJobStore at ``url``."""
    sched = ManualApsScheduler(
        timezone="UTC", jobstores={"default": ApsStore(url=url, tableschema=schema)}
    )
    sched.start(paused=True)
    return sched


def aps_write_jobs(url: str, schema: str | None = None) -> dict[str, datetime | None]:
    """Have APScheduler 3.11 store the four jobs; return the next run times it stored."""
    sched = aps_scheduler(url, schema)
    sched.add_job(FUNC, "cron", hour=3, start_date=START, args=["cron"], id="cron")
    sched.add_job(
        FUNC,
        "interval",
        hours=6,
        start_date=START.replace(hour=1),
        args=["interval"],
        id="interval",
    )
    sched.add_job(FUNC, "date", run_date=START.replace(hour=2), args=["date"], id="date")
    sched.add_job(
        FUNC,
        "interval",
        minutes=30,
        start_date=START,
        next_run_time=None,
        kwargs={"which": "paused"},
        id="paused",
        misfire_grace_time=60,
        coalesce=False,
        max_instances=2,
    )
    stored = {job.id: job.next_run_time for job in sched.get_jobs()}
    sched.shutdown(wait=False)
    return stored


def aps_read_jobs(url: str, schema: str | None = None) -> dict[str, Any]:
    """Have APScheduler 3.11 read the jobs back: id to (next run time, trigger text, args)."""
    sched = aps_scheduler(url, schema)
    jobs = {job.id: (job.next_run_time, str(job.trigger), job.args) for job in sched.get_jobs()}
    sched.shutdown(wait=False)
    return jobs
