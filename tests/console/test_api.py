"""The console's JSON API: the documented fields of each document."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from obssched.testing import ManualClock, ManualScheduler

from ._console_support import call, console, fail, make_scheduler, noop

# The console reads the job stores on threads of its own, waiting for them with a bound.
pytestmark = pytest.mark.realtime

SCHEDULER_FIELDS = {
    "state",
    "uptime_seconds",
    "heartbeat_age_seconds",
    "version",
    "now",
    "stores",
    "executors",
    "links",
}
JOB_FIELDS = {
    "id",
    "name",
    "trigger",
    "next_run_time",
    "next_run_in_seconds",
    "paused",
    "timeout",
    "last_outcome",
    "last_outcome_time",
    "counts",
    "duration_p50",
    "duration_p95",
    "running",
    "failing",
    "overdue",
    "hung",
    "grafana_url",
}
RUN_FIELDS = {
    "run_id",
    "scheduled_run_time",
    "started",
    "delay_seconds",
    "duration_seconds",
    "outcome",
    "node",
    "trace_id",
    "trace_url",
    "error",
}


@pytest.fixture
def clock() -> ManualClock:
    """The scheduler's clock."""
    return ManualClock()


@pytest.fixture
def scheduler(clock: ManualClock) -> Iterator[ManualScheduler]:
    """A started manual scheduler."""
    scheduler = make_scheduler(clock)
    yield scheduler
    scheduler.shutdown()


def test_scheduler_document_has_the_documented_fields(scheduler: ManualScheduler) -> None:
    """/api/scheduler carries the state, heartbeat, version, stores, executors and links."""
    data = call(console(scheduler), "/api/scheduler").json()
    assert set(data) >= SCHEDULER_FIELDS
    assert data["state"] == "running"
    assert data["stores"] == [
        {
            "alias": "default",
            "class": "MemoryJobStore",
            "up": True,
            "last_success_age_seconds": 0.0,
            "error": None,
        }
    ]
    assert data["executors"] == [
        {
            "alias": "default",
            "class": "InlineExecutor",
            "running": 0,
            "pending": 0,
            "max_workers": 1,
        }
    ]
    assert set(data["links"]) == {"grafana_job_dashboard", "trace_url_template"}


def test_scheduler_uptime_counts_from_the_start(
    scheduler: ManualScheduler, clock: ManualClock
) -> None:
    """uptime_seconds is the time since the console began watching the running scheduler."""
    app = console(scheduler)
    clock.advance(42)
    assert call(app, "/api/scheduler").json()["uptime_seconds"] == 42.0


def test_links_use_the_configured_grafana_and_trace_ui(scheduler: ManualScheduler) -> None:
    """The Grafana base URL points at the shipped job dashboard; the template is passed on."""
    app = console(
        scheduler,
        grafana_url="http://grafana:3000/",
        trace_url_template="http://jaeger:16686/trace/{trace_id}",
    )
    scheduler.add_job(noop, "interval", seconds=5, id="j", name="nightly report")
    links = call(app, "/api/scheduler").json()["links"]
    assert links == {
        "grafana_job_dashboard": "http://grafana:3000/d/obssched-job/obssched-job",
        "trace_url_template": "http://jaeger:16686/trace/{trace_id}",
    }
    job = call(app, "/api/jobs/j").json()
    assert job["grafana_url"] == (
        "http://grafana:3000/d/obssched-job/obssched-job?var-job_name=nightly%20report"
    )


def test_jobs_document_lists_each_job_with_the_documented_fields(
    scheduler: ManualScheduler,
) -> None:
    """/api/jobs lists every job with its fields, the total, offset and limit."""
    scheduler.add_job(noop, "interval", seconds=5, id="a", name="alpha", timeout=30)
    scheduler.add_job(noop, "interval", seconds=5, id="b", name="beta")
    data = call(console(scheduler), "/api/jobs").json()
    assert (data["total"], data["offset"], data["limit"]) == (2, 0, 100)
    assert [job["id"] for job in data["jobs"]] == ["a", "b"]
    first = data["jobs"][0]
    assert set(first) >= JOB_FIELDS
    assert first["trigger"] == "interval[0:00:05]"
    assert first["timeout"] == 30
    assert first["next_run_in_seconds"] == 5.0
    assert first["counts"] == {
        "executed": 0,
        "error": 0,
        "missed": 0,
        "max_instances": 0,
        "timeout": 0,
    }


