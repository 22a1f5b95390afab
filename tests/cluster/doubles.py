"""Test doubles shared by the cluster tests."""

from __future__ import annotations

from datetime import datetime

from obssched._runs import RunInfo
from obssched.executors._apscheduler import run_job
from obssched.executors.base import BaseExecutor
from obssched.job import Job


class HeldRows:
    """The result of the start marks' statement when this node still holds every row."""

    def __init__(self, keys: list[str]) -> None:
        self._keys = keys

    def scalars(self) -> HeldRows:
        """The first column: the run keys."""
        return self

    def all(self) -> list[str]:
        """Every run key marked."""
        return list(self._keys)


class HeldExecutor(BaseExecutor):
    """An executor whose workers are all busy: it keeps each submitted work item, and begins
    the bodies (calling the run hooks first, as obssched's executors do) only when the test
    says."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[tuple[Job, list[RunInfo]]] = []

    def _do_submit_runs(self, job: Job, runs: list[RunInfo]) -> None:
        self.items.append((job, runs))

    def begin(self, count: int | None = None) -> int:
        """Run the oldest ``count`` work items (all by default) to their end; return how many
        runs that began."""
        taken = self.items[:count] if count is not None else list(self.items)
        del self.items[: len(taken)]
        for job, runs in taken:
            self._run_in_this_thread(job, runs)
        return sum(len(runs) for _job, runs in taken)


class Aps3StyleExecutor(BaseExecutor):
    """An executor written against APScheduler 3: it overrides ``_do_submit_job`` and runs each
    work item with :func:`~obssched.executors._apscheduler.run_job` (no run hooks), only when
    the test says."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[tuple[Job, list[datetime]]] = []

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        self.pending.append((job, run_times))

    def run_pending(self) -> None:
        """Run every work item submitted so far and report its events, in submission order."""
        taken, self.pending = self.pending, []
        for job, run_times in taken:
            assert job._jobstore_alias is not None
            self._run_job_success(job.id, run_job(job, job._jobstore_alias, run_times, __name__))
