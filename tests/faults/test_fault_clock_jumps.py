"""A wall clock that jumps an hour forwards or backwards under a running scheduler.

Forwards: the run times jumped over are missed (past misfire_grace_time) or coalesced, and each
is reported and counted. Backwards: nothing runs twice and nothing is lost (the next run waits
for the wall clock to reach it again), and the loop keeps waking at its heartbeat.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import fault_jobs
import pytest
from faultharness import RunLedger, Scraper, sample
from prometheus_client import CollectorRegistry

from obssched.clock import SystemClock
from obssched.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED
from obssched.executors.pool import ThreadPoolExecutor
from obssched.schedulers.background import BackgroundScheduler
from obssched.testing import ManualScheduler

pytestmark = pytest.mark.faults

T0 = datetime(2024, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
EVERY = timedelta(minutes=10)
GRACE = 60
HEARTBEAT = 10.0


class JumpingClock:
    """A manual clock whose wall time can also jump, either way; its monotonic time only ever
    moves forwards, as a real one does when the system clock is set."""

    def __init__(self, start: datetime = T0) -> None:
        self._wall = start
        self._monotonic = 0.0

    def now(self) -> datetime:
        return self._wall

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, delta: timedelta) -> None:
        """Let ``delta`` of real time pass."""
        self._wall += delta
        self._monotonic += delta.total_seconds()

    def jump(self, delta: timedelta) -> None:
        """Set the wall clock ``delta`` away (negative: back), instantly."""
        self._wall += delta


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def clock() -> JumpingClock:
    return JumpingClock()


@pytest.fixture
def scheduler(clock: JumpingClock, registry: CollectorRegistry) -> Any:
    sched = ManualScheduler(
        clock=clock,
        timezone="UTC",
        metrics_registry=registry,
        tracing=False,
        heartbeat_interval=HEARTBEAT,
    )
    yield sched
    if sched.running:
        sched.shutdown()


def started(scheduler: ManualScheduler, clock: JumpingClock, **options: Any) -> RunLedger:
    """Start with a job due every 10 minutes, and let its first run (at 00:10) happen."""
    ledger = RunLedger(scheduler)
    scheduler.add_job(
        fault_jobs.fine, "interval", minutes=10, id="every", misfire_grace_time=GRACE, **options
    )
    scheduler.start()
    clock.advance(EVERY)
    scheduler.tick()
    return ledger


def executed(ledger: RunLedger) -> list[datetime]:
    return [event.scheduled_run_time for event in ledger.of(EVENT_JOB_EXECUTED)]


def test_a_jump_forwards_reports_each_run_time_jumped_over_as_missed(
    scheduler: ManualScheduler, clock: JumpingClock, registry: CollectorRegistry, metrics: Scraper
) -> None:
    """Without coalescing, the run times more than misfire_grace_time behind the new time are
    each one EVENT_JOB_MISSED, counted; the one still in grace runs; the schedule goes on."""
    ledger = started(scheduler, clock, coalesce=False)
    clock.jump(HOUR)
    scheduler.tick()
    assert metrics.scrape() == 200
    missed = [event.scheduled_run_time for event in ledger.of(EVENT_JOB_MISSED)]
    assert missed == [at(20), at(30), at(40), at(50), at(60)]
    assert executed(ledger) == [at(10), at(70)]
    assert sample(registry, "obssched_job_missed_total", job_name="fine") == 5.0
    job = scheduler.get_job("every")
    assert job is not None
    assert job.next_run_time == at(80)
    ledger.assert_each_run_ended_once()
    metrics.assert_always_answered()


def test_a_jump_forwards_coalesces_the_run_times_jumped_over(
    scheduler: ManualScheduler, clock: JumpingClock, registry: CollectorRegistry, metrics: Scraper
) -> None:
    """With coalescing, the run times jumped over fold into one run, which reports them, and
    they are counted as coalesced."""
    ledger = started(scheduler, clock, coalesce=True)
    clock.jump(HOUR)
    scheduler.tick()
    (submitted,) = ledger.of(EVENT_JOB_SUBMITTED)[1:]
    assert list(submitted.coalesced_run_times) == [at(20), at(30), at(40), at(50), at(60)]
    assert executed(ledger) == [at(10), at(70)]
    assert not ledger.of(EVENT_JOB_MISSED)
    assert sample(registry, "obssched_job_coalesced_total", job_name="fine") == 5.0
    ledger.assert_each_run_ended_once()
    metrics.assert_always_answered()


def test_a_jump_backwards_runs_nothing_twice_and_loses_nothing(
    scheduler: ManualScheduler, clock: JumpingClock, metrics: Scraper
) -> None:
    """After the wall clock goes back an hour, the loop keeps waking at its heartbeat; the next
    run waits until the wall clock reaches its time again, then every run time runs once."""
    ledger = started(scheduler, clock)
    clock.jump(-HOUR)
    waits = []
    for _ in range(9):  # 90 minutes, from 23:10 back to 00:40
        waits.append(scheduler.tick())
        assert metrics.scrape() == 200
        clock.advance(EVERY)
    assert max(waits) <= HEARTBEAT
    assert executed(ledger) == [at(10), at(20), at(30)]
    ledger.assert_each_run_ended_once()
    metrics.assert_always_answered()


class OffsetClock(SystemClock):
    """The system clock, with a wall-clock offset the test sets; each reading of the wall clock
    is signalled, so the test can wait for the loop to have woken."""

    def __init__(self) -> None:
        self.offset = timedelta(0)
        self.readings = threading.Condition()

    def now(self) -> datetime:
        with self.readings:
            self.readings.notify_all()
        return super().now() + self.offset

    def wait_until(self, predicate: Any, timeout: float = 30.0) -> None:
        with self.readings:
            assert self.readings.wait_for(predicate, timeout)


@pytest.mark.realtime
def test_a_running_scheduler_survives_jumps_both_ways(
    registry: CollectorRegistry, metrics: Scraper
) -> None:
    """With the system clock set back an hour and forward again under a running scheduler, its
    loop keeps waking, no run time runs twice, and each run ends once."""
    clock = OffsetClock()
    scheduler = BackgroundScheduler(
        clock=clock,
        timezone="UTC",
        metrics_registry=registry,
        tracing=False,
        heartbeat_interval=0.05,
        executors={"default": ThreadPoolExecutor(2)},
    )
    ledger = RunLedger(scheduler)
    scheduler.start()
    try:
        scheduler.add_job(fault_jobs.fine, "interval", seconds=0.2, id="every")
        ledger.wait_for_count(EVENT_JOB_EXECUTED, 2)
        clock.offset = -HOUR
        real = SystemClock()
        wakeups: set[datetime] = set()

        def woke_after_the_jump(times: int) -> bool:
            last = scheduler.last_wakeup_at  # the clock's time at the loop's last wakeup
            if last is not None and last < real.now() - HOUR / 2:
                wakeups.add(last)
            return len(wakeups) >= times

        clock.wait_until(lambda: woke_after_the_jump(5))
        before = len(ledger.of(EVENT_JOB_EXECUTED))
        clock.offset = timedelta(0)
        ledger.wait_for_count(EVENT_JOB_EXECUTED, before + 2)
    finally:
        scheduler.shutdown()
    times = executed(ledger)
    assert times == sorted(set(times))
    ledger.assert_each_run_ended_once()
    metrics.assert_always_answered()
