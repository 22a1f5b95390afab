"""The demo's job functions: each shows one outcome on the dashboards.

They are module-level functions so that the persistent store can keep them by reference
(``obssched.cli._demo_jobs:ping``).
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from typing import NoReturn

__all__ = [
    "build_report",
    "export_snapshot",
    "fetch_rates",
    "flaky_sync",
    "notify_on_call",
    "ping",
    "rotate_logs",
    "send_reminder",
]

_logger = logging.getLogger("obssched.demo")


class DemoSyncError(RuntimeError):
    """The failure ``flaky_sync`` raises on purpose."""


class DemoUpstreamDownError(ConnectionError):
    """The failure ``fetch_rates`` raises on every run, on purpose."""


class DemoPagerError(RuntimeError):
    """The failure the demo's ``notify_on_call`` listener raises now and then, on purpose."""


class _Every:
    """Counts calls thread-safely; ``hit()`` is true on calls ``first``, ``first + n``, ..."""

    def __init__(self, n: int, first: int) -> None:
        self._n = n
        self._first = first
        self._calls = itertools.count(1)
        self._lock = threading.Lock()

    def hit(self) -> tuple[int, bool]:
        with self._lock:
            call = next(self._calls)
        return call, call >= self._first and (call - self._first) % self._n == 0


_sync_failures = _Every(3, first=2)
_pager_failures = _Every(6, first=1)


def ping() -> str:
    """A fast job: answers in a few milliseconds."""
    time.sleep(random.uniform(0.005, 0.05))
    return "pong"


def flaky_sync(source: str = "inventory") -> int:
    """Fails now and then: the 2nd run, then every 3rd (5th, 8th, ...), on purpose."""
    call, fail = _sync_failures.hit()
    time.sleep(random.uniform(0.05, 0.3))
    if fail:
        raise DemoSyncError(f"upstream {source} service timed out (demo failure, run {call})")
    return call * 10


def fetch_rates(currency: str = "EUR") -> NoReturn:
    """Fails on every run: its upstream is down for the whole demo, so the job stays failing.

    ``flaky_sync`` recovers at its next run, 3 s later; an alert on a failing job waits longer
    than that (``ObsschedJobFailing``: 1 minute) before it fires.
    """
    time.sleep(random.uniform(0.02, 0.1))
    raise DemoUpstreamDownError(f"rates service for {currency} unreachable (demo failure)")


def build_report(seconds: float = 6.0) -> str:
    """A slow job: several seconds, so it shows in the upper latency buckets."""
    time.sleep(seconds * random.uniform(0.8, 1.2))
    return "report.pdf"


def export_snapshot(seconds: float = 5.0) -> None:
    """Runs longer than its interval with ``max_instances = 1``: overlapping runs are refused."""
    time.sleep(seconds)


def send_reminder() -> None:
    """Scheduled in the past on purpose by the demo, so its run is reported missed."""
    _logger.info("The reminder ran (it was meant to be missed)")


def rotate_logs() -> None:
    """A cron job, every minute at second 0."""
    time.sleep(random.uniform(0.01, 0.1))


def notify_on_call(event: object) -> None:
    """A listener on missed runs that fails on the first and then every 6th: a listener error."""
    call, fail = _pager_failures.hit()
    if fail:
        raise DemoPagerError(f"pager service refused missed-run notice {call} (demo failure)")
