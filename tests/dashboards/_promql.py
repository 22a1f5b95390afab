"""Just enough PromQL reading for the dashboard tests: Grafana variables, selectors, names."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

GROUPING_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
OPERATOR_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"})
AGGREGATIONS = frozenset(
    {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk"}
    | {"topk", "quantile"}
)
_STRING = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`'
_TOKEN = re.compile(
    rf"""
    (?P<string>{_STRING})
  | (?P<braces>\{{(?:[^{{}}"'`]|{_STRING})*\}})
  | (?P<brackets>\[[^\]]*\])
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<number>[0-9][A-Za-z0-9_.]*)
  | (?P<space>\s+)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_MATCHER = re.compile(rf"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*({_STRING})\s*,?")
_VARIABLE = re.compile(r"\$\{(\w+)(?::[\w]+)?\}|\$(\w+)|\[\[(\w+)\]\]")
_LABEL_VALUES = re.compile(
    r"^\s*label_values\((?P<selector>.+),\s*(?P<label>\w+)\s*\)\s*$", re.DOTALL
)


@dataclass(frozen=True)
class Selector:
    """One vector selector: a metric name, its label matchers and the range it covers, if any."""

    metric: str
    matchers: dict[str, tuple[str, str]] = field(default_factory=dict)
    range: str | None = None


def substitute_grafana_variables(
    expr: str, *, rate_interval: str = "30s", range_: str = "1h", interval: str = "15s"
) -> str:
    """Replace Grafana's built-in and dashboard variables so Prometheus can run the query.

    Dashboard variables become ``.*``: every dashboard query matches them with ``=~``.
    """
    builtins = {
        "__rate_interval": rate_interval,
        "__range": range_,
        "__interval": interval,
    }

    def replace(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        if name.startswith("__"):
            if name not in builtins:
                raise ValueError(f"no substitute for Grafana's built-in variable ${name}")
            return builtins[name]
        return ".*"

    return _VARIABLE.sub(replace, expr)


def label_values_as_promql(query: str) -> str:
    """Turn a Grafana ``label_values(selector, label)`` variable query into an instant query."""
    match = _LABEL_VALUES.match(query)
    if match is None:
        raise ValueError(f"not a label_values(selector, label) query: {query!r}")
    return f"group by ({match['label']}) ({match['selector']})"


def _unquote(literal: str) -> str:
    return literal[1:-1]


def selectors(expr: str) -> list[Selector]:
    """Every vector selector in ``expr``, in order of appearance."""
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(expr) if m.lastgroup != "space"]
    found: list[Selector] = []
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else (None, "")
        if kind != "ident":
            i += 1
            continue
        if text in GROUPING_KEYWORDS and following[1] == "(":
            i = _skip_parenthesised(tokens, i + 1)
            continue
        if text in OPERATOR_KEYWORDS or text in AGGREGATIONS or following[1] == "(":
            i += 1
            continue
        matchers: dict[str, tuple[str, str]] = {}
        i += 1
        if following[0] == "braces":
            for label, op, value in _MATCHER.findall(following[1][1:-1]):
                matchers[label] = (op, _unquote(value))
            i += 1
        selected_range = None
        if i < len(tokens) and tokens[i][0] == "brackets":
            selected_range = tokens[i][1][1:-1]
        found.append(Selector(text, matchers, selected_range))
    return found


def _skip_parenthesised(tokens: list[tuple[str | None, str]], start: int) -> int:
    depth = 0
    for index in range(start, len(tokens)):
        if tokens[index][1] == "(":
            depth += 1
        elif tokens[index][1] == ")":
            depth -= 1
            if depth == 0:
                return index + 1
    raise ValueError("unbalanced parentheses")


def metric_names(expr: str) -> set[str]:
    """The metric names ``expr`` selects."""
    return {selector.metric for selector in selectors(expr)}
