"""The scheduler's public API: life cycle, executors, job stores, listeners and jobs."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import core_jobs
import pytest

from obssched.events import (
    EVENT_ALL_JOBS_REMOVED,
    EVENT_EXECUTOR_ADDED,
    EVENT_EXECUTOR_REMOVED,
    EVENT_JOB_ADDED,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MODIFIED,
    EVENT_JOB_REMOVED,
    EVENT_JOBSTORE_ADDED,
    EVENT_JOBSTORE_REMOVED,
    EVENT_SCHEDULER_PAUSED,
    EVENT_SCHEDULER_RESUMED,
    EVENT_SCHEDULER_SHUTDOWN,
    EVENT_SCHEDULER_STARTED,
)
from obssched.exceptions import InvalidJobOptionError, UnknownAliasError
from obssched.executors.debug import DebugExecutor
from obssched.jobstores.base import ConflictingIdError, JobLookupError
from obssched.jobstores.memory import MemoryJobStore
from obssched.schedulers import SchedulerAlreadyRunningError, SchedulerNotRunningError
from obssched.schedulers.base import STATE_PAUSED, STATE_RUNNING, STATE_STOPPED
from obssched.testing import EventRecorder, ManualClock, ManualScheduler
from obssched.triggers.interval import IntervalTrigger

START = datetime(2024, 1, 1, tzinfo=UTC)


# -- life cycle -------------------------------------------------------------------------------


def test_start_sets_running_and_emits_started(
    scheduler: ManualScheduler, recorder: EventRecorder
) -> None:
    """start() makes the scheduler running and emits scheduler-started, after announcing the
    default executor and job store it made, as APScheduler does."""
    scheduler.start()
    assert (scheduler.state, scheduler.running) == (STATE_RUNNING, True)
    assert recorder.codes == [EVENT_EXECUTOR_ADDED, EVENT_JOBSTORE_ADDED, EVENT_SCHEDULER_STARTED]


def test_start_paused(scheduler: ManualScheduler) -> None:
    """start(paused=True) leaves the scheduler running but paused."""
    scheduler.start(paused=True)
    assert (scheduler.state, scheduler.running) == (STATE_PAUSED, True)


def test_start_twice_raises(scheduler: ManualScheduler) -> None:
    """Starting a running scheduler raises SchedulerAlreadyRunningError."""
    scheduler.start()
    with pytest.raises(SchedulerAlreadyRunningError, match="already running"):
        scheduler.start()


def test_shutdown_stops_and_emits_shutdown(
    scheduler: ManualScheduler, recorder: EventRecorder
) -> None:
    """shutdown() stops the scheduler and emits scheduler-shutdown."""
    scheduler.start()
    scheduler.shutdown()
    assert (scheduler.state, scheduler.running) == (STATE_STOPPED, False)
    assert recorder.codes[-1] == EVENT_SCHEDULER_SHUTDOWN


def test_shutdown_of_stopped_scheduler_raises(scheduler: ManualScheduler) -> None:
    """Shutting down a stopped scheduler raises SchedulerNotRunningError."""
    with pytest.raises(SchedulerNotRunningError, match="not running"):
        scheduler.shutdown()


def test_pause_and_resume_emit_events(scheduler: ManualScheduler, recorder: EventRecorder) -> None:
    """pause() and resume() switch the state and emit their events once each."""
    scheduler.start()
    scheduler.pause()
    scheduler.pause()
    assert scheduler.state == STATE_PAUSED
    scheduler.resume()
    scheduler.resume()
    assert scheduler.state == STATE_RUNNING
    assert recorder.codes[3:] == [EVENT_SCHEDULER_PAUSED, EVENT_SCHEDULER_RESUMED]


@pytest.mark.parametrize("method", ["pause", "resume"], ids=["pause", "resume"])
def test_pause_or_resume_of_stopped_scheduler_raises(
    scheduler: ManualScheduler, method: str
) -> None:
    """pause() and resume() need a running scheduler."""
    with pytest.raises(SchedulerNotRunningError):
        getattr(scheduler, method)()


def test_resume_wakes_the_loop(scheduler: ManualScheduler) -> None:
    """resume() asks the loop to run a tick."""
    scheduler.start(paused=True)
    before = scheduler.wakeups
    scheduler.resume()
    assert scheduler.wakeups == before + 1


def test_scheduler_cannot_be_pickled(scheduler: ManualScheduler) -> None:
    """Pickling a scheduler raises TypeError explaining the usual cause."""
    import pickle

    with pytest.raises(TypeError, match="cannot be serialized"):
        pickle.dumps(scheduler)


# -- executors and job stores -------------------------------------------------------------------


def test_add_and_remove_executor_emit_events(
    scheduler: ManualScheduler, recorder: EventRecorder
) -> None:
    """Adding and removing an executor emit their events with the alias."""
    scheduler.add_executor(DebugExecutor(), "extra")
    scheduler.remove_executor("extra")
    assert [(e.code, e.alias) for e in recorder.events] == [
        (EVENT_EXECUTOR_ADDED, "extra"),
        (EVENT_EXECUTOR_REMOVED, "extra"),
    ]


def test_add_executor_by_plugin_alias(scheduler: ManualScheduler) -> None:
    """An executor can be added by its plugin alias with constructor options."""
    scheduler.add_executor("threadpool", "pool", max_workers=3)
    assert scheduler._executors["pool"].max_workers == 3


def test_add_executor_with_taken_alias_raises(scheduler: ManualScheduler) -> None:
    """A second executor with the same alias is refused, naming the alias."""
    scheduler.add_executor(DebugExecutor(), "extra")
    with pytest.raises(ValueError, match='alias of "extra"'):
        scheduler.add_executor(DebugExecutor(), "extra")


def test_add_executor_with_unknown_plugin_raises(scheduler: ManualScheduler) -> None:
    """An unknown executor plugin alias raises UnknownAliasError naming it."""
    with pytest.raises(UnknownAliasError, match='"nonesuch"'):
        scheduler.add_executor("nonesuch")


def test_remove_unknown_executor_raises(scheduler: ManualScheduler) -> None:
    """Removing an executor that does not exist raises KeyError naming it."""
    with pytest.raises(KeyError, match="ghost"):
        scheduler.remove_executor("ghost")


def test_add_and_remove_jobstore_emit_events(
    scheduler: ManualScheduler, recorder: EventRecorder
) -> None:
    """Adding and removing a job store emit their events with the alias."""
    scheduler.add_jobstore(MemoryJobStore(), "other")
    scheduler.remove_jobstore("other")
    assert [(e.code, e.alias) for e in recorder.events] == [
        (EVENT_JOBSTORE_ADDED, "other"),
        (EVENT_JOBSTORE_REMOVED, "other"),
    ]


def test_add_jobstore_with_taken_alias_while_running_raises(scheduler: ManualScheduler) -> None:
    """Adding a job store under a taken alias to a running scheduler raises, adding nothing."""
    scheduler.start()
    original = scheduler._jobstores["default"]
    with pytest.raises(ValueError, match='alias of "default"'):
        scheduler.add_jobstore("memory")
    assert scheduler._jobstores["default"] is original


def test_remove_listener_stops_delivery(scheduler: ManualScheduler) -> None:
    """A removed listener gets no more events."""
    recorder = EventRecorder(scheduler)
    scheduler.remove_listener(recorder)
    scheduler.start()
    assert recorder.events == []


def test_listener_mask_filters_events(scheduler: ManualScheduler) -> None:
    """A listener only receives the events in its mask."""
    recorder = EventRecorder(scheduler, EVENT_JOB_ADDED | EVENT_SCHEDULER_SHUTDOWN)
    scheduler.add_job(core_jobs.record, "interval", seconds=1)
    scheduler.start()
    scheduler.shutdown()
    assert recorder.codes == [EVENT_JOB_ADDED, EVENT_SCHEDULER_SHUTDOWN]


# -- adding jobs -----------------------------------------------------------------------------


def test_jobs_added_before_start_are_pending(
    scheduler: ManualScheduler, recorder: EventRecorder
) -> None:
    """A job added to a stopped scheduler is pending, and stored (job-added) at start."""
    job = scheduler.add_job(core_jobs.record, "interval", seconds=5)
    assert job.pending
    assert recorder.events == []
    scheduler.start()
    assert not job.pending
    assert recorder.codes == [
        EVENT_EXECUTOR_ADDED,
        EVENT_JOBSTORE_ADDED,
        EVENT_JOB_ADDED,
        EVENT_SCHEDULER_STARTED,
    ]


def test_add_job_applies_job_defaults(clock: ManualClock) -> None:
    """Options left undefined take the scheduler's job_defaults."""
    sched = ManualScheduler(
        clock=clock,
        job_defaults={"misfire_grace_time": 30, "coalesce": False, "max_instances": 3},
        metrics=False,
        tracing=False,
    )
    sched.start()
    job = sched.add_job(core_jobs.record, "interval", seconds=5)
    assert (job.misfire_grace_time, job.coalesce, job.max_instances) == (30, False, 3)
    sched.shutdown()


