"""Job functions for the core tests; module-level so they have importable references."""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

calls: list[Any] = []
gate = threading.Event()


def record(value: Any = None) -> Any:
    calls.append(value)
    return value


def add(a: int, b: int) -> int:
    return a + b


def fail(message: str = "boom") -> None:
    raise ValueError(message)


def wait_for_gate(timeout: float = 10.0) -> bool:
    return gate.wait(timeout)


started = threading.Event()
finished = threading.Event()


def signal_and_wait_for_gate(timeout: float = 10.0) -> bool:
    """Set ``started``, wait for ``gate``, then set ``finished``."""
    started.set()
    try:
        return gate.wait(timeout)
    finally:
        finished.set()


def pid() -> int:
    return os.getpid()


def die() -> None:
    os._exit(3)


def return_unpicklable() -> Any:
    return threading.Lock()


async def async_add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


async def async_fail() -> None:
    await asyncio.sleep(0)
    raise RuntimeError("async boom")
