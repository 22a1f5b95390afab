"""The fault suite's harness: a metrics endpoint scraped over HTTP all through each fault, and a
ledger that checks that every submitted run ends in exactly one terminal event (the fixtures
that use them are in ``conftest.py``).

A scrape that does not answer within :data:`SCRAPE_BOUND` seconds counts as failed: that is
the bound the suite holds ``/metrics`` to, never a measurement.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections import Counter
from typing import Any

from prometheus_client import CollectorRegistry

from obssched.events import (
    EVENT_ALL,
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_QUEUED,
    EVENT_JOB_SUBMITTED,
)
from obssched.observability import start_http_server
from obssched.schedulers.base import BaseScheduler
from obssched.testing import EventRecorder

SCRAPE_BOUND = 5.0
"""Seconds a scrape may take before it counts as a failed one."""

SCRAPE_PAUSE = 0.02
"""Seconds between two scrapes of the background scraper (a pace, not a wait for anything)."""

TERMINAL = EVENT_JOB_EXECUTED | EVENT_JOB_ERROR


class Scraper:
    """Serves a registry on a free port and scrapes its ``/metrics`` over HTTP, on demand and
    from a thread of its own, keeping the outcome of every scrape."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.server = start_http_server(port=0, registry=registry)
        self.outcomes: list[int | str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-scraper", daemon=True)

    def scrape(self) -> int | str:
        """Scrape ``/metrics`` once; return the HTTP status, or what went wrong."""
        try:
            with urllib.request.urlopen(
                f"{self.server.url}/metrics", timeout=SCRAPE_BOUND
            ) as response:
                response.read()
                outcome: int | str = response.status
        except urllib.error.HTTPError as exc:
            outcome = exc.code
        except OSError as exc:  # refused, reset, or past the bound
            outcome = f"{type(exc).__name__}: {exc}"
        self.outcomes.append(outcome)
        return outcome

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(SCRAPE_PAUSE):
            self.scrape()

    def assert_always_answered(self) -> None:
        """Stop scraping; assert that there were scrapes and that every one answered 200."""
        self._stop.set()
        self._thread.join(timeout=30)
        self.scrape()
        failed = [outcome for outcome in self.outcomes if outcome != 200]
        assert not failed, f"{len(failed)} of {len(self.outcomes)} scrapes failed: {failed[:5]}"

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self.server.close()


class RunLedger(EventRecorder):
    """Records a scheduler's events and checks them against the fault suite's rule: every
    submitted run ends in exactly one terminal event, and no run ends unsubmitted."""

    def __init__(self, scheduler: BaseScheduler) -> None:
        super().__init__(scheduler, EVENT_ALL | EVENT_JOB_QUEUED)

    def wait_for_ended(self, count: int, timeout: float = 30.0) -> list[Any]:
        """Wait until ``count`` runs have ended; return their terminal events."""
        return self.wait_for_count(TERMINAL, count, timeout)

    def ended(self, job_id: str) -> list[Any]:
        """The terminal events of the job ``job_id``'s runs, in order."""
        return [event for event in self.of(TERMINAL) if event.job_id == job_id]

    def assert_each_run_ended_once(self) -> None:
        submitted = Counter(event.run_id for event in self.of(EVENT_JOB_SUBMITTED))
        ended = Counter(event.run_id for event in self.of(TERMINAL))
        assert submitted, "no run was submitted"
        assert all(count == 1 for count in submitted.values()), submitted
        assert ended == submitted


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    """The value of one series, with ``scheduler="default"`` unless given."""
    return registry.get_sample_value(name, {"scheduler": "default", **labels})
