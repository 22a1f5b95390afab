"""The Prometheus rules load, every alert is unit-tested with promtool, and each is documented."""

from __future__ import annotations

import re
import subprocess

import pytest
from _shipped import DASHBOARDS_DIR, RULE_FILES, RULE_TEST_FILES, generator, rule_queries

ALERTS = generator("gen_rules").ALERTS
ALERT_PARAMS = [pytest.param(alert, id=alert["alert"]) for alert in ALERTS]
RULE_TESTS = "\n".join(path.read_text(encoding="utf-8") for path in RULE_TEST_FILES)


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
    """The shipped rule file names every recording rule and alert the generator defines."""
    text = "\n".join(path.read_text(encoding="utf-8") for path in RULE_FILES)
    for query in rule_queries():
        assert f"{query.kind}: {query.where}\n" in text


@pytest.mark.parametrize("alert", ALERT_PARAMS)
def test_alert_is_unit_tested_firing_and_silent(alert) -> None:
    """Each alert has promtool expectations of it firing and of it staying silent or clearing."""
    end = r"(?=\n\s*- alertname: |\n\s*promql_expr_test:|\n  - |\Z)"
    blocks = re.findall(
        rf"- alertname: {alert['alert']}\n(.*?){end}",
        RULE_TESTS,
        flags=re.DOTALL,
    )
    silent = [block for block in blocks if "exp_alerts: []" in block]
    firing = [block for block in blocks if "exp_labels:" in block]
    assert firing, "no expectation that it fires"
    assert silent, "no expectation that it stays silent"


@pytest.mark.parametrize("alert", ALERT_PARAMS)
def test_alert_has_summary_description_dashboard_and_severity(alert) -> None:
    """Each alert says what is wrong, in detail, where to look, and how urgent it is."""
    assert alert["summary"]
    assert alert["description"]
    assert alert["dashboard"].startswith(generator("gen_rules").GRAFANA_URL + "/d/obssched-")
    assert alert["severity"] in {"critical", "warning"}


@pytest.mark.parametrize("alert", ALERT_PARAMS)
def test_alert_is_explained_in_the_readme(alert) -> None:
    """dashboards/README.md explains every alert by name."""
    assert alert["alert"] in (DASHBOARDS_DIR / "README.md").read_text(encoding="utf-8")