def test_add_job_defaults_match_apscheduler(scheduler: ManualScheduler) -> None:
    """Without configuration, jobs get APScheduler's defaults: grace 1 s, coalesce, 1 instance."""
    scheduler.start()
    job = scheduler.add_job(core_jobs.record, "interval", seconds=5)
    assert (job.misfire_grace_time, job.coalesce, job.max_instances) == (1, True, 1)


def test_add_job_computes_the_first_run_time(scheduler: ManualScheduler) -> None:
    """A job's first run time comes from its trigger and the clock."""
    scheduler.start()
    job = scheduler.add_job(core_jobs.record, "interval", minutes=2)
    assert job.next_run_time == START + timedelta(minutes=2)


def test_add_job_with_explicit_next_run_time(scheduler: ManualScheduler) -> None:
    """next_run_time given to add_job is used instead of the trigger's first fire time."""
    scheduler.start()
    job = scheduler.add_job(
        core_jobs.record, "interval", minutes=2, next_run_time=START + timedelta(seconds=1)
    )
    assert job.next_run_time == START + timedelta(seconds=1)


def test_add_job_without_trigger_runs_once_now(
    scheduler: ManualScheduler, recorder: EventRecorder
) -> None:
    """A job with no trigger gets a date trigger for now, runs on the next tick, then is gone."""
    scheduler.start()
    job = scheduler.add_job(core_jobs.add, args=(2, 3))
    scheduler.tick()
    assert [e.retval for e in recorder.of(EVENT_JOB_EXECUTED)] == [5]
    assert scheduler.get_job(job.id) is None


