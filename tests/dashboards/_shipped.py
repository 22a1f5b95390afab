"""What dashboards/ ships, read the way the tests need it: every query with where it came from."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _promql import label_values_as_promql

from obssched.mixin import MixinConfig, alerts, recording_rules

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS_DIR = ROOT / "dashboards"
RULES_DIR = DASHBOARDS_DIR / "prometheus"
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
RULE_TEST_FILES = sorted((RULES_DIR / "tests").glob("*.test.yml"))
DASHBOARD_FILES = sorted(DASHBOARDS_DIR.glob("*.json"))
STACK_DIR = ROOT / "examples" / "stack"


@dataclass(frozen=True)
class Query:
    """One PromQL expression shipped in dashboards/ and where it is."""

    source: str  # dashboard file or rule file
    where: str  # panel title and refId, variable, annotation or rule name
    expr: str
    kind: str  # "panel", "variable", "annotation", "record" or "alert"
    instant: bool = False

    @property
    def id(self) -> str:
        return f"{self.source}:{self.where}"


def load_dashboard(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    found = []
    for panel in board["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def dashboard_queries(path: Path) -> list[Query]:
    return board_queries(load_dashboard(path), path.name)


def board_queries(board: dict[str, Any], source: str) -> list[Query]:
    """Every query of a dashboard: panel targets, variables and annotations."""
    queries = []
    for panel in panels(board):
        for target in panel.get("targets", []):
            where = f"{panel['title']} {target['refId']}"
            queries.append(Query(source, where, target["expr"], "panel", target["instant"]))
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            expr = label_values_as_promql(variable["query"]["query"])
            queries.append(Query(source, f"${variable['name']}", expr, "variable", True))
    queries.extend(
        Query(source, annotation["name"], annotation["expr"], "annotation")
        for annotation in board["annotations"]["list"]
        if "expr" in annotation
    )
    return queries


def rule_queries(config: MixinConfig | None = None) -> list[Query]:
    """The rule file's expressions, from the mixin that renders it (a test keeps the two equal)."""
    config = config or MixinConfig()
    source = "prometheus/obssched-rules.yml"
    records = [
        Query(source, rule.record, rule.expr, "record", True) for rule in recording_rules(config)
    ]
    return records + [
        Query(source, alert.name, alert.expr, "alert", True) for alert in alerts(config)
    ]


def all_queries() -> list[Query]:
    queries = [query for path in DASHBOARD_FILES for query in dashboard_queries(path)]
    return queries + rule_queries()
