"""Describing jobs for people and machines: rows for tables, the status page and ``--json``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from obssched.job import Job

__all__ = ["describe_outcome", "format_table", "humanize_delta", "job_row"]


def humanize_delta(seconds: float) -> str:
    """``in 5s``, ``3m ago``: a short relative time."""
    future = seconds >= 0
    amount = abs(seconds)
    if amount < 1:
        text = "<1s"
    elif amount < 90:
        text = f"{amount:.0f}s"
    elif amount < 90 * 60:
        text = f"{amount / 60:.0f}m"
    elif amount < 36 * 3600:
        text = f"{amount / 3600:.0f}h"
    else:
        text = f"{amount / 86400:.0f}d"
    return f"in {text}" if future else f"{text} ago"


def job_row(
    job: Job,
    now: datetime,
    timezone: tzinfo | None,
    outcome: Mapping[str, Any] | None = None,
    running: int | None = None,
) -> dict[str, Any]:
    """Return the job as JSON-compatible data, plus what the scheduler knows of its runs."""
    next_run: datetime | None = getattr(job, "next_run_time", None)
    row: dict[str, Any] = {
        "id": job.id,
        "name": job.name,
        "func": job.func_ref,
        "trigger": str(job.trigger),
        "executor": job.executor,
        "state": "paused" if next_run is None else "scheduled",
        "next_run_time": next_run.astimezone(timezone).isoformat() if next_run else None,
        "next_run_in": humanize_delta((next_run - now).total_seconds()) if next_run else None,
        "max_instances": getattr(job, "max_instances", None),
        "misfire_grace_time": getattr(job, "misfire_grace_time", None),
        "coalesce": getattr(job, "coalesce", None),
        "args": list(job.args),
        "kwargs": dict(job.kwargs),
    }
    if outcome is not None:
        row["last_outcome"] = dict(outcome)
    if running is not None:
        row["running"] = running
    return row


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Return a plain-text table with aligned columns."""
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.extend(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
    return "\n".join(lines)


def describe_outcome(outcome: Mapping[str, Any] | None) -> str:
    """``error 12s ago (ValueError: ...)``: the last outcome, short."""
    if not outcome:
        return "-"
    text = str(outcome.get("outcome", "?"))
    ago = outcome.get("ago")
    if isinstance(ago, int | float):
        text += " " + humanize_delta(-float(ago))
    error = outcome.get("error")
    if error:
        text += f" ({str(error)[:60]})"
    return text
