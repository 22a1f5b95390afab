"""Running job bodies in worker processes, and turning what comes back into terminal events."""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import threading
import traceback
from concurrent.futures import Future
from concurrent.futures import ProcessPoolExecutor as _FuturesProcessPool
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from obssched._runs import RemoteWrapper, RunInfo
from obssched.clock import SystemClock
from obssched.exceptions import ObsschedError, RunTakenOverError
from obssched.executors._runner import error_event, execution_event, taken_over_event

if TYPE_CHECKING:
    from collections.abc import Callable

    from obssched._context import SchedulerContext
    from obssched.job import Job

    RunEnded = Callable[..., None]

__all__ = ["ProcessPoolRunner", "RemoteJobError"]

# One run's result as sent back by the worker process:
# (exception or None, return value, formatted traceback, started_at, duration in seconds)
_Result = tuple[BaseException | None, Any, str | None, datetime, float]


class RemoteJobError(ObsschedError):
    """Stands in for an exception raised in a worker process that could not be pickled back."""

    def __init__(self, type_name: str, message: str) -> None:
        self.type_name = type_name
        self.message = message
        super().__init__(f"{type_name}: {message}")

    def __reduce__(self) -> tuple[type[RemoteJobError], tuple[str, str]]:
        return (RemoteJobError, (self.type_name, self.message))


def _run_in_worker(
    func: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    wrappers: list[list[RemoteWrapper]],
) -> list[_Result]:
    """Run ``func`` once per entry of ``wrappers`` in this worker process."""
    clock = SystemClock()
    results: list[_Result] = []
    for run_wrappers in wrappers:
        started_at = clock.now()
        started = clock.monotonic()
        exc: BaseException | None = None
        retval: Any = None
        formatted: str | None = None
        try:
            with ExitStack() as stack:
                for wrapper in run_wrappers:
                    try:
                        stack.enter_context(wrapper())
                    except Exception:
                        logging.getLogger("obssched.executors").exception(
                            "Run hook wrapper %r failed in the worker process", wrapper
                        )
                retval = func(*args, **kwargs)
        except BaseException as error:
            exc = error
            formatted = "".join(traceback.format_exception(error))
        duration = clock.monotonic() - started
        if exc is not None:
            exc = _picklable_exception(exc)
        else:
            try:
                pickle.dumps(retval)
            except Exception as error:
                exc = RemoteJobError(
                    type(error).__name__, f"the job's return value cannot be pickled: {error}"
                )
                retval = None
        results.append((exc, retval, formatted, started_at, duration))
    return results


