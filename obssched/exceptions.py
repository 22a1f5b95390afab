"""Every error obssched raises, under one base class.

Each exception also subclasses what APScheduler 3 raised at the same spot, so ``except KeyError``
style handlers written for APScheduler keep working. Messages are built from the typed arguments,
which stay available as attributes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = [
    "ArgumentOverflowError",
    "ConflictingIdError",
    "InvalidArgumentError",
    "InvalidJobOptionError",
    "JobAbandonedAtShutdownError",
    "JobAbandonedError",
    "JobLookupError",
    "JobTimeoutError",
    "MaxInstancesReachedError",
    "MigrationError",
    "ObsschedError",
    "RunTakenOverError",
    "SchedulerAlreadyRunningError",
    "SchedulerNotRunningError",
    "SchedulerNotStartedError",
    "SerializationError",
    "StoreInUseError",
    "TimeZoneNameError",
    "TransientJobError",
    "TriggerError",
    "UnknownAliasError",
    "UnmigratedJobsError",
]


class ObsschedError(Exception):
    """Base class of every error raised by obssched."""


class SchedulerAlreadyRunningError(ObsschedError):
    """Raised when the scheduler is already running."""

    def __init__(self) -> None:
        super().__init__("Scheduler is already running")


class SchedulerNotRunningError(ObsschedError):
    """Raised when the scheduler is not running but the operation needs it to be."""

    def __init__(self) -> None:
        super().__init__("Scheduler is not running")


class SchedulerNotStartedError(ObsschedError, RuntimeError):
    """Raised when an operation needs a started scheduler (APScheduler 3 raised RuntimeError).

    Attributes:
        operation: what needed it (``"job export"``).
    """

    def __init__(self, operation: str) -> None:
        self.operation = operation
        super().__init__(f"the scheduler must have been started for {operation} to work")


class InvalidJobOptionError(ObsschedError, TypeError):
    """A job option was given a value it cannot take.

    The message starts with APScheduler 3's text (programs and tests written for it match on
    that) and goes on to name the bad value; the option and the value are kept as attributes.

    Attributes:
        option: the option's name (``"max_instances"``).
        value: the value it was given.
    """

    def __init__(self, option: str, value: Any, message: str) -> None:
        self.option = option
        self.value = value
        super().__init__(f"{message} (got {_shown(value)})")


def _shown(value: Any) -> str:
    """``repr(value)``, cut short: a message names the bad value, it does not dump it."""
    try:
        text = repr(value)
    except Exception:
        text = f"<unprintable {type(value).__name__}>"
    return text if len(text) <= 80 else f"{text[:77]}..."


class JobLookupError(ObsschedError, KeyError):
    """Raised when no job with the given id exists."""

    def __init__(self, job_id: str, jobstore: str | None = None) -> None:
        self.job_id = job_id
        self.jobstore = jobstore
        where = f" in job store {jobstore!r}" if jobstore else ""
        super().__init__(f"No job by the id of {job_id} was found{where}")

    def __str__(self) -> str:
        # KeyError would repr() the message; keep it readable.
        return str(self.args[0])


class ConflictingIdError(ObsschedError, KeyError):
    """Raised when a job is added with an id that a stored job already has."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"Job identifier ({job_id}) conflicts with an existing job")

    def __str__(self) -> str:
        return str(self.args[0])


class TransientJobError(ObsschedError, ValueError):
    """Raised when a job that has no stable reference is added to a persistent job store."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(
            f"Job ({job_id}) cannot be added to this job store because a reference to the callable "
            "could not be determined."
        )


class MaxInstancesReachedError(ObsschedError):
    """Raised when a job already runs as many instances as its ``max_instances`` allows."""

    def __init__(self, job: Any) -> None:
        self.job_id: str = job.id
        self.max_instances: int = job.max_instances
        super().__init__(
            f'Job "{job.id}" has already reached its maximum number of instances '
            f"({job.max_instances})"
        )


class UnknownAliasError(ObsschedError, KeyError):
    """Raised when a trigger, executor or job store alias is not known.

    ``plugin`` says whether ``alias`` named a plugin to create (``add_job(trigger="...")``,
    ``add_executor("...")``) or a component the scheduler has; the message starts with
    APScheduler 3's text for each.
    """

    def __init__(
        self, kind: str, alias: str, known: list[str] | None = None, *, plugin: bool = False
    ) -> None:
        self.kind = kind
        self.alias = alias
        self.known = sorted(known or [])
        self.plugin = plugin
        hint = f" (known: {', '.join(self.known)})" if self.known else ""
        if plugin:
            # APScheduler's text alone: the known aliases are in ``known``.
            message = f'No {kind} by the name "{alias}" was found'
        else:
            message = f"No such {kind}: {alias}{hint}"
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0])


class SerializationError(ObsschedError, ValueError):
    """Raised when a job's state cannot be turned into stored data or read back."""


