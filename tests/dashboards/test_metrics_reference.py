"""docs/metrics.md describes exactly the metrics obssched exports, each with its type and labels."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from _shipped import DASHBOARDS_DIR, ROOT
from prometheus_client import CollectorRegistry

from obssched.observability._collector import LISTENER_ERROR_LABELS, collector_for
from obssched.observability._exposition import render
from obssched.observability._metrics import COUNTERS, EVENT_GAUGES, HISTOGRAMS
from obssched.observability._sources import GAUGES, SCRAPED_COUNTERS
from obssched.testing import ManualClock, ManualScheduler

REFERENCE = ROOT / "docs" / "metrics.md"
_SECTION = re.compile(
    r"^### `(?P<name>\w+)`\n\n\| type \| labels \| unit \|\n\| --- \| --- \| --- \|\n"
    r"\| (?P<type>\w+) \| (?P<labels>[^|]*) \| (?P<unit>[^|]+) \|\n(?P<body>.*?)(?=^##|\Z)",
    re.MULTILINE | re.DOTALL,
)


def exposed(name: str, kind: str) -> str:
    """The name a family's samples are exposed under (counters gain ``_total``)."""
    return f"{name}_total" if kind == "counter" else name


def exported_types() -> dict[str, str]:
    """Every family the registry's obssched collector defines, by exposed name."""
    collector = collector_for(CollectorRegistry())
    assert collector is not None
    return {exposed(m.name, m.type): m.type for m in collector.describe()}


def exported_labels() -> dict[str, frozenset[str]]:
    """The label names of every family, from the tables the collector renders them by."""
    tables = {**COUNTERS, **SCRAPED_COUNTERS}
    labels = {f"{name}_total": frozenset(names) for name, (_, names) in tables.items()}
    for table in (HISTOGRAMS, EVENT_GAUGES, GAUGES):
        labels.update({name: frozenset(names) for name, (_, names) in table.items()})
    labels["obssched_listener_errors_total"] = frozenset(LISTENER_ERROR_LABELS)
    labels["obssched_listener_duration_seconds"] = frozenset(LISTENER_ERROR_LABELS)
    return labels


def documented() -> dict[str, re.Match[str]]:
    """The metric sections of docs/metrics.md, by metric name."""
    text = REFERENCE.read_text(encoding="utf-8")
    sections = {match["name"]: match for match in _SECTION.finditer(text)}
    headings = re.findall(r"^### `(\w+)`", text, flags=re.MULTILINE)
    assert sorted(headings) == sorted(sections), "a section without its type/labels/unit table"
    return sections


DOCUMENTED = documented()
EXPORTED = exported_types()
SECTIONS = [pytest.param(match, id=name) for name, match in DOCUMENTED.items()]


def test_every_exported_metric_is_documented() -> None:
    """A metric the code exports has a section in docs/metrics.md."""
    assert not set(EXPORTED) - set(DOCUMENTED)


def test_every_documented_metric_is_exported() -> None:
    """docs/metrics.md describes no metric the code does not export."""
    assert not set(DOCUMENTED) - set(EXPORTED)


@pytest.mark.parametrize("section", SECTIONS)
def test_documented_type_is_the_exported_one(section: re.Match[str]) -> None:
    """Each section names the metric's type as the code exports it."""
    assert section["type"] == EXPORTED.get(section["name"])


@pytest.mark.parametrize("section", SECTIONS)
def test_documented_labels_are_the_exported_ones(section: re.Match[str]) -> None:
    """Each section lists exactly the labels obssched puts on the metric."""
    listed = frozenset(re.findall(r"`(\w+)`", section["labels"]))
    assert listed == exported_labels().get(section["name"])


@pytest.mark.parametrize("section", SECTIONS)
def test_section_says_when_it_moves_and_gives_a_query(section: re.Match[str]) -> None:
    """Each section has a unit, says when the metric moves, and gives a query that uses it."""
    body = section["body"]
    assert section["unit"].strip()
    assert "**Moves when**" in body
    example = re.search(r"\*\*Example:\*\* `([^`]+)`", body)
    assert example is not None
    assert section["name"] in example[1]


def ok() -> None:
    """A job that succeeds."""


def fail() -> None:
    """A job that raises."""
    raise RuntimeError("fails on purpose")


def test_a_running_scheduler_exports_only_documented_metrics() -> None:
    """The /metrics text of a scheduler whose jobs ran, failed and missed holds exactly the
    documented families, each of its documented type."""
    registry = CollectorRegistry()
    clock = ManualClock()
    scheduler = ManualScheduler(clock=clock, metrics_registry=registry, tracing=False)
    scheduler.add_job(ok, "interval", seconds=10, timeout=30)
    scheduler.add_job(fail, "interval", seconds=10)
    scheduler.add_job(ok, "interval", seconds=100, name="late", misfire_grace_time=1)
    scheduler.start()
    try:
        clock.advance(10)
        scheduler.tick()
        clock.advance(100)  # late's run time, 100 s after the start, is now 10 s past its grace
        scheduler.tick()
        text = render(registry).decode()
    finally:
        scheduler.shutdown()
    assert registry.get_sample_value(
        "obssched_job_missed_total", {"scheduler": "default", "job_name": "late"}
    )
    families = dict(re.findall(r"^# TYPE (\w+) (\w+)$", text, flags=re.MULTILINE))
    assert families == {name: section["type"] for name, section in DOCUMENTED.items()}


def test_the_dashboards_readme_points_to_the_reference() -> None:
    """dashboards/README.md links to docs/metrics.md, which exists."""
    readme = (DASHBOARDS_DIR / "README.md").read_text(encoding="utf-8")
    assert "](../docs/metrics.md)" in readme
    assert (DASHBOARDS_DIR / "../docs/metrics.md").resolve() == REFERENCE


@pytest.mark.promtool
def test_every_example_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    """promtool parses every example query of docs/metrics.md (as recording rules)."""
    examples = [
        re.search(r"\*\*Example:\*\* `([^`]+)`", match["body"]) for match in DOCUMENTED.values()
    ]
    rules = ["groups:", "  - name: examples", "    rules:"]
    for number, example in enumerate(examples):
        assert example is not None
        rules += [f"      - record: example_{number}", f"        expr: '{example[1]}'"]
    path = tmp_path / "examples.yml"
    path.write_text("\n".join(rules) + "\n", encoding="utf-8")
    result = subprocess.run(
        [promtool, "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
