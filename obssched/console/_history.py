"""Recent runs and errors of every job, kept from the scheduler's events, in bounded memory.

:class:`RunHistory` is an event listener, as the built-in metrics listener is: it reads only the
event objects of :mod:`obssched.events`. Each job keeps its last ``runs_per_job`` runs and
``errors_per_job`` errors (the start of their message, the end of their traceback); across all
jobs at most ``max_runs`` runs and ``max_errors`` errors are kept, the oldest going first, and at
most ``max_jobs`` jobs, the least recently active going first. So memory stays bounded however
many jobs there are, however long the scheduler runs and however long their errors are.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from obssched.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    EVENT_SCHEDULER_STARTED,
    JobExecutionEvent,
    JobSubmissionEvent,
    SchedulerEvent,
)
from obssched.exceptions import JobTimeoutError

__all__ = [
    "HISTORY_MASK",
    "OUTCOMES",
    "ErrorRecord",
    "JobHistory",
    "JobSummary",
    "RunHistory",
    "RunRecord",
]

HISTORY_MASK = (
    EVENT_SCHEDULER_STARTED
    | EVENT_JOB_SUBMITTED
    | EVENT_JOB_EXECUTED
    | EVENT_JOB_ERROR
    | EVENT_JOB_MISSED
    | EVENT_JOB_MAX_INSTANCES
)
"""The events :class:`RunHistory` listens to."""

OUTCOMES = ("executed", "error", "missed", "max_instances", "timeout")
"""A run's outcomes; a run without one is still running."""


class RunRecord:
    """One run of a job: submitted, ended, or never submitted (missed, refused)."""

    __slots__ = (
        "duration",
        "ended_at",
        "error",
        "executor",
        "job_id",
        "jobstore",
        "outcome",
        "queue_wait",
        "run_id",
        "scheduled_run_time",
        "started_at",
        "submitted_at",
    )

    def __init__(
        self,
        job_id: str,
        run_id: int | None,
        scheduled_run_time: datetime,
        executor: str | None,
        jobstore: str | None = None,
    ) -> None:
        self.job_id = job_id
        self.jobstore = jobstore
        self.run_id = run_id
        self.scheduled_run_time = scheduled_run_time
        self.executor = executor
        self.submitted_at: datetime | None = None
        self.started_at: datetime | None = None
        self.ended_at: datetime | None = None
        self.queue_wait: float | None = None
        self.duration: float | None = None
        self.outcome: str | None = None
        self.error: str | None = None

    @property
    def delay(self) -> float | None:
        """Seconds from the scheduled run time to the body's start (``None``: not started)."""
        if self.started_at is None:
            return None
        return (self.started_at - self.scheduled_run_time).total_seconds()


@dataclass(frozen=True)
class ErrorRecord:
    """One failed run's error."""

    job_id: str
    run_id: int | None
    time: datetime
    exception_type: str
    message: str
    traceback: str


class JobHistory:
    """What is kept of one job: its recent runs and errors, and counts of every outcome."""

    __slots__ = ("_durations", "counts", "errors", "job_name", "last", "runs")

    def __init__(self, job_name: str, runs: int, errors: int) -> None:
        self.job_name = job_name
        self.runs: deque[RunRecord] = deque(maxlen=runs)
        self.errors: deque[ErrorRecord] = deque(maxlen=errors)
        self.counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        self.last: tuple[str, datetime] | None = None
        self._durations: tuple[float | None, float | None] | None = None

    def percentiles(self) -> tuple[float | None, float | None]:
        """Return the p50 and p95 durations of the recent ended runs (``None``: none ended)."""
        cached = self._durations
        if cached is None:
            durations = sorted(r.duration for r in self.runs if r.duration is not None)
            cached = self._durations = (
                (_percentile(durations, 0.5), _percentile(durations, 0.95))
                if durations
                else (None, None)
            )
        return cached

    def changed(self) -> None:
        """Forget the cached percentiles (a run was added or ended)."""
        self._durations = None


def _percentile(ordered: list[float], fraction: float) -> float:
    """The nearest-rank percentile of sorted values."""
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


