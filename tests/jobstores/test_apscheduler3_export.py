"""``import_jobs`` reads APScheduler 3.11's ``export_jobs`` files as APScheduler 3.11 does."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from jobstores.aps3_fixtures import FUNC, START, ManualApsScheduler
from obssched.testing import ManualClock, ManualScheduler


def describe(jobs: list[Any]) -> dict[str, tuple[Any, ...]]:
    """What a user sees of each job, the argument containers' types included."""
    return {
        job.id: (
            job.name,
            str(job.trigger),
            job.next_run_time,
            job.args,
            type(job.args).__name__,
            job.kwargs,
            job.executor,
            job.misfire_grace_time,
            job.coalesce,
            job.max_instances,
        )
        for job in jobs
    }


@pytest.fixture
def aps_export(tmp_path: Path) -> Path:
    """An APScheduler 3.11 export of four jobs: cron, interval, date and paused."""
    sched = ManualApsScheduler(timezone="UTC")
    sched.start(paused=True)
    sched.add_job(
        FUNC,
        "cron",
        day_of_week="mon-fri",
        hour=9,
        start_date=START,
        timezone=ZoneInfo("Europe/Paris"),
        args=[1, [2, 3]],
        kwargs={"k": {"nested": True}},
        id="cron",
        name="weekday mornings",
        jitter=30,
    )
    sched.add_job(FUNC, "interval", hours=2, start_date=START, id="interval", coalesce=False)
    sched.add_job(FUNC, "date", run_date=START.replace(hour=5), id="date", misfire_grace_time=None)
    sched.add_job(FUNC, "cron", hour=1, id="paused", next_run_time=None, max_instances=3)
    path = tmp_path / "export.json"
    sched.export_jobs(str(path))
    sched.shutdown(wait=False)
    return path


def test_an_aps3_export_imports_as_apscheduler_3_imports_it(aps_export: Path) -> None:
    """Every job field, the next run times and the list arguments are what APScheduler reads."""
    aps = ManualApsScheduler(timezone="UTC")
    aps.start(paused=True)
    aps.import_jobs(str(aps_export))
    expected = describe(aps.get_jobs())
    aps.shutdown(wait=False)

    sched = ManualScheduler(
        clock=ManualClock("2029-12-01T00:00:00+00:00"), metrics=False, tracing=False, timezone="UTC"
    )
    sched.start()
    sched.import_jobs(str(aps_export))
    assert describe(sched.get_jobs()) == expected
    assert expected["cron"][3:5] == ([1, [2, 3]], "list")
    sched.shutdown()


def test_imported_aps3_jobs_run(aps_export: Path) -> None:
    """An imported job runs at its stored next run time."""
    from jobstores import jobfuncs

    clock = ManualClock("2029-12-31T23:00:00+00:00")
    sched = ManualScheduler(clock=clock, metrics=False, tracing=False, timezone="UTC")
    sched.start()
    sched.import_jobs(str(aps_export))
    jobfuncs.CALLS.clear()
    clock.set(START)
    sched.tick()
    assert jobfuncs.CALLS == [((), {})]
    sched.shutdown()
