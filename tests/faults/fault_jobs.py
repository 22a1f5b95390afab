"""Job bodies for the fault suite; module-level so that worker processes can import them."""

from __future__ import annotations

import os
import socket
import threading

release = threading.Event()
"""Set by a test to let the blocked thread bodies return."""


class JobBaseException(BaseException):
    """A ``BaseException`` that is neither ``SystemExit`` nor ``KeyboardInterrupt``."""


def raise_system_exit() -> None:
    raise SystemExit(3)


def raise_keyboard_interrupt() -> None:
    raise KeyboardInterrupt


def raise_base_exception() -> None:
    raise JobBaseException("raised by the job")


async def raise_system_exit_async() -> None:
    raise SystemExit(3)


async def raise_keyboard_interrupt_async() -> None:
    raise KeyboardInterrupt


async def raise_base_exception_async() -> None:
    raise JobBaseException("raised by the job")


def fine() -> str:
    return "ok"


async def fine_async() -> str:
    return "ok"


def hang(seconds: float = 60.0) -> str:
    """Block this thread for up to ``seconds``, or until ``release``."""
    release.wait(seconds)
    return "late"


def report_pid_and_hang(port: int, seconds: float = 60.0) -> None:
    """Send this process's pid to the test listening on ``port``, then block (in a worker
    process, until it is killed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(str(os.getpid()).encode())
    threading.Event().wait(seconds)
