"""Reading a scheduler's jobs and job store health off the request path (bounded waits)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from obssched._context import SchedulerContext
from obssched.observability._reader import (
    JOB_LIST,
    SCRAPE_WAIT,
    Reading,
    StoreReader,
    UnitState,
    read_store,
)

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
        scheduler = self._scheduler
        context = getattr(scheduler, "context", None)
        stores = dict(context.jobstores) if isinstance(context, SchedulerContext) else {}
        reads: dict[str, Callable[[], Reading]]
        if (
            stores
            and getattr(scheduler, "state", 0) != 0
            and all(callable(getattr(store, "get_all_jobs", None)) for store in stores.values())
        ):
            reads = {alias: partial(read_store, store) for alias, store in stores.items()}
        else:
            get_jobs = scheduler.get_jobs
            reads = {JOB_LIST: lambda: Reading(list(get_jobs()))}
        units = self._reader.refresh(reads)
        jobs: list[Any] = []
        for unit in units:
            if unit.reading is not None:
                jobs.extend(unit.reading.jobs)
        return jobs, units
