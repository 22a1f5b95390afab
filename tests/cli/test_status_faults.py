"""The status page while a job store hangs, and with an oddly named job."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from obssched.cli._status import OutcomeTracker, make_status_app
from obssched.console import ConsoleSettings
from obssched.jobstores.memory import MemoryJobStore
from obssched.observability import make_wsgi_app
from obssched.testing import ManualClock, ManualScheduler

JOIN_BOUND = 30.0
"""Seconds after which a page still being built fails the test (it takes well under one)."""


class HangingStore(MemoryJobStore):
    """A memory store whose listing waits for ``gate`` once :meth:`hang` is called."""

    gate: threading.Event | None = None

    def hang(self) -> None:
        self.gate = threading.Event()

    def get_all_jobs(self) -> list[Any]:
        gate = self.gate
        if gate is not None:
            gate.wait()
        return super().get_all_jobs()


def noop() -> None:
    """The job body."""


@pytest.fixture
def store() -> HangingStore:
    """A memory store that lists its jobs at once until told to hang."""
    return HangingStore()


@pytest.fixture
def scheduler(store: HangingStore) -> Iterator[ManualScheduler]:
    """A started manual scheduler on ``store``, without built-in observability; a hanging
    listing is released before it shuts down."""
    scheduler = ManualScheduler(
        clock=ManualClock(), metrics=False, tracing=False, jobstores={"default": store}
    )
    scheduler.start()
    yield scheduler
    gate, store.gate = store.gate, None
    if gate is not None:
        gate.set()
    scheduler.shutdown()


def get(app: Any, path: str) -> tuple[str, bytes]:
    """GET ``path`` on its own thread; fail if it has not answered within the bound."""
    result: list[tuple[str, bytes]] = []

    def call() -> None:
        status: list[str] = []
        body = b"".join(
            app({"REQUEST_METHOD": "GET", "PATH_INFO": path}, lambda s, h: status.append(s))
        )
        result.append((status[0], body))

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(JOIN_BOUND)
    assert not thread.is_alive(), "the status page did not answer while the job store hung"
    return result[0]


@pytest.mark.realtime
def test_status_page_answers_while_a_store_hangs(
    scheduler: ManualScheduler, store: HangingStore
) -> None:
    """/status.json answers with the last jobs read while listing the store hangs."""
    scheduler.add_job(noop, "interval", seconds=10, id="r", name="report")
    app = make_status_app(scheduler, OutcomeTracker(scheduler), {}, make_wsgi_app())
    status, body = get(app, "/status.json")
    assert [job["id"] for job in json.loads(body)["jobs"]] == ["r"]
    store.hang()
    status, body = get(app, "/status.json")
    assert status == "200 OK"
    data = json.loads(body)
    assert [job["id"] for job in data["jobs"]] == ["r"]
    assert data["jobs_as_of"] == "2024-01-01T00:00:00+00:00"


@pytest.mark.realtime
def test_status_page_shows_a_job_with_a_lone_surrogate(scheduler: ManualScheduler) -> None:
    """The console's job list and /status.json answer 200 for a job named with a lone
    surrogate."""
    scheduler.add_job(noop, "interval", seconds=10, id="odd", name="bad\ud800name")
    app = make_status_app(scheduler, OutcomeTracker(scheduler), {}, make_wsgi_app())
    status, body = get(app, "/api/jobs")
    assert status == "200 OK"
    assert json.loads(body)["jobs"][0]["name"] == "bad\\ud800name"
    assert get(app, "/status.json")[0] == "200 OK"


@pytest.mark.realtime
def test_status_json_never_shows_args_or_kwargs(scheduler: ManualScheduler) -> None:
    """/status.json lists jobs without their args and kwargs, which may hold secrets."""
    scheduler.add_job(
        noop_kwargs, "interval", seconds=10, id="r", args=["pos"], kwargs={"password": "pw"}
    )
    tracker = OutcomeTracker(scheduler)
    patient = ConsoleSettings(store_wait=JOIN_BOUND)
    app = make_status_app(scheduler, tracker, {}, make_wsgi_app(), settings=patient)
    _, body = get(app, "/status.json")
    (job,) = json.loads(body)["jobs"]
    assert "args" not in job
    assert "kwargs" not in job
    assert b"pw" not in body


def test_status_json_refuses_a_foreign_host(scheduler: ManualScheduler) -> None:
    """/status.json answers 403 to a Host that is not the console's (DNS rebinding)."""
    app = make_status_app(scheduler, OutcomeTracker(scheduler), {}, make_wsgi_app())
    status: list[str] = []
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/status.json", "HTTP_HOST": "evil.example"}
    b"".join(app(environ, lambda s, h: status.append(s)))
    assert status == ["403 Forbidden"]


def noop_kwargs(*args: Any, **kwargs: Any) -> None:
    """A job body taking anything."""
