"""Job actions from the console's pages in a real headless Chromium: with the token they work;
without it, with a wrong one, or from another site's page, the server refuses them."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .conftest import TOKEN, Console, filter_jobs, job_row, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.realtime, pytest.mark.slow]

ATTACKER = "http://attacker.localhost:8000/"
"""Another site's page (served by the test's route, not a server): another origin, on loopback."""


def enter_token(page: Page, token: str) -> None:
    """Type the token in the Actions panel once, as a person does."""
    page.get_by_label("Action token").fill(token)
    page.get_by_role("button", name="Use token").click()
    expect(page.locator("#token-state")).to_contain_text("A token is kept for this tab")


def test_pause_with_the_token_pauses_the_job(console: Console, page: Page) -> None:
    """With the token entered, Pause pauses the job: the page and the scheduler say so."""
    page.goto(console.url + "/")
    enter_token(page, TOKEN)
    filter_jobs(page, "pausable", matches=1)
    job_row(page, "pausable").get_by_role("button", name="Pause").click()
    expect(page.locator("#message")).to_have_text('Paused job "pausable" (pausable).')
    expect(job_row(page, "pausable").locator(".badge.paused")).to_have_text("paused")
    expect(job_row(page, "pausable").get_by_role("button", name="Resume")).to_be_visible()
    job = console.scheduler.get_job("pausable")
    assert job is not None
    assert job.next_run_time is None
    screenshot(page, "action-paused")


def test_run_now_from_the_jobs_page_adds_a_run(console: Console, page: Page) -> None:
    """On a job's page, Run now starts a run that then shows in the job's history."""
    page.goto(console.url + "/jobs/on-demand")
    enter_token(page, TOKEN)
    page.get_by_role("button", name="Run now").click()
    expect(page.locator("#message")).to_have_text('Started a run of job "on-demand" (on-demand).')
    expect(page.locator("#runs-body .badge.executed").first).to_be_visible()


def test_remove_asks_then_removes_the_job(console: Console, page: Page) -> None:
    """Remove asks for confirmation, then the job leaves the scheduler and the table."""
    asked: list[str] = []
    page.on("dialog", lambda dialog: asked.append(dialog.message))
    page.goto(console.url + "/")
    enter_token(page, TOKEN)
    filter_jobs(page, "removable", matches=1)
    job_row(page, "removable").get_by_role("button", name="Remove").click()
    expect(page.locator("#message")).to_have_text('Removed job "removable" (removable).')
    expect(page.locator("#jobs-body")).to_have_text("No job matches the filter.")
    assert asked == ['Remove job "removable" (removable)? This cannot be undone.']
    assert console.scheduler.get_job("removable") is None


@pytest.mark.parametrize("token", [None, "not-the-token"], ids=["no-token", "wrong-token"])
def test_action_without_the_token_is_refused(
    console: Console, page: Page, token: str | None
) -> None:
    """Without the right token the server refuses the action, the page says so, nothing changes."""
    page.goto(console.url + "/")
    if token is not None:
        enter_token(page, token)
    filter_jobs(page, "guarded", matches=1)
    with page.expect_response("**/api/jobs/guarded/pause") as answer:
        job_row(page, "guarded").get_by_role("button", name="Pause").click()
    assert answer.value.status == 403
    expect(page.locator("#message")).to_contain_text('Pause refused for job "guarded" (guarded)')
    expect(page.locator("#message")).to_have_class("error")
    job = console.scheduler.get_job("guarded")
    assert job is not None
    assert job.next_run_time is not None


def visit_attacker(page: Page) -> None:
    """Open another site's page: a blank page at ATTACKER, with no policy of the console's."""
    page.route(
        ATTACKER,
        lambda route: route.fulfill(content_type="text/html", body="<title>elsewhere</title>"),
    )
    page.goto(ATTACKER)


def test_cross_origin_form_with_the_token_is_refused(console: Console, page: Page) -> None:
    """Another site's form that posts the right token to an action gets 403 (CSRF refused)."""
    visit_attacker(page)
    target = f"{console.url}/api/jobs/guarded/pause"
    with page.expect_response(target) as answer:
        page.evaluate(
            """([action, token]) => {
                const form = document.createElement("form");
                form.method = "POST";
                form.action = action;
                const field = document.createElement("input");
                field.name = "token";
                field.value = token;
                form.append(field);
                document.body.append(form);
                form.submit();
            }""",
            [target, TOKEN],
        )
    assert answer.value.status == 403
    expect(page.locator("body")).to_contain_text("cross-origin request refused")
    job = console.scheduler.get_job("guarded")
    assert job is not None
    assert job.next_run_time is not None


def test_cross_origin_fetch_with_the_token_is_refused(console: Console, page: Page) -> None:
    """Another site's script cannot post an action with the token in its Authorization header."""
    visit_attacker(page)
    outcome = page.evaluate(
        """async (url) => {
            try {
                const response = await fetch(url, {
                    method: "POST",
                    headers: { Authorization: "Bearer " + "TOKEN" },
                });
                return "answered " + response.status;
            } catch (error) {
                return "blocked";
            }
        }""".replace("TOKEN", TOKEN),
        f"{console.url}/api/jobs/guarded/pause",
    )
    assert outcome == "blocked"
    job = console.scheduler.get_job("guarded")
    assert job is not None
    assert job.next_run_time is not None