def test_add_job_with_trigger_instance(scheduler: ManualScheduler) -> None:
    """A trigger instance is used as given."""
    trigger = IntervalTrigger(seconds=3, timezone="UTC")
    scheduler.start()
    job = scheduler.add_job(core_jobs.record, trigger)
    assert job.trigger is trigger


def test_add_job_with_textual_reference(scheduler: ManualScheduler) -> None:
    """func may be a 'module:qualname' reference."""
    scheduler.start()
    job = scheduler.add_job("core_jobs:add", "interval", seconds=1, args=(1, 1))
    assert (job.func, job.func_ref, job.name) == (core_jobs.add, "core_jobs:add", "add")


def test_add_job_with_duplicate_id_raises(scheduler: ManualScheduler) -> None:
    """A second job with a taken id raises ConflictingIdError naming it."""
    scheduler.start()
    scheduler.add_job(core_jobs.record, "interval", seconds=1, id="dup")
    with pytest.raises(ConflictingIdError, match="dup"):
        scheduler.add_job(core_jobs.record, "interval", seconds=1, id="dup")


def test_add_job_replace_existing(scheduler: ManualScheduler) -> None:
    """replace_existing=True replaces the stored job with the same id."""
    scheduler.start()
    scheduler.add_job(core_jobs.record, "interval", seconds=1, id="dup", name="old")
    scheduler.add_job(
        core_jobs.record, "interval", seconds=1, id="dup", name="new", replace_existing=True
    )
    assert [job.name for job in scheduler.get_jobs()] == ["new"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"func": 42}, TypeError, "42"),
        ({"func": "core_jobs:nonesuch"}, LookupError, "core_jobs:nonesuch"),
        ({"func": "no_colon_here"}, ValueError, "no_colon_here"),
        ({"func": core_jobs.add, "args": (1,)}, ValueError, "have not been supplied: b"),
        ({"func": core_jobs.record, "max_instances": -1}, TypeError, "-1"),
        ({"func": core_jobs.record, "max_instances": 0}, TypeError, "0"),
        ({"func": core_jobs.record, "misfire_grace_time": -5}, TypeError, "-5"),
        ({"func": core_jobs.record, "trigger": "nonesuch"}, UnknownAliasError, "nonesuch"),
        ({"func": core_jobs.record, "jobstore": "ghost"}, UnknownAliasError, "ghost"),
        ({"func": core_jobs.record, "executor": "ghost"}, UnknownAliasError, "ghost"),
    ],
    ids=[
        "func-not-callable",
        "func-reference-unresolvable",
        "func-reference-malformed",
        "args-do-not-fit",
        "negative-max-instances",
        "zero-max-instances",
        "negative-grace-time",
        "unknown-trigger",
        "unknown-jobstore",
        "unknown-executor",
    ],
)
def test_add_job_bad_input_raises_and_adds_nothing(
    scheduler: ManualScheduler,
    recorder: EventRecorder,
    kwargs: dict[str, object],
    error: type[Exception],
    match: str,
) -> None:
    """Bad add_job input raises a typed error naming the bad value, leaving nothing behind."""
    scheduler.start()
    kwargs.setdefault("trigger", "interval")
    trigger_args = {"seconds": 1} if kwargs["trigger"] == "interval" else {}
    with pytest.raises(error, match=match):
        scheduler.add_job(**kwargs, **trigger_args)  # type: ignore[arg-type]
    assert scheduler.get_jobs() == []
    assert recorder.of(EVENT_JOB_ADDED) == []


