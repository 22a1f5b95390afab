"""The console's defences: the Host check, security headers, escaping and redaction."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from obssched.console import ConsoleSettings, make_wsgi_app
from obssched.console._redact import REDACTED, redact
from obssched.observability import make_wsgi_app as metrics_app
from obssched.testing import ManualScheduler

from ._console_support import call, console, make_scheduler, noop, settings

# The console reads the job stores on threads of its own, waiting for them with a bound.
pytestmark = pytest.mark.realtime


@pytest.fixture
def scheduler() -> Iterator[ManualScheduler]:
    """A started manual scheduler."""
    scheduler = make_scheduler()
    yield scheduler
    scheduler.shutdown()


@pytest.fixture
def static(tmp_path: Path) -> Path:
    """A static directory with the three pages, a script and a style sheet."""
    for name in ("index.html", "job.html", "run.html"):
        (tmp_path / name).write_text(f"<!doctype html><title>{name}</title>")
    (tmp_path / "console.js").write_text("'use strict';")
    (tmp_path / "console.css").write_text("body{}")
    return tmp_path


@pytest.mark.parametrize(
    "host",
    ["localhost", "localhost:9464", "127.0.0.1:9464", "[::1]:9464", "LOCALHOST.", "10.0.0.5:80"],
    ids=["localhost", "localhost-port", "ipv4-loopback", "ipv6-loopback", "case-dot", "bound"],
)
def test_loopback_and_bound_hosts_are_answered(scheduler: ManualScheduler, host: str) -> None:
    """Requests for the loopback names or the bound address are answered."""
    app = make_wsgi_app(scheduler, settings(), bound=("10.0.0.5",))
    assert call(app, "/api/jobs", headers={"Host": host}).status == 200


@pytest.mark.parametrize(
    "path", ["/api/jobs", "/api/scheduler", "/", "/static/console.js"], ids=str
)
def test_foreign_host_is_refused(scheduler: ManualScheduler, static: Path, path: str) -> None:
    """A request for another host name (DNS rebinding) is refused with 403."""
    app = console(scheduler, static_dir=static)
    answer = call(app, path, headers={"Host": "attacker.example:9464"})
    assert answer.status == 403
    assert "host" in answer.json()["error"]


def test_configured_host_is_answered(scheduler: ManualScheduler) -> None:
    """A host name in allowed_hosts is answered."""
    app = console(scheduler, allowed_hosts=("scheduler.internal",))
    assert call(app, "/api/jobs", headers={"Host": "scheduler.internal:9464"}).status == 200


def test_any_host_is_answered_with_a_star(scheduler: ManualScheduler) -> None:
    """allowed_hosts ``*`` turns the Host check off."""
    app = console(scheduler, allowed_hosts=("*",))
    assert call(app, "/api/jobs", headers={"Host": "anything.example"}).status == 200


def test_bound_wildcard_address_does_not_allow_every_host(scheduler: ManualScheduler) -> None:
    """Bound to 0.0.0.0, only loopback names and configured hosts are answered."""
    app = make_wsgi_app(scheduler, settings(), bound=("0.0.0.0",))
    assert call(app, "/api/jobs", headers={"Host": "0.0.0.0:9464"}).status == 403


def test_metrics_fall_through_without_a_host_check(scheduler: ManualScheduler) -> None:
    """/metrics goes to the fallback app whatever the Host, with the security headers."""
    app = make_wsgi_app(scheduler, settings(), fallback=metrics_app())
    answer = call(app, "/metrics", headers={"Host": "prometheus-target:9464"})
    assert answer.status == 200
    assert answer.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    ["/", "/jobs/a", "/runs/1", "/static/console.js", "/api/jobs", "/api/nothing", "/elsewhere"],
    ids=["index", "job", "run", "static", "api", "api-404", "fallback-404"],
)
def test_every_response_carries_the_security_headers(
    scheduler: ManualScheduler, static: Path, path: str
) -> None:
    """Every response has a strict CSP without inline script, nosniff and a referrer policy."""
    answer = call(console(scheduler, static_dir=static), path)
    csp = answer.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"


@pytest.mark.parametrize(
    ("path", "page", "content_type"),
    [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/jobs/any%20job", "job.html", "text/html; charset=utf-8"),
        ("/runs/12", "run.html", "text/html; charset=utf-8"),
        ("/static/console.js", None, "text/javascript; charset=utf-8"),
        ("/static/console.css", None, "text/css; charset=utf-8"),
    ],
    ids=["index", "job", "run", "script", "style"],
)
def test_pages_and_static_files_are_served_with_their_type(
    scheduler: ManualScheduler, static: Path, path: str, page: str | None, content_type: str
) -> None:
    """Each page path serves its file, and static files get their content type."""
    answer = call(console(scheduler, static_dir=static), path)
    assert answer.status == 200
    assert answer.headers["content-type"] == content_type
    if page is not None:
        assert answer.body == (static / page).read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/static/../secret.txt",
        "/static/missing.js",
        "/static/",
        "/static/\x00",
        "/static/" + "a" * 300,
    ],
    ids=["dotdot", "missing", "directory", "nul-byte", "name-too-long"],
)
def test_nothing_outside_the_static_directory_is_served(
    scheduler: ManualScheduler, static: Path, path: str
) -> None:
    """Paths that leave the static directory, or name no file it could hold, are 404."""
    (static.parent / "secret.txt").write_text("secret")
    answer = call(console(scheduler, static_dir=static), path)
    assert answer.status == 404
    assert b"secret" not in answer.body


def test_job_named_script_is_escaped_in_json(scheduler: ManualScheduler) -> None:
    """A job named ``<script>`` is served as escaped text, never as markup."""
    scheduler.add_job(noop, "interval", seconds=5, id="x", name="<script>alert(1)</script>")
    answer = call(console(scheduler), "/api/jobs")
    assert answer.headers["content-type"] == "application/json"
    assert b"<script>" not in answer.body
    assert b"\\u003cscript\\u003e" in answer.body
    assert answer.json()["jobs"][0]["name"] == "<script>alert(1)</script>"


def test_args_are_hidden_by_default(scheduler: ManualScheduler) -> None:
    """Without show_args, no job document has args or kwargs."""
    scheduler.add_job(noop, "interval", seconds=5, id="a", args=["x"], kwargs={"password": "pw"})
    app = console(scheduler)
    assert "kwargs" not in call(app, "/api/jobs").json()["jobs"][0]
    job = call(app, "/api/jobs/a")
    assert "args" not in job.json()
    assert b"pw" not in job.body


def test_args_are_redacted_when_shown(scheduler: ManualScheduler) -> None:
    """With show_args, secrets in kwargs are replaced and the rest is shown."""
    scheduler.add_job(
        noop,
        "interval",
        seconds=5,
        id="a",
        args=["postgresql://app:hunter2@db/prod"],
        kwargs={"api_key": "k-123", "retries": 3, "options": {"AuthToken": "t", "mode": "fast"}},
    )
    job = call(console(scheduler, show_args=True), "/api/jobs/a").json()
    assert job["args"] == [f"postgresql://app:{REDACTED}@db/prod"]
    assert job["kwargs"] == {
        "api_key": REDACTED,
        "retries": 3,
        "options": {"AuthToken": REDACTED, "mode": "fast"},
    }


@pytest.mark.parametrize(
    "key",
    ["password", "db_passwd", "token", "client_secret", "apiKey", "Authorization", "credentials"],
    ids=str,
)
def test_secret_keys_are_redacted(key: str) -> None:
    """Every key naming a secret has its value replaced."""
    assert redact({key: "value"}) == {key: REDACTED}


def test_redaction_bounds_deep_and_long_values() -> None:
    """Values nested too deep or too long are cut short."""
    deep = redact({"a": {"b": {"c": {"d": {"e": 1}}}}})
    assert deep == {"a": {"b": {"c": {"d": "..."}}}}
    assert redact("x" * 1000).endswith("...")
    assert len(redact(list(range(100)))) == 51


def test_settings_refuse_actions_without_a_token() -> None:
    """Enabling actions without a token is refused, naming the setting."""
    with pytest.raises(ValueError, match="actions"):
        ConsoleSettings(actions=True)


@pytest.mark.parametrize(
    ("changes", "setting"),
    [
        ({"token": "short"}, "token"),
        ({"trace_url_template": "http://jaeger/trace/"}, "trace_url_template"),
        ({"runs_per_job": 0}, "runs_per_job"),
        ({"overdue_after": float("nan")}, "overdue_after"),
        ({"message_limit": 0}, "message_limit"),
    ],
    ids=["short-token", "template-without-id", "no-runs", "nan-seconds", "no-message"],
)
def test_settings_refuse_bad_values(changes: dict[str, object], setting: str) -> None:
    """Bad settings are refused with an error naming them."""
    with pytest.raises(ValueError, match=setting):
        ConsoleSettings(**changes)  # type: ignore[arg-type]


def test_settings_read_the_environment() -> None:
    """from_env reads the OBSSCHED_CONSOLE_* variables; overrides win."""
    env = {
        "OBSSCHED_CONSOLE_TOKEN": "from-the-environment",
        "OBSSCHED_CONSOLE_ACTIONS": "true",
        "OBSSCHED_CONSOLE_SHOW_ARGS": "0",
        "OBSSCHED_CONSOLE_ALLOWED_HOSTS": "a.example, B.example",
        "OBSSCHED_GRAFANA_URL": "http://grafana:3000",
    }
    read = ConsoleSettings.from_env(env, token="from-the-command-line")
    assert read.actions_enabled
    assert read.token == "from-the-command-line"
    assert read.show_args is False
    assert read.allowed_hosts == ("a.example", "b.example")
    assert read.grafana_url == "http://grafana:3000"


def test_settings_refuse_a_bad_flag_variable() -> None:
    """A boolean variable that is not true or false is refused, naming it."""
    with pytest.raises(ValueError, match="OBSSCHED_CONSOLE_ACTIONS"):
        ConsoleSettings.from_env({"OBSSCHED_CONSOLE_ACTIONS": "maybe"})


def test_head_answers_without_a_body(scheduler: ManualScheduler) -> None:
    """HEAD gets the headers of GET and no body."""
    answer = call(console(scheduler), "/api/jobs", method="HEAD")
    assert (answer.status, answer.body) == (200, b"")
    assert int(answer.headers["content-length"]) > 0
