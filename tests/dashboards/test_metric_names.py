"""Dashboards and rules only use metrics obssched exports (or rules define)."""

from __future__ import annotations

import pytest
from _catalogue import PROMETHEUS_OWN, family
from _promql import metric_names
from _shipped import all_queries, rule_queries

RECORDED = {query.where for query in rule_queries() if query.kind == "record"}
QUERIES = [pytest.param(query, id=query.id) for query in all_queries()]


@pytest.mark.parametrize("query", QUERIES)
def test_query_uses_only_exported_or_recorded_metrics(query) -> None:
    """Every metric name in a query is exported by obssched, recorded by a rule, or `up`."""
    unknown = {
        name
        for name in metric_names(query.expr)
        if family(name) is None and name not in RECORDED and name not in PROMETHEUS_OWN
    }
    assert not unknown


def test_dashboards_query_only_raw_metrics() -> None:
    """Dashboards do not depend on recording rules, so they work before the rules are loaded."""
    used = {
        name
        for query in all_queries()
        if query.kind in {"panel", "variable", "annotation"}
        for name in metric_names(query.expr)
    }
    assert not used & RECORDED


def test_every_recording_rule_is_used() -> None:
    """Every recording rule feeds an alert or another rule: none is dead weight."""
    alert_names = {
        name
        for q in rule_queries()
        if q.kind in {"alert", "record"}
        for name in metric_names(q.expr)
    }
    assert alert_names >= RECORDED
