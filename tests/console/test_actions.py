"""The console's actions: POST only, with the token, from the console's own origin."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest

from obssched.schedulers.background import BackgroundScheduler
from obssched.testing import ManualClock, ManualScheduler

from ._console_support import HOST, TOKEN, call, console, make_scheduler, noop

# The console reads the job stores on threads of its own, waiting for them with a bound.
pytestmark = pytest.mark.realtime

BROWSER = {
    "Host": HOST,
    "Origin": f"http://{HOST}",
    "Sec-Fetch-Site": "same-origin",
    "Authorization": f"Bearer {TOKEN}",
}
"""What the console's own page sends with an action."""


@pytest.fixture
def clock() -> ManualClock:
    """The scheduler's clock."""
    return ManualClock()


@pytest.fixture
def scheduler(clock: ManualClock) -> Iterator[ManualScheduler]:
    """A started manual scheduler with one job, ``j``, due every minute."""
    scheduler = make_scheduler(clock)
    scheduler.add_job(noop, "interval", minutes=1, id="j")
    yield scheduler
    scheduler.shutdown()


@pytest.fixture
def app(scheduler: ManualScheduler) -> object:
    """The console with actions enabled."""
    return console(scheduler, actions=True, token=TOKEN)


def post(app: object, path: str, **changes: str | None) -> int:
    """POST as the console's page does, with header ``changes`` (``None`` drops one)."""
    headers = {**BROWSER, **changes}
    return call(
        app, path, method="POST", headers={k: v for k, v in headers.items() if v is not None}
    ).status


def test_pause_pauses_the_job(app: object, scheduler: ManualScheduler) -> None:
    """pause leaves the job without a next run time."""
    assert post(app, "/api/jobs/j/pause") == 200
    job = scheduler.get_job("j")
    assert job is not None
    assert job.next_run_time is None


def test_resume_resumes_the_job(app: object, scheduler: ManualScheduler) -> None:
    """resume gives a paused job its next run time back."""
    scheduler.pause_job("j")
    answer = call(app, "/api/jobs/j/resume", method="POST", headers=BROWSER)
    assert answer.status == 200
    assert answer.json()["next_run_time"] is not None


def test_run_now_runs_the_job_at_the_next_tick(
    app: object, scheduler: ManualScheduler, clock: ManualClock
) -> None:
    """run sets the next run time to now and wakes the loop: the next tick runs the job."""
    wakeups = scheduler.wakeups
    answer = call(app, "/api/jobs/j/run", method="POST", headers=BROWSER)
    assert answer.json()["next_run_time"] == clock.now().isoformat()
    assert scheduler.wakeups > wakeups
    scheduler.tick()
    runs = call(app, "/api/jobs/j/runs").json()["runs"]
    assert [run["outcome"] for run in runs] == ["executed"]


def test_remove_removes_the_job(app: object, scheduler: ManualScheduler) -> None:
    """remove deletes the job from its store."""
    assert post(app, "/api/jobs/j/remove") == 200
    assert scheduler.get_job("j") is None


def test_token_may_come_as_a_form_field(app: object, scheduler: ManualScheduler) -> None:
    """A form post with a ``token`` field is accepted like the header."""
    headers = {k: v for k, v in BROWSER.items() if k != "Authorization"}
    answer = call(app, "/api/jobs/j/pause", method="POST", headers=headers, form={"token": TOKEN})
    assert answer.status == 200


def test_script_without_browser_headers_is_accepted_with_the_token(app: object) -> None:
    """A non-browser client (no Origin, Referer or Sec-Fetch-Site) needs only the token."""
    headers = {"Host": HOST, "Authorization": f"Bearer {TOKEN}"}
    assert call(app, "/api/jobs/j/pause", method="POST", headers=headers).status == 200


@pytest.mark.parametrize(
    "changes",
    [
        {"Authorization": None},
        {"Authorization": "Bearer wrong-token-value"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Origin": "http://attacker.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": None, "Sec-Fetch-Site": None, "Referer": "http://attacker.example/page"},
    ],
    ids=[
        "no-token",
        "wrong-token",
        "not-bearer",
        "cross-origin",
        "null-origin",
        "cross-site-fetch",
        "cross-site-referer",
    ],
)
def test_action_without_token_or_from_elsewhere_is_refused(
    app: object, scheduler: ManualScheduler, changes: dict[str, str | None]
) -> None:
    """A tokenless or cross-origin action is refused with 403 and changes nothing."""
    assert post(app, "/api/jobs/j/pause", **changes) == 403
    job = scheduler.get_job("j")
    assert job is not None
    assert job.next_run_time is not None


def test_actions_are_refused_while_disabled(scheduler: ManualScheduler) -> None:
    """Without actions enabled, even the right token gets 403."""
    app = console(scheduler, token=TOKEN)
    assert post(app, "/api/jobs/j/pause") == 403


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "HEAD"], ids=str)
def test_actions_answer_only_post(app: object, method: str) -> None:
    """Any method but POST on an action is 405, saying POST is allowed."""
    answer = call(app, "/api/jobs/j/pause", method=method, headers=BROWSER)
    assert answer.status == 405
    assert answer.headers["allow"] == "POST"


def test_read_only_paths_refuse_post(app: object) -> None:
    """POST to a document is 405."""
    assert post(app, "/api/jobs") == 405


def test_action_on_an_unknown_job_is_404(app: object) -> None:
    """An action on a job that does not exist is 404."""
    assert post(app, "/api/jobs/nope/pause") == 404


def test_resume_of_a_finished_trigger_removes_the_job(
    app: object, scheduler: ManualScheduler, clock: ManualClock
) -> None:
    """Resuming a job whose trigger has no more fire times removes it, and says so."""
    end = clock.now() + timedelta(seconds=15)
    scheduler.add_job(noop, "cron", second="*/10", end_date=end, id="past")
    scheduler.pause_job("past")
    clock.advance(60)
    answer = call(app, "/api/jobs/past/resume", method="POST", headers=BROWSER)
    assert answer.json()["removed"] is True
    assert scheduler.get_job("past") is None


@pytest.mark.realtime
def test_a_running_scheduler_runs_a_job_at_once_when_asked() -> None:
    """On a background scheduler, run-now wakes the loop: the job runs long before its hour."""
    ran = threading.Event()
    scheduler = BackgroundScheduler(metrics=False, tracing=False, heartbeat_interval=3600)
    scheduler.start()
    try:
        scheduler.add_job(ran.set, "interval", hours=1, id="hourly")
        app = console(scheduler, actions=True, token=TOKEN)
        assert post(app, "/api/jobs/hourly/run") == 200
        assert ran.wait(30), "the job did not run after run-now"
    finally:
        scheduler.shutdown()