class JobAbandonedError(ObsschedError):
    """A run was abandoned: the scheduler running it died before the run ended.

    It is the ``exception`` of the :data:`~obssched.events.EVENT_JOB_ERROR` event reported, once
    per run time, by the node that finds the run (another cluster node, or the same single-node
    scheduler when it restarts).
    """

    def __init__(self, job_id: str, node_id: str, run_times: list[datetime]) -> None:
        self.job_id = job_id
        self.node_id = node_id
        self.run_times = run_times
        times = ", ".join(moment.isoformat() for moment in run_times)
        super().__init__(
            f"The run of job {job_id!r} scheduled for {times} was abandoned: scheduler node "
            f"{node_id!r} died (or stopped heart-beating) before the run ended"
        )


class JobAbandonedAtShutdownError(JobAbandonedError):
    """A run was abandoned: the scheduler was shut down with a ``timeout`` before it ended.

    It is the ``exception`` of the run's one :data:`~obssched.events.EVENT_JOB_ERROR` event; a
    thread running the body is left to finish on its own (its result is dropped), a coroutine is
    cancelled and a worker process terminated.
    """

    def __init__(self, job_id: str, node_id: str, run_times: list[datetime], waited: float) -> None:
        self.job_id = job_id
        self.node_id = node_id
        self.run_times = run_times
        self.waited = waited
        times = ", ".join(moment.isoformat() for moment in run_times)
        ObsschedError.__init__(
            self,
            f"The run of job {job_id!r} scheduled for {times} was abandoned: scheduler "
            f"{node_id!r} was shut down and waited {waited:g} s for it to end",
        )


class RunTakenOverError(ObsschedError):
    """A cluster node did not run a claimed run: another node had taken it over.

    A node that stalls past its lease (a long pause, a lost network) is deemed dead, and a live
    node takes over the runs it had claimed. A run that had not begun then runs on that node,
    once; when the stalled node comes back and is about to begin it, the record of its start
    finds the run no longer its own, and the body is not started here. This is the
    ``exception`` of the run's :data:`~obssched.events.EVENT_JOB_ERROR` event on the stalled
    node. The run is not lost with it: the node that took the run over handles it as any run
    of a node deemed dead (runs it if it had not begun, or reports it abandoned when its job
    cannot be loaded there).

    Attributes:
        job_id: the job's id.
        node_id: the node that stalled (this one).
        run_time: the run's scheduled run time.
    """

    def __init__(self, job_id: str, node_id: str, run_time: datetime) -> None:
        self.job_id = job_id
        self.node_id = node_id
        self.run_time = run_time
        super().__init__(
            f"The run of job {job_id!r} scheduled for {run_time.isoformat()} was not started on "
            f"scheduler node {node_id!r}: another node took it over while this one was not "
            "heart-beating, and runs it instead"
        )


class JobTimeoutError(ObsschedError, TimeoutError):
    """A run took longer than its job's ``timeout``; its executor ended it.

    It is the ``exception`` of the run's one :data:`~obssched.events.EVENT_JOB_ERROR` event. The
    run no longer counts against ``max_instances``. A thread running the body is left to finish
    on its own (its result is logged and dropped), a coroutine is cancelled and a worker process
    terminated.

    Attributes:
        job_id: the job's id.
        timeout: the job's timeout, in seconds.
        run_time: the run's scheduled run time.
        elapsed: how long the body had run when it was ended, in seconds.
    """

    def __init__(self, job_id: str, timeout: float, run_time: datetime, elapsed: float) -> None:
        self.job_id = job_id
        self.timeout = timeout
        self.run_time = run_time
        self.elapsed = elapsed
        super().__init__(
            f"The run of job {job_id!r} scheduled for {run_time.isoformat()} exceeded its "
            f"timeout of {timeout:g} s (it had run {elapsed:.3f} s)"
        )


