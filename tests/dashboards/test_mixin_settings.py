"""Each mixin setting reaches every place it governs, and bad settings are refused by name."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _promql import selectors
from _shipped import DASHBOARDS_DIR, board_queries, rule_queries

from obssched.mixin import MixinConfig, MixinConfigError, Thresholds, alerts, render
from obssched.mixin.__main__ import main

SELECTOR = 'cluster="eu-1", namespace=~"batch|ops"'
EXPECTED_MATCHERS = {"cluster": ("=", "eu-1"), "namespace": ("=~", "batch|ops")}
SELECTED = MixinConfig(selector=SELECTOR)


def boards(config: MixinConfig) -> dict[str, dict[str, Any]]:
    return {
        name: json.loads(text) for name, text in render(config).items() if name.endswith(".json")
    }


def all_queries(config: MixinConfig) -> list[Any]:
    found = [q for name, board in boards(config).items() for q in board_queries(board, name)]
    return found + rule_queries(config)


@pytest.mark.parametrize(
    "query", [pytest.param(query, id=query.id) for query in all_queries(SELECTED)]
)
def test_the_selector_is_in_every_selector_of_every_query(query) -> None:
    """Every metric selected by a panel, variable, annotation, recording rule or alert carries
    the configured matchers (`up` and recorded series included)."""
    found = selectors(query.expr)
    assert found
    for selector in found:
        matchers = {k: v for k, v in selector.matchers.items() if k in EXPECTED_MATCHERS}
        assert matchers == EXPECTED_MATCHERS, selector.metric


def test_the_default_selector_adds_no_matcher() -> None:
    """With the defaults the queries select by the dashboard variables alone."""
    for query in all_queries(MixinConfig()):
        for selector in selectors(query.expr):
            assert not set(selector.matchers) & set(EXPECTED_MATCHERS)


@pytest.mark.parametrize(
    "selector",
    ['job="obssched"', '{job="obssched"}', ' job = "obssched" ,'],
    ids=["bare", "braces", "spaces-and-trailing-comma"],
)
def test_a_selector_is_written_in_promql_form(selector: str) -> None:
    """Braces, spaces and a trailing comma are accepted; the matcher is rendered as written."""
    config = MixinConfig(selector=selector)
    assert config.matchers == ('job="obssched"',)
    assert 'up{job="obssched"} == 0' in render(config)["prometheus/obssched-rules.yml"]


@pytest.mark.promtool
def test_rules_rendered_with_a_selector_pass_promtool(promtool: str, tmp_path: Path) -> None:
    """The rule file rendered with a selector is valid PromQL for promtool."""
    path = tmp_path / "rules.yml"
    path.write_text(render(SELECTED)["prometheus/obssched-rules.yml"], encoding="utf-8")
    result = subprocess.run(
        [promtool, "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_grafana_url_is_in_every_dashboard_url() -> None:
    """Every alert's dashboard_url opens a dashboard on the configured Grafana."""
    config = MixinConfig(grafana_url="https://grafana.example/monitoring/")
    for alert in alerts(config):
        assert alert.dashboard_url.startswith("https://grafana.example/monitoring/d/obssched-")
    assert "localhost:3000" not in render(config)["prometheus/obssched-rules.yml"]


def test_the_runbook_url_is_in_every_runbook_url() -> None:
    """Every alert's runbook_url is its section of the configured runbook document."""
    config = MixinConfig(runbook_url="https://wiki.example/obssched")
    assert [a.runbook_url for a in alerts(config)] == [
        f"https://wiki.example/obssched#{a.name.lower()}" for a in alerts(config)
    ]


def test_the_datasource_uid_is_selected_first() -> None:
    """The configured data source is the datasource variable's current value; panels still
    follow the variable, so the drop-down can switch them."""
    for board in boards(MixinConfig(datasource_uid="prom-eu")).values():
        (variable,) = [v for v in board["templating"]["list"] if v["name"] == "datasource"]
        assert variable["current"]["value"] == "prom-eu"
        assert {p["datasource"]["uid"] for p in board["panels"] if p["type"] != "row"} == {
            "${datasource}"
        }