@pytest.mark.parametrize(
    ("option", "value"),
    [("func", 42), ("max_instances", -1), ("max_instances", 0), ("misfire_grace_time", -5)],
    ids=["func-not-callable", "negative-max-instances", "zero-max-instances", "negative-grace"],
)
def test_add_job_bad_option_keeps_the_bad_value(
    scheduler: ManualScheduler, recorder: EventRecorder, option: str, value: object
) -> None:
    """A bad job option raises InvalidJobOptionError (a TypeError, with APScheduler's message)
    holding the option and its value, and adds nothing."""
    scheduler.start()
    options: dict[str, object] = {"func": core_jobs.record, option: value}
    with pytest.raises(InvalidJobOptionError) as raised:
        scheduler.add_job(trigger="interval", seconds=1, **options)  # type: ignore[arg-type]
    assert isinstance(raised.value, TypeError)
    assert (raised.value.option, raised.value.value) == (option, value)
    assert scheduler.get_jobs() == []
    assert recorder.of(EVENT_JOB_ADDED) == []


def test_start_refuses_pending_job_for_unknown_executor(scheduler: ManualScheduler) -> None:
    """start() with a pending job naming an unknown executor raises and stores nothing."""
    scheduler.add_job(core_jobs.record, "interval", seconds=1, executor="ghost")
    with pytest.raises(UnknownAliasError, match="ghost"):
        scheduler.start()
    assert not scheduler.running
    assert all(store.get_all_jobs() == [] for store in scheduler._jobstores.values())


def test_scheduled_job_decorator(scheduler: ManualScheduler) -> None:
    """@scheduled_job adds the function as a job and returns it unchanged."""

    decorated = scheduler.scheduled_job("interval", seconds=5, id="deco")(core_jobs.record)
    assert decorated is core_jobs.record
    assert scheduler.get_job("deco") is not None


