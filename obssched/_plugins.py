"""Aliases of the built-in triggers, executors and job stores, and creating them by alias."""

from __future__ import annotations

from typing import Any

from obssched._refs import ref_to_obj
from obssched.exceptions import UnknownAliasError

__all__ = ["EXECUTOR_ALIASES", "JOBSTORE_ALIASES", "create_plugin", "resolve_class"]

EXECUTOR_ALIASES: dict[str, str] = {
    "threadpool": "obssched.executors.pool:ThreadPoolExecutor",
    "processpool": "obssched.executors.pool:ProcessPoolExecutor",
    "asyncio": "obssched.executors.asyncio:AsyncIOExecutor",
    "debug": "obssched.executors.debug:DebugExecutor",
}

JOBSTORE_ALIASES: dict[str, str] = {
    "memory": "obssched.jobstores.memory:MemoryJobStore",
    "sqlalchemy": "obssched.jobstores.sqlalchemy:SQLAlchemyJobStore",
}


def _trigger_aliases() -> dict[str, str]:
    from obssched.triggers import TRIGGER_ALIASES

    return TRIGGER_ALIASES


def resolve_class(ref: str) -> Any:
    """Resolve a ``module:ClassName`` reference; APScheduler 3 paths map to obssched's."""
    if ref.startswith("apscheduler."):
        ref = "obssched." + ref[len("apscheduler.") :]
    return ref_to_obj(ref)


def create_plugin(kind: str, alias: str, kwargs: dict[str, Any]) -> Any:
    """Create the ``kind`` ("trigger", "executor" or "jobstore") registered as ``alias``.

    Raises:
        UnknownAliasError: no such alias exists for that kind.
    """
    cls = _RESOLVED.get((kind, alias))
    if cls is None:
        if kind == "trigger":
            aliases = _trigger_aliases()
        elif kind == "executor":
            aliases = EXECUTOR_ALIASES
        else:
            aliases = JOBSTORE_ALIASES
        ref = aliases.get(alias)
        if ref is None:
            raise UnknownAliasError(kind, alias, list(aliases), plugin=True)
        cls = _RESOLVED[(kind, alias)] = resolve_class(ref)
    return cls(**kwargs)


# Resolving a reference imports and walks attributes; every add_job("...", "cron") needs one.
_RESOLVED: dict[tuple[str, str], Any] = {}
