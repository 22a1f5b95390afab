"""Grafana panels: targets, thresholds, stat/time series/heatmap/table panels and their layout."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from obssched.mixin._queries import Queries

DS = {"type": "prometheus", "uid": "${datasource}"}


def target(
    expr: str,
    legend: str = "__auto",
    *,
    ref: str = "A",
    instant: bool = False,
    fmt: str = "time_series",
    exemplar: bool = False,
) -> dict[str, Any]:
    """One query of a panel."""
    return {
        "datasource": DS,
        "editorMode": "code",
        "expr": expr,
        "exemplar": exemplar,
        "format": fmt,
        "instant": instant,
        "legendFormat": legend,
        "range": not instant,
        "refId": ref,
    }


def thresholds(*steps: tuple[str, float | None]) -> dict[str, Any]:
    """Absolute colour steps: (colour, value from which it applies)."""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


GREEN_ONLY = thresholds(("green", None))
RED_FROM_ONE = thresholds(("green", None), ("red", 1))


def panel(
    kind: str,
    title: str,
    description: str,
    unit: str,
    targets: Sequence[dict[str, Any]],
    size: tuple[int, int],
    *,
    steps: dict[str, Any] = GREEN_ONLY,
    options: dict[str, Any] | None = None,
    overrides: Sequence[dict[str, Any]] = (),
    mappings: Sequence[dict[str, Any]] = (),
    custom: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A panel of any ``kind``; its position is set by :func:`layout`."""
    defaults: dict[str, Any] = {"unit": unit, "thresholds": steps, "mappings": list(mappings)}
    if kind == "timeseries":
        defaults["color"] = {"mode": "palette-classic"}
        defaults["custom"] = {"fillOpacity": 10, "showPoints": "never", **(custom or {})}
    elif custom:
        defaults["custom"] = custom
    else:
        defaults["color"] = {"mode": "thresholds"}
    body = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "fieldConfig": {"defaults": defaults, "overrides": list(overrides)},
        "options": options or {},
        "targets": [dict(t, refId=chr(ord("A") + i)) for i, t in enumerate(targets)],
        "gridPos": {"w": size[0], "h": size[1]},
    }
    body.update(extra)
    return body


def stat(
    title: str,
    description: str,
    unit: str,
    expr: str,
    *,
    legend: str = "__auto",
    steps: dict[str, Any] = GREEN_ONLY,
    text: str = "value",
    size: tuple[int, int] = (4, 4),
    **kw: Any,
) -> dict[str, Any]:
    """A stat panel showing the last value of one instant query."""
    options = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "background" if steps is not GREEN_ONLY else "value",
        "graphMode": "none",
        "textMode": text,
        "justifyMode": "auto",
        "orientation": "auto",
    }
    targets = [target(expr, legend, instant=True)]
    return panel(
        "stat", title, description, unit, targets, size, steps=steps, options=options, **kw
    )


def timeseries(
    title: str,
    description: str,
    unit: str,
    targets: Sequence[dict[str, Any]],
    *,
    size: tuple[int, int] = (12, 8),
    stack: bool = False,
    **kw: Any,
) -> dict[str, Any]:
    """A graph of ``targets`` with a table legend."""
    custom = {"stacking": {"mode": "normal", "group": "A"}} if stack else {}
    options = {
        "legend": {"displayMode": "table", "placement": "right", "calcs": ["max", "lastNotNull"]},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return panel(
        "timeseries", title, description, unit, targets, size, options=options, custom=custom, **kw
    )


def heatmap(title: str, description: str, expr: str) -> dict[str, Any]:
    """A heatmap of histogram buckets, with exemplars."""
    options = {
        "calculate": False,
        "cellGap": 1,
        "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64},
        "exemplars": {"color": "rgba(255,0,255,0.7)"},
        "filterValues": {"le": 1e-9},
        "rowsFrame": {"layout": "auto"},
        "tooltip": {"show": True, "yHistogram": True},
        "yAxis": {"axisPlacement": "left", "unit": "s"},
        "showValue": "never",
    }
    targets = [target(expr, "{{le}}", fmt="heatmap", exemplar=True)]
    return panel(
        "heatmap",
        title,
        description,
        "short",
        targets,
        (12, 8),
        options=options,
        custom={"scaleDistribution": {"type": "linear"}},
    )


def row(title: str) -> dict[str, Any]:
    """A row header that starts a new band of panels."""
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "panels": [],
        "gridPos": {"w": 24, "h": 1},
    }


def layout(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give every panel an id and a grid position, filling rows left to right."""
    x = y = line_height = 0
    for number, item in enumerate(panels, start=1):
        w, h = item["gridPos"]["w"], item["gridPos"]["h"]
        if item["type"] == "row" or x + w > 24:
            x, y, line_height = 0, y + line_height, 0
        item["id"] = number
        item["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
        x += w
        line_height = max(line_height, h)
        if item["type"] == "row":
            x, y, line_height = 0, y + h, 0
    return panels


STATUS_MAPPINGS = [
    {
        "type": "value",
        "options": {
            "0": {"text": "ok", "color": "green", "index": 0},
            "1": {"text": "failing", "color": "red", "index": 1},
        },
    }
]


def override(name: str, **properties: Any) -> dict[str, Any]:
    """Field properties for the column or series named ``name``."""
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": key, "value": value} for key, value in properties.items()],
    }


def latency_panels(
    q: Queries, metric: str, what: str, by_outcome: bool, exemplar: bool
) -> list[dict[str, Any]]:
    """A graph of the p50, p95 and p99 of histogram ``metric``."""
    legend = "p{q} {{{{outcome}}}}" if by_outcome else "p{q}"
    by = "outcome" if by_outcome else ""
    targets = [
        target(q.quantile(share, metric, by), legend.format(q=int(share * 100)), exemplar=exemplar)
        for share in (0.5, 0.95, 0.99)
    ]
    return [
        timeseries(
            f"{what} p50 / p95 / p99",
            f"Quantiles of {what.lower()} estimated from the histogram "
            f"{metric}."
            + (" Diamonds are exemplars: click one to open the run's trace." if exemplar else ""),
            "s",
            targets,
        )
    ]
