"""Thread and process pool executors (APScheduler 3's ``apscheduler.executors.pool``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from obssched.executors._process import ProcessPoolRunner
from obssched.executors._runner import error_event
from obssched.executors._threads import WorkerPool
from obssched.executors.base import BaseExecutor

if TYPE_CHECKING:
    from obssched._runs import RunInfo
    from obssched.job import Job
    from obssched.schedulers.base import BaseScheduler

__all__ = ["BasePoolExecutor", "ProcessPoolExecutor", "ThreadPoolExecutor"]

_PATIENCE = 0.002
"""Seconds queued runs may see no worker take any of them before idle workers are woken."""


class BasePoolExecutor(BaseExecutor):
    """Common base of the pool executors."""

    def __init__(
        self, max_workers: int | str = 10, pool_kwargs: dict[str, Any] | None = None
    ) -> None:
        super().__init__()
        try:
            workers = int(max_workers)  # configuration files give numbers as text
        except (TypeError, ValueError):
            workers = 0
        if isinstance(max_workers, bool) or workers < 1:
            raise ValueError(f"max_workers must be a positive integer, got {max_workers!r}")
        self._max_workers = workers
        self._pool_kwargs = dict(pool_kwargs or {})

    @property
    def max_workers(self) -> int:
        """How many job bodies can run at once."""
        return self._max_workers

    def __repr__(self) -> str:
        return f"<{type(self).__name__} (max_workers={self._max_workers})>"


class ThreadPoolExecutor(BasePoolExecutor):
    """Runs job bodies in a pool of up to ``max_workers`` threads.

    Args:
        max_workers: the most threads to run job bodies in at once.
        pool_kwargs: accepted for APScheduler 3 compatibility; ``thread_name_prefix`` is used.
    """

    _pool: WorkerPool | None = None

    def __init__(
        self, max_workers: int | str = 10, pool_kwargs: dict[str, Any] | None = None
    ) -> None:
        super().__init__(max_workers, pool_kwargs)
        self._outer_batches = []

    def start(self, scheduler: BaseScheduler, alias: str) -> None:
        """Start the pool (its threads start as work arrives)."""
        super().start(scheduler, alias)
        prefix = self._pool_kwargs.get("thread_name_prefix", f"obssched-{alias}")
        self._pool = WorkerPool(self._max_workers, self._run_in_this_thread, prefix)

    def shutdown(self, wait: bool = True) -> None:
        """Stop the pool; queued runs still run; with ``wait``, return when all have ended."""
        if self._pool is not None:
            self._pool.shutdown(wait)
        if wait:
            self._stop_watchdog()

    def _do_submit_runs(self, job: Job, runs: list[RunInfo]) -> None:
        if self._pool is None:
            raise RuntimeError(f"Executor {self!r} has not been started")
        batch = self._batch
        if batch is None:
            self._pool.submit((job, runs))
        else:
            batch.append((job, runs))
            if len(batch) >= self._flush_at:
                self._flush_batch()
                # The first runs of a burst go to the workers almost at once; later hand-overs
                # grow to 512 runs, each a round of waking workers and trading the GIL with them.
                self._flush_at = min(self._flush_at * 4, 512)

    _batch: list[tuple[Job, list[RunInfo]]] | None = None
    _flush_at = 8
    # The batches of the ticks a nested tick started inside, with their hand-over sizes.
    _outer_batches: list[tuple[list[tuple[Job, list[RunInfo]]], int]]

    def begin_batch(self) -> None:
        """Hold this tick's submissions and hand them to the workers in growing batches."""
        if self._batch is not None:
            # A tick started by a job of the tick that holds these (an inline job that ticks
            # its scheduler): they go to the workers now, before the inner tick's, and the
            # outer tick holds its later ones again once the inner one ends.
            self._flush_batch()
            self._outer_batches.append((self._batch, self._flush_at))
        self._batch = []
        self._flush_at = 8

    def end_batch(self) -> None:
        """Hand the held submissions to the workers."""
        self._flush_batch()
        outer = self._outer_batches
        if outer:
            self._batch, self._flush_at = outer.pop()
        else:
            self._batch = None
        # Through the method, which a subclass may override (a call per tick, not per run).
        self.nudge()

    def nudge(self) -> None:
        """Wake idle workers for queued runs that no awake worker has taken for a while."""
        if self._pool is not None:
            self._pool.nudge(self._monotonic, _PATIENCE)

    @property
    def has_backlog(self) -> bool:
        """Whether queued runs wait while some worker is idle (the awake ones may all be
        blocked in job bodies)."""
        return self._pool is not None and self._pool.backlog

    def _flush_batch(self) -> None:
        batch = self._batch
        if not batch:
            return
        self._batch = []
        try:
            if self._pool is None:
                raise RuntimeError(f"Executor {self!r} has not been started")
            self._pool.submit_many(batch)
        except Exception as exc:
            # The runs were announced as submitted; each must still end, here with the reason.
            self._logger.exception("Error handing %d runs to executor %r", len(batch), self._alias)
            clock = self._clock
            for _job, runs in batch:
                for run in runs:
                    self._run_ended(run, error_event(run, exc, clock), last=run is runs[-1])


class ProcessPoolExecutor(BasePoolExecutor):
    """Runs job bodies in up to ``max_workers`` processes started with the *spawn* method.

    The callable, its arguments and its return value must be picklable; a run whose arguments or
    result cannot be pickled, or whose worker process dies, ends with an error event. A broken pool
    is replaced and the failure logged.

    Args:
        max_workers: the most worker processes.
        pool_kwargs: extra keyword arguments for :class:`concurrent.futures.ProcessPoolExecutor`.
    """

    _runner: ProcessPoolRunner | None = None
    # The pool does not say when a worker picks a run up, so a job's timeout counts from the
    # run's submission.
    _timeout_from_submission = True

    def start(self, scheduler: BaseScheduler, alias: str) -> None:
        """Create the process pool."""
        super().start(scheduler, alias)
        self._runner = ProcessPoolRunner(
            self._max_workers,
            self._pool_kwargs,
            context=self._context,
            logger=self._logger,
            run_ended=self._run_ended,
        )

    def shutdown(self, wait: bool = True) -> None:
        """Shut the process pool down; with ``wait``, return when all runs have ended."""
        if self._runner is not None:
            self._runner.shutdown(wait)
        if wait:
            self._stop_watchdog()

    def _stop_runs(self, runs: list[RunInfo]) -> None:
        """Terminate the worker process running ``runs``; a fresh pool takes new work."""
        if self._runner is not None:
            self._runner.stop(runs)

    def _do_submit_runs(self, job: Job, runs: list[RunInfo]) -> None:
        if self._runner is None:
            raise RuntimeError(f"Executor {self!r} has not been started")
        self._runner.submit(job, runs)
