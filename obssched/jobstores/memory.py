"""A job store that keeps jobs in memory, indexed by next run time."""

from __future__ import annotations

import heapq
from datetime import datetime
from itertools import count
from typing import TYPE_CHECKING

from obssched.exceptions import ConflictingIdError, JobLookupError
from obssched.jobstores.base import BaseJobStore

if TYPE_CHECKING:
    from obssched.job import Job

__all__ = ["MemoryJobStore"]


class MemoryJobStore(BaseJobStore):
    """Stores jobs in a dict plus a heap of next run times.

    Adding, updating and finding the next due job cost O(log n). A job whose next run time
    changes leaves its old heap entry behind; entries are checked against the job's current
    version when they surface and the heap is rebuilt once stale entries outnumber live ones.
    """

    def __init__(self) -> None:
        super().__init__()
        # job id -> (job, version of its live heap entry, or -1 while paused)
        self._jobs: dict[str, tuple[Job, int]] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._versions = count()
        self._scheduled = 0

    def lookup_job(self, job_id: str) -> Job | None:
        """Return the job with ``job_id``, or ``None``."""
        entry = self._jobs.get(job_id)
        return entry[0] if entry else None

    def get_due_jobs(self, now: datetime) -> list[Job]:
        """Return the jobs due at ``now``, earliest first (ties in the order they were stored)."""
        limit = now.timestamp()
        heap = self._heap
        jobs = self._jobs
        live: list[tuple[float, int, str]] = []
        while heap and heap[0][0] <= limit:
            entry = heapq.heappop(heap)
            current = jobs.get(entry[2])
            if current is not None and current[1] == entry[1]:
                live.append(entry)
        for entry in live:
            heapq.heappush(heap, entry)
        return [jobs[entry[2]][0] for entry in live]

    def get_next_run_time(self) -> datetime | None:
        """Return the earliest next run time, or ``None`` when nothing is scheduled."""
        entry = self._peek()
        return self._jobs[entry[2]][0].next_run_time if entry else None

    def get_all_jobs(self) -> list[Job]:
        """Return every job by next run time, paused jobs last."""
        scheduled = [job for job, version in self._jobs.values() if version >= 0]
        scheduled.sort(key=_sort_key)
        scheduled.extend(job for job, version in self._jobs.values() if version < 0)
        return scheduled

    def count_jobs(self) -> tuple[int, int]:
        """Return ``(scheduled, paused)`` without copying the jobs."""
        return self._scheduled, len(self._jobs) - self._scheduled

    def add_job(self, job: Job) -> None:
        """Store ``job``; raises :class:`ConflictingIdError` if its id is taken."""
        if job.id in self._jobs:
            raise ConflictingIdError(job.id)
        self._jobs[job.id] = (job, self._push(job))

    def update_job(self, job: Job) -> None:
        """Replace the stored job with ``job``; raises :class:`JobLookupError` if absent."""
        old = self._jobs.get(job.id)
        if old is None:
            raise JobLookupError(job.id)
        if old[1] >= 0:
            self._scheduled -= 1
        self._jobs[job.id] = (job, self._push(job))
        self._compact_if_stale()

    def remove_job(self, job_id: str) -> None:
        """Remove the job with ``job_id``; raises :class:`JobLookupError` if absent."""
        old = self._jobs.pop(job_id, None)
        if old is None:
            raise JobLookupError(job_id)
        if old[1] >= 0:
            self._scheduled -= 1
        self._compact_if_stale()

    def remove_all_jobs(self) -> None:
        """Remove every job."""
        self._jobs.clear()
        self._heap.clear()
        self._scheduled = 0

    def shutdown(self) -> None:
        """Drop every job: a memory store keeps nothing past its scheduler."""
        self.remove_all_jobs()

    def _push(self, job: Job) -> int:
        if job.next_run_time is None:
            return -1
        version = next(self._versions)
        heapq.heappush(self._heap, (job.next_run_time.timestamp(), version, job.id))
        self._scheduled += 1
        return version

    def _peek(self) -> tuple[float, int, str] | None:
        heap = self._heap
        while heap:
            entry = heap[0]
            current = self._jobs.get(entry[2])
            if current is not None and current[1] == entry[1]:
                return entry
            heapq.heappop(heap)
        return None

    def _compact_if_stale(self) -> None:
        # Rebuilding costs O(n); doing it only when the heap is twice the live size keeps the
        # amortised cost of an update O(log n) and memory bounded.
        if len(self._heap) > 64 and len(self._heap) > 2 * self._scheduled:
            self._heap = [
                entry
                for entry in self._heap
                if (current := self._jobs.get(entry[2])) is not None and current[1] == entry[1]
            ]
            heapq.heapify(self._heap)


def _sort_key(job: Job) -> float:
    assert job.next_run_time is not None
    return job.next_run_time.timestamp()