class RunHistory:
    """Keeps recent runs, errors and counts per job; register it with ``add_listener``.

    Args:
        clock: what the time of a missed or refused run is read from, when its event has none
            (``scheduler.clock``).
        runs_per_job: runs kept per job.
        errors_per_job: errors kept per job.
        max_runs: runs kept across all jobs.
        max_errors: errors kept across all jobs.
        max_jobs: jobs kept.
        traceback_limit: characters of each traceback kept (its end).
        message_limit: characters of each error message kept (its start).
    """

    MASK = HISTORY_MASK

    def __init__(
        self,
        clock: Any,
        *,
        runs_per_job: int = 50,
        errors_per_job: int = 5,
        max_runs: int = 100_000,
        max_errors: int = 1_000,
        max_jobs: int = 20_000,
        traceback_limit: int = 20_000,
        message_limit: int = 4_000,
    ) -> None:
        self._clock = clock
        self._runs_per_job = runs_per_job
        self._errors_per_job = errors_per_job
        self._max_runs = max_runs
        self._max_errors = max_errors
        self._max_jobs = max_jobs
        self._traceback_limit = traceback_limit
        self._message_limit = message_limit
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, JobHistory] = OrderedDict()
        # Every kept run and error in the order they came: the oldest is dropped first. A run
        # is kept while it is in its job's deque; the job's oldest is always the first of its
        # own in these, so dropping it from the front of its deque is enough.
        self._all_runs: deque[RunRecord] = deque()
        self._all_errors: deque[ErrorRecord] = deque()
        self._by_run_id: dict[int, RunRecord] = {}
        self.started_at: datetime | None = None
        """When the scheduler started (or when this history was attached to a running one)."""

    @classmethod
    def attach(cls, scheduler: Any, **limits: Any) -> RunHistory:
        """Make a history of ``scheduler``'s runs and register it as its listener."""
        history = cls(scheduler.clock, **limits)
        if getattr(scheduler, "running", False):
            history.started_at = scheduler.clock.now()
        scheduler.add_listener(history, cls.MASK)
        return history

    def __call__(self, event: SchedulerEvent) -> None:
        """Record one event (the listener)."""
        code = event.code
        if code == EVENT_SCHEDULER_STARTED:
            self.started_at = self._clock.now()
        elif isinstance(event, JobExecutionEvent):
            if code == EVENT_JOB_MISSED:
                self._unsubmitted(event, event.scheduled_run_time, "missed")
            else:
                self._ended(event)
        elif isinstance(event, JobSubmissionEvent):
            times = event.scheduled_run_times
            run_time = times[-1] if times else (event.submitted_at or self._clock.now())
            if code == EVENT_JOB_MAX_INSTANCES:
                self._unsubmitted(event, run_time, "max_instances")
            else:
                self._submitted(event, run_time)

    def _job(self, job_id: str, job_name: str | None) -> JobHistory:
        """Return the history of a job, made if new; the lock is held."""
        job = self._jobs.get(job_id)
        if job is None:
            job = self._jobs[job_id] = JobHistory(
                job_name or job_id, self._runs_per_job, self._errors_per_job
            )
            while len(self._jobs) > self._max_jobs:
                self._jobs.popitem(last=False)
        else:
            self._jobs.move_to_end(job_id)
            if job_name:
                job.job_name = job_name
        return job

    def _keep(self, job: JobHistory, run: RunRecord) -> None:
        runs = job.runs
        if len(runs) == runs.maxlen and runs[0].run_id is not None:
            self._by_run_id.pop(runs[0].run_id, None)
        runs.append(run)
        job.changed()
        if run.run_id is not None:
            self._by_run_id[run.run_id] = run
        everything = self._all_runs
        everything.append(run)
        while len(everything) > self._max_runs:
            old = everything.popleft()
            owner = self._jobs.get(old.job_id)
            if owner is not None and owner.runs and owner.runs[0] is old:
                owner.runs.popleft()
                owner.changed()
            if old.run_id is not None and self._by_run_id.get(old.run_id) is old:
                del self._by_run_id[old.run_id]

    def _submitted(self, event: JobSubmissionEvent, run_time: datetime) -> None:
        run = RunRecord(event.job_id, event.run_id, run_time, event.executor, event.jobstore)
        run.submitted_at = event.submitted_at
        with self._lock:
            self._keep(self._job(event.job_id, event.job_name), run)

    def _unsubmitted(self, event: Any, run_time: datetime, outcome: str) -> None:
        run = RunRecord(event.job_id, None, run_time, event.executor, event.jobstore)
        run.outcome = outcome
        now = self._clock.now()
        run.ended_at = now
        with self._lock:
            job = self._job(event.job_id, event.job_name)
            self._keep(job, run)
            job.counts[outcome] += 1
            job.last = (outcome, now)

    def _ended(self, event: JobExecutionEvent) -> None:
        exception = event.exception
        if event.code == EVENT_JOB_EXECUTED:
            outcome = "executed"
        elif isinstance(exception, JobTimeoutError):
            outcome = "timeout"
        else:
            outcome = "error"
        ended = event.finished_at or self._clock.now()
        error = None
        if event.code == EVENT_JOB_ERROR:
            error = ErrorRecord(
                event.job_id,
                event.run_id,
                ended,
                _type_name(exception),
                self._message(exception),
                self._traceback(event.traceback),
            )
        with self._lock:
            job = self._job(event.job_id, event.job_name)
            run = None if event.run_id is None else self._by_run_id.get(event.run_id)
            if run is None:
                run = RunRecord(
                    event.job_id,
                    event.run_id,
                    event.scheduled_run_time,
                    event.executor,
                    event.jobstore,
                )
                run.submitted_at = event.submitted_at
                self._keep(job, run)
            run.started_at = event.started_at
            run.ended_at = ended
            run.queue_wait = event.queue_wait
            run.duration = event.run_duration
            run.outcome = outcome
            if error is not None:
                run.error = f"{error.exception_type}: {error.message}"
                self._add_error(job, error)
            job.changed()
            job.counts[outcome] += 1
            job.last = (outcome, ended)

    def _add_error(self, job: JobHistory, error: ErrorRecord) -> None:
        job.errors.append(error)
        everything = self._all_errors
        everything.append(error)
        while len(everything) > self._max_errors:
            old = everything.popleft()
            owner = self._jobs.get(old.job_id)
            if owner is not None and owner.errors and owner.errors[0] is old:
                owner.errors.popleft()

    def _traceback(self, text: str | None) -> str:
        if not text:
            return ""
        limit = self._traceback_limit
        if len(text) <= limit:
            return text
        return f"[{len(text) - limit} characters cut]\n" + text[-limit:]

    def _message(self, exception: BaseException | None) -> str:
        # A message may be megabytes (a payload in it); the run's error holds a copy too.
        text = _message(exception)
        limit = self._message_limit
        if len(text) <= limit:
            return text
        return text[:limit] + f" [{len(text) - limit} characters cut]"

    # -- reading ---------------------------------------------------------------------------

    def job(self, job_id: str) -> JobSummary | None:
        """Return what is kept of one job (a copy), or ``None``."""
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else _summary(job)

    def jobs(self) -> dict[str, JobSummary]:
        """Return what is kept of every job (copies), by job id."""
        with self._lock:
            return {job_id: _summary(job) for job_id, job in self._jobs.items()}

    def runs(self, job_id: str) -> list[RunRecord]:
        """Return the job's kept runs, newest first."""
        with self._lock:
            job = self._jobs.get(job_id)
            return [] if job is None else list(reversed(job.runs))

    def errors(self, job_id: str) -> list[ErrorRecord]:
        """Return the job's kept errors, newest first."""
        with self._lock:
            job = self._jobs.get(job_id)
            return [] if job is None else list(reversed(job.errors))

    def run(self, run_id: int) -> RunRecord | None:
        """Return a kept run by its id."""
        with self._lock:
            return self._by_run_id.get(run_id)

    def __len__(self) -> int:
        return len(self._jobs)

    def kept(self) -> tuple[int, int]:
        """Return how many runs and errors are kept across all jobs."""
        with self._lock:
            return (
                sum(len(job.runs) for job in self._jobs.values()),
                sum(len(job.errors) for job in self._jobs.values()),
            )

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._jobs))


@dataclass(frozen=True)
class JobSummary:
    """A job's counts, last outcome and recent run durations, as read at one moment."""

    job_name: str
    counts: dict[str, int]
    last_outcome: str | None
    last_outcome_time: datetime | None
    duration_p50: float | None
    duration_p95: float | None


def _summary(job: JobHistory) -> JobSummary:
    p50, p95 = job.percentiles()
    last = job.last
    return JobSummary(
        job.job_name,
        dict(job.counts),
        None if last is None else last[0],
        None if last is None else last[1],
        p50,
        p95,
    )


def _type_name(exception: BaseException | None) -> str:
    if exception is None:
        return "unknown"
    cls = type(exception)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _message(exception: BaseException | None) -> str:
    if exception is None:
        return ""
    try:
        return str(exception)
    except Exception as exc:  # a __str__ that raises must not lose the run
        return f"<unprintable message: {type(exc).__name__}>"
