"""What a scheduler hands the executors, job stores and built-in listeners it starts.

APScheduler 3's plugin contracts stay as they are (``executor.start(scheduler, alias)``,
``jobstore.start(scheduler, alias)``): that is what third-party plugins implement. What obssched
adds on top of them (its clock, the event bus, run ids, the run hooks around job bodies, a way to
wake the loop, read-only views of the components) reaches obssched's own components through
this one object, read from ``scheduler.context``, never through the scheduler's private state.
A component started without a scheduler (``store.start(None, alias)``) gets a standalone
context: the system clock and an event bus nobody listens to. A component started by a scheduler
that is not obssched's (APScheduler 3's own, or a test double of it) gets one that keeps
APScheduler 3's contract: events go to ``scheduler._dispatch_event``, and executors leave the
submission events to that scheduler, which dispatches its own.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from obssched._eventbus import EventBus
from obssched._stages import StageErrors
from obssched.clock import Clock, SystemClock

if TYPE_CHECKING:
    from obssched._runs import RunHook
    from obssched.events import SchedulerEvent
    from obssched.executors.base import BaseExecutor
    from obssched.jobstores.base import BaseJobStore

__all__ = ["SchedulerContext", "context_of"]


def _no_wakeup() -> None:
    pass


class SchedulerContext:
    """The scheduler's services, as its executors, job stores and listeners may use them.

    The scheduler's settings can change while it is stopped, so its name, clock and logger are
    read through callables each time they are asked for.

    Args:
        name: returns the scheduler's name (the ``scheduler`` label of its metrics).
        clock: returns where every component reads the time.
        events: the bus every event goes through.
        logger: returns the scheduler's logger.
        dispatch: delivers an event (default: ``events.dispatch``; a scheduler class that
            delivers events its own way passes its own).
        run_hooks: the hooks to wrap each job body in; the scheduler replaces the tuple in
            :attr:`run_hooks` as hooks are added and removed.
        wakeup: makes the scheduling loop run a tick soon.
        executors: the scheduler's executors by alias (read through a read-only view).
        jobstores: the scheduler's job stores by alias (read through a read-only view).
        announces_submissions: whether executors dispatch ``EVENT_JOB_SUBMITTED`` themselves
            as they accept a run (an obssched scheduler expects it; APScheduler 3's scheduler
            dispatches its own after ``submit_job`` returns).
    """

    __slots__ = (
        "_clock",
        "_executors",
        "_jobstores",
        "_logger",
        "_name",
        "announces_submissions",
        "dispatch",
        "events",
        "next_run_id",
        "run_hooks",
        "stage_errors",
        "wakeup",
    )

    def __init__(
        self,
        *,
        name: Callable[[], str],
        clock: Callable[[], Clock],
        events: EventBus,
        logger: Callable[[], logging.Logger],
        dispatch: Callable[[SchedulerEvent], None] | None = None,
        run_hooks: tuple[RunHook, ...] = (),
        wakeup: Callable[[], None] = _no_wakeup,
        executors: Mapping[str, BaseExecutor] | None = None,
        jobstores: Mapping[str, BaseJobStore] | None = None,
        announces_submissions: bool = True,
    ) -> None:
        self._name = name
        self._clock = clock
        self._logger = logger
        self.events = events
        self.wakeup = wakeup
        self.run_hooks = run_hooks
        """The hooks every job body runs inside, outermost first (read once per work item:
        a plain attribute, as it is read on every run's path)."""
        self._executors: Mapping[str, BaseExecutor] = MappingProxyType(
            executors if executors is not None else {}
        )
        self._jobstores: Mapping[str, BaseJobStore] = MappingProxyType(
            jobstores if jobstores is not None else {}
        )
        self.announces_submissions = announces_submissions
        """Whether executors dispatch ``EVENT_JOB_SUBMITTED`` themselves."""
        self.dispatch: Callable[[SchedulerEvent], None] = dispatch or events.dispatch
        """Deliver an event to every listener whose mask matches it."""
        self.next_run_id: Callable[[], int] = itertools.count(1).__next__
        """Return a new run id, unique within this scheduler."""
        self.stage_errors = StageErrors()
        """The scheduling loop's failures by stage, and the backoff of failing job stores."""

    @property
    def name(self) -> str:
        """The scheduler's name (the ``scheduler`` label of its metrics)."""
        return self._name()

    @property
    def clock(self) -> Clock:
        """Where every component reads the time."""
        return self._clock()

    @property
    def logger(self) -> logging.Logger:
        """The scheduler's logger."""
        return self._logger()

    @property
    def executors(self) -> Mapping[str, BaseExecutor]:
        """The scheduler's executors by alias (a live, read-only view)."""
        return self._executors

    @property
    def jobstores(self) -> Mapping[str, BaseJobStore]:
        """The scheduler's job stores by alias (a live, read-only view)."""
        return self._jobstores

    @classmethod
    def standalone(cls, logger: logging.Logger | None = None) -> SchedulerContext:
        """A context for a component used without a scheduler."""
        log = logger or logging.getLogger("obssched")
        clock = SystemClock()
        return cls(
            name=lambda: "default", clock=lambda: clock, events=EventBus(log), logger=lambda: log
        )

    @classmethod
    def foreign(cls, scheduler: Any) -> SchedulerContext:
        """A context for a component started by a scheduler that is not obssched's.

        Events go to the scheduler's ``_dispatch_event``, looked up at each event (that is
        APScheduler 3's executor contract, and test doubles set it after the start).
        """
        context = cls.standalone()

        def dispatch(event: SchedulerEvent) -> None:
            deliver = getattr(scheduler, "_dispatch_event", None)
            if callable(deliver):
                deliver(event)

        context.dispatch = dispatch
        context.announces_submissions = False
        return context

    def __repr__(self) -> str:
        return f"<SchedulerContext of {self.name!r}>"


def context_of(scheduler: Any) -> SchedulerContext:
    """Return the context of ``scheduler``: its own for an obssched scheduler, a standalone one
    for ``None``, and one that keeps APScheduler 3's contract for any other scheduler (see
    :meth:`SchedulerContext.foreign`)."""
    if scheduler is None:
        return SchedulerContext.standalone()
    context = getattr(scheduler, "context", None)
    if isinstance(context, SchedulerContext):
        return context
    return SchedulerContext.foreign(scheduler)