# -- changing jobs -----------------------------------------------------------------------------


def test_modify_job_changes_attributes_and_emits(
    scheduler: ManualScheduler, recorder: EventRecorder
) -> None:
    """modify_job changes the stored job and emits job-modified."""
    scheduler.start()
    scheduler.add_job(core_jobs.record, "interval", seconds=1, id="j")
    scheduler.modify_job("j", name="renamed", max_instances=4)
    job = scheduler.get_job("j")
    assert (job.name, job.max_instances) == ("renamed", 4)
    assert recorder.of(EVENT_JOB_MODIFIED)[0].job_id == "j"


def test_modify_job_with_unknown_attribute_raises(scheduler: ManualScheduler) -> None:
    """Unknown attributes are refused by name and nothing changes."""
    scheduler.start()
    scheduler.add_job(core_jobs.record, "interval", seconds=1, id="j", name="keep")
    with pytest.raises(AttributeError, match="colour"):
        scheduler.modify_job("j", name="changed", colour="red")
    assert scheduler.get_job("j").name == "keep"


def test_modify_job_id_is_refused(scheduler: ManualScheduler) -> None:
    """A job's id cannot change."""
    scheduler.start()
    scheduler.add_job(core_jobs.record, "interval", seconds=1, id="j")
    with pytest.raises(ValueError, match="may not be changed"):
        scheduler.modify_job("j", id="k")


def test_modify_unknown_job_raises(scheduler: ManualScheduler) -> None:
    """Modifying a job that does not exist raises JobLookupError naming it."""
    scheduler.start()
    with pytest.raises(JobLookupError, match="ghost"):
        scheduler.modify_job("ghost", name="x")


def test_reschedule_job_replaces_trigger(scheduler: ManualScheduler, clock: ManualClock) -> None:
    """reschedule_job gives a new trigger and a next run time computed from now."""
    scheduler.start()
    scheduler.add_job(core_jobs.record, "interval", seconds=1, id="j")
    clock.advance(100)
    job = scheduler.reschedule_job("j", trigger="interval", minutes=1)
    assert job.next_run_time == START + timedelta(seconds=160)


def test_job_methods_delegate_to_the_scheduler(scheduler: ManualScheduler) -> None:
    """Job.modify/reschedule/pause/resume/remove act on the stored job."""
    scheduler.start()
    job = scheduler.add_job(core_jobs.record, "interval", seconds=1, id="j")
    job.modify(name="m")
    job.reschedule("interval", seconds=2)
    job.pause()
    assert scheduler.get_job("j").next_run_time is None
    job.resume()
    assert scheduler.get_job("j").next_run_time == START + timedelta(seconds=2)
    job.remove()
    assert scheduler.get_job("j") is None


def test_resume_job_whose_trigger_is_exhausted_removes_it(
    scheduler: ManualScheduler, clock: ManualClock
) -> None:
    """Resuming a paused job whose trigger has ended (end_date passed) removes it."""
    scheduler.start()
    scheduler.add_job(
        core_jobs.record, "interval", seconds=1, end_date=START + timedelta(seconds=5), id="j"
    )
    scheduler.pause_job("j")
    clock.advance(10)
    assert scheduler.resume_job("j") is None
    assert scheduler.get_job("j") is None


# -- reading and removing jobs ---------------------------------------------------------------


def test_get_jobs_lists_pending_and_stored(scheduler: ManualScheduler) -> None:
    """get_jobs returns pending jobs before start and stored jobs after, by next run time."""
    scheduler.add_job(core_jobs.record, "interval", seconds=20, id="later")
    scheduler.add_job(core_jobs.record, "interval", seconds=10, id="sooner")
    assert {job.id for job in scheduler.get_jobs()} == {"later", "sooner"}
    scheduler.start()
    assert [job.id for job in scheduler.get_jobs()] == ["sooner", "later"]


