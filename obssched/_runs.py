"""What a run is, and the hook that executors call around each job body.

A *run* is one scheduled run time of one job, from its submission to its terminal event. Its
:class:`RunInfo` travels with the submission; :class:`RunHook` objects registered on the scheduler
(``scheduler.add_run_hook``) wrap the job body in whichever thread, task or process runs it, which
is where a tracing span has to be current for the job's own spans to nest under it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import NamedTuple, Protocol, runtime_checkable

__all__ = ["RemoteWrapper", "RunHook", "RunInfo", "RunningRun"]


class RunInfo(NamedTuple):
    """One submitted run of a job, as hooks and executors see it."""

    run_id: int
    """Unique within the scheduler; shared by the run's submission and execution events."""
    job_id: str
    job_name: str
    func_name: str
    """The callable's ``module:qualname`` (or its best display name)."""
    jobstore: str
    executor: str
    trigger: object
    """The job's trigger; ``str()`` gives its readable form (formatted only where needed)."""
    scheduled_run_time: datetime
    submitted_at: datetime
    submitted_monotonic: float


RemoteWrapper = Callable[[], AbstractContextManager[object]]
"""A picklable, argument-free callable that a worker process calls to get the context manager to
wrap the job body in (for example one that attaches a propagated trace context)."""


@runtime_checkable
class RunHook(Protocol):
    """Wraps each job body; registered with ``scheduler.add_run_hook(hook)``.

    ``wrap`` is called in the thread or asyncio task that runs the job, right before the body; the
    returned context manager is entered around the body and sees its exception, if any. The run's
    terminal event is dispatched after the context manager has exited. A hook with nothing to do
    for a run returns ``None``, which spares the body the context manager.

    For executors that run the body in another process, ``remote`` is called in the scheduler's
    process at submission instead; what it returns (or ``None``) is sent to the worker process and
    called there around the body.
    """

    def wrap(self, run: RunInfo) -> AbstractContextManager[object] | None:
        """Return the context manager to run the job body of ``run`` in (``None``: none)."""
        ...

    def remote(self, run: RunInfo) -> RemoteWrapper | None:
        """Return a picklable wrapper factory for a body run in another process, or ``None``."""
        ...


class RunningRun(NamedTuple):
    """A submitted run that has not ended yet, as ``scheduler.get_running_runs()`` reports it."""

    info: RunInfo
    started_at: datetime | None
    """When the job body started; ``None`` while the run still waits in the executor's queue."""
