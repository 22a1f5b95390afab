"""A job store that keeps jobs in memory, indexed by next run time."""

from __future__ import annotations

import heapq
import sys
from datetime import UTC, datetime
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any

from obssched.exceptions import ConflictingIdError, JobLookupError
from obssched.jobstores.base import BaseJobStore

if TYPE_CHECKING:
    from obssched.job import Job

__all__ = ["MemoryJobStore"]

_next_run_time = attrgetter("next_run_time")
_key = itemgetter(0)

_BULK_RATIO = 32
"""A tick that has taken ``t`` due jobs one heap pop at a time sorts out the rest in one pass
over the heap once the heap holds at most ``_BULK_RATIO * t`` entries. A pop touches about
``2 log2 n`` entries and the pass one per entry, so the pass costs at most about as much again as
the pops so far when little else is due, and saves nearly all of the pops of a burst."""

_COMPACT_FLOOR = 64
"""Heap entries below which stale ones are never swept out."""


_Entry = tuple[Any, str, "datetime"]
"""A heap entry: the key the heap orders by, the job id, and the next run time itself (what
tells a live entry from a stale one).

The key is the run time itself while every run time stored is in :data:`datetime.UTC`: the
entry then holds no object of its own for it, and two datetimes of the one ``UTC`` object
compare field by field, where ``datetime.timestamp()`` costs a subtraction and big-integer
arithmetic. Once a run time in another zone is stored, every key is a timestamp (a float):
the run time itself cannot be the key (times of one zone compare by their wall-clock fields,
out of order in the hour repeated when DST ends), its copy in UTC is a 48-byte datetime where
a float takes 24 (and overflows near year 1 or 9999), and floats and datetimes do not compare,
so one heap holds keys of one kind."""


