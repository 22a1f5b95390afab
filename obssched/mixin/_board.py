"""The dashboard around the panels: data source and label variables, annotations, links."""

from __future__ import annotations

from typing import Any

from obssched.mixin._config import MixinConfig
from obssched.mixin._panels import DS, layout
from obssched.mixin._queries import SCHEDULER_KEYS, Queries

__all__ = ["dashboard"]


def variable(
    q: Queries, name: str, label: str, metric: str, *, multi: bool = True
) -> dict[str, Any]:
    """A query variable listing the values of label ``name`` of ``metric``."""
    query = f"label_values({q.sel(metric)}, {name})"
    body: dict[str, Any] = {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DS,
        "definition": query,
        "query": {"query": query, "refId": f"{name}-variable"},
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        "current": {},
        "options": [],
        "regex": "",
        "hide": 0,
    }
    if multi and name != "job_name":
        body["allValue"] = ".*"
    return body


def templating(config: MixinConfig, q: Queries, job_name_multi: bool) -> dict[str, Any]:
    """The data source variable, then the label variables every query filters by."""
    uid = config.datasource_uid
    current = {"selected": True, "text": uid, "value": uid} if uid else {}
    return {
        "list": [
            {
                "type": "datasource",
                "name": "datasource",
                "label": "Data source",
                "query": "prometheus",
                "current": current,
                "options": [],
                "refresh": 1,
                "regex": "",
                "hide": 0,
            },
            variable(q, "job", "Prometheus job", "obssched_build_info"),
            variable(q, "instance", "Instance", "obssched_build_info"),
            variable(q, "scheduler", "Scheduler", "obssched_build_info"),
            variable(q, "executor", "Executor", "obssched_job_info"),
            variable(q, "job_name", "Job", "obssched_job_info", multi=job_name_multi),
        ]
    }


def change_annotations(q: Queries) -> dict[str, Any]:
    """Grafana's own annotations, and markers where jobs were added, removed or modified."""
    changes = q.sel("obssched_events_total", event="")
    changes = changes.replace('event=""', 'event=~"job_added|job_removed|job_modified"')
    return {
        "list": [
            {
                "builtIn": 1,
                "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": True,
                "hide": True,
                "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts",
                "type": "dashboard",
            },
            {
                "datasource": DS,
                "enable": True,
                "expr": f"sum by ({SCHEDULER_KEYS}, event) "
                f"(increase({changes}[$__rate_interval])) > 0",
                "iconColor": "purple",
                "name": "Jobs added, removed or modified",
                "step": "$__rate_interval",
                "tagKeys": "event,scheduler",
                "textFormat": "{{event}} on {{scheduler}} ({{instance}})",
                "titleFormat": "{{event}}",
            },
        ]
    }


def dashboard(
    config: MixinConfig,
    uid: str,
    title: str,
    description: str,
    panels: list[dict[str, Any]],
    *,
    job_name_multi: bool,
) -> dict[str, Any]:
    """A whole dashboard around ``panels``."""
    q = Queries(config.matchers)
    return {
        "annotations": change_annotations(q),
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [
            {
                "asDropdown": False,
                "icon": "dashboard",
                "includeVars": False,
                "keepTime": True,
                "tags": ["obssched"],
                "targetBlank": False,
                "title": "obssched",
                "type": "dashboards",
            }
        ],
        "panels": layout(panels),
        "refresh": "30s",
        "schemaVersion": 39,
        "tags": ["obssched", "scheduler"],
        "templating": templating(config, q, job_name_multi),
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }
