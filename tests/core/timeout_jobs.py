"""Job functions for the timeout and shutdown tests; module-level so worker processes can
import them."""

from __future__ import annotations

import asyncio
import os
import threading

release = threading.Event()
"""Set by a test to let the blocked thread bodies return."""


class Gate:
    """A job body that signals it started, then blocks until opened (10 s at most)."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.opened = threading.Event()

    def __call__(self) -> str:
        self.started.set()
        self.opened.wait(10)
        return "late"


def block(seconds: float = 30.0) -> str:
    """Block this thread (or worker process) for up to ``seconds``, or until ``release``."""
    release.wait(seconds)
    return "late"


def pid() -> int:
    return os.getpid()


async def block_async(cancelled: list[bool], seconds: float = 30.0) -> None:
    """Sleep up to ``seconds``; note in ``cancelled`` whether the task was cancelled."""
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        cancelled.append(True)
        raise
