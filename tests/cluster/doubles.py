"""Test doubles shared by the cluster tests."""

from __future__ import annotations

from obssched._runs import RunInfo
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
