"""The overlap policy: a run due while its job has max_instances runs in flight is skipped (the
default, as in APScheduler 3) or queued until one of them ends, within a bound, and every choice
is reported."""

from __future__ import annotations

import io
import json
import logging
import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from obssched.events import (
    EVENT_ALL,
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_QUEUED,
    EVENT_JOB_SUBMITTED,
    EVENT_SCHEDULER_SHUTDOWN,
    JobSubmissionEvent,
)
from obssched.executors.base import BaseExecutor
from obssched.executors.pool import ThreadPoolExecutor
from obssched.job import Job
from obssched.jobstores._sql.codec import decode_job, encode_state
from obssched.schedulers.background import BackgroundScheduler
from obssched.testing import EventRecorder, ManualClock, ManualScheduler

T0 = datetime.fromisoformat("2024-01-01T00:00:00+00:00")
MASK = EVENT_ALL | EVENT_JOB_QUEUED
JOB_OUTCOMES = EVENT_JOB_SUBMITTED | EVENT_JOB_QUEUED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_EXECUTED


def record(value: Any = None) -> Any:
    return value


class HeldExecutor(BaseExecutor):
    """Holds each submitted work item until the test ends it, so runs overlap on demand."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[tuple[Job, list[Any]]] = []

    def _do_submit_runs(self, job: Job, runs: list[Any]) -> None:
        self.held.append((job, runs))

    def finish_oldest(self) -> None:
        job, runs = self.held.pop(0)
        self._run_in_this_thread(job, runs)


class RefusingExecutor(BaseExecutor):
    """Refuses every submission with an error other than max_instances."""

    def _do_submit_runs(self, job: Job, runs: list[Any]) -> None:
        raise AssertionError("not reached")

    def submit_job(self, job: Job, run_times: Any) -> None:
        raise RuntimeError("executor broken")


@pytest.fixture
def held() -> HeldExecutor:
    return HeldExecutor()


@pytest.fixture
def sched(clock: ManualClock, held: HeldExecutor) -> Any:
    scheduler = ManualScheduler(clock=clock, timezone="UTC", metrics=False, tracing=False)
    scheduler.add_executor(held, "held")
    yield scheduler
    if scheduler.running:
        scheduler.shutdown(wait=False)


@pytest.fixture
def events(sched: ManualScheduler) -> EventRecorder:
    return EventRecorder(sched, MASK)


def add_overlapping(scheduler: ManualScheduler, **options: Any) -> Job:
    """A job due every 10 s whose runs stay in flight until the test finishes them."""
    return scheduler.add_job(
        record, "interval", seconds=10, id="j", executor="held", max_instances=1, **options
    )


def run_until_queued(scheduler: ManualScheduler, clock: ManualClock, ticks: int) -> None:
    """Start, then let ``ticks`` run times come due (the first is submitted and held)."""
    scheduler.start()
    for _ in range(ticks):
        clock.advance(10)
        scheduler.tick()


def outcomes(events: EventRecorder) -> list[tuple[str, list[datetime]]]:
    """(event name, run times) of the run outcomes recorded, in order."""
    result = []
    for event in events.of(JOB_OUTCOMES):
        times = (
            list(event.scheduled_run_times)
            if isinstance(event, JobSubmissionEvent)
            else [event.scheduled_run_time]
        )
        result.append((events.names[events.events.index(event)], times))
    return result


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_skip_is_the_default(sched: ManualScheduler, clock: ManualClock, events: EventRecorder):
    """Without an overlap policy, a run due while the job runs is refused, as in APScheduler."""
    add_overlapping(sched)
    run_until_queued(sched, clock, 2)
    assert outcomes(events) == [("job_submitted", [at(10)]), ("job_max_instances", [at(20)])]


def test_a_run_due_while_the_job_runs_is_queued(
    sched: ManualScheduler, clock: ManualClock, events: EventRecorder
):
    """With overlap="queue", the refused run waits and EVENT_JOB_QUEUED says so."""
    add_overlapping(sched, overlap="queue")
    run_until_queued(sched, clock, 2)
    assert outcomes(events) == [("job_submitted", [at(10)]), ("job_queued", [at(20)])]
    assert sched._overlap.waiting_runs() == {"j": [at(20)]}


def test_a_run_beyond_the_queue_limit_is_refused(
    sched: ManualScheduler, clock: ManualClock, events: EventRecorder
):
    """Past overlap_queue_limit waiting runs, the next one is refused with max_instances."""
    add_overlapping(sched, overlap="queue", overlap_queue_limit=2)
    run_until_queued(sched, clock, 4)
    assert [name for name, _ in outcomes(events)] == [
        "job_submitted",
        "job_queued",
        "job_queued",
        "job_max_instances",
    ]


def test_the_oldest_queued_run_starts_when_an_instance_ends(
    sched: ManualScheduler, clock: ManualClock, events: EventRecorder, held: HeldExecutor
):
    """When the running instance ends, the next tick submits the oldest queued run, with its
    scheduled run time kept, so its start delay shows how long it waited."""
    add_overlapping(sched, overlap="queue", overlap_queue_limit=2)
    run_until_queued(sched, clock, 3)
    clock.advance(5)
    held.finish_oldest()
    sched.tick()
    held.finish_oldest()
    executed = events.of(EVENT_JOB_EXECUTED)
    assert [e.scheduled_run_time for e in executed] == [at(10), at(20)]
    assert executed[1].start_delay == 15.0
    assert sched._overlap.waiting_runs() == {"j": [at(30)]}


def test_the_end_of_a_run_wakes_the_loop_while_runs_wait(
    sched: ManualScheduler, clock: ManualClock, held: HeldExecutor
):
    """A run's end wakes the scheduling loop when runs of its job wait."""
    add_overlapping(sched, overlap="queue")
    run_until_queued(sched, clock, 2)
    before = sched.wakeups
    held.finish_oldest()
    assert sched.wakeups == before + 1