def test_rate_window_names_and_windows_the_recording_rules() -> None:
    """The rate window sets the recording rules' ranges and names, and the run count the
    error-rate alert requires over it."""
    text = render(MixinConfig(rate_window="10m"))["prometheus/obssched-rules.yml"]
    assert "record: obssched:job_runs:rate10m" in text
    assert "[10m]" in text
    assert "[5m]" not in text
    assert "obssched:job_runs:rate10m * 600 >= 3" in text


def alert_expr(config: MixinConfig, name: str) -> str:
    (alert,) = [a for a in alerts(config) if a.name == name]
    return alert.expr


@pytest.mark.parametrize(
    ("setting", "value", "alert", "fragment"),
    [
        pytest.param(
            "heartbeat_stall_seconds",
            90,
            "ObsschedSchedulerLoopStalled",
            "> 90\n",
            id="heartbeat_stall_seconds",
        ),
        pytest.param("overdue_seconds", 120, "ObsschedJobOverdue", "> 120\n", id="overdue_seconds"),
        pytest.param(
            "running_too_long_seconds",
            7200,
            "ObsschedJobRunningTooLong",
            "> 7200\n",
            id="running_too_long_seconds",
        ),
        pytest.param(
            "start_delay_p95_seconds",
            12.5,
            "ObsschedJobStartDelayHigh",
            "> 12.5",
            id="start_delay_p95_seconds",
        ),
        pytest.param("error_ratio", 0.25, "ObsschedJobHighErrorRate", "> 0.25\n", id="error_ratio"),
        pytest.param(
            "error_ratio_min_runs",
            10,
            "ObsschedJobHighErrorRate",
            ">= 10",
            id="error_ratio_min_runs",
        ),
        pytest.param("missed_window", "30m", "ObsschedJobMissedRuns", "[30m]", id="missed_window"),
        pytest.param(
            "max_instances_window",
            "1h",
            "ObsschedJobOverlapping",
            "offset 1h",
            id="max_instances_window",
        ),
        pytest.param(
            "uptime_lookback", "6h", "ObsschedSchedulerDown", "[6h]", id="uptime_lookback"
        ),
        pytest.param(
            "loop_errors_window",
            "15m",
            "ObsschedSchedulerLoopErrors",
            "[15m]",
            id="loop_errors_window",
        ),
    ],
)
def test_a_threshold_setting_changes_its_alert(
    setting: str, value: object, alert: str, fragment: str
) -> None:
    """Each threshold appears in its alert's expression once set."""
    config = MixinConfig(thresholds=Thresholds(**{setting: value}))
    assert fragment in alert_expr(config, alert)
    assert fragment not in alert_expr(MixinConfig(), alert)


def test_the_jobstore_down_setting_is_the_alerts_for() -> None:
    """jobstore_down_for is how long a store must stay down before its alert fires."""
    config = MixinConfig(thresholds=Thresholds(jobstore_down_for="15m"))
    (alert,) = [a for a in alerts(config) if a.name == "ObsschedJobStoreDown"]
    assert alert.for_ == "15m"


def test_the_dashboards_turn_red_where_the_alerts_fire() -> None:
    """The heartbeat and overdue panels follow the stall and overdue thresholds."""
    config = MixinConfig(thresholds=Thresholds(heartbeat_stall_seconds=90, overdue_seconds=120))
    overview = boards(config)["obssched-overview.json"]
    by_title = {p["title"]: p for p in overview["panels"]}
    steps = by_title["Heartbeat age"]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[-1] == {"color": "red", "value": 90}
    assert "> 120" in by_title["Overdue jobs"]["targets"][0]["expr"]


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"selector": "job=obssched"}, "selector"),
        ({"selector": 'job="a" cluster="b"'}, "selector"),
        ({"selector": 7}, "selector"),
        ({"grafana_url": "grafana.example"}, "grafana_url"),
        ({"runbook_url": ""}, "runbook_url"),
        ({"datasource_uid": 3}, "datasource_uid"),
        ({"rate_window": "5 minutes"}, "rate_window"),
        ({"thresholds": {"error_ratio": 1.5}}, "error_ratio"),
        ({"thresholds": {"overdue_seconds": -1}}, "overdue_seconds"),
        ({"thresholds": {"overdue_seconds": True}}, "overdue_seconds"),
        ({"thresholds": {"missed_window": 10}}, "missed_window"),
        ({"thresholds": {"overdue": 300}}, "thresholds.overdue"),
        ({"thresholds": "strict"}, "thresholds"),
        ({"grafana": "http://g"}, "grafana"),
    ],
    ids=[
        "unquoted-matcher",
        "no-comma",
        "selector-not-text",
        "url-without-scheme",
        "empty-runbook-url",
        "uid-not-text",
        "not-a-duration",
        "ratio-above-one",
        "negative-threshold",
        "bool-threshold",
        "window-not-text",
        "unknown-threshold",
        "thresholds-not-a-table",
        "unknown-setting",
    ],
)
def test_a_bad_setting_is_refused_by_name(settings: dict[str, Any], named: str) -> None:
    """A setting that cannot be rendered raises MixinConfigError (a ValueError) naming it."""
    with pytest.raises(MixinConfigError, match=f"setting {named} = ") as info:
        MixinConfig.from_mapping(settings)
    assert isinstance(info.value, ValueError)
    assert info.value.setting == named