def _picklable_exception(exc: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RemoteJobError(f"{type(exc).__module__}.{type(exc).__qualname__}", str(exc))
    exc.__traceback__ = None
    return exc


class ProcessPoolRunner:
    """Owns a spawn-based process pool for an executor and replaces it when it breaks.

    Args:
        max_workers: the most worker processes.
        pool_kwargs: extra keyword arguments for the futures process pool.
        context: the executor's scheduler context (its run hooks and clock).
        logger: the executor's logger.
        run_ended: ends a run with its terminal event: ``run_ended(run, event, last=...)``.
    """

    def __init__(
        self,
        max_workers: int,
        pool_kwargs: dict[str, Any],
        *,
        context: SchedulerContext,
        logger: logging.Logger,
        run_ended: RunEnded,
    ) -> None:
        self._context = context
        self._logger = logger
        self._run_ended = run_ended
        self._max_workers = max_workers
        self._pool_kwargs = dict(pool_kwargs)
        self._pool_kwargs.setdefault("mp_context", multiprocessing.get_context("spawn"))
        self._lock = threading.Lock()
        self._pool = self._new_pool()
        self._closed = False
        # What a timeout needs to terminate the worker running a run: run id -> (pool, future),
        # each pool's unfinished futures, and those of them that timed out.
        self._futures: dict[int, tuple[_FuturesProcessPool, Future[list[_Result]]]] = {}
        self._unfinished: dict[_FuturesProcessPool, set[Future[list[_Result]]]] = {}
        self._timed_out: dict[_FuturesProcessPool, set[Future[list[_Result]]]] = {}

    def _new_pool(self) -> _FuturesProcessPool:
        return _FuturesProcessPool(self._max_workers, **self._pool_kwargs)

    def submit(self, job: Job, runs: list[RunInfo]) -> None:
        """Send the runs of ``job`` to a worker process."""
        hooks = self._context.run_hooks
        wrappers: list[list[RemoteWrapper]] = []
        kept: list[RunInfo] = []
        taken_over: list[tuple[RunInfo, RunTakenOverError]] = []
        for run in runs:
            try:
                wrappers.append(
                    [wrapper for hook in hooks if (wrapper := hook.remote(run)) is not None]
                )
            except RunTakenOverError as refusal:
                taken_over.append((run, refusal))
            else:
                kept.append(run)
        if kept:
            # The runs another cluster node took over end once the others are handed over:
            # a hand-over that fails ends every run of the work item (the last one giving
            # its instance back), these included.
            self._send(job, kept, wrappers)
        for run, error in taken_over:
            event = taken_over_event(run, error, self._context.clock.monotonic(), self._logger)
            self._run_ended(run, event, last=not kept and run is taken_over[-1][0])

    def _send(self, job: Job, runs: list[RunInfo], wrappers: list[list[RemoteWrapper]]) -> None:
        """Submit ``runs`` (one list of run hook wrappers each) as one work item."""
        with self._lock:
            pool = self._pool
        try:
            future = pool.submit(_run_in_worker, job.func, job.args, job.kwargs, wrappers)
        except BrokenProcessPool:
            # A worker died while no run was in flight (killed from outside, say): nothing
            # noticed the pool break until now. Replace it and submit to the new one.
            self._replace(pool)
            with self._lock:
                pool = self._pool
            future = pool.submit(_run_in_worker, job.func, job.args, job.kwargs, wrappers)
        with self._lock:
            self._unfinished.setdefault(pool, set()).add(future)
            for run in runs:
                self._futures[run.run_id] = (pool, future)
        future.add_done_callback(lambda done: self._complete(pool, runs, done))

    def stop(self, runs: list[RunInfo]) -> None:
        """Terminate the worker processes running ``runs`` (ended already: timed out or
        abandoned).

        A process pool cannot terminate one worker, so the pool is retired: new work goes to a
        fresh pool, and the retired one's workers are terminated as soon as the only runs left
        on it are stopped ones (the others finish first).
        """
        retired: set[_FuturesProcessPool] = set()
        with self._lock:
            for run in runs:
                found = self._futures.pop(run.run_id, None)
                if found is None:
                    continue
                pool, future = found
                self._timed_out.setdefault(pool, set()).add(future)
                retired.add(pool)
                if pool is self._pool and not self._closed:
                    self._pool = self._new_pool()
        for pool in retired:
            self._terminate_if_only_stopped(pool)

    def _terminate_if_only_stopped(self, pool: _FuturesProcessPool) -> None:
        with self._lock:
            stopped = self._timed_out.get(pool)
            if stopped is None or not self._unfinished.get(pool, set()) <= stopped:
                return
            del self._timed_out[pool]
            self._unfinished.pop(pool, None)
        self._logger.warning("Terminating the worker processes of runs that were stopped")
        # Python 3.14 offers terminate_workers(); before it, the pool's process table (a
        # private attribute of concurrent.futures) is the only way to reach the workers.
        terminate = getattr(pool, "terminate_workers", None)
        if terminate is not None:
            terminate()
            return
        processes = getattr(pool, "_processes", None) or {}
        for process in list(processes.values()):
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)

    def _complete(
        self, pool: _FuturesProcessPool, runs: list[RunInfo], future: Future[list[_Result]]
    ) -> None:
        clock = self._context.clock
        logger = self._logger
        run_ended = self._run_ended
        last = runs[-1]
        with self._lock:
            unfinished = self._unfinished.get(pool)
            if unfinished is not None:
                unfinished.discard(future)
            for run in runs:
                self._futures.pop(run.run_id, None)
        if pool in self._timed_out:
            self._terminate_if_only_stopped(pool)
        try:
            results = future.result()
        except BaseException as failure:
            if isinstance(failure, BrokenProcessPool):
                self._replace(pool)
            logger.error(
                'Job "%s" could not run in a worker process: %r', runs[0].job_name, failure
            )
            for run in runs:
                run_ended(run, error_event(run, failure, clock), last=run is last)
            return
        for run, (exc, retval, formatted, started_at, duration) in zip(runs, results, strict=True):
            if exc is not None:
                logger.error(
                    'Job "%s" raised an exception in a worker process:\n%s',
                    run.job_name,
                    formatted,
                )
            event = execution_event(
                run,
                retval=retval,
                exception=exc,
                formatted_tb=formatted,
                started_at=started_at,
                finished_at=started_at + timedelta(seconds=duration),
                run_duration=duration,
            )
            run_ended(run, event, last=run is last)

    def _replace(self, broken: _FuturesProcessPool) -> None:
        with self._lock:
            if self._pool is not broken or self._closed:
                return
            self._logger.warning(
                "The process pool is broken (a worker died); replacing it with a fresh pool"
            )
            self._pool = self._new_pool()
        broken.shutdown(wait=False)

    def shutdown(self, wait: bool) -> None:
        """Shut the pool down; with ``wait``, return once every submitted run has ended."""
        with self._lock:
            pool = self._pool
            self._closed = True
        pool.shutdown(wait=wait)
