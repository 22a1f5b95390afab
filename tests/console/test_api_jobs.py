"""/api/jobs: sorting, filtering and pagination, up to 10,000 jobs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from obssched._runs import RunInfo, RunningRun
from obssched.testing import ManualClock, ManualScheduler

from ._console_support import call, console, fail, make_scheduler, noop

# The console reads the job stores on threads of its own, waiting for them with a bound.
pytestmark = pytest.mark.realtime

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    """The scheduler's clock."""
    return ManualClock()


@pytest.fixture
def scheduler(clock: ManualClock) -> Iterator[ManualScheduler]:
    """A started manual scheduler with four jobs: two that ran (one failed), one paused."""
    scheduler = make_scheduler(clock)
    scheduler.add_job(noop, "interval", seconds=30, id="b-ok", name="Backup")
    scheduler.add_job(fail, "interval", seconds=10, id="a-fail", name="archive")
    scheduler.add_job(noop, "interval", seconds=20, id="c-paused", name="cleanup")
    scheduler.add_job(noop, "interval", seconds=40, id="d-idle", name="digest")
    scheduler.pause_job("c-paused")
    yield scheduler
    scheduler.shutdown()


def ids(app: object, **query: str) -> list[str]:
    """The ids /api/jobs lists for ``query``."""
    return [job["id"] for job in call(app, "/api/jobs", query=query).json()["jobs"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["a-fail", "b-ok", "c-paused", "d-idle"]),
        ({"sort": "name", "order": "desc"}, ["d-idle", "c-paused", "b-ok", "a-fail"]),
        ({"sort": "next_run_time"}, ["a-fail", "b-ok", "d-idle", "c-paused"]),
        ({"sort": "next_run_time", "order": "desc"}, ["d-idle", "b-ok", "a-fail", "c-paused"]),
        ({"sort": "errors", "order": "desc"}, ["a-fail", "b-ok", "c-paused", "d-idle"]),
        ({"sort": "id", "order": "desc"}, ["d-idle", "c-paused", "b-ok", "a-fail"]),
    ],
    ids=["default-name", "name-desc", "next-run", "next-run-desc", "errors-desc", "id-desc"],
)
def test_jobs_sort(scheduler: ManualScheduler, query: dict[str, str], expected: list[str]) -> None:
    """Jobs sort by the field asked for; jobs without a value come last."""
    assert ids(console(scheduler), **query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"q": "ARCH"}, ["a-fail"]),
        ({"q": "b-o"}, ["b-ok"]),
        ({"status": "failing"}, ["a-fail"]),
        ({"status": "paused"}, ["c-paused"]),
        ({"status": "running"}, []),
        ({"status": "hung"}, []),
    ],
    ids=["name-text", "id-text", "failing", "paused", "running", "hung"],
)
def test_jobs_filter(
    scheduler: ManualScheduler, clock: ManualClock, query: dict[str, str], expected: list[str]
) -> None:
    """Jobs filter by text in the id or name and by status."""
    app = console(scheduler)
    clock.advance(10)
    scheduler.tick()
    assert ids(app, **query) == expected


def test_overdue_jobs_are_marked_and_filtered(
    scheduler: ManualScheduler, clock: ManualClock
) -> None:
    """A job whose next run time is past by more than overdue_after is overdue."""
    app = console(scheduler, overdue_after=5)
    clock.advance(36)  # no tick: a-fail is 26 s late, b-ok 6 s, d-idle not due
    assert ids(app, status="overdue") == ["a-fail", "b-ok"]


@pytest.mark.parametrize(
    "query",
    [{"sort": "color"}, {"order": "up"}, {"status": "late"}, {"offset": "-1"}, {"limit": "x"}],
    ids=["sort", "order", "status", "offset", "limit"],
)
def test_bad_query_is_a_400(scheduler: ManualScheduler, query: dict[str, str]) -> None:
    """An unknown sort, order or status, or a bad offset or limit, is a 400 saying which."""
    answer = call(console(scheduler), "/api/jobs", query=query)
    assert answer.status == 400
    assert next(iter(query)) in answer.json()["error"]


@pytest.mark.slow
def test_ten_thousand_jobs_are_paginated(clock: ManualClock) -> None:
    """With 10,000 jobs, pages hold `limit` jobs, in order, and total counts them all."""
    scheduler = make_scheduler(clock)
    try:
        for n in range(10_000):
            scheduler.add_job(
                noop, "interval", seconds=60, id=f"job-{n:05d}", next_run_time=clock.now()
            )
        app = console(scheduler)
        first = call(app, "/api/jobs", query={"sort": "id", "limit": "100"}).json()
        assert (first["total"], len(first["jobs"])) == (10_000, 100)
        assert first["jobs"][0]["id"] == "job-00000"
        last = call(app, "/api/jobs", query={"sort": "id", "offset": "9950", "limit": "100"}).json()
        assert [job["id"] for job in last["jobs"]] == [f"job-{n:05d}" for n in range(9950, 10_000)]
        capped = call(app, "/api/jobs", query={"limit": "5000"}).json()
        assert (capped["limit"], len(capped["jobs"])) == (1000, 1000)
        filtered = call(app, "/api/jobs", query={"q": "job-0999"}).json()
        assert filtered["total"] == 10
    finally:
        scheduler.shutdown()


@pytest.mark.slow
def test_ten_thousand_jobs_runs_are_counted(clock: ManualClock) -> None:
    """After every one of 10,000 jobs ran once, each counts one run."""
    scheduler = make_scheduler(clock)
    try:
        for n in range(10_000):
            scheduler.add_job(noop, "interval", seconds=60, id=f"job-{n:05d}")
        app = console(scheduler)
        clock.advance(timedelta(seconds=60))
        scheduler.tick()
        data = call(app, "/api/jobs", query={"sort": "last_outcome_time", "limit": "1000"}).json()
        assert data["total"] == 10_000
        assert {job["counts"]["executed"] for job in data["jobs"]} == {1}
    finally:
        scheduler.shutdown()


class RunningScheduler(ManualScheduler):
    """A manual scheduler that reports one run of job ``b-ok`` in flight since T0."""

    def get_running_runs(self) -> list[RunningRun]:
        info = RunInfo(1, "b-ok", "Backup", "m:f", "default", "default", None, T0, T0, 0.0)
        return [RunningRun(info, T0)]


@pytest.mark.parametrize(
    ("timeout", "elapsed", "hung"),
    [(None, 3599, False), (None, 3601, True), (60, 59, False), (60, 61, True)],
    ids=["no-timeout-young", "no-timeout-old", "timeout-young", "timeout-old"],
)
def test_a_run_outliving_its_limit_is_hung(
    clock: ManualClock, timeout: float | None, elapsed: int, hung: bool
) -> None:
    """A run in flight longer than the job's timeout (or hung_after) marks the job hung."""
    scheduler = RunningScheduler(clock=clock, metrics=False, tracing=False)
    scheduler.start()
    try:
        scheduler.add_job(noop, "interval", seconds=30, id="b-ok", timeout=timeout)
        clock.advance(elapsed)
        app = console(scheduler)
        job = call(app, "/api/jobs/b-ok").json()
        assert job["running"] == [
            {"run_id": 1, "started": T0.isoformat(), "running_for_seconds": float(elapsed)}
        ]
        assert job["hung"] is hung
        assert ids(app, status="hung") == (["b-ok"] if hung else [])
    finally:
        scheduler.shutdown()
