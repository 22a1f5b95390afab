"""Users' listeners get the loop's events after the tick has handed every due run over.

A listener that blocks on one job's submission must not hold back the runs the same tick
submitted, nor make later ticks refuse runs for ``max_instances``.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from datetime import timedelta
from typing import Any

import pytest

from obssched._eventbus import EventBus
from obssched.events import (
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_SUBMITTED,
    EVENT_SCHEDULER_SHUTDOWN,
    EVENT_SCHEDULER_STARTED,
    JobExecutionEvent,
    JobSubmissionEvent,
    SchedulerEvent,
)
from obssched.schedulers.background import BackgroundScheduler
from obssched.testing import EventRecorder, ManualClock, ManualScheduler

pytestmark = pytest.mark.faults

LOGGER = logging.getLogger("obssched.test.held")
T0 = ManualClock().now()


def submitted(run_id: int) -> JobSubmissionEvent:
    return JobSubmissionEvent(EVENT_JOB_SUBMITTED, "job", "default", [T0], run_id=run_id)


def executed(run_id: int) -> JobExecutionEvent:
    return JobExecutionEvent(EVENT_JOB_EXECUTED, "job", "default", T0, run_id=run_id)


def test_a_held_listener_gets_the_holders_events_at_release() -> None:
    """Held listeners see the holding thread's events only at release, in order."""
    bus = EventBus(LOGGER)
    seen: list[int] = []
    bus.add(lambda event: seen.append(event.code), held=True)
    bus.hold()
    bus.dispatch(SchedulerEvent(EVENT_SCHEDULER_STARTED))
    bus.dispatch(submitted(1))
    assert seen == []
    bus.release()
    assert seen == [EVENT_SCHEDULER_STARTED, EVENT_JOB_SUBMITTED]


def test_a_prompt_listener_gets_events_while_the_bus_is_held() -> None:
    """Listeners added without ``held`` (obssched's own) are called at once."""
    bus = EventBus(LOGGER)
    seen: list[int] = []
    bus.add(lambda event: seen.append(event.code))
    bus.hold()
    bus.dispatch(submitted(1))
    assert seen == [EVENT_JOB_SUBMITTED]
    bus.release()
    assert seen == [EVENT_JOB_SUBMITTED]


def test_another_threads_event_of_a_held_run_waits_behind_it() -> None:
    """A run's execution, dispatched by a worker, reaches a held listener after its held
    submission."""
    bus = EventBus(LOGGER)
    seen: list[tuple[int, int | None]] = []
    bus.add(lambda event: seen.append((event.code, event.run_id)), held=True)
    bus.hold()
    bus.dispatch(submitted(1))
    worker = threading.Thread(target=bus.dispatch, args=(executed(1),))
    worker.start()
    worker.join()
    assert seen == []
    bus.release()
    assert seen == [(EVENT_JOB_SUBMITTED, 1), (EVENT_JOB_EXECUTED, 1)]


def test_another_threads_event_of_another_run_is_delivered_at_once() -> None:
    """Events of runs with nothing held reach held listeners at once, from their own thread."""
    bus = EventBus(LOGGER)
    seen: list[int | None] = []
    bus.add(lambda event: seen.append(event.run_id), held=True)
    bus.hold()
    worker = threading.Thread(target=bus.dispatch, args=(executed(7),))
    worker.start()
    worker.join()
    assert seen == [7]
    bus.release()
    assert seen == [7]


def test_an_interrupted_release_stops_holding_and_delivers_the_rest() -> None:
    """A held listener raising KeyboardInterrupt ends the hold: the interrupt goes on, the
    other held events are delivered, and later events are not queued."""
    bus = EventBus(LOGGER)
    seen: list[int | None] = []

    def interrupted(event: SchedulerEvent) -> None:
        if getattr(event, "run_id", None) == 1:
            raise KeyboardInterrupt

    bus.add(interrupted, held=True)
    bus.add(lambda event: seen.append(event.run_id), held=True)
    bus.hold()
    bus.dispatch(submitted(1))
    bus.dispatch(submitted(2))
    with pytest.raises(KeyboardInterrupt):
        bus.release()
    assert seen == [2]
    bus.dispatch(submitted(3))
    assert seen == [2, 3]


def test_after_release_events_go_straight_to_every_listener() -> None:
    """Once released, the bus holds nothing back."""
    bus = EventBus(LOGGER)
    seen: list[int] = []
    bus.add(lambda event: seen.append(event.code), held=True)
    bus.hold()
    bus.release()
    bus.dispatch(submitted(1))
    assert seen == [EVENT_JOB_SUBMITTED]


def test_a_scheduler_listener_sees_the_ticks_events_when_the_tick_returns() -> None:
    """On a manual scheduler, the tick's events have all reached user listeners by the time
    ``tick()`` returns, submission before execution."""
    scheduler = ManualScheduler()
    recorder = EventRecorder(scheduler)
    scheduler.start()
    scheduler.add_job(len, "date", run_date=scheduler.clock.now(), args=("ab",))
    scheduler.tick()
    codes = [event.code for event in recorder.of(EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED)]
    assert codes == [EVENT_JOB_SUBMITTED, EVENT_JOB_EXECUTED]