def test_a_queued_run_reported_once_runs_once(
    sched: ManualScheduler, clock: ManualClock, events: EventRecorder, held: HeldExecutor
):
    """Each queued run is submitted once and ends in one terminal event."""
    add_overlapping(sched, overlap="queue")
    run_until_queued(sched, clock, 2)
    held.finish_oldest()
    sched.tick()
    sched.tick()
    held.finish_oldest()
    assert len(events.of(EVENT_JOB_SUBMITTED)) == 2
    assert len(events.of(EVENT_JOB_EXECUTED)) == 2
    assert not sched._overlap.waiting


def test_queued_runs_are_reported_at_shutdown(
    sched: ManualScheduler,
    clock: ManualClock,
    events: EventRecorder,
    caplog: pytest.LogCaptureFixture,
):
    """Runs still waiting when the scheduler shuts down are refused with max_instances and
    logged, never dropped in silence."""
    add_overlapping(sched, overlap="queue")
    run_until_queued(sched, clock, 2)
    with caplog.at_level(logging.WARNING):
        sched.shutdown(wait=False)
    refused = events.of(EVENT_JOB_MAX_INSTANCES)
    assert [e.scheduled_run_times for e in refused] == [[at(20)]]
    assert refused[0].run_id is not None
    assert "dropped: the scheduler shut down" in caplog.text


def test_queued_runs_are_refused_before_the_shutdown_is_reported(
    sched: ManualScheduler, clock: ManualClock
) -> None:
    """The refusals of runs still waiting reach listeners before EVENT_SCHEDULER_SHUTDOWN."""
    codes = EventRecorder(sched, EVENT_JOB_MAX_INSTANCES | EVENT_SCHEDULER_SHUTDOWN)
    add_overlapping(sched, overlap="queue")
    run_until_queued(sched, clock, 2)
    sched.shutdown(wait=False)
    assert [event.code for event in codes.events] == [
        EVENT_JOB_MAX_INSTANCES,
        EVENT_SCHEDULER_SHUTDOWN,
    ]


