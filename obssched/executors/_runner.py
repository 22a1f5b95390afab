"""Running one job body and turning its outcome into the run's terminal event."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

from obssched._runs import RunHook, RunInfo
from obssched.clock import Clock
from obssched.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    JobExecutionEvent,
    _timed_execution_event,
)
from obssched.exceptions import RunTakenOverError

__all__ = [
    "begin_body",
    "end_body",
    "enter_hooks",
    "error_event",
    "execution_event",
    "exit_hooks",
    "failed_body_event",
    "taken_over_event",
    "wall_time",
]


def wall_time(run: RunInfo, monotonic: float) -> datetime:
    """Return the wall-clock time of a monotonic reading taken during ``run``.

    Start and end times derive from the submission's wall time plus monotonic deltas, so
    durations computed from them are immune to wall-clock steps.
    """
    return run.submitted_at + timedelta(seconds=monotonic - run.submitted_monotonic)


def execution_event(
    run: RunInfo,
    *,
    retval: Any = None,
    exception: BaseException | None = None,
    formatted_tb: str | None = None,
    started_at: datetime | None,
    finished_at: datetime,
    run_duration: float | None,
    coalesced: Sequence[datetime] = (),
) -> JobExecutionEvent:
    """Build the terminal event of ``run``: executed when ``exception`` is ``None``, else error."""
    return JobExecutionEvent(
        EVENT_JOB_EXECUTED if exception is None else EVENT_JOB_ERROR,
        run.job_id,
        run.jobstore,
        run.scheduled_run_time,
        retval,
        exception,
        formatted_tb,
        job_name=run.job_name,
        executor=run.executor,
        run_id=run.run_id,
        submitted_at=run.submitted_at,
        started_at=started_at,
        finished_at=finished_at,
        queue_wait=(
            None if started_at is None else (started_at - run.submitted_at).total_seconds()
        ),
        run_duration=run_duration,
        coalesced_run_times=coalesced,
    )


def error_event(run: RunInfo, exc: BaseException, clock: Clock) -> JobExecutionEvent:
    """Build the error event of a run whose body never started (the executor itself failed)."""
    formatted = "".join(traceback.format_exception(exc))
    return _timed_execution_event(
        EVENT_JOB_ERROR, run, None, exc, formatted, None, clock.monotonic()
    )


def enter_hooks(
    hooks: tuple[RunHook, ...], run: RunInfo, logger: logging.Logger
) -> list[AbstractContextManager[object]] | None:
    """Enter every run hook around a job body; return those entered (``None``: none).

    A hook that fails is logged, never fatal, except one that raises
    :class:`~obssched.exceptions.RunTakenOverError`: the body must not start (another cluster
    node took the run over). The hooks entered before it are exited with that error, which is
    re-raised.
    """
    managers: list[AbstractContextManager[object]] | None = None
    for hook in hooks:
        try:
            manager = hook.wrap(run)
            if manager is None:
                continue
            manager.__enter__()
        except RunTakenOverError as exc:
            if managers is not None:
                exit_hooks(managers, exc, logger)
            raise
        except Exception:
            logger.exception("Run hook %r failed to enter for job %r", hook, run.job_id)
        else:
            if managers is None:
                managers = [manager]
            else:
                managers.append(manager)
    return managers


def exit_hooks(
    managers: list[AbstractContextManager[object]],
    exc: BaseException | None,
    logger: logging.Logger,
) -> None:
    """Exit the entered hooks in reverse order, showing them the body's exception."""
    for manager in reversed(managers):
        try:
            if exc is None:
                manager.__exit__(None, None, None)
            else:
                manager.__exit__(type(exc), exc, exc.__traceback__)
        except Exception:
            logger.exception("Run hook %r failed to exit", manager)


def failed_body_event(
    run: RunInfo, exc: BaseException, started: float, finished: float, logger: logging.Logger
) -> JobExecutionEvent:
    """Log a body that raised ``exc`` and return its error event."""
    formatted = "".join(traceback.format_exception(exc))
    logger.error('Job "%s" raised an exception', run.job_name, exc_info=exc)
    # Clearing the frames breaks the exception -> traceback -> frame cycle that would keep the
    # job's locals alive for as long as a listener holds the event.
    traceback.clear_frames(exc.__traceback__)
    return _timed_execution_event(EVENT_JOB_ERROR, run, None, exc, formatted, started, finished)


def begin_body(
    run: RunInfo,
    entry: list[Any] | None,
    hooks: tuple[RunHook, ...],
    monotonic: Callable[[], float],
    logger: logging.Logger,
    log_runs: bool,
) -> tuple[float, list[AbstractContextManager[object]] | None]:
    """Start the body of ``run``: log it, note its monotonic start, enter the run hooks.

    ``entry`` is the run's ``[RunInfo, start]`` entry in its executor's in-flight registry
    (``None``: the run is no longer in it); the start is written there, by the thread that runs
    the body, its only writer. ``monotonic`` is the clock's reading method, looked up once per
    work item, and ``log_runs`` whether the executor's logger logs INFO, looked at once per work
    item rather than twice per run. Returns the start reading and the hooks entered, for
    :func:`end_body`. Called right before the body, in the thread or task that runs it;
    synchronous and coroutine bodies both go through this and :func:`end_body`.

    Raises:
        RunTakenOverError: a run hook found the run taken over by another cluster node; the
            body must not start (see :func:`taken_over_event`).
    """
    if log_runs:
        logger.info('Running job "%s" (scheduled at %s)', run.job_name, run.scheduled_run_time)
    started = monotonic()
    if entry is not None:
        entry[1] = started
    return started, enter_hooks(hooks, run, logger) if hooks else None


def taken_over_event(
    run: RunInfo, exc: RunTakenOverError, finished: float, logger: logging.Logger
) -> JobExecutionEvent:
    """Log a run whose body was not started because another cluster node took it over, and
    return its error event (no start time: no body ran here); ``finished`` is a monotonic
    reading."""
    logger.warning("%s", exc)
    formatted = "".join(traceback.format_exception(exc))
    # As for a body's exception: the frames (holding the job and its runs) would otherwise
    # live as long as a listener keeps the event.
    traceback.clear_frames(exc.__traceback__)
    return _timed_execution_event(EVENT_JOB_ERROR, run, None, exc, formatted, None, finished)


def end_body(
    run: RunInfo,
    started: float,
    managers: list[AbstractContextManager[object]] | None,
    retval: Any,
    exc: BaseException | None,
    monotonic: Callable[[], float],
    logger: logging.Logger,
    log_runs: bool,
) -> JobExecutionEvent:
    """End the body of ``run``: exit the run hooks and return its terminal event."""
    finished = monotonic()
    if managers is not None:
        exit_hooks(managers, exc, logger)
    if exc is not None:
        return failed_body_event(run, exc, started, finished, logger)
    if log_runs:
        logger.info('Job "%s" executed successfully', run.job_name)
    return _timed_execution_event(EVENT_JOB_EXECUTED, run, retval, None, None, started, finished)
