"""The Prometheus rules load, every alert is unit-tested with promtool, and each is documented."""

from __future__ import annotations

import re
import subprocess

import pytest
from _shipped import DASHBOARDS_DIR, RULE_FILES, RULE_TEST_FILES, rule_queries

from obssched.mixin import DEFAULT_RUNBOOK_URL, Alert, MixinConfig, alerts

ALERTS = alerts(MixinConfig())
ALERT_PARAMS = [pytest.param(alert, id=alert.name) for alert in ALERTS]
RULE_TESTS = "\n".join(path.read_text(encoding="utf-8") for path in RULE_TEST_FILES)
README = (DASHBOARDS_DIR / "README.md").read_text(encoding="utf-8")
RUNBOOK_PARTS = ("**What it means.**", "**How to investigate.**", "**How to fix.**")


def runbook_section(name: str) -> str | None:
    """The text of README.md's section headed ``### name``, up to the next heading."""
    match = re.search(rf"^### {re.escape(name)}\n(.*?)(?=^#{{1,3}} |\Z)", README, re.M | re.S)
    return None if match is None else match[1]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.promtool
def test_rule_files_pass_promtool_check(promtool: str) -> None:
    """`promtool check rules` accepts every rule file, lint included."""
    result = run(promtool, "check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.promtool
@pytest.mark.parametrize("path", [pytest.param(p, id=p.name) for p in RULE_TEST_FILES])
def test_promtool_unit_tests_pass(promtool: str, path) -> None:
    """The promtool unit tests (fire, stay silent, clear on recovery) pass."""
    result = run(promtool, "test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rule_file_holds_every_generated_rule() -> None:
    """The shipped rule file names every recording rule and alert the mixin defines."""
    text = "\n".join(path.read_text(encoding="utf-8") for path in RULE_FILES)
    for query in rule_queries():
        assert f"{query.kind}: {query.where}\n" in text


@pytest.mark.parametrize("alert", ALERT_PARAMS)
def test_alert_is_unit_tested_firing_and_silent(alert) -> None:
    """Each alert has promtool expectations of it firing and of it staying silent or clearing."""
    end = r"(?=\n\s*- alertname: |\n\s*promql_expr_test:|\n  - |\Z)"
    blocks = re.findall(
        rf"- alertname: {alert.name}\n(.*?){end}",
        RULE_TESTS,
        flags=re.DOTALL,
    )
    silent = [block for block in blocks if "exp_alerts: []" in block]
    firing = [block for block in blocks if "exp_labels:" in block]
    assert firing, "no expectation that it fires"
    assert silent, "no expectation that it stays silent"


@pytest.mark.parametrize("alert", ALERT_PARAMS)
def test_alert_has_summary_description_links_and_severity(alert: Alert) -> None:
    """Each alert says what is wrong, in detail, where to look, what to do, and how urgent."""
    assert alert.summary
    assert alert.description
    assert alert.dashboard_url.startswith("http://localhost:3000/d/obssched-")
    assert alert.runbook_url == f"{DEFAULT_RUNBOOK_URL}#{alert.name.lower()}"
    assert alert.severity in {"critical", "warning"}


def test_the_rule_file_has_no_dashboard_annotation_left() -> None:
    """Alerts link with the conventional dashboard_url annotation, not a bare `dashboard`."""
    text = "\n".join(path.read_text(encoding="utf-8") for path in RULE_FILES)
    assert "          dashboard:" not in text
    assert text.count("dashboard_url:") == text.count("runbook_url:") == len(ALERTS)


@pytest.mark.parametrize("alert", ALERT_PARAMS)
def test_alert_has_a_runbook_section(alert: Alert) -> None:
    """README.md has a section headed by the alert's name (its runbook_url's anchor) that says
    what the alert means, how to investigate it and how to fix it."""
    section = runbook_section(alert.name)
    assert section is not None, f"no '### {alert.name}' heading in dashboards/README.md"
    for part in RUNBOOK_PARTS:
        assert part in section, part