def test_queueing_a_run_wakes_the_loop_to_look_again(
    sched: ManualScheduler, clock: ManualClock
) -> None:
    """An instance may end between the refusal and the queueing: the loop is woken to look
    again instead of waiting for an end that has already happened."""
    add_overlapping(sched, overlap="queue")
    run_until_queued(sched, clock, 1)
    before = sched.wakeups
    clock.advance(10)
    sched.tick()
    assert sched._overlap.waiting
    assert sched.wakeups > before


def test_a_queued_run_whose_executor_is_gone_is_logged_and_counted(
    sched: ManualScheduler, clock: ManualClock, held: HeldExecutor
):
    """A queued run that can no longer be submitted counts as an executor failure."""
    add_overlapping(sched, overlap="queue")
    run_until_queued(sched, clock, 2)
    held.finish_oldest()
    sched.remove_executor("held", shutdown=False)
    sched.tick()
    assert sched.context.stage_errors.counts()["executor"] == 1
    assert not sched._overlap.waiting


def test_a_queued_run_the_executor_fails_to_take_is_counted(
    sched: ManualScheduler, clock: ManualClock
):
    """A queued run whose submission fails otherwise is logged and counted, not retried."""
    add_overlapping(sched, overlap="queue")
    run_until_queued(sched, clock, 2)
    sched.remove_executor("held", shutdown=False)
    sched.add_executor(RefusingExecutor(), "held")
    sched.tick()
    assert sched.context.stage_errors.counts()["executor"] == 1
    assert not sched._overlap.waiting


def test_modify_job_can_turn_queueing_on(
    sched: ManualScheduler, clock: ManualClock, events: EventRecorder
):
    """modify_job changes the policy of a stored job."""
    add_overlapping(sched)
    sched.start()
    sched.modify_job("j", overlap="queue", overlap_queue_limit=3)
    job = sched.get_job("j")
    assert job is not None
    assert (job.overlap, job.overlap_queue_limit) == ("queue", 3)


def test_job_defaults_give_the_policy(clock: ManualClock, held: HeldExecutor):
    """job_defaults sets overlap and overlap_queue_limit, also for jobs added before start;
    numbers given as text (configuration files) are read."""
    scheduler = ManualScheduler(
        clock=clock,
        metrics=False,
        tracing=False,
        job_defaults={"overlap": "queue", "overlap_queue_limit": "4"},
    )
    job = scheduler.add_job(record, "interval", seconds=10)
    scheduler.start()
    try:
        assert (job.overlap, job.overlap_queue_limit) == ("queue", 4)
    finally:
        scheduler.shutdown()


def test_a_job_added_while_stopped_without_defaults_skips(clock: ManualClock):
    """A job added before start with no job_defaults for it gets the defaults at start."""
    scheduler = ManualScheduler(clock=clock, metrics=False, tracing=False)
    job = scheduler.add_job(record, "interval", seconds=10)
    scheduler.start()
    try:
        assert (job.overlap, job.overlap_queue_limit) == ("skip", 1)
    finally:
        scheduler.shutdown()


@pytest.mark.parametrize(
    ("options", "error", "named"),
    [
        ({"overlap": 1}, TypeError, "1"),
        ({"overlap": "both"}, ValueError, "'both'"),
        ({"overlap_queue_limit": 0}, ValueError, "0"),
        ({"overlap_queue_limit": -3}, ValueError, "-3"),
        ({"overlap_queue_limit": "2"}, TypeError, "'2'"),
        ({"overlap_queue_limit": True}, TypeError, "True"),
        ({"overlap_queue_limit": 1.5}, TypeError, "1.5"),
    ],
    ids=["overlap-int", "overlap-unknown", "limit-zero", "limit-negative", "limit-text",
         "limit-bool", "limit-float"],
)  # fmt: skip
def test_bad_values_are_refused_by_name(
    scheduler: ManualScheduler, options: dict[str, Any], error: type[Exception], named: str
):
    """add_job refuses a bad policy or limit with a typed error naming the value."""
    with pytest.raises(error, match=named.replace("-", r"\-").replace("(", r"\(")):
        scheduler.add_job(record, "interval", seconds=10, **options)


