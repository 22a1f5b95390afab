"""The scheduling loop's failures, counted by the stage that failed, and the backoff of a job
store that keeps failing.

The loop never dies of a failure and never spins on one: it logs it, counts it here and goes on.
Observability reads the counts at scrape time (``scheduler.context.stage_errors``); the core keeps
plain integers and imports no metrics library.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

__all__ = ["LOOP_STAGES", "STORE_RETRY_CAP", "StageErrors"]

LOOP_STAGES = ("trigger", "store", "executor")
"""The stages of a tick whose failures the loop counts (listener failures are counted by the
event bus, :attr:`~obssched._eventbus.EventBus.error_counts`)."""

STORE_RETRY_CAP = 60.0
"""Seconds the retries of a failing job store back off to, at most (unless the scheduler's
``jobstore_retry_interval`` is longer still)."""


class StageErrors:
    """Counts the loop's failures by stage, and spaces out the retries of failing stores.

    A store that fails is retried after ``jobstore_retry_interval`` seconds, then twice that,
    and so on up to :data:`STORE_RETRY_CAP`; its first success starts the sequence over.
    """

    def __init__(self, retry_cap: float = STORE_RETRY_CAP) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = dict.fromkeys(LOOP_STAGES, 0)
        self._store_failures: dict[str, int] = {}
        self.store_retries: dict[str, tuple[datetime, datetime]] = {}
        """When each failing store failed last and is to be tried again (read it through
        :meth:`store_backing_off`; the loop tests it for emptiness without the lock, before
        each store it asks, and asks no more while it is empty)."""
        self.broken: dict[str, datetime] = {}
        """The jobs paused because their trigger raised (read it through :meth:`broken_jobs`;
        the loop tests it for emptiness without the lock, before each job it processes)."""
        self.retry_cap = retry_cap

    def failed(self, stage: str) -> None:
        """Count one failure of ``stage`` (one of :data:`LOOP_STAGES`)."""
        with self._lock:
            self._counts[stage] = self._counts.get(stage, 0) + 1

    def store_failed(self, alias: str, retry_interval: float, now: datetime) -> datetime:
        """Count a failure of the store ``alias`` at ``now``; return when to try it again."""
        cap = max(self.retry_cap, retry_interval)
        with self._lock:
            self._counts["store"] += 1
            failures = self._store_failures.get(alias, 0)
            self._store_failures[alias] = failures + 1
            # Capped before it is raised to a power, so a long outage cannot overflow the float.
            delay = min(retry_interval * 2 ** min(failures, 62), cap)
            retry_at = now + timedelta(seconds=delay)
            self.store_retries[alias] = (now, retry_at)
        return retry_at

    def store_backing_off(self, alias: str, now: datetime) -> datetime | None:
        """Return when the failing store ``alias`` is to be tried again, if a tick at ``now``
        is to leave it alone (``None``: ask it).

        A tick at the very moment of the failure asks again: the loop was woken on purpose.
        """
        retry = self.store_retries.get(alias)
        if retry is None:
            return None
        failed_at, retry_at = retry
        return retry_at if failed_at < now < retry_at else None

    def store_answered(self, alias: str) -> None:
        """Note that the store ``alias`` answered: its next failure is retried soon again."""
        if alias in self._store_failures:
            with self._lock:
                self._store_failures.pop(alias, None)
                self.store_retries.pop(alias, None)

    def failing_stores(self) -> dict[str, int]:
        """Return the stores that failed their last call, with their consecutive failures."""
        with self._lock:
            return dict(self._store_failures)

    def job_broken(self, job_id: str, due: datetime) -> None:
        """Note that the job ``job_id`` was paused at the run time ``due`` because its trigger
        raised."""
        with self._lock:
            self.broken[job_id] = due

    def job_mended(self, job_id: str) -> None:
        """Forget that ``job_id`` broke (its trigger worked out its run times again)."""
        if self.broken:
            with self._lock:
                self.broken.pop(job_id, None)

    def broken_jobs(self) -> dict[str, datetime]:
        """Return the jobs paused because their trigger raised, with the run time that was due.

        A job keeps its entry while it stays paused, so its run time can be shown as overdue.
        """
        with self._lock:
            return dict(self.broken)

    def counts(self) -> dict[str, int]:
        """Return the failures counted so far, by stage (every stage present, from zero)."""
        with self._lock:
            return dict(self._counts)
