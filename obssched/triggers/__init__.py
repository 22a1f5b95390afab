"""Triggers decide when jobs run; the aliases let ``add_job(func, "cron", ...)`` find them."""

from __future__ import annotations

from typing import Final

from obssched.triggers.base import BaseTrigger

__all__ = ["TRIGGER_ALIASES", "BaseTrigger"]

TRIGGER_ALIASES: Final[dict[str, str]] = {
    "date": "obssched.triggers.date:DateTrigger",
    "interval": "obssched.triggers.interval:IntervalTrigger",
    "cron": "obssched.triggers.cron:CronTrigger",
    "calendarinterval": "obssched.triggers.calendarinterval:CalendarIntervalTrigger",
    "and": "obssched.triggers.combining:AndTrigger",
    "or": "obssched.triggers.combining:OrTrigger",
}
"""Trigger alias to ``module:ClassName`` reference."""