MIXIN_TOML = """\
selector = 'job="obssched"'
grafana_url = "https://grafana.example"
rate_window = "10m"

[thresholds]
overdue_seconds = 120
missed_window = "30m"
"""


def test_a_toml_file_gives_the_same_settings(tmp_path: Path) -> None:
    """mixin.toml's keys are the MixinConfig arguments, thresholds in their own table."""
    path = tmp_path / "mixin.toml"
    path.write_text(MIXIN_TOML, encoding="utf-8")
    assert MixinConfig.load(path) == MixinConfig(
        selector='job="obssched"',
        grafana_url="https://grafana.example",
        rate_window="10m",
        thresholds=Thresholds(overdue_seconds=120, missed_window="30m"),
    )


def test_a_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    """A file that does not parse is a MixinConfigError naming the file."""
    path = tmp_path / "mixin.toml"
    path.write_text("selector = \n", encoding="utf-8")
    with pytest.raises(MixinConfigError, match="not valid TOML"):
        MixinConfig.load(path)


def test_render_command_writes_the_files_of_the_config(tmp_path: Path, capsys) -> None:
    """`render --config --out` writes both dashboards and the rule file for that config."""
    config = tmp_path / "mixin.toml"
    config.write_text(MIXIN_TOML, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["render", "--config", str(config), "--out", str(out)]) == 0
    rendered = render(MixinConfig.load(config))
    assert {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} == set(rendered)
    assert all((out / name).read_text(encoding="utf-8") == rendered[name] for name in rendered)
    assert capsys.readouterr().out.count("wrote: ") == 3


def test_render_command_rewrites_only_what_changed(tmp_path: Path, capsys) -> None:
    """A second render of the same settings writes nothing."""
    main(["render", "--out", str(tmp_path)])
    capsys.readouterr()
    assert main(["render", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out == ""


def test_render_check_reports_files_out_of_step(tmp_path: Path, capsys) -> None:
    """`--check` writes nothing, and exits 1 naming each file that differs or is missing."""
    main(["render", "--out", str(tmp_path)])
    assert main(["render", "--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "obssched-job.json").write_text("{}", encoding="utf-8")
    (tmp_path / "prometheus" / "obssched-rules.yml").unlink()
    capsys.readouterr()
    assert main(["render", "--check", "--out", str(tmp_path)]) == 1
    reported = capsys.readouterr().out
    assert "obssched-job.json" in reported
    assert "obssched-rules.yml" in reported
    assert "obssched-overview.json" not in reported
    assert (tmp_path / "obssched-job.json").read_text(encoding="utf-8") == "{}"


def test_the_module_runs_as_a_command() -> None:
    """`python -m obssched.mixin render --check` finds the shipped files in step."""
    result = subprocess.run(
        [sys.executable, "-m", "obssched.mixin", "render", "--check", "--out", str(DASHBOARDS_DIR)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "content", [None, "rate_window = 5\n"], ids=["missing-file", "bad-setting"]
)
def test_render_command_exits_2_on_a_bad_config(tmp_path: Path, capsys, content) -> None:
    """A config that cannot be read or rendered exits 2 with the reason, writing nothing."""
    config = tmp_path / "mixin.toml"
    if content is not None:
        config.write_text(content, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["render", "--config", str(config), "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert not out.exists()
