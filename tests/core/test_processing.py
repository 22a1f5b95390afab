"""How the scheduling loop turns due run times into submissions, misses and events."""

from __future__ import annotations

import gc
import logging
import threading
import weakref
from datetime import UTC, datetime, timedelta
from typing import Any

import core_jobs
import pytest

from obssched.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_REMOVED,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
    SchedulerEvent,
)
from obssched.jobstores.memory import MemoryJobStore
from obssched.testing import EventRecorder, InlineExecutor, ManualClock, ManualScheduler

START = datetime(2024, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def test_a_due_job_runs_once_per_tick(
    scheduler: ManualScheduler, clock: ManualClock, recorder: EventRecorder
) -> None:
    """An interval job due now is submitted and executed exactly once by one tick."""
    scheduler.add_job(core_jobs.add, "interval", seconds=10, args=(1, 2), id="j")
    scheduler.start()
    clock.advance(10)
    scheduler.tick()
    executed = recorder.of(EVENT_JOB_EXECUTED)
    assert [(e.job_id, e.retval, e.scheduled_run_time) for e in executed] == [("j", 3, at(10))]


def test_a_job_added_without_trigger_runs_once_even_without_coalescing(
    scheduler: ManualScheduler, clock: ManualClock, recorder: EventRecorder
) -> None:
    """add_job(func) means "run once, now": reached late, it still runs once, not once for
    the time it was added and again for the time the loop got to it."""
    scheduler.start()
    scheduler.add_job(core_jobs.record, coalesce=False, id="now")
    clock.advance(0.5)
    scheduler.tick()
    assert [e.job_id for e in recorder.of(EVENT_JOB_EXECUTED)] == ["now"]
    assert [e.job_id for e in recorder.of(EVENT_JOB_REMOVED)] == ["now"]


def test_a_job_added_without_trigger_shows_when_it_runs(
    scheduler: ManualScheduler, clock: ManualClock
) -> None:
    """Without a trigger a job gets a date trigger fixed at the scheduler clock's now, which its
    readable form shows, as APScheduler's does."""
    clock.advance(42)
    job = scheduler.add_job(core_jobs.record, id="now")
    assert job.trigger.run_date == at(42)
    assert str(job.trigger) == "date[2024-01-01 00:00:42 UTC]"


def test_nothing_runs_before_its_time(
    scheduler: ManualScheduler, clock: ManualClock, recorder: EventRecorder
) -> None:
    """A tick before the first run time submits nothing."""
    scheduler.add_job(core_jobs.record, "interval", seconds=10)
    scheduler.start()
    clock.advance(9.999)
    scheduler.tick()
    assert recorder.of(EVENT_JOB_SUBMITTED) == []


def test_tick_returns_seconds_until_the_next_run(
    scheduler: ManualScheduler, clock: ManualClock
) -> None:
    """The loop step returns how long to sleep until the next run time."""
    scheduler.add_job(core_jobs.record, "interval", seconds=5)
    scheduler.start()
    clock.advance(2)
    assert scheduler.tick() == pytest.approx(3)


def test_tick_sleeps_at_most_the_heartbeat(clock: ManualClock) -> None:
    """With nothing due for a long time the loop still wakes every heartbeat interval."""
    sched = ManualScheduler(clock=clock, heartbeat_interval=7, metrics=False, tracing=False)
    sched.add_job(core_jobs.record, "interval", hours=1)
    sched.start()
    assert sched.tick() == 7
    sched.shutdown()


def test_tick_records_the_wakeup_time(scheduler: ManualScheduler, clock: ManualClock) -> None:
    """Every tick stamps ``last_wakeup_at``, the heartbeat the health check reads."""
    scheduler.start()
    clock.advance(3)
    scheduler.tick()
    assert scheduler.last_wakeup_at == at(3)


def test_events_of_a_run_arrive_in_order(
    scheduler: ManualScheduler, clock: ManualClock, recorder: EventRecorder
) -> None:
    """A run's submission event comes before its execution event and shares its run id."""
    scheduler.add_job(core_jobs.record, "interval", seconds=1, id="j")
    scheduler.start()
    recorder.clear()
    clock.advance(1)
    scheduler.tick()
    submitted, executed = recorder.of(EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED)
    assert (submitted.code, executed.code) == (EVENT_JOB_SUBMITTED, EVENT_JOB_EXECUTED)
    assert submitted.run_id == executed.run_id is not None


def test_execution_event_carries_timing(
    scheduler: ManualScheduler, clock: ManualClock, recorder: EventRecorder
) -> None:
    """Execution events carry name, executor, submission, start and end times and durations."""
    scheduler.add_job(core_jobs.record, "interval", seconds=1, name="tick", id="j")
    scheduler.start()
    clock.advance(1.5)
    scheduler.tick()
    (event,) = recorder.of(EVENT_JOB_EXECUTED)
    assert (event.job_name, event.executor, event.jobstore) == ("tick", "default", "default")
    assert event.submitted_at == event.started_at == event.finished_at == at(1.5)
    assert (event.queue_wait, event.run_duration, event.start_delay) == (0.0, 0.0, 0.5)


def test_start_and_end_times_follow_the_monotonic_clock(
    scheduler: ManualScheduler, clock: ManualClock, recorder: EventRecorder
) -> None:
    """A body's start and end are the submission time plus the monotonic time that passed."""
    scheduler.add_job(clock.advance, "interval", seconds=1, args=(2.25,), id="j")
    scheduler.start()
    clock.advance(1)
    scheduler.tick()
    (event,) = recorder.of(EVENT_JOB_EXECUTED)
    assert (event.submitted_at, event.started_at, event.finished_at) == (at(1), at(1), at(3.25))
    assert (event.queue_wait, event.run_duration, event.start_delay) == (0.0, 2.25, 0.0)


def test_times_given_to_an_execution_event_are_kept() -> None:
    """An execution event built by hand reports the start and end times it was given."""
    event = JobExecutionEvent(
        EVENT_JOB_EXECUTED, "j", "default", at(0), started_at=at(1), finished_at=at(4)
    )
    assert (event.started_at, event.finished_at, event.start_delay) == (at(1), at(4), 1.0)
    event.started_at = at(2)
    assert (event.started_at, event.start_delay) == (at(2), 2.0)


def test_a_running_body_is_counted_as_running(
    scheduler: ManualScheduler, clock: ManualClock
) -> None:
    """While a body runs its executor counts it running, not pending; afterwards neither."""
    seen: list[tuple[int, int, int]] = []
    executor = scheduler._executors.setdefault("default", InlineExecutor())

    def look() -> None:
        seen.append(
            (executor.running_jobs, executor.pending_jobs, len(scheduler.get_running_runs()))
        )

    scheduler.add_job(look, "interval", seconds=1)
    scheduler.start()
    clock.advance(1)
    scheduler.tick()
    assert seen == [(1, 0, 1)]
    assert (executor.running_jobs, executor.pending_jobs) == (0, 0)


def test_a_failing_job_emits_one_error_event(
    scheduler: ManualScheduler, clock: ManualClock, recorder: EventRecorder
) -> None:
    """A job that raises ends its run with an error event holding the exception and traceback."""
    scheduler.add_job(core_jobs.fail, "interval", seconds=1, args=("bad",))
    scheduler.start()
    clock.advance(1)
    scheduler.tick()
    (event,) = recorder.of(EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    assert event.code == EVENT_JOB_ERROR
    assert isinstance(event.exception, ValueError)
    assert "ValueError: bad" in event.traceback


def test_late_run_within_grace_time_still_runs(
    scheduler: ManualScheduler, clock: ManualClock, recorder: EventRecorder
) -> None:
    """A run reached later than its run time but within misfire_grace_time is executed."""
    scheduler.add_job(core_jobs.record, "interval", seconds=10, misfire_grace_time=5)
    scheduler.start()
    clock.advance(15)
    scheduler.tick()
    assert [e.code for e in recorder.of(EVENT_JOB_EXECUTED | EVENT_JOB_MISSED)] == [
        EVENT_JOB_EXECUTED
    ]


def test_run_later_than_grace_time_is_missed(
    scheduler: ManualScheduler, clock: ManualClock, recorder: EventRecorder
) -> None:
    """A run reached later than misfire_grace_time is reported missed and not submitted."""
    scheduler.add_job(core_jobs.record, "interval", seconds=10, misfire_grace_time=5, id="j")
    scheduler.start()
    clock.advance(15.5)
    scheduler.tick()
    assert recorder.of(EVENT_JOB_SUBMITTED) == []
    (missed,) = recorder.of(EVENT_JOB_MISSED)
    assert (missed.job_id, missed.scheduled_run_time, missed.run_id) == ("j", at(10), None)


def test_no_grace_time_means_never_missed(
    scheduler: ManualScheduler, clock: ManualClock, recorder: EventRecorder
) -> None:
    """With misfire_grace_time=None a run is executed however late."""
    scheduler.add_job(core_jobs.record, "interval", seconds=10, misfire_grace_time=None)
    scheduler.start()
    clock.advance(3600 * 24)
    scheduler.tick()
    assert recorder.of(EVENT_JOB_MISSED) == []
    assert len(recorder.of(EVENT_JOB_EXECUTED)) == 1


def test_coalescing_runs_only_the_latest_run_time(
    scheduler: ManualScheduler, clock: ManualClock, recorder: EventRecorder
) -> None:
    """With coalesce, overdue run times collapse into one run of the latest; the rest are listed."""
    scheduler.add_job(
        core_jobs.record, "interval", seconds=10, coalesce=True, misfire_grace_time=None
    )
    scheduler.start()
    clock.advance(35)
    scheduler.tick()
    (submitted,) = recorder.of(EVENT_JOB_SUBMITTED)
    assert submitted.scheduled_run_times == [at(30)]
    assert submitted.coalesced_run_times == [at(10), at(20)]
    assert len(recorder.of(EVENT_JOB_EXECUTED)) == 1


def test_without_coalescing_every_overdue_run_time_runs(
    scheduler: ManualScheduler, clock: ManualClock, recorder: EventRecorder
) -> None:
    """Without coalesce, each overdue run time is submitted and executed, in order."""
    scheduler.add_job(
        core_jobs.record, "interval", seconds=10, coalesce=False, misfire_grace_time=None
    )
    scheduler.start()
    clock.advance(35)
    scheduler.tick()
    executed = recorder.of(EVENT_JOB_EXECUTED)
    assert [e.scheduled_run_time for e in executed] == [at(10), at(20), at(30)]
    assert len(recorder.of(EVENT_JOB_SUBMITTED)) == 3


def test_coalesced_run_that_is_also_late_is_missed(
    scheduler: ManualScheduler, clock: ManualClock, recorder: EventRecorder
) -> None:
    """When even the kept run time is beyond the grace time, one missed event names the rest."""
    scheduler.add_job(core_jobs.record, "interval", seconds=10, coalesce=True, misfire_grace_time=1)
    scheduler.start()
    clock.advance(35)
    scheduler.tick()
    (missed,) = recorder.of(EVENT_JOB_MISSED)
    assert (missed.scheduled_run_time, missed.coalesced_run_times) == (at(30), [at(10), at(20)])


def test_max_instances_refuses_an_overlapping_run(
    clock: ManualClock,
) -> None:
    """A run due while the job already runs max_instances times is refused with one event."""
    from obssched.executors.pool import ThreadPoolExecutor

    sched = ManualScheduler(clock=clock, metrics=False, tracing=False)
    sched.add_executor(ThreadPoolExecutor(2), "pool")
    recorder = EventRecorder(sched)
    core_jobs.gate.clear()
    sched.add_job(core_jobs.wait_for_gate, "interval", seconds=1, executor="pool", id="slow")
    sched.start()
    try:
        clock.advance(1)
        sched.tick()
        clock.advance(1)
        sched.tick()
        (refused,) = recorder.of(EVENT_JOB_MAX_INSTANCES)
        assert (refused.job_id, refused.scheduled_run_times) == ("slow", [at(2)])
        assert len(recorder.of(EVENT_JOB_SUBMITTED)) == 1
    finally:
        core_jobs.gate.set()
        sched.shutdown()
    assert len(recorder.of(EVENT_JOB_EXECUTED)) == 1


def test_a_job_with_no_more_run_times_is_removed(
    scheduler: ManualScheduler, clock: ManualClock, recorder: EventRecorder
) -> None:
    """A date job runs once, then is removed with a job-removed event."""
    scheduler.add_job(core_jobs.record, "date", run_date=at(5), id="once")
    scheduler.start()
    clock.advance(5)
    scheduler.tick()
    assert scheduler.get_job("once") is None
    assert [e.job_id for e in recorder.of(EVENT_JOB_REMOVED)] == ["once"]
    assert len(recorder.of(EVENT_JOB_EXECUTED)) == 1


def test_paused_scheduler_processes_nothing(
    scheduler: ManualScheduler, clock: ManualClock, recorder: EventRecorder
) -> None:
    """While the scheduler is paused, due jobs wait; after resume they run."""
    scheduler.add_job(core_jobs.record, "interval", seconds=1, misfire_grace_time=None)
    scheduler.start(paused=True)
    clock.advance(1)
    scheduler.tick()
    assert recorder.of(EVENT_JOB_SUBMITTED) == []
    scheduler.resume()
    scheduler.tick()
    assert len(recorder.of(EVENT_JOB_EXECUTED)) == 1


def test_a_paused_job_does_not_run(
    scheduler: ManualScheduler, clock: ManualClock, recorder: EventRecorder
) -> None:
    """A paused job is skipped until resumed; resuming computes its next run time from now."""
    job = scheduler.add_job(core_jobs.record, "interval", seconds=10)
    scheduler.start()
    job.pause()
    clock.advance(25)
    scheduler.tick()
    assert recorder.of(EVENT_JOB_SUBMITTED) == []
    job.resume()
    assert scheduler.get_job(job.id).next_run_time == at(30)


def test_job_with_unknown_executor_is_paused_not_lost(
    scheduler: ManualScheduler, clock: ManualClock, recorder: EventRecorder
) -> None:
    """A due job whose executor was removed is paused and kept, with a modified event."""
    from obssched.events import EVENT_JOB_MODIFIED
    from obssched.executors.debug import DebugExecutor

    scheduler.add_executor(DebugExecutor(), "extra")
    scheduler.add_job(core_jobs.record, "interval", seconds=1, executor="extra", id="j")
    scheduler.start()
    scheduler.remove_executor("extra")
    clock.advance(1)
    scheduler.tick()
    job = scheduler.get_job("j")
    assert job is not None
    assert job.next_run_time is None
    assert [e.job_id for e in recorder.of(EVENT_JOB_MODIFIED)] == ["j"]


def test_listener_that_raises_does_not_stop_others(
    scheduler: ManualScheduler, clock: ManualClock, recorder: EventRecorder
) -> None:
    """A listener that raises is logged and counted; later listeners and the run go on."""

    def broken(event: object) -> None:
        raise RuntimeError("listener bug")

    scheduler.add_listener(broken)
    after = EventRecorder(scheduler, EVENT_JOB_EXECUTED)
    scheduler.add_job(core_jobs.record, "interval", seconds=1)
    scheduler.start()
    clock.advance(1)
    scheduler.tick()
    assert len(after.events) == 1
    assert (
        scheduler.get_listener_errors()[
            "test_listener_that_raises_does_not_stop_others.<locals>.broken"
        ]
        >= 3
    )


def test_listener_errors_are_counted_from_zero(scheduler: ManualScheduler) -> None:
    """Every listener appears in the error counts at zero as soon as it is added."""
    recorder = EventRecorder(scheduler)
    assert scheduler.get_listener_errors()[type(recorder).__qualname__] == 0


def test_routed_listener_gets_each_code_at_its_route(
    scheduler: ManualScheduler, clock: ManualClock
) -> None:
    """A listener registered with routes has those codes delivered to the routes instead, and
    rerouting takes effect for the next event."""
    seen: list[tuple[str, int]] = []

    def general(event: SchedulerEvent) -> None:
        seen.append(("general", event.code))

    def executed(event: SchedulerEvent) -> None:
        seen.append(("route", event.code))

    bus = scheduler._events
    bus.add(
        general, EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED, routes={EVENT_JOB_EXECUTED: executed}
    )
    scheduler.add_job(core_jobs.record, "interval", seconds=1)
    scheduler.start()
    clock.advance(1)
    scheduler.tick()
    bus.reroute(general, None)
    clock.advance(1)
    scheduler.tick()
    assert seen == [
        ("general", EVENT_JOB_SUBMITTED),
        ("route", EVENT_JOB_EXECUTED),
        ("general", EVENT_JOB_SUBMITTED),
        ("general", EVENT_JOB_EXECUTED),
    ]


def test_a_failing_route_counts_under_its_listener_name(
    scheduler: ManualScheduler, clock: ManualClock
) -> None:
    """A route that raises is counted under the name its listener was registered with."""

    def failing(event: SchedulerEvent) -> None:
        raise RuntimeError("route bug")

    scheduler._events.add(
        print, EVENT_JOB_EXECUTED, name="mine", routes={EVENT_JOB_EXECUTED: failing}
    )
    scheduler.add_job(core_jobs.record, "interval", seconds=1)
    scheduler.start()
    clock.advance(1)
    scheduler.tick()
    assert scheduler.get_listener_errors()["mine"] == 1


def test_adding_a_job_due_after_the_planned_wakeup_does_not_wake_the_loop(
    scheduler: ManualScheduler, clock: ManualClock
) -> None:
    """The loop is woken only for jobs due before it would wake anyway."""
    scheduler.add_job(core_jobs.record, "interval", seconds=5)
    scheduler.start()
    scheduler.tick()
    before = scheduler.wakeups
    scheduler.add_job(core_jobs.record, "interval", seconds=8)
    assert scheduler.wakeups == before
    scheduler.add_job(core_jobs.record, "interval", seconds=2)
    assert scheduler.wakeups == before + 1


def test_a_burst_larger_than_a_store_batch_runs_in_one_tick(
    scheduler: ManualScheduler, clock: ManualClock, recorder: EventRecorder
) -> None:
    """Due jobs beyond the store's batch size are taken in further batches of the same tick."""
    for index in range(1300):
        scheduler.add_job(core_jobs.record, "date", run_date=at(1), id=f"j{index}")
    scheduler.start()
    clock.advance(1)
    scheduler.tick()
    assert len(recorder.of(EVENT_JOB_EXECUTED)) == 1300
    assert scheduler.get_jobs() == []


def test_an_executor_removed_during_a_tick_still_ends_the_runs_it_held(
    scheduler: ManualScheduler, clock: ManualClock, recorder: EventRecorder
) -> None:
    """Runs a tick handed to an executor that another thread removes before the tick ends are
    not left announced and never run: each still ends (here with an error, the pool is gone)."""
    from obssched.executors.pool import ThreadPoolExecutor

    scheduler.add_executor(ThreadPoolExecutor(2), "threads")
    scheduler.start()
    for index in range(2):
        scheduler.add_job(
            core_jobs.record, "date", run_date=at(1), id=f"j{index}", executor="threads"
        )

    def remove_from_another_thread(event: SchedulerEvent) -> None:
        if event.job_id == "j1":  # type: ignore[attr-defined]
            remover = threading.Thread(target=scheduler.remove_executor, args=("threads",))
            remover.start()
            remover.join()

    scheduler.add_listener(remove_from_another_thread, EVENT_JOB_SUBMITTED)
    clock.advance(1)
    scheduler.tick()
    ended = recorder.of(EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    assert sorted(e.job_id for e in ended) == ["j0", "j1"]


def test_runs_go_to_the_executor_now_under_the_alias_after_a_replacement(
    scheduler: ManualScheduler, clock: ManualClock, recorder: EventRecorder
) -> None:
    """An executor removed and replaced under the same alias between ticks gets the job's later
    runs; the one it replaced gets none."""
    first, second = InlineExecutor(), InlineExecutor()
    scheduler.add_executor(first, "work")
    scheduler.add_job(core_jobs.add, "interval", seconds=10, args=(1, 2), id="j", executor="work")
    scheduler.start()
    clock.advance(10)
    scheduler.tick()
    scheduler.remove_executor("work")
    scheduler.add_executor(second, "work")
    clock.advance(10)
    scheduler.tick()
    assert (first.submitted_runs, second.submitted_runs) == (1, 1)
    assert [e.scheduled_run_time for e in recorder.of(EVENT_JOB_EXECUTED)] == [at(10), at(20)]


@pytest.mark.parametrize("state", ["paused", "stopped"])
def test_an_executor_removed_while_no_tick_runs_is_not_kept_by_the_scheduler(
    scheduler: ManualScheduler, clock: ManualClock, state: str
) -> None:
    """An executor that ran a job and was then removed, with the scheduler paused or shut down
    (so no tick comes to notice), is no longer referenced by the scheduler."""
    executor = InlineExecutor()
    scheduler.add_executor(executor, "work")
    scheduler.add_job(core_jobs.add, "interval", seconds=10, args=(1, 2), id="j", executor="work")
    scheduler.start()
    clock.advance(10)
    scheduler.tick()
    scheduler.remove_job("j")
    if state == "paused":
        scheduler.pause()
    else:
        scheduler.shutdown()
    scheduler.remove_executor("work")
    removed = weakref.ref(executor)
    del executor
    gc.collect()
    assert removed() is None


def test_a_tick_before_start_logs_to_the_logger_configured_last(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A tick run before start reports to the logger that ``configure`` set, not the one the
    scheduler was made with."""
    scheduler = ManualScheduler(
        clock=ManualClock(START), timezone="UTC", metrics=False, tracing=False
    )
    scheduler.add_jobstore(FailingStore(), "broken")
    scheduler.configure(logger=logging.getLogger("obssched.test.configured"))
    with caplog.at_level(logging.ERROR):
        scheduler._process_jobs()
    assert [(record.name, record.getMessage()) for record in caplog.records][:1] == [
        ("obssched.test.configured", "Error taking the orphaned runs of job store 'broken'")
    ]


class FailingStore(MemoryJobStore):
    """A memory store that cannot hand over its orphaned runs."""

    def take_orphaned_runs(self) -> Any:
        raise ConnectionError("store unreachable")