def test_get_jobs_of_one_jobstore(scheduler: ManualScheduler) -> None:
    """get_jobs(jobstore) only lists that store's jobs."""
    scheduler.add_jobstore(MemoryJobStore(), "other")
    scheduler.start()
    scheduler.add_job(core_jobs.record, "interval", seconds=1, id="a")
    scheduler.add_job(core_jobs.record, "interval", seconds=1, id="b", jobstore="other")
    assert [job.id for job in scheduler.get_jobs("other")] == ["b"]


def test_get_job_of_unknown_id_is_none(scheduler: ManualScheduler) -> None:
    """get_job returns None for an unknown id."""
    scheduler.start()
    assert scheduler.get_job("ghost") is None


def test_remove_job_emits_removed(scheduler: ManualScheduler, recorder: EventRecorder) -> None:
    """remove_job deletes the job and emits job-removed."""
    scheduler.start()
    scheduler.add_job(core_jobs.record, "interval", seconds=1, id="j")
    scheduler.remove_job("j")
    assert scheduler.get_job("j") is None
    assert [(e.code, e.job_id) for e in recorder.of(EVENT_JOB_REMOVED)] == [
        (EVENT_JOB_REMOVED, "j")
    ]


def test_remove_pending_job(scheduler: ManualScheduler) -> None:
    """A pending job can be removed before the scheduler starts."""
    scheduler.add_job(core_jobs.record, "interval", seconds=1, id="j")
    scheduler.remove_job("j")
    assert scheduler.get_jobs() == []


def test_remove_unknown_job_raises(scheduler: ManualScheduler) -> None:
    """Removing a job that does not exist raises JobLookupError naming it."""
    scheduler.start()
    with pytest.raises(JobLookupError, match="ghost"):
        scheduler.remove_job("ghost")


def test_remove_all_jobs_emits_once(scheduler: ManualScheduler, recorder: EventRecorder) -> None:
    """remove_all_jobs empties the stores and emits all-jobs-removed once."""
    scheduler.start()
    scheduler.add_job(core_jobs.record, "interval", seconds=1)
    scheduler.add_job(core_jobs.record, "interval", seconds=2)
    scheduler.remove_all_jobs()
    assert scheduler.get_jobs() == []
    assert recorder.codes.count(EVENT_ALL_JOBS_REMOVED) == 1


def test_print_jobs_lists_each_store(scheduler: ManualScheduler) -> None:
    """print_jobs writes each job with its trigger and next run time, store by store."""
    scheduler.start()
    scheduler.add_job(core_jobs.record, "interval", seconds=30, name="every-30")
    out = io.StringIO()
    scheduler.print_jobs(out=out)
    text = out.getvalue()
    assert "Jobstore default:" in text
    assert "every-30 (trigger: interval[0:00:30], next run at: 2024-01-01 00:00:30 UTC)" in text


def test_export_and_import_round_trip(scheduler: ManualScheduler, clock: ManualClock) -> None:
    """export_jobs writes JSON that import_jobs reads back into an equal job."""
    scheduler.start()
    scheduler.add_job(
        core_jobs.add, "interval", seconds=30, args=(1, 2), id="j", name="adder", max_instances=2
    )
    buffer = io.StringIO()
    scheduler.export_jobs(buffer)
    other = ManualScheduler(clock=clock, metrics=False, tracing=False)
    other.start()
    buffer.seek(0)
    other.import_jobs(buffer)
    job = other.get_job("j")
    assert (job.func, job.args, job.name, job.max_instances) == (core_jobs.add, [1, 2], "adder", 2)
    assert job.next_run_time == START + timedelta(seconds=30)
    other.shutdown()


@pytest.mark.parametrize("timeout", [None, 7.5], ids=["no-timeout", "timeout"])
def test_export_and_import_keep_a_jobs_timeout(
    scheduler: ManualScheduler, clock: ManualClock, timeout: float | None
) -> None:
    """A job's timeout survives export and import; a job without one exports no timeout field."""
    scheduler.start()
    scheduler.add_job(core_jobs.record, "interval", seconds=30, id="j", timeout=timeout)
    buffer = io.StringIO()
    scheduler.export_jobs(buffer)
    assert ('"timeout"' in buffer.getvalue()) is (timeout is not None)
    other = ManualScheduler(clock=clock, metrics=False, tracing=False)
    other.start()
    buffer.seek(0)
    other.import_jobs(buffer)
    assert other.get_job("j").timeout == timeout
    other.shutdown()


