"""Scheduler classes and the errors APScheduler 3 exports from ``apscheduler.schedulers``."""

from obssched.exceptions import SchedulerAlreadyRunningError, SchedulerNotRunningError

__all__ = ["SchedulerAlreadyRunningError", "SchedulerNotRunningError"]