def test_job_counts_outcomes_and_durations(scheduler: ManualScheduler, clock: ManualClock) -> None:
    """A job's counts, last outcome and duration percentiles follow its runs."""
    scheduler.add_job(fail, "interval", seconds=5, id="f")
    app = console(scheduler)
    clock.advance(5)
    scheduler.tick()
    job = call(app, "/api/jobs/f").json()
    assert job["counts"]["error"] == 1
    assert job["last_outcome"] == "error"
    assert job["last_outcome_time"] == clock.now().isoformat()
    assert job["failing"] is True
    assert job["duration_p50"] == 0.0


def test_job_document_has_next_fire_times_and_errors(
    scheduler: ManualScheduler, clock: ManualClock
) -> None:
    """/api/jobs/<id> adds the trigger's next 10 fire times and the errors with tracebacks."""
    scheduler.add_job(fail, "interval", seconds=5, id="f")
    app = console(scheduler)
    clock.advance(5)
    scheduler.tick()
    job = call(app, "/api/jobs/f").json()
    start = clock.now()
    assert job["next_fire_times"] == [
        (start + timedelta(seconds=5 * n)).isoformat() for n in range(1, 11)
    ]
    (error,) = job["errors"]
    assert set(error) == {"time", "run_id", "exception_type", "message", "traceback"}
    assert error["exception_type"] == "ValueError"
    assert error["message"] == "it broke <b>here</b>"
    assert "Traceback (most recent call last)" in error["traceback"]
    assert 'raise ValueError("it broke <b>here</b>")' in error["traceback"]


def test_paused_job_has_no_next_fire_times(scheduler: ManualScheduler) -> None:
    """A paused job is marked paused, with no next run and no fire times."""
    scheduler.add_job(noop, "interval", seconds=5, id="p")
    scheduler.pause_job("p")
    job = call(console(scheduler), "/api/jobs/p").json()
    assert (job["paused"], job["next_run_time"], job["next_fire_times"]) == (True, None, [])


def test_runs_document_lists_recent_runs_newest_first(
    scheduler: ManualScheduler, clock: ManualClock
) -> None:
    """/api/jobs/<id>/runs lists runs with delay, duration, outcome and error, newest first."""
    scheduler.add_job(noop, "interval", seconds=5, id="n")
    app = console(scheduler)
    for _ in range(3):
        clock.advance(5)
        scheduler.tick()
    runs = call(app, "/api/jobs/n/runs").json()["runs"]
    assert len(runs) == 3
    assert set(runs[0]) >= RUN_FIELDS
    assert [run["run_id"] for run in runs] == sorted((run["run_id"] for run in runs), reverse=True)
    assert runs[0]["outcome"] == "executed"
    assert runs[0]["error"] is None
    assert runs[0]["trace_id"] is None


def test_failed_run_carries_its_error(scheduler: ManualScheduler, clock: ManualClock) -> None:
    """A failed run's error names the exception type and message."""
    scheduler.add_job(fail, "interval", seconds=5, id="f")
    app = console(scheduler)
    clock.advance(5)
    scheduler.tick()
    (run,) = call(app, "/api/jobs/f/runs").json()["runs"]
    assert (run["outcome"], run["error"]) == ("error", "ValueError: it broke <b>here</b>")


def leak(dsn: str) -> None:
    """A job body whose error names its connection string."""
    raise ConnectionError(f"cannot reach {dsn} (password=hunter2)")


def test_errors_hide_the_secrets_in_their_message_and_traceback(
    scheduler: ManualScheduler, clock: ManualClock
) -> None:
    """Passwords in an error's message, traceback and run error are replaced."""
    scheduler.add_job(
        leak, "interval", seconds=5, id="l", args=["postgresql://app:p/ss@db/prod" + "x" * 600]
    )
    app = console(scheduler)
    clock.advance(5)
    scheduler.tick()
    (error,) = call(app, "/api/jobs/l").json()["errors"]
    (run,) = call(app, "/api/jobs/l/runs").json()["runs"]
    for text in (error["message"], error["traceback"], run["error"]):
        assert "postgresql://app:***@db/prod" in text
        assert "hunter2" not in text
        assert "p/ss" not in text


