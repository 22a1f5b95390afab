"""examples/stack: its Prometheus configuration is valid and its parts are wired to each other."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from _shipped import ROOT, RULE_FILES, STACK_DIR

PROMETHEUS_CONFIGS = sorted((ROOT / "examples").glob("**/prometheus.yml"))
COMPOSE = (STACK_DIR / "compose.yaml").read_text(encoding="utf-8")
DATASOURCES = (STACK_DIR / "grafana/provisioning/datasources/datasources.yml").read_text("utf-8")


def check_config(promtool: str, path) -> subprocess.CompletedProcess[str]:
    command = [promtool, "check", "config", str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_the_stack_ships_a_prometheus_configuration() -> None:
    """examples/ holds at least the stack's Prometheus configuration."""
    assert STACK_DIR / "prometheus" / "prometheus.yml" in PROMETHEUS_CONFIGS


@pytest.mark.promtool
@pytest.mark.parametrize(
    "path", [pytest.param(p, id=str(p.relative_to(ROOT))) for p in PROMETHEUS_CONFIGS]
)
def test_prometheus_configuration_passes_promtool(promtool: str, path) -> None:
    """`promtool check config` accepts every Prometheus configuration in examples/."""
    result = check_config(promtool, path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.promtool
def test_stack_configuration_loads_the_shipped_rules(promtool: str, tmp_path) -> None:
    """Laid out as compose mounts it, the stack's configuration finds and accepts the rules."""
    shutil.copy(STACK_DIR / "prometheus" / "prometheus.yml", tmp_path / "prometheus.yml")
    (tmp_path / "rules").mkdir()
    for rule_file in RULE_FILES:
        shutil.copy(rule_file, tmp_path / "rules" / rule_file.name)
    result = check_config(promtool, tmp_path / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"SUCCESS: [1-9]\d* rules found", result.stdout + result.stderr)


def test_compose_mounts_rules_where_the_configuration_looks() -> None:
    """The rules folder is mounted at the `rules/` path prometheus.yml lists."""
    assert "../../dashboards/prometheus:/etc/prometheus/rules:ro" in COMPOSE
    assert "- rules/*.yml" in (STACK_DIR / "prometheus" / "prometheus.yml").read_text("utf-8")


def test_compose_prometheus_stores_exemplars() -> None:
    """Prometheus runs with exemplar storage, which trace links need."""
    assert "--enable-feature=exemplar-storage" in COMPOSE


def test_grafana_links_exemplars_to_the_trace_data_source() -> None:
    """The Prometheus data source sends exemplar trace_id labels to the provisioned Jaeger."""
    destination = re.search(r"- name: trace_id.*\n\s+datasourceUid: (\S+)", DATASOURCES)
    assert destination is not None
    assert re.search(rf"uid: {destination[1]}\n\s+type: jaeger", DATASOURCES)


def test_grafana_provisions_the_dashboards_folder() -> None:
    """The dashboards folder is mounted where the dashboard provider reads."""
    provider = (STACK_DIR / "grafana/provisioning/dashboards/obssched.yml").read_text("utf-8")
    (path,) = re.findall(r"path: (\S+)", provider)
    assert f"../../dashboards:{path}:ro" in COMPOSE


def test_otel_collector_forwards_traces_to_jaeger() -> None:
    """The collector takes OTLP from the demo and exports it to Jaeger's OTLP port."""
    collector = (STACK_DIR / "otel-collector" / "config.yaml").read_text("utf-8")
    assert "endpoint: jaeger:4317" in collector
    assert "OTEL_EXPORTER_OTLP_ENDPOINT: http://otel-collector:4318" in COMPOSE
