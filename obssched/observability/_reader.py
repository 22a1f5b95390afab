"""Reading the job stores off the scrape path: a scrape never waits on a store for long.

Each scrape (and each ``/healthz``) asks a :class:`StoreReader` to refresh. The reader starts one
read per job store on a short-lived daemon thread, unless that store's previous read is still
pending (at most one read is in flight per store), and waits for the reads in flight for at most
:data:`SCRAPE_WAIT` seconds. A healthy store answers well within that, so the scrape shows what
the store holds now; a store that raises, or blocks, leaves the last reading in place, and the
scrape says how old it is (``obssched_jobstore_last_success_timestamp_seconds``) and that the
store is down (``obssched_jobstore_up``). A read that comes back later is kept, so the gauges come
back as soon as the store does.

Times (when a read started, when the last one succeeded) are read from the scheduler's clock; only
the bounded wait itself is real time, since it is what keeps a scrape from hanging.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from obssched.clock import Clock

__all__ = [
    "JOB_LIST",
    "SCRAPE_WAIT",
    "STALLED_READ",
    "Reading",
    "StoreReader",
    "UnitState",
    "read_store",
]

SCRAPE_WAIT = 0.5
"""The longest (real) seconds a scrape waits for the store reads it started."""

STALLED_READ = 10.0
"""Seconds (on the scheduler's clock) after which a read still pending counts as failed: a store
that has not answered within a scrape timeout (Prometheus' default is 10 s) is down."""

JOB_LIST = ""
"""The key of the scheduler's own job list, read when its stores cannot be read one by one (a
stopped scheduler, whose jobs are pending in it, or a stock APScheduler 3 one)."""

_RACE_RETRIES = 3
"""Reads of a store that fail with RuntimeError ("changed size during iteration") are retried:
an in-memory store is read without the scheduler's lock, so a read can race the loop's writes."""


@dataclass(frozen=True)
class Reading:
    """What one successful read of a job store returned."""

    jobs: list[Any]
    """Its jobs."""
    unloadable: int | None = None
    """Stored rows that cannot be loaded (``None``: a store written for APScheduler 3)."""
    store_errors: int = 0
    """The store's own count of failed operations."""
    nodes: int | None = None
    """Live cluster nodes sharing the store (``None``: not shared)."""
    queue: tuple[int, int] | None = None
    """This node's claimed runs not begun, and its limit (``None``: not shared)."""
    abandoned: Mapping[str, int] = field(default_factory=dict)
    """Runs abandoned by dead nodes, by job name."""


@dataclass
class UnitState:
    """What is known of one job store (or of the scheduler's job list, keyed :data:`JOB_LIST`)."""

    key: str
    reading: Reading | None = None
    """The last successful reading (kept while the store fails)."""
    succeeded_at: datetime | None = None
    """When the last successful read started."""
    failed_reads: int = 0
    """Reads that raised, or stayed pending longer than :data:`STALLED_READ`."""
    failing_since: datetime | None = None
    """When the first failed read since the last success started (``None``: not failing)."""
    last_error: str | None = None
    """Why the last failed read failed."""
    pending_since: datetime | None = None
    """When the read in flight started (``None``: none in flight)."""
    stall_counted: bool = False
    """Whether the read in flight was already counted as failed."""

    @property
    def up(self) -> bool:
        """Whether the last read succeeded and no read has stalled since."""
        return self.reading is not None and self.failing_since is None


def read_store(store: Any) -> Reading:
    """Read a job store's jobs and its health counters (in the calling thread)."""
    jobs: list[Any] = []
    for attempt in range(_RACE_RETRIES):
        try:
            jobs = store.get_all_jobs()
            break
        except RuntimeError:
            if attempt == _RACE_RETRIES - 1:
                raise
    if not hasattr(store, "unloadable_count"):  # a store written for APScheduler 3
        return Reading(jobs)
    return Reading(
        jobs,
        unloadable=int(store.unloadable_count()),
        store_errors=int(store.error_count),
        nodes=store.cluster_nodes(),
        queue=store.cluster_queue(),
        abandoned=dict(store.abandoned_counts),
    )


class StoreReader:
    """Keeps the last reading of each of a scheduler's job stores, refreshed off the scrape path.

    Args:
        clock: the clock read times are taken from (the scheduler's).
        scrape_wait: the longest real seconds :meth:`refresh` waits for the reads in flight.
    """

    def __init__(self, clock: Clock, scrape_wait: float = SCRAPE_WAIT) -> None:
        self.clock = clock
        self.scrape_wait = scrape_wait
        self._units: dict[str, UnitState] = {}
        self._done = threading.Condition()

    def refresh(self, reads: Mapping[str, Callable[[], Reading]]) -> list[UnitState]:
        """Start a read of every unit in ``reads`` that has none in flight, wait a bounded time
        for the reads in flight, and return the state of those units (copies, safe to read
        unlocked)."""
        now = self.clock.now()
        with self._done:
            for key in list(self._units):
                if key not in reads:  # a store removed since
                    del self._units[key]
            for key, read in reads.items():
                unit = self._units.get(key)
                if unit is None:
                    unit = self._units[key] = UnitState(key)
                if unit.pending_since is None:
                    unit.pending_since = now
                    unit.stall_counted = False
                    threading.Thread(
                        target=self._read,
                        args=(unit, read, now),
                        name=f"obssched-read-{key or 'jobs'}",
                        daemon=True,
                    ).start()
            # Reads already in flight are waited for too: one that was blocked may be about to
            # return (a store coming back), and its answer is the freshest there is.
            waited = [self._units[key] for key in reads]
            if any(unit.pending_since is not None for unit in waited):
                self._done.wait_for(
                    lambda: all(unit.pending_since is None for unit in waited),
                    timeout=self.scrape_wait,
                )
            now = self.clock.now()
            for unit in self._units.values():
                pending = unit.pending_since
                if pending is None or (now - pending).total_seconds() <= STALLED_READ:
                    continue
                if not unit.stall_counted:
                    unit.stall_counted = True
                    unit.failed_reads += 1
                    unit.last_error = f"a read has been pending since {pending.isoformat()}"
                if unit.failing_since is None or pending < unit.failing_since:
                    unit.failing_since = pending
            return [_copy(self._units[key]) for key in reads]

    def _read(self, unit: UnitState, read: Callable[[], Reading], started: datetime) -> None:
        try:
            reading: Reading | None = read()
            error = None
        except Exception as exc:
            reading, error = None, f"{type(exc).__name__}: {exc}"
        with self._done:
            unit.pending_since = None
            if reading is not None:
                unit.reading = reading
                unit.succeeded_at = started
                unit.failing_since = None
                unit.last_error = None
            else:
                if not unit.stall_counted:
                    unit.failed_reads += 1
                unit.last_error = error
                if unit.failing_since is None:
                    unit.failing_since = started
            unit.stall_counted = False
            self._done.notify_all()


def _copy(unit: UnitState) -> UnitState:
    return UnitState(
        unit.key,
        unit.reading,
        unit.succeeded_at,
        unit.failed_reads,
        unit.failing_since,
        unit.last_error,
        unit.pending_since,
        unit.stall_counted,
    )