@pytest.mark.parametrize(
    ("defaults", "error"),
    [({"overlap": "sometimes"}, ValueError), ({"overlap_queue_limit": "many"}, TypeError)],
    ids=["overlap", "limit"],
)
def test_bad_job_defaults_are_refused(defaults: dict[str, Any], error: type[Exception]):
    """job_defaults with a bad policy or limit is refused when configured."""
    with pytest.raises(error):
        ManualScheduler(metrics=False, tracing=False, job_defaults=defaults)


def test_a_failed_modify_leaves_the_job_unchanged(sched: ManualScheduler):
    """A refused change leaves the job as it was."""
    add_overlapping(sched, overlap="queue", overlap_queue_limit=2)
    sched.start()
    with pytest.raises(ValueError, match="0"):
        sched.modify_job("j", overlap="skip", overlap_queue_limit=0)
    job = sched.get_job("j")
    assert job is not None
    assert (job.overlap, job.overlap_queue_limit) == ("queue", 2)


def test_the_job_state_keeps_the_policy_only_when_set(scheduler: ManualScheduler):
    """A job's state holds overlap keys only when they differ from the defaults, so other
    jobs' states stay APScheduler 3's."""
    scheduler.start()
    plain = scheduler.add_job("tests.core.test_overlap:record", "interval", seconds=10)
    queued = scheduler.add_job(
        "tests.core.test_overlap:record",
        "interval",
        seconds=10,
        overlap="queue",
        overlap_queue_limit=5,
    )
    assert "overlap" not in plain.__getstate__()
    state = queued.__getstate__()
    assert (state["overlap"], state["overlap_queue_limit"]) == ("queue", 5)


def test_the_sql_row_keeps_the_policy(scheduler: ManualScheduler):
    """The SQL store's row codec writes and reads the policy back."""
    scheduler.start()
    job = scheduler.add_job(
        "tests.core.test_overlap:record",
        "interval",
        seconds=10,
        overlap="queue",
        overlap_queue_limit=5,
        next_run_time=T0,
    )
    row = encode_state(job.__getstate__(), "json", 5)
    loaded = decode_job(row, scheduler, "default", allow_pickle=False)
    assert (loaded.overlap, loaded.overlap_queue_limit) == ("queue", 5)


def test_a_row_without_the_policy_skips(scheduler: ManualScheduler):
    """A row written before the policy existed loads as a skipping job."""
    scheduler.start()
    job = scheduler.add_job("tests.core.test_overlap:record", "interval", seconds=10)
    job.next_run_time = T0
    loaded = decode_job(encode_state(job.__getstate__(), "json", 5), scheduler, "default", False)
    assert (loaded.overlap, loaded.overlap_queue_limit) == ("skip", 1)


def test_export_and_import_keep_the_policy(clock: ManualClock):
    """export_jobs writes the policy and import_jobs reads it back."""
    source = ManualScheduler(clock=clock, metrics=False, tracing=False)
    source.add_job(
        "tests.core.test_overlap:record",
        "interval",
        seconds=10,
        id="q",
        overlap="queue",
        overlap_queue_limit=2,
    )
    source.start()
    out = io.StringIO()
    source.export_jobs(out)
    source.shutdown()
    assert json.loads(out.getvalue())["jobs"][0]["overlap"] == "queue"
    target = ManualScheduler(clock=clock, metrics=False, tracing=False)
    target.import_jobs(io.StringIO(out.getvalue()))
    target.start()
    try:
        job = target.get_job("q")
        assert job is not None
        assert (job.overlap, job.overlap_queue_limit) == ("queue", 2)
    finally:
        target.shutdown()


