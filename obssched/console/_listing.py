"""How ``/api/jobs`` reads its query, and the order it lists jobs in."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from obssched.console._history import JobSummary
from obssched.console._redact import safe_value
from obssched.console._web import ApiError

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "SORT_FIELDS",
    "STATUS_FILTERS",
    "Entry",
    "ListQuery",
    "order_entries",
    "parse_query",
    "sort_key",
]

SORT_FIELDS = (
    "id",
    "name",
    "trigger",
    "next_run_time",
    "last_outcome",
    "last_outcome_time",
    "duration_p50",
    "duration_p95",
    "errors",
    "running",
)
"""The fields ``/api/jobs`` sorts by."""

STATUS_FILTERS = ("failing", "overdue", "hung", "paused", "running")
"""The ``status`` values ``/api/jobs`` filters by."""

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass(frozen=True)
class ListQuery:
    """What ``/api/jobs`` was asked for."""

    sort: str
    order: str
    status: str | None
    text: str
    offset: int
    limit: int


def parse_query(query: Mapping[str, str]) -> ListQuery:
    """Read ``/api/jobs``'s query.

    Raises:
        ApiError: an unknown sort field, order or status, or a bad offset or limit (400).
    """
    sort = query.get("sort") or "name"
    if sort not in SORT_FIELDS:
        raise ApiError(400, f"sort={sort!r}: sort by one of {', '.join(SORT_FIELDS)}")
    order = query.get("order") or "asc"
    if order not in ("asc", "desc"):
        raise ApiError(400, f"order={order!r}: use asc or desc")
    status = query.get("status") or None
    if status is not None and status not in STATUS_FILTERS:
        raise ApiError(400, f"status={status!r}: use one of {', '.join(STATUS_FILTERS)}")
    return ListQuery(
        sort,
        order,
        status,
        (query.get("q") or "").strip().casefold(),
        _count(query, "offset", 0),
        min(_count(query, "limit", DEFAULT_LIMIT), MAX_LIMIT),
    )


def _count(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name}={safe_value(raw)!r}: give a whole number") from None
    if value < 0:
        raise ApiError(400, f"{name}={value}: cannot be negative")
    return value


class Entry(NamedTuple):
    """A job, its history and its runs in flight, before its document is built."""

    job: Any
    summary: JobSummary | None
    running: list[dict[str, Any]]


def sort_key(field: str) -> Callable[[Entry], Any]:
    """Return the sort key of a field (``None``: the job has no value for it)."""
    if field == "id":
        return lambda entry: entry.job.id.casefold()
    if field == "name":
        return lambda entry: str(entry.job.name).casefold()
    if field == "trigger":
        return lambda entry: str(entry.job.trigger).casefold()
    if field == "next_run_time":
        return lambda entry: getattr(entry.job, "next_run_time", None)
    if field == "running":
        return lambda entry: len(entry.running)
    if field == "errors":
        return lambda entry: (
            0
            if entry.summary is None
            else entry.summary.counts["error"] + entry.summary.counts["timeout"]
        )
    attribute = {
        "last_outcome": "last_outcome",
        "last_outcome_time": "last_outcome_time",
        "duration_p50": "duration_p50",
        "duration_p95": "duration_p95",
    }[field]
    return lambda entry: None if entry.summary is None else getattr(entry.summary, attribute)


def order_entries(entries: list[Entry], field: str, order: str) -> list[Entry]:
    """Return ``entries`` sorted by ``field``; those without a value for it come last, and
    ties stay in id order."""
    key = sort_key(field)
    keyed = [(key(entry), entry) for entry in entries]
    present = [pair for pair in keyed if pair[0] is not None]
    absent = [pair[1] for pair in keyed if pair[0] is None]
    # The sort is stable, reversed or not: sorting by id first keeps ties in id order.
    present.sort(key=lambda pair: pair[1].job.id)
    present.sort(key=lambda pair: pair[0], reverse=order == "desc")
    absent.sort(key=lambda entry: entry.job.id)
    return [pair[1] for pair in present] + absent
