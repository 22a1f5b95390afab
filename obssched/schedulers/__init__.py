"""The schedulers (APScheduler 3's ``apscheduler.schedulers``), and the errors it exports here.

:class:`~obssched.schedulers.base.BaseScheduler` is the API every scheduler shares; the
classes in ``blocking``, ``background`` and ``asyncio`` only decide where the scheduling loop
runs and how it sleeps. Beneath them, each private module does one thing: ``_engine`` is one
tick of the loop (it submits what is due, emits the events and returns how long to sleep),
``_submission`` hands runs to executors, ``_jobapi`` and ``_componentapi`` are the job and
component halves of the API, ``_config`` reads options, ``_registry`` keeps components by alias.
"""

from obssched.exceptions import SchedulerAlreadyRunningError, SchedulerNotRunningError

__all__ = ["SchedulerAlreadyRunningError", "SchedulerNotRunningError"]
