"""What run and demo serve: /status.json while a job store hangs, with an oddly named job or
secret kwargs, and the console's flags and settings."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from obssched.cli._errors import CliError, ExitCode
from obssched.cli._parser import build_parser
from obssched.cli._status import OutcomeTracker, console_settings, make_status_app
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


@pytest.mark.parametrize("command", [["run", "jobs.toml"], ["demo"]], ids=["run", "demo"])
def test_console_flags_reach_the_console_settings(command: list[str]) -> None:
    """run and demo take the console's flags, which win over the environment."""
    args = build_parser().parse_args(
        [
            *command,
            "--console-token",
            "from-the-flag",
            "--console-actions",
            "--console-show-args",
            "--console-allowed-host",
            "a.example",
            "--console-allowed-host",
            "b.example",
            "--grafana-url",
            "http://grafana:3000",
            "--trace-url-template",
            "http://jaeger/trace/{trace_id}",
        ]
    )
    settings = console_settings(args, {"OBSSCHED_CONSOLE_TOKEN": "from-the-environment"})
    assert settings.token == "from-the-flag"
    assert settings.actions_enabled
    assert settings.show_args
    assert settings.allowed_hosts == ("a.example", "b.example")
    assert settings.grafana_url == "http://grafana:3000"
    assert settings.trace_url_template == "http://jaeger/trace/{trace_id}"


def test_console_defaults_are_safe() -> None:
    """Without flags or variables the console shows no args and allows no action."""
    settings = console_settings(build_parser().parse_args(["demo"]), {})
    assert (settings.actions_enabled, settings.show_args, settings.token) == (False, False, None)


def test_console_actions_without_a_token_are_a_usage_error() -> None:
    """Enabling actions without a token stops the command with a usage error."""
    args = build_parser().parse_args(["demo", "--console-actions"])
    with pytest.raises(CliError, match="token") as raised:
        console_settings(args, {})
    assert raised.value.code == ExitCode.USAGE


def test_tracker_tells_each_jobs_last_outcome_and_error(scheduler: ManualScheduler) -> None:
    """The tracker's last outcomes carry the time, counts and, after a failure, the error."""
    clock = scheduler.clock
    assert isinstance(clock, ManualClock)
    tracker = OutcomeTracker(scheduler)
    scheduler.add_listener(tracker, tracker.MASK)
    scheduler.add_job(broken, "interval", seconds=10, id="b")
    clock.advance(10)
    scheduler.tick()
    clock.advance(2)
    last = tracker.last(clock.now())["b"]
    assert last["outcome"] == "error"
    assert last["ago"] == 2.0
    assert last["counts"] == {"error": 1}
    assert last["error"] == "ValueError: broken"


def broken() -> None:
    """A job body that fails."""
    raise ValueError("broken")
