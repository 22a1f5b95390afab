"""Job functions the job store tests store by reference."""

from __future__ import annotations

import threading
from typing import Any

CALLS: list[tuple[Any, ...]] = []


def record(*args: Any, **kwargs: Any) -> None:
    """Remember the call (in this process)."""
    CALLS.append((args, kwargs))


def noop() -> None:
    """Do nothing."""


STARTS: list[str] = []
RELEASE = threading.Event()


def hold(tag: str) -> None:
    """Note the start, then wait until the test sets RELEASE."""
    STARTS.append(tag)
    RELEASE.wait(20)
