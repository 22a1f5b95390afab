"""The ``/healthz`` verdict on one scheduler: is it doing its work, and if not, why."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from obssched.observability._names import safe_text
from obssched.observability._reader import JOB_LIST, UnitState

if TYPE_CHECKING:
    from obssched.observability._sources import SchedulerSource

__all__ = ["judge"]

_STATES = ("stopped", "running", "paused")


def judge(source: SchedulerSource, limit: float) -> tuple[bool, str]:
    """Say whether the scheduler of ``source`` is doing its work, and why not.

    It is unhealthy while it is stopped or its loop thread has died; while its loop has not
    woken up for longer than ``limit`` or three heartbeat intervals, whichever is shorter (the
    loop wakes at least once per interval); while a job store has failed every read for longer
    than ``limit``; and while it runs (not paused) but a job's next run time lies more than
    ``limit`` before its store was last read. It is healthy again as soon as the fault ends.
    """
    name = source.name
    scheduler = source.scheduler
    if scheduler is None:
        return False, f"scheduler {name!r}: gone"
    state = getattr(scheduler, "state", 0)
    if state == 0:
        return False, f"scheduler {name!r}: stopped"
    # A background scheduler's loop thread, read privately until schedulers say whether
    # their loop is alive: a dead loop is reported now rather than after three heartbeats.
    thread = getattr(scheduler, "_thread", None)
    if thread is not None and not thread.is_alive():
        return False, f"scheduler {name!r}: its thread has died"
    now = source.clock.now()
    faults = [
        f"scheduler {name!r}: {fault}"
        for unit in source.refresh()
        for fault in _store_faults(unit, state == 1, now, limit)
    ]
    interval = getattr(scheduler, "heartbeat_interval", None)
    woke: datetime | None = getattr(scheduler, "last_wakeup_at", None)
    if interval is None:  # a stock APScheduler scheduler: no heartbeat to judge by
        summary = f"scheduler {name!r}: {_STATES[state]}"
    elif woke is None:
        return False, "\n".join([f"scheduler {name!r}: has not woken up yet", *faults])
    else:
        age = (now - woke).total_seconds()
        if age > min(limit, 3 * float(interval)):
            faults.insert(0, f"scheduler {name!r}: last woke up {age:.1f} s ago")
        summary = f"scheduler {name!r}: {_STATES[state]}, woke up {age:.1f} s ago"
    if faults:
        return False, "\n".join(faults)
    return True, summary


def _store_faults(unit: UnitState, running: bool, now: datetime, limit: float) -> list[str]:
    """What is wrong with one job store (or the job list): unreachable, or overdue jobs."""
    faults = []
    what = "its job list" if unit.key == JOB_LIST else f"job store {unit.key!r}"
    failing = unit.failing_since
    if failing is not None and (now - failing).total_seconds() > limit:
        faults.append(
            f"{what} has not answered for {(now - failing).total_seconds():.1f} s "
            f"({unit.last_error})"
        )
    reading = unit.reading
    if not running or reading is None or unit.succeeded_at is None:
        return faults  # a paused scheduler runs nothing, rightly
    read_at = unit.succeeded_at
    cutoff = read_at - timedelta(seconds=limit)
    overdue = [
        (job.next_run_time, job)
        for job in reading.jobs
        if job.next_run_time is not None
        and job.next_run_time < cutoff
        and not getattr(job, "pending", False)
    ]
    if overdue:
        due, late = min(overdue, key=lambda pair: pair[0])
        faults.append(
            f"{what}: {len(overdue)} job(s) overdue by more than {limit:g} s, "
            f"{safe_text(str(late.name))!r} by {(read_at - due).total_seconds():.1f} s"
        )
    return faults
