"""The states of a scheduler (APScheduler 3's ``STATE_*`` constants)."""

__all__ = ["STATE_PAUSED", "STATE_RUNNING", "STATE_STOPPED"]

STATE_STOPPED = 0
"""The scheduler is stopped (constant of ``scheduler.state``)."""
STATE_RUNNING = 1
"""The scheduler is running and processes jobs."""
STATE_PAUSED = 2
"""The scheduler is running but does not process jobs."""
