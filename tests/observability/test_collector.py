"""The scrape-time gauges and the health verdict, read from a fake scheduler."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry

from obssched._runs import RunningRun
from obssched.observability import attach_builtin, health

from .conftest import T0, FakeScheduler


@pytest.fixture
def attached(scheduler: FakeScheduler, registry: CollectorRegistry) -> FakeScheduler:
    """The fake scheduler with metrics attached to the test's registry."""
    attach_builtin(scheduler, registry=registry, tracing=False)
    return scheduler


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, {"scheduler": "default", **labels})


def test_next_run_time(attached: FakeScheduler, registry: CollectorRegistry) -> None:
    """obssched_job_next_run_timestamp_seconds holds the job's next run time."""
    attached.add_job("id-1", "report", next_run_time=T0 + timedelta(minutes=5))
    expected = (T0 + timedelta(minutes=5)).timestamp()
    assert value(registry, "obssched_job_next_run_timestamp_seconds", job_name="report") == expected


def test_next_run_absent_while_paused(attached: FakeScheduler, registry: CollectorRegistry) -> None:
    """A paused job has no next-run series."""
    attached.add_job("id-1", "report", next_run_time=None)
    assert value(registry, "obssched_job_next_run_timestamp_seconds", job_name="report") is None


def test_next_run_earliest_of_name(attached: FakeScheduler, registry: CollectorRegistry) -> None:
    """Jobs sharing a name report the earliest next run time under it."""
    attached.add_job("id-1", "report", next_run_time=T0 + timedelta(minutes=5))
    attached.add_job("id-2", "report", next_run_time=T0 + timedelta(minutes=2))
    expected = (T0 + timedelta(minutes=2)).timestamp()
    assert value(registry, "obssched_job_next_run_timestamp_seconds", job_name="report") == expected


def test_job_info(attached: FakeScheduler, registry: CollectorRegistry) -> None:
    """obssched_job_info labels the job's id, executor, store and readable trigger."""
    attached.add_job("id-1", "report", trigger="cron[minute='*/5']")
    labels = {
        "job_name": "report",
        "job_id": "id-1",
        "executor": "default",
        "jobstore": "default",
        "trigger": "cron[minute='*/5']",
    }
    assert value(registry, "obssched_job_info", **labels) == 1.0


@pytest.mark.parametrize(
    ("job", "state"),
    [
        ({"next_run_time": T0}, "scheduled"),
        ({"next_run_time": None}, "paused"),
        ({"pending": True}, "pending"),
    ],
    ids=["scheduled", "paused", "pending"],
)
def test_jobs_by_state(
    attached: FakeScheduler, registry: CollectorRegistry, job: dict[str, object], state: str
) -> None:
    """obssched_jobs counts each job under its store and state."""
    attached.add_job("id-1", "report", **job)  # type: ignore[arg-type]
    assert value(registry, "obssched_jobs", jobstore="default", state=state) == 1.0
    others = {"scheduled", "paused", "pending"} - {state}
    assert all(value(registry, "obssched_jobs", jobstore="default", state=s) == 0 for s in others)


def test_running_and_oldest_start(attached: FakeScheduler, registry: CollectorRegistry) -> None:
    """obssched_job_running counts started runs; running_since is the oldest start."""
    job = attached.add_job("id-1", "report")
    first, second, queued = (attached.run_info(job, T0) for _ in range(3))
    attached.runs = [
        RunningRun(first, T0 + timedelta(seconds=30)),
        RunningRun(second, T0 + timedelta(seconds=10)),
        RunningRun(queued, None),
    ]
    assert value(registry, "obssched_job_running", job_name="report") == 2.0
    oldest = (T0 + timedelta(seconds=10)).timestamp()
    assert (
        value(registry, "obssched_job_running_since_timestamp_seconds", job_name="report") == oldest
    )


def test_idle_job_running_zero(attached: FakeScheduler, registry: CollectorRegistry) -> None:
    """A job with nothing in flight reports 0 running and no running-since series."""
    attached.add_job("id-1", "report")
    assert value(registry, "obssched_job_running", job_name="report") == 0.0
    assert (
        value(registry, "obssched_job_running_since_timestamp_seconds", job_name="report") is None
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("obssched_executor_running_jobs", 3.0),
        ("obssched_executor_pending_jobs", 2.0),
        ("obssched_executor_max_workers", 10.0),
    ],
    ids=["running", "pending", "max_workers"],
)
def test_executor_gauges(
    attached: FakeScheduler, registry: CollectorRegistry, name: str, expected: float
) -> None:
    """Executor gauges read the executor's counts at scrape time."""
    attached.executors["default"].running_jobs = 3
    attached.executors["default"].pending_jobs = 2
    assert value(registry, name, executor="default") == expected


def test_scheduler_state(attached: FakeScheduler, registry: CollectorRegistry) -> None:
    """obssched_scheduler_state is 1 for the current state only."""
    attached.state = 2
    assert value(registry, "obssched_scheduler_state", state="paused") == 1.0
    assert value(registry, "obssched_scheduler_state", state="running") == 0.0


def test_last_wakeup(attached: FakeScheduler, registry: CollectorRegistry) -> None:
    """obssched_scheduler_last_wakeup_timestamp_seconds is the loop's last tick."""
    name = "obssched_scheduler_last_wakeup_timestamp_seconds"
    assert value(registry, name) == T0.timestamp()


def test_build_info(attached: FakeScheduler, registry: CollectorRegistry) -> None:
    """obssched_build_info carries the version."""
    from obssched import __version__

    assert registry.get_sample_value("obssched_build_info", {"version": __version__}) == 1.0


def test_removed_job_gauges_gone(attached: FakeScheduler, registry: CollectorRegistry) -> None:
    """A removed job's scrape-time series disappear."""
    job = attached.add_job("id-1", "report")
    attached.remove_job(job)
    assert value(registry, "obssched_job_running", job_name="report") is None
    assert value(registry, "obssched_job_next_run_timestamp_seconds", job_name="report") is None


def test_detach_drops_scheduler(scheduler: FakeScheduler, registry: CollectorRegistry) -> None:
    """After detach() the scheduler's scrape-time series are gone."""
    handle = attach_builtin(scheduler, registry=registry, tracing=False)
    scheduler.add_job("id-1", "report")
    handle.detach()
    assert value(registry, "obssched_job_running", job_name="report") is None


def test_healthy_when_awake(attached: FakeScheduler, registry: CollectorRegistry) -> None:
    """A running scheduler that woke up within 3 heartbeats is healthy."""
    attached.clock.advance(29)
    assert health(registry)[0]


@pytest.mark.parametrize(
    ("state", "idle", "reason"),
    [(0, 0.0, "stopped"), (1, 31.0, "last woke up"), (1, None, "not woken")],
    ids=["stopped", "asleep", "never-woke"],
)
def test_unhealthy(
    attached: FakeScheduler,
    registry: CollectorRegistry,
    state: int,
    idle: float | None,
    reason: str,
) -> None:
    """A stopped scheduler, or one whose loop has not woken for 3 heartbeats, is unhealthy."""
    attached.state = state
    if idle is None:
        attached.last_wakeup_at = None
    else:
        attached.clock.advance(idle)
    ok, why = health(registry)
    assert not ok
    assert reason in why


def test_unhealthy_without_scheduler(registry: CollectorRegistry) -> None:
    """A registry with no scheduler attached is unhealthy."""
    assert health(registry) == (False, "no scheduler is attached to this registry")
