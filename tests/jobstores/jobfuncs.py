"""Job functions the job store tests store by reference."""

from __future__ import annotations

from typing import Any

CALLS: list[tuple[Any, ...]] = []


def record(*args: Any, **kwargs: Any) -> None:
    """Remember the call (in this process)."""
    CALLS.append((args, kwargs))


def noop() -> None:
    """Do nothing."""