def test_queued_runs_are_counted(clock: ManualClock, held: HeldExecutor):
    """obssched_job_queued_total counts each queued run, beside the job_queued event count."""
    registry = CollectorRegistry()
    scheduler = ManualScheduler(
        clock=clock, timezone="UTC", metrics_registry=registry, tracing=False, name="s"
    )
    scheduler.add_executor(held, "held")
    add_overlapping(scheduler, overlap="queue", overlap_queue_limit=3)
    run_until_queued(scheduler, clock, 3)
    try:
        labels = {"scheduler": "s", "job_name": "record", "executor": "held"}
        assert registry.get_sample_value("obssched_job_queued_total", labels) == 2.0
        events = {"scheduler": "s", "event": "job_queued"}
        assert registry.get_sample_value("obssched_events_total", events) == 2.0
    finally:
        scheduler.shutdown(wait=False)


gate = threading.Event()


def wait_for_gate() -> bool:
    return gate.wait(10)


@pytest.mark.realtime
def test_a_thread_pool_run_waits_for_the_running_one():
    """On a thread pool, a run queued behind a blocked one starts once it ends, and the run
    beyond the limit is refused."""
    gate.clear()
    scheduler = BackgroundScheduler(
        timezone="UTC",
        metrics=False,
        tracing=False,
        executors={"default": ThreadPoolExecutor(4)},
    )
    events = EventRecorder(scheduler, MASK)
    scheduler.start()
    try:
        job = scheduler.add_job(
            wait_for_gate,
            "interval",
            hours=1,
            id="slow",
            overlap="queue",
            next_run_time=scheduler.clock.now(),
        )
        events.wait_for_count(EVENT_JOB_SUBMITTED, 1)
        job.modify(next_run_time=scheduler.clock.now())
        events.wait_for_count(EVENT_JOB_QUEUED, 1)
        job.modify(next_run_time=scheduler.clock.now())
        events.wait_for_count(EVENT_JOB_MAX_INSTANCES, 1)
        gate.set()
        ended = events.wait_for_count(EVENT_JOB_EXECUTED | EVENT_JOB_ERROR, 2)
        queued = events.of(EVENT_JOB_QUEUED)[0]
        assert [e.code for e in ended] == [EVENT_JOB_EXECUTED, EVENT_JOB_EXECUTED]
        assert ended[1].scheduled_run_time == queued.scheduled_run_times[0]
    finally:
        gate.set()
        scheduler.shutdown()


def test_what_does_not_fit_in_the_queue_is_refused(
    sched: ManualScheduler, clock: ManualClock, events: EventRecorder
):
    """Of several run times due at once (no coalescing), those beyond the queue's room are
    refused, the earlier ones queued."""
    add_overlapping(sched, overlap="queue", coalesce=False, misfire_grace_time=None)
    sched.start()
    clock.advance(10)
    sched.tick()
    clock.advance(30)
    sched.tick()
    assert outcomes(events) == [
        ("job_submitted", [at(10)]),
        ("job_queued", [at(20)]),
        ("job_max_instances", [at(30), at(40)]),
    ]


def test_shutdown_leaves_no_overlap_listener_on_the_bus(
    sched: ManualScheduler, clock: ManualClock, held: HeldExecutor, events: EventRecorder
):
    """The listener that waits for runs to end goes with the shutdown, and comes back with the
    next queued run after a restart."""
    add_overlapping(sched, overlap="queue")
    run_until_queued(sched, clock, 2)
    sched.shutdown(wait=False)
    assert sched._events.callbacks == (events,)
    sched.start()
    sched.add_job(record, "interval", seconds=10, id="k", executor="held", overlap="queue")
    for _ in range(2):
        clock.advance(10)
        sched.tick()
    assert len(sched._events.callbacks) == 2