def test_a_removed_job_keeps_its_history(scheduler: ManualScheduler, clock: ManualClock) -> None:
    """A job that left the stores is still served from its history, marked gone."""
    scheduler.add_job(noop, "date", run_date=clock.now() + timedelta(seconds=1), id="once")
    app = console(scheduler)
    clock.advance(1)
    scheduler.tick()
    job = call(app, "/api/jobs/once").json()
    assert (job["gone"], job["counts"]["executed"]) == (True, 1)
    assert len(call(app, "/api/jobs/once/runs").json()["runs"]) == 1


@pytest.mark.parametrize(
    "path",
    ["/api/jobs/nope", "/api/jobs/nope/runs", "/api/runs/999/spans", "/api/nothing"],
    ids=["job", "runs", "spans", "unknown-path"],
)
def test_unknown_things_are_404_with_a_json_error(scheduler: ManualScheduler, path: str) -> None:
    """What does not exist answers 404 with a JSON error."""
    answer = call(console(scheduler), path)
    assert answer.status == 404
    assert answer.headers["content-type"] == "application/json"
    assert "error" in answer.json()


def test_spans_of_a_run_are_404_while_tracing_is_off(
    scheduler: ManualScheduler, clock: ManualClock
) -> None:
    """A known run's spans are 404, saying why, when no span buffer is attached."""
    scheduler.add_job(noop, "interval", seconds=5, id="n")
    app = console(scheduler)
    clock.advance(5)
    scheduler.tick()
    (run,) = call(app, "/api/jobs/n/runs").json()["runs"]
    answer = call(app, f"/api/runs/{run['run_id']}/spans")
    assert answer.status == 404
    assert "tracing is off" in answer.json()["error"]


def test_run_id_must_be_a_number(scheduler: ManualScheduler) -> None:
    """A run id that is not a number is a 400."""
    assert call(console(scheduler), "/api/runs/abc/spans").status == 400


@pytest.mark.parametrize(
    "job_id", ["café", "a b", "nightly/report"], ids=["unicode", "space", "slash"]
)
def test_job_ids_with_any_characters_are_found(scheduler: ManualScheduler, job_id: str) -> None:
    """A job id with non-ASCII characters, spaces or a slash is found by its path."""
    scheduler.add_job(noop, "interval", seconds=5, id=job_id)
    app = console(scheduler)
    assert call(app, f"/api/jobs/{job_id}").json()["id"] == job_id
    assert call(app, f"/api/jobs/{job_id}/runs").json()["runs"] == []


def test_a_stopped_scheduler_is_described(clock: ManualClock) -> None:
    """A scheduler not started yet is stopped, with no uptime; its pending jobs are listed."""
    scheduler = ManualScheduler(clock=clock, metrics=False, tracing=False)
    scheduler.add_job(noop, "interval", seconds=5, id="waiting")
    app = console(scheduler)
    data = call(app, "/api/scheduler").json()
    assert (data["state"], data["uptime_seconds"]) == ("stopped", None)
    (job,) = call(app, "/api/jobs").json()["jobs"]
    assert (job["id"], job["pending"]) == ("waiting", True)


class FailingScheduler(ManualScheduler):
    """A manual scheduler whose list of running runs fails."""

    def get_running_runs(self) -> list[Any]:
        raise RuntimeError("executor state unavailable")


def test_an_internal_failure_is_a_500_with_a_json_error(clock: ManualClock) -> None:
    """A failure while answering is a 500 with a JSON error and the security headers."""
    scheduler = FailingScheduler(clock=clock, metrics=False, tracing=False)
    scheduler.start()
    try:
        answer = call(console(scheduler), "/api/jobs")
        assert answer.status == 500
        assert "failed" in answer.json()["error"]
        assert "default-src 'self'" in answer.headers["content-security-policy"]
    finally:
        scheduler.shutdown()
