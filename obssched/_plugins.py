"""Aliases of the built-in triggers, executors and job stores, and creating them by alias."""

from __future__ import annotations

from importlib.metadata import entry_points
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

    The built-in aliases come first; then the entry points of installed distributions, in
    obssched's groups (``obssched.triggers``, ``obssched.executors``, ``obssched.jobstores``)
    and then in APScheduler 3's (``apscheduler.triggers``...), so that a plugin written for
    APScheduler is found by its alias.

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
        ref = aliases.get(alias) or _entry_point(kind, alias)
        if ref is None:
            raise UnknownAliasError(kind, alias, list(aliases), plugin=True)
        cls = _RESOLVED[(kind, alias)] = resolve_class(ref)
    return cls(**kwargs)


def _entry_point(kind: str, alias: str) -> str | None:
    """Return the ``module:attribute`` an installed distribution registers as ``alias``.

    Looked up only for aliases that are not built in (found ones are remembered by
    :func:`create_plugin`), so a plugin installed while the program runs is found too.
    """
    for group in (f"obssched.{kind}s", f"apscheduler.{kind}s"):
        for entry_point in entry_points(group=group, name=alias):
            return str(entry_point.value)
    return None


# Resolving a reference imports and walks attributes; every add_job("...", "cron") needs one.
_RESOLVED: dict[tuple[str, str], Any] = {}
