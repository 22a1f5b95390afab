"""An executor that runs jobs in the scheduler's own thread (APScheduler 3's ``DebugExecutor``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from obssched.executors._runner import run_body
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
        scheduler = self._scheduler
        last = runs[-1]
        for run in runs:
            event = run_body(
                job.func,
                job.args,
                job.kwargs,
                run,
                scheduler._run_hooks,
                scheduler.clock,
                self._logger,
                self._mark_started,
            )
            self._run_ended(run, event, last=run is last)
