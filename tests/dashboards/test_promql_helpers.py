"""The small PromQL reader the dashboard tests rely on."""

from __future__ import annotations

import pytest
from _promql import (
    Selector,
    label_values_as_promql,
    metric_names,
    selectors,
    substitute_grafana_variables,
)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        pytest.param(
            'rate(x{job=~"$job"}[$__rate_interval])',
            'rate(x{job=~".*"}[30s])',
            id="rate-interval-and-variable",
        ),
        pytest.param("increase(x[$__range])", "increase(x[1h])", id="range"),
        pytest.param('x{a=~"${job}",b=~"${job:regex}"}', 'x{a=~".*",b=~".*"}', id="braced"),
        pytest.param('x{a=~"[[job]]"}', 'x{a=~".*"}', id="old-brackets"),
        pytest.param('x{job_name=~"$job_name"}', 'x{job_name=~".*"}', id="longest-name"),
        pytest.param("sum(x) > 0", "sum(x) > 0", id="nothing-to-replace"),
    ],
)
def test_substitute_grafana_variables(expr: str, expected: str) -> None:
    """Grafana's built-ins become fixed durations and dashboard variables match anything."""
    assert substitute_grafana_variables(expr) == expected


def test_substitute_rejects_unknown_builtins() -> None:
    """A Grafana built-in without a known substitute is an error, not a silent pass-through."""
    with pytest.raises(ValueError, match=r"\$__range_s"):
        substitute_grafana_variables("x * $__range_s")


def test_label_values_becomes_a_grouping_query() -> None:
    """A label_values variable query turns into a query for the same label values."""
    query = 'label_values(obssched_job_info{job=~"$job"}, job_name)'
    expected = 'group by (job_name) (obssched_job_info{job=~"$job"})'
    assert label_values_as_promql(query) == expected


def test_label_values_without_selector_is_rejected() -> None:
    """label_values(label) has no selector to run, so it is refused."""
    with pytest.raises(ValueError, match="not a label_values"):
        label_values_as_promql("label_values(job)")


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        pytest.param("up", {"up"}, id="bare"),
        pytest.param('sum by (job_name, le) (rate(a_bucket{x="y"}[5m]))', {"a_bucket"}, id="by"),
        pytest.param("sum(a) without (le)", {"a"}, id="without-after"),
        pytest.param("max by (x) (a) * count without (y) (b)", {"a", "b"}, id="by-before"),
        pytest.param("a > on (job) group_left (executor) b", {"a", "b"}, id="on-group-left"),
        pytest.param("a and ignoring (x) b unless c offset 10m", {"a", "b", "c"}, id="set-ops"),
        pytest.param("histogram_quantile(0.95, a)", {"a"}, id="function-and-number"),
        pytest.param('a{msg="by (x) or b{}"}', {"a"}, id="string-content-ignored"),
        pytest.param("time() - a > bool 300", {"a"}, id="time-and-bool"),
        pytest.param("obssched:job_runs:rate5m * 300", {"obssched:job_runs:rate5m"}, id="record"),
        pytest.param("vector(0)", set(), id="no-metric"),
    ],
)
def test_metric_names(expr: str, expected: set[str]) -> None:
    """Metric names are told apart from functions, keywords, label names and strings."""
    assert metric_names(expr) == expected


def test_selectors_read_matchers_and_ranges() -> None:
    """A selector's matchers and range are read with their operators."""
    expr = 'rate(a{job=~"$job", outcome="error"}[$__rate_interval]) / b'
    assert selectors(expr) == [
        Selector("a", {"job": ("=~", "$job"), "outcome": ("=", "error")}, "$__rate_interval"),
        Selector("b", {}, None),
    ]