def _nothing() -> None:
    pass


def _stopped(scheduler: BackgroundScheduler, timeout: float) -> bool:
    """Wait until ``scheduler`` says it is stopped (shutdown() says so before it waits)."""
    gate = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if not scheduler.running:
            return True
        gate.wait(0.01)
    return False


@pytest.mark.realtime
def test_a_shutdown_during_a_ticks_delivery_is_reported_after_the_ticks_events() -> None:
    """shutdown() from another thread while a listener handles a tick's events waits for the
    tick's events to be delivered: EVENT_SCHEDULER_SHUTDOWN comes last, as in APScheduler."""
    scheduler = BackgroundScheduler()
    codes: list[int] = []
    stopping = threading.Thread(target=scheduler.shutdown)
    shutting_down = threading.Event()

    def listener(event: SchedulerEvent) -> None:
        codes.append(event.code)
        if event.code == EVENT_JOB_SUBMITTED and not shutting_down.is_set():
            stopping.start()
            shutting_down.set()
            assert _stopped(scheduler, timeout=30)
            # Give the shutdown the time to overtake the rest of this tick's events, if it could
            stopping.join(timeout=1)

    mask = EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_SCHEDULER_SHUTDOWN
    scheduler.add_listener(listener, mask)
    scheduler.add_job(_nothing, "date", run_date=scheduler.clock.now() + timedelta(seconds=0.3))
    scheduler.start()
    assert shutting_down.wait(timeout=30), "the job was never submitted"
    stopping.join(timeout=30)
    assert not stopping.is_alive()
    assert codes[-1] == EVENT_SCHEDULER_SHUTDOWN
    assert codes.count(EVENT_SCHEDULER_SHUTDOWN) == 1


@pytest.mark.realtime
def test_a_listener_blocked_on_one_submission_does_not_hold_back_the_other_runs() -> None:
    """A listener that blocks on job A's submission until job B has run does not deadlock: B's
    run, submitted in the same tick, is already with the executor; and nothing is refused for
    max_instances meanwhile."""
    scheduler = BackgroundScheduler()
    b_ran = threading.Event()
    unblocked = threading.Event()
    refused: list[str] = []

    def blocking_listener(event: SchedulerEvent) -> None:
        if isinstance(event, JobSubmissionEvent) and event.job_id == "a":
            if event.code == EVENT_JOB_MAX_INSTANCES:
                refused.append(event.job_id)
            elif b_ran.wait(timeout=30):
                unblocked.set()

    scheduler.add_listener(blocking_listener, EVENT_JOB_SUBMITTED | EVENT_JOB_MAX_INSTANCES)
    run_at = scheduler.clock.now() + timedelta(seconds=0.5)
    scheduler.add_job(_nothing, "date", run_date=run_at, id="a")
    scheduler.add_job(b_ran.set, "date", run_date=run_at, id="b")
    scheduler.start()
    try:
        assert unblocked.wait(timeout=30), "job b did not run while the listener blocked on a"
    finally:
        scheduler.shutdown()
    assert refused == []


def test_a_workers_event_queued_while_a_quiet_tick_ends_is_delivered() -> None:
    """A worker's event of a run held by the previous tick, queued as a tick that held nothing
    ends, reaches the held listeners (it is not left in the queue for a later release).

    The interleaving is forced by gates on the bus's queue and its set of held runs: the worker
    passes the unlocked test of the held runs during tick 1, and goes on during tick 2."""
    bus = EventBus(LOGGER)
    worker_thread: list[int] = []
    checked, go_on, at_queue, go_queue = (threading.Event() for _ in range(4))

    class GatedRuns(set[int]):
        def __contains__(self, run_id: object) -> bool:
            held = super().__contains__(run_id)
            if worker_thread == [threading.get_ident()] and not go_on.is_set():
                checked.set()
                go_on.wait(5)
            return held

    class GatedQueue(deque[Any]):
        def append(self, item: Any) -> None:
            if worker_thread == [threading.get_ident()]:
                at_queue.set()
                go_queue.wait(5)
            super().append(item)

    bus._held_runs = GatedRuns()
    bus._held = GatedQueue()
    seen: list[tuple[int, int | None]] = []
    bus.add(lambda event: seen.append((event.code, event.run_id)), held=True)

    def worker() -> None:
        worker_thread.append(threading.get_ident())
        bus.dispatch(executed(1))
        at_queue.set()

    bus.hold()
    bus.dispatch(submitted(1))
    thread = threading.Thread(target=worker)
    thread.start()
    assert checked.wait(5)
    bus.release()
    bus.hold()
    go_on.set()
    assert at_queue.wait(5)
    bus.release()
    go_queue.set()
    thread.join(5)
    assert seen == [(EVENT_JOB_SUBMITTED, 1), (EVENT_JOB_EXECUTED, 1)]
