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

:data:`EVENT_JOB_QUEUED` (obssched addition) reports runs of a job with ``overlap="queue"`` that
wait for one of its runs to end instead of being refused for ``max_instances``; each is later
submitted or, when the queue is full or the scheduler shuts down, refused with
:data:`EVENT_JOB_MAX_INSTANCES`. It is not part of :data:`EVENT_ALL`, which keeps APScheduler
3.11's value: subscribe with ``EVENT_ALL | EVENT_JOB_QUEUED`` to get it too.
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
    "EVENT_JOB_QUEUED",
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
EVENT_JOB_QUEUED = 2**17
"""A due run waits for one of its job's runs to end (``overlap="queue"``); obssched addition,
outside :data:`EVENT_ALL`."""
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
    EVENT_JOB_QUEUED: "job_queued",
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

    # APScheduler 3's events keep their attributes in an instance dict, so listeners written for
    # it may read ``vars(event)`` or ``event.__dict__`` (to log or serialise an event). obssched's
    # events use slots, which have no such dict: this gives the same mapping, built when read.
    @property
    def __dict__(self) -> dict[str, Any]:  # type: ignore[override]
        """The event's attributes by name: a new dict, so changing it changes nothing."""
        return {name: getattr(self, name) for name in _attribute_names(type(self))}


class JobEvent(SchedulerEvent):
    """An event that concerns a job.

    Attributes:
        job_id: the id of the job.
        jobstore: the alias of the job store that holds it.
        job_name: the job's name (obssched addition).
        executor: the alias of the job's executor (obssched addition).
    """

    __slots__ = ("executor", "job_id", "job_name", "jobstore")

    # obssched's additions follow APScheduler 3's parameters and may be passed by position: the
    # scheduler's loop builds these for every run, and a positional call is the cheapest there is.
    def __init__(
        self,
        code: int,
        job_id: str,
        jobstore: str | None,
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
    """A job's run was submitted to its executor, refused for ``max_instances``, or queued
    until one of the job's runs ends (:data:`EVENT_JOB_QUEUED`; ``run_id`` is then ``None``, the
    run getting its id when it is submitted).

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


MonotonicTimes = tuple[float, float | None, float]
"""A run's submission, start (``None``: never started) and end, read on the monotonic clock."""


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

    ``monotonic_times`` (obssched's executors pass it) gives the run's submission, start and end
    as monotonic clock readings instead: ``queue_wait`` and ``run_duration`` are their
    differences, and ``started_at`` and ``finished_at`` are worked out from ``submitted_at`` when
    first read. Building two datetimes per run cost more than any other step of a fast job's run.
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
        job_name: str | None = None,
        executor: str | None = None,
        run_id: int | None = None,
        submitted_at: datetime | None = None,
        started_at: datetime | None = None,
        finished_at: datetime | None = None,
        queue_wait: float | None = None,
        run_duration: float | None = None,
        coalesced_run_times: Sequence[datetime] = (),
        monotonic_times: MonotonicTimes | None = None,
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
        self.coalesced_run_times = coalesced_run_times
        if monotonic_times is None:
            self._submitted = self._started = self._finished = None
            self.queue_wait = queue_wait
            self.run_duration = run_duration
            return
        submitted, started, finished = monotonic_times
        self._submitted = submitted
        self._started = started
        self._finished = finished
        if started is None:
            self.queue_wait = self.run_duration = None
        else:
            self.queue_wait = started - submitted
            self.run_duration = finished - started

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


def _attribute_names(cls: type) -> tuple[str, ...]:
    """The public attributes of an event class, base classes first: its slots and the
    properties that can be set (``started_at``, ``finished_at``), but not computed ones.
    Worked out on each call: ``vars(event)`` is for logging and debugging, not the hot path."""
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        names += [name for name in klass.__dict__.get("__slots__", ()) if name[0] != "_"]
        names += [
            name
            for name, value in vars(klass).items()
            if isinstance(value, property) and value.fset is not None and name[0] != "_"
        ]
    return tuple(dict.fromkeys(names))


# The scheduler's loop and the executors build every run's events with these. Calling a class
# whose __init__ is written in Python goes through the interpreter's C-level slot wrapper (a
# method lookup, an argument tuple and a nested evaluation loop): object.__new__ plus a direct
# call of the same __init__ costs half as much, with the one __init__ still the only place an
# event's attributes are set.
_new_event = object.__new__
_init_job_event = JobEvent.__init__
_init_submission_event = JobSubmissionEvent.__init__
_init_execution_event = JobExecutionEvent.__init__


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

    ``started`` is ``None`` for a run whose body never started. The one way a run's terminal
    event is made: every executor's success, error and abandoned run comes through here.
    """
    # One unpacking instead of eight reads of named-tuple fields (descriptor calls each).
    (run_id, job_id, job_name, _, jobstore, executor, _, scheduled, submitted_at, submitted) = run
    event: JobExecutionEvent = _new_event(JobExecutionEvent)
    _init_execution_event(
        event,
        code,
        job_id,
        jobstore,
        scheduled,
        retval,
        exception,
        traceback,
        job_name,
        executor,
        run_id,
        submitted_at,
        None,
        None,
        None,
        None,
        coalesced_run_times,
        (submitted, started, finished),
    )
    return event
