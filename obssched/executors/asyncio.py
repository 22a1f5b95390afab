"""An executor for the asyncio scheduler (APScheduler 3's ``AsyncIOExecutor``)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from obssched.exceptions import RunTakenOverError
from obssched.executors._runner import begin_body, end_body, error_event, taken_over_event
from obssched.executors.base import BaseExecutor
from obssched.util import iscoroutinefunction_partial

if TYPE_CHECKING:
    from obssched._runs import RunInfo
    from obssched.job import Job
    from obssched.schedulers.base import BaseScheduler

__all__ = ["AsyncIOExecutor"]


class AsyncIOExecutor(BaseExecutor):
    """Runs coroutine functions as tasks on the scheduler's event loop, and plain functions in
    the loop's default executor (a thread pool).

    Only works with :class:`~obssched.schedulers.asyncio.AsyncIOScheduler`. Runs still waiting
    when the executor shuts down are cancelled and end with an error event.
    """

    _eventloop: asyncio.AbstractEventLoop

    def start(self, scheduler: BaseScheduler, alias: str) -> None:
        """Bind to the scheduler's event loop."""
        super().start(scheduler, alias)
        # APScheduler 3's AsyncIOScheduler names its loop _eventloop; obssched's makes it public.
        loop = getattr(scheduler, "event_loop", None) or getattr(scheduler, "_eventloop", None)
        if loop is None:
            raise TypeError(
                f"AsyncIOExecutor {alias!r} needs an AsyncIOScheduler, "
                f"not {type(scheduler).__name__}"
            )
        self._eventloop = loop
        self._pending_futures: set[asyncio.Future[Any]] = set()
        # first run id of a work item -> its task, for the jobs with a timeout only
        self._tasks: dict[int, asyncio.Future[Any]] = {}

    def shutdown(self, wait: bool = True) -> None:
        """Cancel the runs still in flight (asyncio offers no way to wait for them here)."""
        for future in list(self._pending_futures):
            if not future.done():
                future.cancel()
        self._pending_futures.clear()
        self._stop_watchdog()

    def wait_for_runs(self, timeout: float) -> bool:
        """Wait for the runs in flight as :meth:`BaseExecutor.wait_for_runs` does, unless called
        on the event loop: blocking it would keep the runs from ending, so then the runs are
        only looked at."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._eventloop:
            return not self._inflight
        return super().wait_for_runs(timeout)

    def _stop_runs(self, runs: list[RunInfo]) -> None:
        """Cancel the task running a coroutine job's work item (a plain function's thread
        cannot be stopped: it finishes on its own)."""
        task = self._tasks.pop(runs[0].run_id, None)
        if task is not None and not task.done():
            self._eventloop.call_soon_threadsafe(task.cancel)

    def _do_submit_runs(self, job: Job, runs: list[RunInfo]) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._eventloop:
            self._launch(job, runs)
        else:
            self._eventloop.call_soon_threadsafe(self._launch, job, runs)

    def _launch(self, job: Job, runs: list[RunInfo]) -> None:
        future: asyncio.Future[Any]
        if iscoroutinefunction_partial(job.func):
            future = self._eventloop.create_task(self._run_coroutines(job, runs))
        else:
            future = self._eventloop.run_in_executor(None, self._run_in_this_thread, job, runs)
        # Cancelled before it started (a task cancelled before its first step never enters
        # _run_coroutines), its runs still end.
        future.add_done_callback(lambda done: self._end_unfinished(done, runs))
        if job.timeout is not None:
            key = runs[0].run_id
            self._tasks[key] = future
            future.add_done_callback(lambda _: self._tasks.pop(key, None))
        self._pending_futures.add(future)
        future.add_done_callback(self._pending_futures.discard)

    def _end_unfinished(self, future: asyncio.Future[Any], runs: list[RunInfo]) -> None:
        # A run_in_executor future cancelled before its thread picked it up never ran.
        if future.cancelled():
            self._end_with_error(runs, asyncio.CancelledError())

    def _end_with_error(self, runs: list[RunInfo], exc: BaseException) -> None:
        clock = self._clock
        unfinished = [run for run in runs if run.run_id in self._inflight]
        for run in unfinished:
            self._run_ended(run, error_event(run, exc, clock), last=run is unfinished[-1])

    async def _run_coroutines(self, job: Job, runs: list[RunInfo]) -> None:
        monotonic = self._monotonic
        logger = self._logger
        log_runs = logger.isEnabledFor(logging.INFO)
        inflight = self._inflight
        last = runs[-1]
        for run in runs:
            try:
                started, managers = begin_body(
                    run,
                    inflight.get(run.run_id),
                    self._context.run_hooks,
                    monotonic,
                    logger,
                    log_runs,
                )
            except RunTakenOverError as exc:
                # Another cluster node took it over: it ends here without its body.
                self._run_ended(
                    run, taken_over_event(run, exc, monotonic(), logger), last=run is last
                )
                continue
            try:
                retval = await job.func(*job.args, **job.kwargs)
            except asyncio.CancelledError as exc:
                # This run ends with its own timings; the rest of the work item never starts.
                # The work item's instance is given back once, by whichever run is its last.
                event = end_body(run, started, managers, None, exc, monotonic, logger, log_runs)
                self._run_ended(run, event, last=run is last)
                self._end_with_error(runs, exc)
                raise
            except BaseException as exc:
                event = end_body(run, started, managers, None, exc, monotonic, logger, log_runs)
            else:
                event = end_body(run, started, managers, retval, None, monotonic, logger, log_runs)
            self._run_ended(run, event, last=run is last)
