"""An executor that runs jobs in the scheduler's own thread (APScheduler 3's ``DebugExecutor``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from obssched.executors.base import BaseExecutor

if TYPE_CHECKING:
    from obssched._runs import RunInfo
    from obssched.job import Job

__all__ = ["DebugExecutor"]


class DebugExecutor(BaseExecutor):
    """Runs each job body right away, in the thread that submits it.

    Useful for debugging and tests: the body, its events and its run hooks all run before the
    scheduler's tick returns.
    """

    @property
    def max_workers(self) -> int:
        """One body at a time: the submitting thread."""
        return 1

    def _do_submit_runs(self, job: Job, runs: list[RunInfo]) -> None:
        self._run_in_this_thread(job, runs)
