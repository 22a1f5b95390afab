"""The dashboard around the panels: data source and label variables, annotations, links."""

from __future__ import annotations

from typing import Any

from gen_rules import SCHEDULER_KEYS

from dashgen._panels import DS, layout
from dashgen._queries import sel


def variable(name: str, label: str, metric: str, *, multi: bool = True) -> dict[str, Any]:
    query = f"label_values({sel(metric)}, {name})"
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


def templating(job_name_multi: bool) -> dict[str, Any]:
    return {
        "list": [
            {
                "type": "datasource",
                "name": "datasource",
                "label": "Data source",
                "query": "prometheus",
                "current": {},
                "options": [],
                "refresh": 1,
                "regex": "",
                "hide": 0,
            },
            variable("job", "Prometheus job", "obssched_build_info"),
            variable("instance", "Instance", "obssched_build_info"),
            variable("scheduler", "Scheduler", "obssched_build_info"),
            variable("executor", "Executor", "obssched_job_info"),
            variable("job_name", "Job", "obssched_job_info", multi=job_name_multi),
        ]
    }


def annotations() -> dict[str, Any]:
    changes = sel("obssched_events_total", event="")
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


def dashboard(uid: str, title: str, description: str, panels, job_name_multi: bool):
    return {
        "annotations": annotations(),
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
        "templating": templating(job_name_multi),
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }
