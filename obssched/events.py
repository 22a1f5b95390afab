"""Scheduler events: the constants, bit values and classes of APScheduler 3.

Listeners registered with ``scheduler.add_listener(callback, mask)`` receive these objects. Beyond
APScheduler 3, job events also carry the job's name and executor, and execution events carry the
submission, start and end times of the run, so a listener can compute queue wait and run time
without bookkeeping of its own. All times are timezone-aware UTC datetimes; durations are measured
on the monotonic clock.

Every submitted run (one :data:`EVENT_JOB_SUBMITTED`, with one scheduled run time) ends in exactly
one :data:`EVENT_JOB_EXECUTED` or :data:`EVENT_JOB_ERROR` carrying the same ``run_id``, delivered
after the submission event. Run times that the scheduler reached later than the job's
``misfire_grace_time`` are never submitted; each is reported as one :data:`EVENT_JOB_MISSED`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from obssched._runs import RunInfo

__all__ = [
    "EVENT_ALL",
    "EVENT_ALL_JOBS_REMOVED",
    "EVENT_EXECUTOR_ADDED",
    "EVENT_EXECUTOR_REMOVED",
    "EVENT_JOBSTORE_ADDED",
    "EVENT_JOBSTORE_REMOVED",
    "EVENT_JOB_ADDED",
    "EVENT_JOB_ERROR",
    "EVENT_JOB_EXECUTED",
    "EVENT_JOB_MAX_INSTANCES",
    "EVENT_JOB_MISSED",
    "EVENT_JOB_MODIFIED",
    "EVENT_JOB_REMOVED",
    "EVENT_JOB_SUBMITTED",
    "EVENT_NAMES",
    "EVENT_SCHEDULER_PAUSED",
    "EVENT_SCHEDULER_RESUMED",
    "EVENT_SCHEDULER_SHUTDOWN",
    "EVENT_SCHEDULER_START",
    "EVENT_SCHEDULER_STARTED",
    "JobEvent",
    "JobExecutionEvent",
    "JobSubmissionEvent",
    "SchedulerEvent",
]

EVENT_SCHEDULER_STARTED = EVENT_SCHEDULER_START = 2**0
EVENT_SCHEDULER_SHUTDOWN = 2**1
EVENT_SCHEDULER_PAUSED = 2**2
EVENT_SCHEDULER_RESUMED = 2**3
EVENT_EXECUTOR_ADDED = 2**4
EVENT_EXECUTOR_REMOVED = 2**5
EVENT_JOBSTORE_ADDED = 2**6
EVENT_JOBSTORE_REMOVED = 2**7
EVENT_ALL_JOBS_REMOVED = 2**8
EVENT_JOB_ADDED = 2**9
EVENT_JOB_REMOVED = 2**10
EVENT_JOB_MODIFIED = 2**11
EVENT_JOB_EXECUTED = 2**12
EVENT_JOB_ERROR = 2**13
EVENT_JOB_MISSED = 2**14
EVENT_JOB_SUBMITTED = 2**15
EVENT_JOB_MAX_INSTANCES = 2**16
EVENT_ALL = (
    EVENT_SCHEDULER_STARTED
    | EVENT_SCHEDULER_SHUTDOWN
    | EVENT_SCHEDULER_PAUSED
    | EVENT_SCHEDULER_RESUMED
    | EVENT_EXECUTOR_ADDED
    | EVENT_EXECUTOR_REMOVED
    | EVENT_JOBSTORE_ADDED
    | EVENT_JOBSTORE_REMOVED
    | EVENT_ALL_JOBS_REMOVED
    | EVENT_JOB_ADDED
    | EVENT_JOB_REMOVED
    | EVENT_JOB_MODIFIED
    | EVENT_JOB_EXECUTED
    | EVENT_JOB_ERROR
    | EVENT_JOB_MISSED
    | EVENT_JOB_SUBMITTED
    | EVENT_JOB_MAX_INSTANCES
)

EVENT_NAMES: dict[int, str] = {
    EVENT_SCHEDULER_STARTED: "scheduler_started",
    EVENT_SCHEDULER_SHUTDOWN: "scheduler_shutdown",
    EVENT_SCHEDULER_PAUSED: "scheduler_paused",
    EVENT_SCHEDULER_RESUMED: "scheduler_resumed",
    EVENT_EXECUTOR_ADDED: "executor_added",
    EVENT_EXECUTOR_REMOVED: "executor_removed",
    EVENT_JOBSTORE_ADDED: "jobstore_added",
    EVENT_JOBSTORE_REMOVED: "jobstore_removed",
    EVENT_ALL_JOBS_REMOVED: "all_jobs_removed",
    EVENT_JOB_ADDED: "job_added",
    EVENT_JOB_REMOVED: "job_removed",
    EVENT_JOB_MODIFIED: "job_modified",
    EVENT_JOB_EXECUTED: "job_executed",
    EVENT_JOB_ERROR: "job_error",
    EVENT_JOB_MISSED: "job_missed",
    EVENT_JOB_SUBMITTED: "job_submitted",
    EVENT_JOB_MAX_INSTANCES: "job_max_instances",
}
"""The name of each event code, as used in the ``event`` label of ``obssched_events_total``."""


class SchedulerEvent:
    """An event that concerns the scheduler itself.

    Attributes:
        code: the event code (one of the ``EVENT_*`` constants).
        alias: the alias of the job store or executor that was added or removed, if any.
    """

    __slots__ = ("alias", "code")

    def __init__(self, code: int, alias: str | None = None) -> None:
        self.code = code
        self.alias = alias

    def __repr__(self) -> str:
        return f"<{type(self).__name__} (code={self.code})>"


class JobEvent(SchedulerEvent):
    """An event that concerns a job.

    Attributes:
        job_id: the id of the job.
        jobstore: the alias of the job store that holds it.
        job_name: the job's name (obssched addition).
        executor: the alias of the job's executor (obssched addition).
    """

    __slots__ = ("executor", "job_id", "job_name", "jobstore")

    def __init__(
        self,
        code: int,
        job_id: str,
        jobstore: str | None,
        *,
        job_name: str | None = None,
        executor: str | None = None,
    ) -> None:
        self.code = code
        self.alias = None
        self.job_id = job_id
        self.jobstore = jobstore
        self.job_name = job_name
        self.executor = executor


class JobSubmissionEvent(JobEvent):
    """A job's run was submitted to its executor, or refused for ``max_instances``.

    Attributes:
        scheduled_run_times: the run times submitted (obssched submits one per event).
        run_id: the identifier shared with the run's execution event (obssched addition).
        submitted_at: when the run was submitted (obssched addition).
        coalesced_run_times: earlier run times dropped by ``coalesce`` in favour of this one
            (obssched addition).
    """

    __slots__ = ("coalesced_run_times", "run_id", "scheduled_run_times", "submitted_at")

    def __init__(
        self,
        code: int,
        job_id: str,
        jobstore: str | None,
        scheduled_run_times: Sequence[datetime],
        *,
        job_name: str | None = None,
        executor: str | None = None,
        run_id: int | None = None,
        submitted_at: datetime | None = None,
        coalesced_run_times: Sequence[datetime] = (),
    ) -> None:
        self.code = code
        self.alias = None
        self.job_id = job_id
        self.jobstore = jobstore
        self.job_name = job_name
        self.executor = executor
        self.scheduled_run_times = scheduled_run_times
        self.run_id = run_id
        self.submitted_at = submitted_at
        self.coalesced_run_times = coalesced_run_times


class JobExecutionEvent(JobEvent):
    """A job's run ended: executed, raised an exception, or was missed.

    Attributes:
        scheduled_run_time: the time the run was scheduled for.
        retval: the return value of a successful run.
        exception: the exception a failed run raised.
        traceback: the formatted traceback of that exception.
        run_id: the identifier of the submission this run belongs to (``None`` for missed runs,
            which are never submitted) (obssched addition).
        submitted_at: when the run was submitted (obssched addition).
        started_at: when the job body started (obssched addition).
        finished_at: when the job body ended (obssched addition).
        queue_wait: seconds from submission to start (obssched addition).
        run_duration: seconds from start to end of the job body (obssched addition).
        coalesced_run_times: earlier run times dropped by ``coalesce`` (obssched addition).
    """

    __slots__ = (
        "_finished",
        "_finished_at",
        "_started",
        "_started_at",
        "_submitted",
        "coalesced_run_times",
        "exception",
        "queue_wait",
        "retval",
        "run_duration",
        "run_id",
        "scheduled_run_time",
        "submitted_at",
        "traceback",
    )

    def __init__(
        self,
        code: int,
        job_id: str,
        jobstore: str | None,
        scheduled_run_time: datetime,
        retval: Any = None,
        exception: BaseException | None = None,
        traceback: str | None = None,
        *,
        job_name: str | None = None,
        executor: str | None = None,
        run_id: int | None = None,
        submitted_at: datetime | None = None,
        started_at: datetime | None = None,
        finished_at: datetime | None = None,
        queue_wait: float | None = None,
        run_duration: float | None = None,
        coalesced_run_times: Sequence[datetime] = (),
    ) -> None:
        self.code = code
        self.alias = None
        self.job_id = job_id
        self.jobstore = jobstore
        self.job_name = job_name
        self.executor = executor
        self.scheduled_run_time = scheduled_run_time
        self.retval = retval
        self.exception = exception
        self.traceback = traceback
        self.run_id = run_id
        self.submitted_at = submitted_at
        self._started_at = started_at
        self._finished_at = finished_at
        self._submitted: float | None = None
        self._started: float | None = None
        self._finished: float | None = None
        self.queue_wait: float | None = queue_wait
        self.run_duration: float | None = run_duration
        self.coalesced_run_times = coalesced_run_times

    # The start and end times of a run are kept as monotonic readings, next to the submission's
    # wall time and monotonic reading, and become datetimes only when read: building two
    # datetimes per run cost more than any other step of a fast job's run.

    @property
    def started_at(self) -> datetime | None:
        """When the job body started (``None``: it never started)."""
        started_at = self._started_at
        if started_at is None and self._started is not None:
            started_at = self._started_at = self._wall(self._started)
        return started_at

    @started_at.setter
    def started_at(self, value: datetime | None) -> None:
        self._started_at = value
        self._started = None

    @property
    def finished_at(self) -> datetime | None:
        """When the job body ended (or the run was given up)."""
        finished_at = self._finished_at
        if finished_at is None and self._finished is not None:
            finished_at = self._finished_at = self._wall(self._finished)
        return finished_at

    @finished_at.setter
    def finished_at(self, value: datetime | None) -> None:
        self._finished_at = value
        self._finished = None

    def _wall(self, monotonic: float) -> datetime:
        assert self.submitted_at is not None
        assert self._submitted is not None
        return self.submitted_at + timedelta(seconds=monotonic - self._submitted)

    @property
    def start_delay(self) -> float | None:
        """Seconds from the scheduled run time to the actual start (``None``: never started)."""
        if self._started is not None and self.queue_wait is not None:
            assert self.submitted_at is not None
            lateness = (self.submitted_at - self.scheduled_run_time).total_seconds()
            return lateness + self.queue_wait
        if self.started_at is None:
            return None
        return (self.started_at - self.scheduled_run_time).total_seconds()


_new_event = object.__new__


def _job_event(
    code: int, job_id: str, jobstore: str | None, job_name: str | None, executor: str | None
) -> JobEvent:
    """Build a :class:`JobEvent` without a keyword-argument call (for the scheduler's loop)."""
    event: JobEvent = _new_event(JobEvent)
    event.code = code
    event.alias = None
    event.job_id = job_id
    event.jobstore = jobstore
    event.job_name = job_name
    event.executor = executor
    return event


def _submission_event(
    code: int,
    job_id: str,
    jobstore: str | None,
    scheduled_run_times: Sequence[datetime],
    job_name: str | None,
    executor: str | None,
    run_id: int | None,
    submitted_at: datetime | None,
    coalesced_run_times: Sequence[datetime],
) -> JobSubmissionEvent:
    """Build a :class:`JobSubmissionEvent` without a keyword-argument call."""
    event: JobSubmissionEvent = _new_event(JobSubmissionEvent)
    event.code = code
    event.alias = None
    event.job_id = job_id
    event.jobstore = jobstore
    event.job_name = job_name
    event.executor = executor
    event.scheduled_run_times = scheduled_run_times
    event.run_id = run_id
    event.submitted_at = submitted_at
    event.coalesced_run_times = coalesced_run_times
    return event


def _timed_execution_event(
    code: int,
    run: RunInfo,
    retval: Any,
    exception: BaseException | None,
    traceback: str | None,
    started: float | None,
    finished: float,
    coalesced_run_times: Sequence[datetime] = (),
) -> JobExecutionEvent:
    """Build the terminal event of a submitted run from monotonic start and end readings.

    ``started`` is ``None`` for a run whose body never started.
    """
    event: JobExecutionEvent = _new_event(JobExecutionEvent)
    event.code = code
    event.alias = None
    event.job_id = run.job_id
    event.jobstore = run.jobstore
    event.job_name = run.job_name
    event.executor = run.executor
    event.scheduled_run_time = run.scheduled_run_time
    event.retval = retval
    event.exception = exception
    event.traceback = traceback
    event.run_id = run.run_id
    event.submitted_at = run.submitted_at
    event._started_at = event._finished_at = None
    submitted = event._submitted = run.submitted_monotonic
    event._started = started
    event._finished = finished
    if started is None:
        event.queue_wait = event.run_duration = None
    else:
        event.queue_wait = started - submitted
        event.run_duration = finished - started
    event.coalesced_run_times = coalesced_run_times
    return event