class MemoryJobStore(BaseJobStore):
    """Stores jobs in a dict plus a heap of ``(key, job id, next run time)`` entries, keyed by
    the run time while all are in UTC and by its timestamp otherwise.

    Adding, updating and finding the next due job cost O(log n). A job whose next run time
    changes leaves its old heap entry behind: an entry counts only while its datetime is the
    job's current ``next_run_time`` object (an identity test: ``datetime.timestamp()`` on an
    aware datetime costs more than the rest of a heap step), and the heap is rebuilt once stale
    entries outnumber live ones. Nothing else is kept per job, so a stored job costs little more
    than the job itself.
    """

    due_batch_size = 512
    changes_only_through_scheduler = True

    def __init__(self) -> None:
        super().__init__()
        self._jobs: dict[str, Job] = {}
        self._heap: list[_Entry] = []
        # Jobs taken off the heap by acquire_due_jobs and not yet updated, removed or released.
        self._unreleased: set[str] = set()
        # Due entries sorted out of the heap in one pass during a burst, latest first; served
        # by the tick's next acquire_due_jobs calls and put back in the heap when it ends.
        self._ready: list[_Entry] = []
        self._tick_limit: Any = None
        self._tick_taken = 0
        # Whether the heap's keys are the run times themselves (all in UTC) or timestamps.
        self._keyed_by_time = True

    def lookup_job(self, job_id: str) -> Job | None:
        """Return the job with ``job_id``, or ``None``."""
        return self._jobs.get(job_id)

    def get_due_jobs(self, now: datetime) -> list[Job]:
        """Return the jobs due at ``now``, earliest first."""
        self._restore_ready()
        limit = now.astimezone(UTC) if self._keyed_by_time else now.timestamp()
        heap = self._heap
        live: list[_Entry] = []
        seen: set[str] = set()
        while heap and heap[0][0] <= limit:
            entry = heapq.heappop(heap)
            if entry[1] not in seen and self._is_live(entry):
                seen.add(entry[1])
                live.append(entry)
        for entry in live:
            heapq.heappush(heap, entry)
        jobs = self._jobs
        return [jobs[entry[1]] for entry in live]

    def acquire_due_jobs(self, now: datetime) -> list[Job]:
        """Take the due jobs off the heap for this tick; :meth:`release_jobs` puts back any the
        scheduler did not reschedule, so each due job costs one heap pop, not a pop and a push.

        When most of the heap turns out to be due (a burst), the rest of the due entries are
        sorted out in one pass instead of a pop each (see ``_BULK_RATIO``), at the start of the
        tick's next call: the first batch goes back to the scheduler, and its runs to the
        workers, before the pass, not after it."""
        limit = now.astimezone(UTC) if self._keyed_by_time else now.timestamp()
        if limit != self._tick_limit:
            self._tick_limit = limit
            self._tick_taken = 0
        heap = self._heap
        if (
            self._tick_taken
            and not self._ready
            and heap
            and heap[0][0] <= limit
            and len(heap) <= _BULK_RATIO * self._tick_taken
        ):
            self._sort_out_due(limit)
            heap = self._heap
        ready = self._ready
        jobs = self._jobs
        acquired: list[Job] = []
        seen: set[str] = set()
        batch = self.due_batch_size or sys.maxsize
        heappop = heapq.heappop
        while len(acquired) < batch:
            if ready and ready[-1][0] <= limit:
                _, job_id, run_time = ready.pop()
            elif heap and heap[0][0] <= limit:
                _, job_id, run_time = heappop(heap)
            else:
                break
            # Live: the job is still stored and still has this next run time (see the class).
            job = jobs.get(job_id)
            if job is not None and job.next_run_time is run_time and job_id not in seen:
                seen.add(job_id)
                acquired.append(job)
        self._tick_taken += len(acquired)
        if seen:
            self._unreleased |= seen
        return acquired

    def _sort_out_due(self, limit: Any) -> None:
        """Move every heap entry due at ``limit`` to the ready list, latest first, in one pass."""
        due: list[_Entry] = []
        rest: list[_Entry] = []
        for entry in self._heap:
            (due if entry[0] <= limit else rest).append(entry)
        heapq.heapify(rest)
        self._heap = rest
        due.sort(key=_key, reverse=True)
        self._ready = due

    def release_jobs(self, jobs: list[Job]) -> None:
        """Restore the heap entries of acquired jobs that were neither updated nor removed."""
        unreleased = self._unreleased
        if not unreleased:
            return  # every acquired job was updated or removed: the usual case
        for job in jobs:
            if job.id in unreleased:
                unreleased.discard(job.id)
                stored = self._jobs.get(job.id)
                if stored is not None:
                    self._push(stored)

    def get_next_run_time(self) -> datetime | None:
        """Return the earliest next run time, or ``None`` when nothing is scheduled."""
        if self._ready:
            self._restore_ready()
        heap = self._heap
        jobs = self._jobs
        while heap:
            _, job_id, run_time = heap[0]
            job = jobs.get(job_id)
            if job is not None and job.next_run_time is run_time:
                return run_time
            heapq.heappop(heap)
        return None

    def get_all_jobs(self) -> list[Job]:
        """Return every job by next run time, paused jobs last."""
        scheduled = [job for job in self._jobs.values() if job.next_run_time is not None]
        scheduled.sort(key=_next_run_time)
        scheduled.extend(job for job in self._jobs.values() if job.next_run_time is None)
        return scheduled

    def count_jobs(self) -> tuple[int, int]:
        """Return ``(scheduled, paused)`` without copying the jobs."""
        paused = sum(1 for job in self._jobs.values() if job.next_run_time is None)
        return len(self._jobs) - paused, paused

    def add_job(self, job: Job) -> None:
        """Store ``job``; raises :class:`ConflictingIdError` if its id is taken."""
        if job.id in self._jobs:
            raise ConflictingIdError(job.id)
        self._jobs[job.id] = job
        self._push(job)

    def update_job(self, job: Job) -> None:
        """Replace the stored job with ``job``; raises :class:`JobLookupError` if absent."""
        if job.id not in self._jobs:
            raise JobLookupError(job.id)
        self._unreleased.discard(job.id)
        self._jobs[job.id] = job
        self._push(job)
        # The test of _compact_if_stale, here: an interval job's every run ends in this method.
        heap_size = len(self._heap)
        if heap_size > _COMPACT_FLOOR and heap_size > 2 * len(self._jobs):
            self._compact_if_stale()

    def remove_job(self, job_id: str) -> None:
        """Remove the job with ``job_id``; raises :class:`JobLookupError` if absent."""
        old = self._jobs.pop(job_id, None)
        if old is None:
            raise JobLookupError(job_id)
        self._unreleased.discard(job_id)
        if len(self._heap) > _COMPACT_FLOOR:
            self._compact_if_stale()

    def remove_all_jobs(self) -> None:
        """Remove every job."""
        self._jobs.clear()
        self._heap.clear()
        self._ready.clear()
        self._unreleased.clear()
        self._keyed_by_time = True

    def shutdown(self) -> None:
        """Drop every job: a memory store keeps nothing past its scheduler."""
        self.remove_all_jobs()

    def _push(self, job: Job) -> None:
        run_time = job.next_run_time
        if run_time is not None:
            if not self._keyed_by_time:
                key: Any = run_time.timestamp()
            elif run_time.tzinfo is UTC:
                key = run_time
            else:
                self._key_by_timestamp()
                key = run_time.timestamp()
            heapq.heappush(self._heap, (key, job.id, run_time))

    def _key_by_timestamp(self) -> None:
        """Key every entry by its run time's timestamp from now on (a run time outside UTC is
        stored); the entries a burst sorted out go back to the heap first."""
        self._keyed_by_time = False
        self._restore_ready()
        heap = [(run_time.timestamp(), job_id, run_time) for _, job_id, run_time in self._heap]
        heapq.heapify(heap)
        self._heap = heap

    def _restore_ready(self) -> None:
        """Put back in the heap what a burst's pass sorted out and the tick did not take."""
        ready = self._ready
        if ready:
            heap = self._heap
            for entry in ready:
                heapq.heappush(heap, entry)
            ready.clear()

    def _is_live(self, entry: _Entry) -> bool:
        job = self._jobs.get(entry[1])
        return job is not None and job.next_run_time is entry[2]

    def _compact_if_stale(self) -> None:
        # Rebuilding costs O(n); doing it only when the heap holds twice as many entries as
        # there are jobs keeps the amortised cost of an update O(log n) and memory bounded.
        # (Jobs are mutated in place by the scheduler, so the store cannot count the scheduled
        # ones incrementally; the number of jobs is the bound.)
        heap = self._heap
        if len(heap) > _COMPACT_FLOOR and len(heap) > 2 * len(self._jobs):
            live = list({entry for entry in heap if self._is_live(entry)})
            if (
                not self._keyed_by_time
                and not self._ready  # a burst's entries sorted out keep their timestamp keys
                and all(entry[2].tzinfo is UTC for entry in live)
            ):
                # The run times outside UTC are gone: back to keying by the run time itself,
                # which the due checks compare without converting each one.
                live = [(run_time, job_id, run_time) for _, job_id, run_time in live]
                self._keyed_by_time = True
            heapq.heapify(live)
            self._heap = live
