"""Reading a scheduler's jobs and job store health off the request path (bounded waits)."""

from __future__ import annotations

from typing import Any

from obssched.observability._reader import SCRAPE_WAIT, StoreReader, UnitState
from obssched.observability._sources import job_reads

__all__ = ["JobReader"]


class JobReader:
    """Reads a scheduler's jobs, store by store while it runs, waiting half a second at most.

    A store that fails or hangs leaves its last jobs in place; :meth:`read` says which.
    """

    def __init__(self, scheduler: Any, wait: float = SCRAPE_WAIT) -> None:
        self._scheduler = scheduler
        self._reader = StoreReader(scheduler.clock, wait)

    def read(self) -> tuple[list[Any], list[UnitState]]:
        """Return the jobs and what is known of each store (or of the scheduler's job list)."""
        units = self._reader.refresh(job_reads(self._scheduler))
        jobs: list[Any] = []
        for unit in units:
            if unit.reading is not None:
                jobs.extend(unit.reading.jobs)
        return jobs, units
