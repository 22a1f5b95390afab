"""A job store that keeps jobs in memory, indexed by next run time."""

from __future__ import annotations

import heapq
from datetime import datetime
from typing import TYPE_CHECKING

from obssched.exceptions import ConflictingIdError, JobLookupError
from obssched.jobstores.base import BaseJobStore

if TYPE_CHECKING:
    from obssched.job import Job

__all__ = ["MemoryJobStore"]


class MemoryJobStore(BaseJobStore):
    """Stores jobs in a dict plus a heap of ``(next run timestamp, job id)`` entries.

    Adding, updating and finding the next due job cost O(log n). A job whose next run time
    changes leaves its old heap entry behind: an entry counts only while it matches the job's
    current next run time, and the heap is rebuilt once stale entries outnumber live ones.
    Nothing else is kept per job, so a stored job costs little more than the job itself.
    """

    def __init__(self) -> None:
        super().__init__()
        self._jobs: dict[str, Job] = {}
        self._heap: list[tuple[float, str]] = []
        self._scheduled = 0

    def lookup_job(self, job_id: str) -> Job | None:
        """Return the job with ``job_id``, or ``None``."""
        return self._jobs.get(job_id)

    def get_due_jobs(self, now: datetime) -> list[Job]:
        """Return the jobs due at ``now``, earliest first."""
        limit = now.timestamp()
        heap = self._heap
        live: list[tuple[float, str]] = []
        seen: set[str] = set()
        while heap and heap[0][0] <= limit:
            entry = heapq.heappop(heap)
            if entry[1] not in seen and self._is_live(entry):
                seen.add(entry[1])
                live.append(entry)
        for entry in live:
            heapq.heappush(heap, entry)
        jobs = self._jobs
        return [jobs[job_id] for _, job_id in live]

    def get_next_run_time(self) -> datetime | None:
        """Return the earliest next run time, or ``None`` when nothing is scheduled."""
        heap = self._heap
        while heap:
            entry = heap[0]
            if self._is_live(entry):
                return self._jobs[entry[1]].next_run_time
            heapq.heappop(heap)
        return None

    def get_all_jobs(self) -> list[Job]:
        """Return every job by next run time, paused jobs last."""
        scheduled = [job for job in self._jobs.values() if job.next_run_time is not None]
        scheduled.sort(key=_sort_key)
        scheduled.extend(job for job in self._jobs.values() if job.next_run_time is None)
        return scheduled

    def count_jobs(self) -> tuple[int, int]:
        """Return ``(scheduled, paused)`` without copying the jobs."""
        return self._scheduled, len(self._jobs) - self._scheduled

    def add_job(self, job: Job) -> None:
        """Store ``job``; raises :class:`ConflictingIdError` if its id is taken."""
        if job.id in self._jobs:
            raise ConflictingIdError(job.id)
        self._jobs[job.id] = job
        self._push(job)

    def update_job(self, job: Job) -> None:
        """Replace the stored job with ``job``; raises :class:`JobLookupError` if absent."""
        old = self._jobs.get(job.id)
        if old is None:
            raise JobLookupError(job.id)
        if old.next_run_time is not None:
            self._scheduled -= 1
        self._jobs[job.id] = job
        self._push(job)
        self._compact_if_stale()

    def remove_job(self, job_id: str) -> None:
        """Remove the job with ``job_id``; raises :class:`JobLookupError` if absent."""
        old = self._jobs.pop(job_id, None)
        if old is None:
            raise JobLookupError(job_id)
        if old.next_run_time is not None:
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

    def _push(self, job: Job) -> None:
        if job.next_run_time is not None:
            heapq.heappush(self._heap, (job.next_run_time.timestamp(), job.id))
            self._scheduled += 1

    def _is_live(self, entry: tuple[float, str]) -> bool:
        job = self._jobs.get(entry[1])
        return (
            job is not None
            and job.next_run_time is not None
            and job.next_run_time.timestamp() == entry[0]
        )

    def _compact_if_stale(self) -> None:
        # Rebuilding costs O(n); doing it only when the heap is twice the live size keeps the
        # amortised cost of an update O(log n) and memory bounded.
        heap = self._heap
        if len(heap) > 64 and len(heap) > 2 * self._scheduled:
            self._heap = list({entry for entry in heap if self._is_live(entry)})
            heapq.heapify(self._heap)


def _sort_key(job: Job) -> float:
    assert job.next_run_time is not None
    return job.next_run_time.timestamp()