def test_a_start_that_fails_on_a_pending_job_keeps_the_rest_pending(
    scheduler: ManualScheduler,
) -> None:
    """A pending job whose id turns out to be taken fails start() with ConflictingIdError, and
    the jobs after it are still pending, not lost."""
    for job_id in ("a", "a", "b"):
        scheduler.add_job(core_jobs.record, "interval", seconds=30, id=job_id)
    with pytest.raises(ConflictingIdError, match=r"\(a\)"):
        scheduler.start()
    assert [job.id for job, _, _ in scheduler._pending_jobs] == ["a", "b"]


def test_print_jobs_of_a_stopped_scheduler_lists_the_pending_jobs(
    scheduler: ManualScheduler,
) -> None:
    """Before start(), print_jobs lists the pending jobs, or says there are none, as
    APScheduler does."""
    out = io.StringIO()
    scheduler.print_jobs(out=out)
    assert out.getvalue() == "Pending jobs:\n    No pending jobs\n"
    scheduler.add_job(core_jobs.record, "interval", seconds=30, name="later")
    out = io.StringIO()
    scheduler.print_jobs(out=out)
    assert out.getvalue().startswith(
        "Pending jobs:\n    later (trigger: interval[0:00:30], pending)"
    )


def test_export_and_import_take_paths(
    scheduler: ManualScheduler, clock: ManualClock, tmp_path: Path
) -> None:
    """export_jobs and import_jobs take a pathlib.Path as well as a file name or open file."""
    scheduler.start()
    scheduler.add_job(core_jobs.record, "interval", seconds=30, id="j")
    scheduler.export_jobs(tmp_path / "jobs.json")
    other = ManualScheduler(clock=clock, metrics=False, tracing=False)
    other.start()
    other.import_jobs(tmp_path / "jobs.json")
    assert [job.id for job in other.get_jobs()] == ["j"]
    other.shutdown()


def test_an_import_naming_a_missing_executor_adds_nothing(
    scheduler: ManualScheduler, clock: ManualClock
) -> None:
    """An import into a running scheduler whose jobs name an executor it lacks raises before
    adding any job, so it is not left half done."""
    scheduler.add_executor(DebugExecutor(), "extra")
    scheduler.start()
    scheduler.add_job(core_jobs.record, "interval", seconds=30, id="a")
    scheduler.add_job(core_jobs.record, "interval", seconds=30, id="b", executor="extra")
    buffer = io.StringIO()
    scheduler.export_jobs(buffer)
    other = ManualScheduler(clock=clock, metrics=False, tracing=False)
    other.start()
    buffer.seek(0)
    with pytest.raises(UnknownAliasError, match="extra"):
        other.import_jobs(buffer)
    assert other.get_jobs() == []
    other.shutdown()


def test_get_running_runs_lists_in_flight_runs(clock: ManualClock) -> None:
    """get_running_runs shows a run from submission until its terminal event."""
    from obssched.executors.pool import ThreadPoolExecutor

    sched = ManualScheduler(clock=clock, metrics=False, tracing=False)
    sched.add_executor(ThreadPoolExecutor(1), "pool")
    recorder = EventRecorder(sched)
    core_jobs.gate.clear()
    sched.add_job(core_jobs.wait_for_gate, "interval", seconds=1, executor="pool", id="slow")
    sched.start()
    try:
        clock.advance(1)
        sched.tick()
        (running,) = sched.get_running_runs()
        assert (running.info.job_id, running.info.scheduled_run_time) == (
            "slow",
            START + timedelta(seconds=1),
        )
    finally:
        core_jobs.gate.set()
    recorder.wait_for_count(EVENT_JOB_EXECUTED, 1)
    assert sched.get_running_runs() == []
    sched.shutdown()