class TriggerError(ObsschedError):
    """A job's trigger raised while the scheduling loop worked out the job's run times.

    The loop pauses the job (it would be due again on every tick) and reports this as the
    ``exception`` of an :data:`~obssched.events.EVENT_JOB_ERROR` event for the run time that was
    due; the trigger's own exception is ``cause`` (and ``__cause__``).
    """

    def __init__(self, job_id: str, trigger: str, cause: BaseException) -> None:
        self.job_id = job_id
        self.trigger = trigger
        self.cause = cause
        super().__init__(
            f"The trigger {trigger} of job {job_id!r} raised "
            f"{type(cause).__name__}: {cause}; the job is paused until it is rescheduled"
        )
        self.__cause__ = cause


class UnmigratedJobsError(ObsschedError, RuntimeError):
    """A SQL job store refuses to start beside an APScheduler 3 job table it would not read.

    Starting would leave the APScheduler 3 jobs unscheduled without a word; the message names
    the table and the two ways forward.
    """

    def __init__(self, table: str, rows: int, url: str) -> None:
        self.table = table
        self.rows = rows
        self.url = url
        source = "" if table == "apscheduler_jobs" else f" --source-table {table}"
        super().__init__(
            f"The database {url} holds {rows} APScheduler 3 job(s) in table {table!r}, which "
            "this job store's options do not read: starting would leave them unscheduled. "
            f"Convert them with 'obssched jobs migrate --store {url}{source}', or open the "
            "table in place with "
            f'SQLAlchemyJobStore(url, tablename="{table}", serializer="pickle") '
            "(only for a database you trust: pickles run code when read)"
        )


class MigrationError(ObsschedError, ValueError):
    """APScheduler 3 jobs cannot be migrated: there is no such table, or it is not one."""

    def __init__(self, table: str, url: str, reason: str) -> None:
        self.table = table
        self.url = url
        self.reason = reason
        super().__init__(
            f"Cannot migrate APScheduler 3 jobs from table {table!r} in {url}: {reason}"
        )


class InvalidArgumentError(ObsschedError, ValueError):
    """An argument has a value that cannot be used (a NaN interval, an invalid zone name).

    Where APScheduler 3 raised for the same input, the message starts with its text.

    Attributes:
        argument: the argument's name (``"seconds"``, ``"timezone"``).
        value: the value it was given.
    """

    def __init__(self, argument: str, value: Any, message: str) -> None:
        self.argument = argument
        self.value = value
        super().__init__(message)


class ArgumentOverflowError(InvalidArgumentError, OverflowError):
    """An argument is too large for the times obssched represents (years 1 to 9999).

    An ``OverflowError``, as APScheduler 3 raised for the same input, and a ``ValueError``.
    """


class TimeZoneNameError(InvalidArgumentError, OSError):
    """A time zone name that is not even a valid zone key (empty, absolute, ``..``, NUL, or
    longer than a file name may be).

    A ``ValueError`` and an ``OSError``: APScheduler 3 let through one or the other, depending
    on the name. Unknown but valid names raise ``ZoneInfoNotFoundError`` instead.
    """


class StoreInUseError(ObsschedError, RuntimeError):
    """A SQL job store refuses to start: another live scheduler serves it outside cluster mode.

    Two schedulers processing one store both run its due jobs, and neither can enforce
    ``max_instances`` for the other; the message names the other process and the ways forward.
    """

    def __init__(
        self, table: str, host: str, pid: int, node_id: str, since: datetime, expires: datetime
    ) -> None:
        self.table = table
        self.host = host
        self.pid = pid
        self.node_id = node_id
        self.since = since
        self.expires = expires
        super().__init__(
            f"The job table {table!r} is in use by another scheduler: process {pid} on host "
            f"{host!r} (node {node_id!r}), since {since.isoformat()}. Two schedulers on one "
            "store would both run its jobs: stop that one first, or share the store between "
            "schedulers with SQLAlchemyJobStore(..., cluster=True) on PostgreSQL. If that "
            f"process is gone without shutting down, its claim lapses at {expires.isoformat()}."
        )
