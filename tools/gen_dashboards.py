"""Writes obssched's Grafana dashboards, and the rules of ``gen_rules``, into dashboards/.

The dashboards and the rule file share thresholds (a heartbeat panel turns red where the stall alert
fires), so both are generated. Run this after editing either script; ``tests/dashboards``
regenerates the files and fails on any difference::

    .venv/bin/python tools/gen_dashboards.py          # rewrite dashboards/
    .venv/bin/python tools/gen_dashboards.py --check  # exit 1 if dashboards/ is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gen_rules
from gen_rules import JOB_KEYS, JOB_UID, OVERVIEW_UID, SCHEDULER_KEYS

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS_DIR = ROOT / "dashboards"
RULES_PATH = DASHBOARDS_DIR / "prometheus" / "obssched-rules.yml"

# --- Which labels each exported metric carries (issue 4), beyond scheduler/job/instance -----------
METRIC_LABELS: dict[str, tuple[str, ...]] = {
    "obssched_job_submitted_total": ("job_name", "executor"),
    "obssched_job_executed_total": ("job_name", "executor"),
    "obssched_job_errored_total": ("job_name", "executor", "error_type"),
    "obssched_job_missed_total": ("job_name",),
    "obssched_job_max_instances_total": ("job_name", "executor"),
    "obssched_job_coalesced_total": ("job_name",),
    "obssched_events_total": ("event",),
    "obssched_listener_errors_total": ("listener",),
    "obssched_job_run_duration_seconds": ("job_name", "executor", "outcome"),
    "obssched_job_start_delay_seconds": ("job_name", "executor"),
    "obssched_executor_queue_wait_seconds": ("executor",),
    "obssched_job_last_success_timestamp_seconds": ("job_name",),
    "obssched_job_last_error_timestamp_seconds": ("job_name",),
    "obssched_job_next_run_timestamp_seconds": ("job_name",),
    "obssched_job_info": ("job_name", "job_id", "executor", "jobstore", "trigger"),
    "obssched_jobs": ("jobstore", "state"),
    "obssched_job_running": ("job_name",),
    "obssched_job_running_since_timestamp_seconds": ("job_name",),
    "obssched_executor_running_jobs": ("executor",),
    "obssched_executor_pending_jobs": ("executor",),
    "obssched_executor_max_workers": ("executor",),
    "obssched_scheduler_state": ("state",),
    "obssched_scheduler_last_wakeup_timestamp_seconds": (),
    "obssched_build_info": ("version",),
}
_SUFFIXES = ("_bucket", "_count", "_sum")


def _family(metric: str) -> str:
    if metric in METRIC_LABELS:
        return metric
    for suffix in _SUFFIXES:
        if metric.endswith(suffix) and metric.removesuffix(suffix) in METRIC_LABELS:
            return metric.removesuffix(suffix)
    raise KeyError(f"{metric!r} is not a metric obssched exports")


def sel(metric: str, **matchers: str) -> str:
    """A selector filtered by every dashboard variable whose label ``metric`` carries."""
    labels = METRIC_LABELS[_family(metric)]
    parts = ['job=~"$job"', 'instance=~"$instance"', 'scheduler=~"$scheduler"']
    # Metrics without an executor label follow it through $job_name, whose values are chained
    # to $executor and whose "All" expands to the chained list (no custom all value).
    parts += [f'{label}=~"${label}"' for label in ("executor", "job_name") if label in labels]
    parts += [f'{label}="{value}"' for label, value in matchers.items()]
    return f"{metric}{{{','.join(parts)}}}"


def rate(metric: str, window: str = "$__rate_interval", **matchers: str) -> str:
    return f"rate({sel(metric, **matchers)}[{window}])"


def increase(metric: str, window: str = "$__rate_interval", **matchers: str) -> str:
    return f"increase({sel(metric, **matchers)}[{window}])"


def quantile(q: float, metric: str, by: str, window: str = "$__rate_interval", **matchers: str):
    keys = f"{by}, le" if by else "le"
    return (
        f"histogram_quantile({q}, sum by ({keys}) ({rate(metric + '_bucket', window, **matchers)}))"
    )


def failing(by: str) -> str:
    """1 for each job whose last error is newer than its last success, else 0."""
    error = sel("obssched_job_last_error_timestamp_seconds")
    success = sel("obssched_job_last_success_timestamp_seconds")
    known = sel("obssched_job_info")
    return (
        f"(max by ({by}) ({error}) > bool max by ({by}) ({success} or {error} * 0))"
        f" or max by ({by}) ({known}) * 0"
    )


# --- Grafana building blocks -----------------------------------------------------------------
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
    title,
    description,
    unit,
    expr,
    *,
    legend="__auto",
    steps=GREEN_ONLY,
    text="value",
    size=(4, 4),
    **kw,
):
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


def timeseries(title, description, unit, targets, *, size=(12, 8), stack=False, **kw):
    custom = {"stacking": {"mode": "normal", "group": "A"}} if stack else {}
    options = {
        "legend": {"displayMode": "table", "placement": "right", "calcs": ["max", "lastNotNull"]},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return panel(
        "timeseries", title, description, unit, targets, size, options=options, custom=custom, **kw
    )


def heatmap(title, description, expr):
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


# --- Overview dashboard --------------------------------------------------------------------------
STATE_MAPPINGS = [
    {
        "type": "value",
        "options": {
            "0": {"text": "stopped", "color": "red", "index": 0},
            "1": {"text": "paused", "color": "orange", "index": 1},
            "2": {"text": "running", "color": "green", "index": 2},
        },
    }
]
STATUS_MAPPINGS = [
    {
        "type": "value",
        "options": {
            "0": {"text": "ok", "color": "green", "index": 0},
            "1": {"text": "failing", "color": "red", "index": 1},
        },
    }
]


def scheduler_state_expr() -> str:
    running = sel("obssched_scheduler_state", state="running")
    paused = sel("obssched_scheduler_state", state="paused")
    by = "instance, scheduler"
    return f"max by ({by}) ({running}) * 2 + max by ({by}) ({paused})"


def heartbeat_expr() -> str:
    wakeup = sel("obssched_scheduler_last_wakeup_timestamp_seconds")
    return f"time() - max by (instance, scheduler) ({wakeup})"


def override(name: str, **properties: Any) -> dict[str, Any]:
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": key, "value": value} for key, value in properties.items()],
    }


def job_table() -> dict[str, Any]:
    by = JOB_KEYS
    columns = [
        (
            "Info",
            f"max by ({by}, job_id, executor, jobstore, trigger) ({sel('obssched_job_info')})",
        ),
        ("Status", failing(by)),
        ("Next run", f"max by ({by}) ({sel('obssched_job_next_run_timestamp_seconds')}) * 1000"),
        (
            "Last success",
            f"max by ({by}) ({sel('obssched_job_last_success_timestamp_seconds')}) * 1000",
        ),
        (
            "Last error",
            f"max by ({by}) ({sel('obssched_job_last_error_timestamp_seconds')}) * 1000",
        ),
        (
            "Runs",
            f"sum by ({by}) ({increase('obssched_job_run_duration_seconds_count', '$__range')})",
        ),
        ("Errors", f"sum by ({by}) ({increase('obssched_job_errored_total', '$__range')})"),
        ("Missed", f"sum by ({by}) ({increase('obssched_job_missed_total', '$__range')})"),
        ("p95 duration", quantile(0.95, "obssched_job_run_duration_seconds", by, "$__range")),
        ("Running now", f"max by ({by}) ({sel('obssched_job_running')})"),
    ]
    targets = [target(expr, column, instant=True, fmt="table") for column, expr in columns]
    value = {f"Value #{chr(ord('A') + i)}": column for i, (column, _) in enumerate(columns)}
    rename = {**value, "job_name": "Job", "trigger": "Schedule"}
    # The organize transformation names fields as they come out of the queries, before renaming.
    by_column = {column: original for original, column in rename.items()}
    order = [
        by_column.get(name, name)
        for name in (
            "Status",
            "Job",
            "Schedule",
            "Next run",
            "Last success",
            "Last error",
            "Runs",
            "Errors",
            "Missed",
            "p95 duration",
            "Running now",
            "executor",
            "scheduler",
            "instance",
            "job",
        )
    ]
    transformations = [
        {"id": "merge", "options": {}},
        {
            "id": "organize",
            "options": {
                "excludeByName": {"Time": True, "Value #A": True, "job_id": True, "jobstore": True},
                "renameByName": rename,
                "indexByName": {name: i for i, name in enumerate(order)},
            },
        },
    ]
    drilldown = (
        f"/d/{JOB_UID}/{JOB_UID}?${{datasource:queryparam}}&var-job=${{__data.fields.job}}"
        "&var-instance=${__data.fields.instance}&var-scheduler=${__data.fields.scheduler}"
        "&var-executor=${__data.fields.executor}&var-job_name=${__value.raw}&${__url_time_range}"
    )
    overrides = [
        override(
            "Status",
            mappings=STATUS_MAPPINGS,
            **{"custom.cellOptions": {"type": "color-background", "applyToRow": False}},
        ),
        override("Job", links=[{"title": "Open the job's dashboard", "url": drilldown}]),
        override("Next run", unit="dateTimeFromNow"),
        override("Last success", unit="dateTimeFromNow"),
        override(
            "Last error",
            unit="dateTimeFromNow",
            **{
                "custom.cellOptions": {"type": "color-text"},
                "color": {"mode": "fixed", "fixedColor": "red"},
            },
        ),
        override("p95 duration", unit="s", decimals=2),
        override("job", **{"custom.hidden": True}),
    ]
    options = {
        "showHeader": True,
        "cellHeight": "sm",
        "sortBy": [{"displayName": "Status", "desc": True}],
    }
    return panel(
        "table",
        "Jobs",
        "One row per job: its schedule (trigger), next run, last success and last error (the row's "
        "status turns red while the last error is newer than the last success), runs, errors and "
        "missed runs in the selected time range, p95 run duration over the range and how many runs "
        "are in flight. Click a job to open its own dashboard.",
        "short",
        targets,
        (24, 12),
        options=options,
        overrides=overrides,
        custom={"align": "auto", "cellOptions": {"type": "auto"}, "filterable": True},
        transformations=transformations,
    )


def latency_panels(
    metric: str, what: str, by_outcome: bool, exemplar: bool
) -> list[dict[str, Any]]:
    legend = "p{q} {{{{outcome}}}}" if by_outcome else "p{q}"
    by = "outcome" if by_outcome else ""
    targets = [
        target(quantile(q, metric, by), legend.format(q=int(q * 100)), exemplar=exemplar)
        for q in (0.5, 0.95, 0.99)
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


def overview_panels() -> list[dict[str, Any]]:
    runs = "obssched_job_run_duration_seconds_count"
    total_runs = f"sum({increase(runs, '$__range')})"
    ok_runs = f"sum({increase(runs, '$__range', outcome='success')})"
    overdue = (
        f"time() - {sel('obssched_job_next_run_timestamp_seconds')} > {gen_rules.OVERDUE_SECONDS}"
    )
    return [
        row("Overview"),
        stat(
            "Scheduler state",
            "The scheduler's state: running, paused or stopped.",
            "none",
            scheduler_state_expr(),
            legend="{{scheduler}} ({{instance}})",
            mappings=STATE_MAPPINGS,
            steps=thresholds(("red", None), ("orange", 1), ("green", 2)),
        ),
        stat(
            "Heartbeat age",
            "Seconds since the scheduler loop last woke. It wakes at least "
            f"every 10 s; red from {gen_rules.HEARTBEAT_STALL_SECONDS} s, where the stall alert "
            "fires.",
            "s",
            heartbeat_expr(),
            legend="{{scheduler}} ({{instance}})",
            steps=thresholds(
                ("green", None), ("orange", 20), ("red", gen_rules.HEARTBEAT_STALL_SECONDS)
            ),
        ),
        stat(
            "Jobs scheduled",
            "Jobs with a next run time, over all job stores.",
            "short",
            f"sum({sel('obssched_jobs', state='scheduled')}) or vector(0)",
        ),
        stat(
            "Jobs paused",
            "Jobs paused (no next run time), over all job stores.",
            "short",
            f"sum({sel('obssched_jobs', state='paused')}) or vector(0)",
        ),
        stat(
            "Runs",
            "Runs that finished in the selected time range, successful or not.",
            "short",
            f"{total_runs} or vector(0)",
        ),
        stat(
            "Success ratio",
            "Share of runs in the selected range that ended without an error.",
            "percentunit",
            f"{ok_runs} / {total_runs}",
            steps=thresholds(("red", None), ("orange", 0.9), ("green", 0.99)),
        ),
        stat(
            "Failing jobs",
            "Jobs whose last error is newer than their last success.",
            "short",
            f"sum({failing(JOB_KEYS)})",
            steps=RED_FROM_ONE,
        ),
        stat(
            "Missed runs",
            "Runs missed in the selected range (past misfire_grace_time).",
            "short",
            f"sum({increase('obssched_job_missed_total', '$__range')}) or vector(0)",
            steps=RED_FROM_ONE,
        ),
        stat(
            "Overdue jobs",
            f"Jobs whose next run time is more than {gen_rules.OVERDUE_SECONDS} s in the "
            "past: the loop is not getting to them.",
            "short",
            f"count({overdue}) or vector(0)",
            steps=RED_FROM_ONE,
        ),
        stat(
            "Running now",
            "Job runs in flight.",
            "short",
            f"sum({sel('obssched_job_running')}) or vector(0)",
        ),
        stat(
            "Skipped runs",
            "Runs not started in the selected range because max_instances runs of the job were "
            "still going: the job overlaps itself.",
            "short",
            f"sum({increase('obssched_job_max_instances_total', '$__range')}) or vector(0)",
            steps=RED_FROM_ONE,
        ),
        stat(
            "Listener errors",
            "Exceptions raised by event listeners in the selected range.",
            "short",
            f"sum({increase('obssched_listener_errors_total', '$__range')}) or vector(0)",
            steps=RED_FROM_ONE,
        ),
        row("Jobs"),
        job_table(),
        row("Runs"),
        timeseries(
            "Runs by outcome",
            "Finished runs per minute, by outcome (success or error).",
            "opm",
            [target(f"sum by (outcome) (60 * {rate(runs)})", "{{outcome}}")],
            stack=True,
        ),
        timeseries(
            "Errors by job",
            "Failed runs per minute, by job.",
            "opm",
            [
                target(
                    f"sum by (job_name) (60 * {rate('obssched_job_errored_total')})", "{{job_name}}"
                )
            ],
            stack=True,
        ),
        panel(
            "bargauge",
            "Top error types",
            "The ten exception types raised most often by jobs in the selected range.",
            "short",
            [
                target(
                    "topk(10, sum by (error_type) "
                    f"({increase('obssched_job_errored_total', '$__range')}))",
                    "{{error_type}}",
                    instant=True,
                )
            ],
            (12, 8),
            options={
                "displayMode": "gradient",
                "orientation": "horizontal",
                "showUnfilled": True,
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            },
        ),
        timeseries(
            "Missed, skipped and coalesced runs",
            "Per job: runs missed (too late to start), "
            "runs skipped because max_instances were already running (overlaps), and runs "
            "merged by coalescing. Counts per rate interval.",
            "short",
            [
                target(
                    f"sum by (job_name) ({increase('obssched_job_missed_total')})",
                    "missed {{job_name}}",
                ),
                target(
                    f"sum by (job_name) ({increase('obssched_job_max_instances_total')})",
                    "max_instances {{job_name}}",
                ),
                target(
                    f"sum by (job_name) ({increase('obssched_job_coalesced_total')})",
                    "coalesced {{job_name}}",
                ),
            ],
        ),
        row("Latency"),
        *latency_panels("obssched_job_run_duration_seconds", "Run duration", False, True),
        heatmap(
            "Run duration heatmap",
            "How many runs finished in each duration bucket per rate "
            "interval. Exemplars (enable them in the panel legend) link a slow bucket to a trace.",
            f"sum by (le) ({increase('obssched_job_run_duration_seconds_bucket')})",
        ),
        timeseries(
            "p95 run duration by job",
            "95th percentile run duration of each job.",
            "s",
            [
                target(
                    quantile(0.95, "obssched_job_run_duration_seconds", "job_name"),
                    "{{job_name}}",
                    exemplar=True,
                )
            ],
        ),
        *latency_panels("obssched_job_start_delay_seconds", "Start delay", False, True),
        timeseries(
            "Executor queue wait p50 / p95 / p99",
            "Time runs waited in an executor's queue for a free worker, by executor.",
            "s",
            [
                target(
                    quantile(q, "obssched_executor_queue_wait_seconds", "executor"),
                    f"p{int(q * 100)} {{{{executor}}}}",
                )
                for q in (0.5, 0.95, 0.99)
            ],
        ),
        row("Executors"),
        timeseries(
            "Executor utilisation",
            "Running jobs as a share of max_workers, by executor; "
            "at 100% new runs wait in the queue.",
            "percentunit",
            [
                target(
                    f"max by (executor) ({sel('obssched_executor_running_jobs')}) / "
                    f"max by (executor) ({sel('obssched_executor_max_workers')} > 0)",
                    "{{executor}}",
                )
            ],
        ),
        timeseries(
            "Running, pending and max workers",
            "Per executor: jobs running, jobs waiting for a worker, and the worker limit.",
            "short",
            [
                target(
                    f"max by (executor) ({sel('obssched_executor_running_jobs')})",
                    "running {{executor}}",
                ),
                target(
                    f"max by (executor) ({sel('obssched_executor_pending_jobs')})",
                    "pending {{executor}}",
                ),
                target(
                    f"max by (executor) ({sel('obssched_executor_max_workers')})",
                    "max {{executor}}",
                ),
            ],
        ),
    ]


# --- Job dashboard -------------------------------------------------------------------------------
def job_panels() -> list[dict[str, Any]]:
    runs = "obssched_job_run_duration_seconds_count"

    def ts_stat(title: str, description: str, metric: str) -> dict[str, Any]:
        return stat(title, description, "dateTimeFromNow", f"max({sel(metric)}) * 1000")

    def in_range(title: str, description: str, metric: str, steps=GREEN_ONLY, **matchers):
        expr = f"sum({increase(metric, '$__range', **matchers)}) or vector(0)"
        return stat(title, description, "short", expr, steps=steps)

    return [
        row("Job"),
        stat(
            "Schedule",
            "The job's trigger, executor and job store.",
            "none",
            sel("obssched_job_info"),
            legend="{{trigger}} on {{executor}} ({{jobstore}})",
            text="name",
            size=(8, 4),
        ),
        stat(
            "Status",
            "Failing while the last error is newer than the last success.",
            "none",
            f"max({failing(JOB_KEYS)})",
            mappings=STATUS_MAPPINGS,
            steps=RED_FROM_ONE,
        ),
        ts_stat(
            "Next run",
            "When the job runs next (empty while paused).",
            "obssched_job_next_run_timestamp_seconds",
        ),
        ts_stat(
            "Last success",
            "When a run last finished without an error.",
            "obssched_job_last_success_timestamp_seconds",
        ),
        ts_stat(
            "Last error",
            "When a run last raised an error.",
            "obssched_job_last_error_timestamp_seconds",
        ),
        stat(
            "Running now",
            "Runs of this job in flight.",
            "short",
            f"max({sel('obssched_job_running')}) or vector(0)",
        ),
        in_range("Runs", "Runs finished in the selected range.", runs),
        in_range(
            "Errors",
            "Runs that raised an error in the selected range.",
            runs,
            outcome="error",
            steps=RED_FROM_ONE,
        ),
        in_range(
            "Missed",
            "Runs missed in the selected range.",
            "obssched_job_missed_total",
            steps=RED_FROM_ONE,
        ),
        in_range(
            "Skipped (max_instances)",
            "Runs not started in the selected range because max_instances runs were already going.",
            "obssched_job_max_instances_total",
            steps=RED_FROM_ONE,
        ),
        in_range(
            "Coalesced",
            "Runs merged into one by coalescing in the selected range.",
            "obssched_job_coalesced_total",
        ),
        row("Runs"),
        timeseries(
            "Runs by outcome",
            "Finished runs per minute, by outcome.",
            "opm",
            [target(f"sum by (outcome) (60 * {rate(runs)})", "{{outcome}}")],
            stack=True,
        ),
        timeseries(
            "Errors by type",
            "Failed runs per minute, by exception type.",
            "opm",
            [
                target(
                    f"sum by (error_type) (60 * {rate('obssched_job_errored_total')})",
                    "{{error_type}}",
                )
            ],
            stack=True,
        ),
        timeseries(
            "Missed, skipped and coalesced runs",
            "Runs missed, skipped because of max_instances, and coalesced, per rate interval.",
            "short",
            [
                target(f"sum({increase('obssched_job_missed_total')})", "missed"),
                target(f"sum({increase('obssched_job_max_instances_total')})", "max_instances"),
                target(f"sum({increase('obssched_job_coalesced_total')})", "coalesced"),
            ],
        ),
        timeseries(
            "Running",
            "Runs of this job in flight.",
            "short",
            [target(f"max({sel('obssched_job_running')})", "running")],
        ),
        row("Latency"),
        *latency_panels("obssched_job_run_duration_seconds", "Run duration", True, True),
        heatmap(
            "Run duration heatmap",
            "Runs per duration bucket per rate interval. Exemplars "
            "link a slow bucket to its trace.",
            f"sum by (le) ({increase('obssched_job_run_duration_seconds_bucket')})",
        ),
        *latency_panels("obssched_job_start_delay_seconds", "Start delay", False, True),
    ]


def dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard, by file name."""
    return {
        "obssched-overview.json": dashboard(
            OVERVIEW_UID,
            "obssched overview",
            "Health of obssched schedulers: state, jobs, runs, errors, latency and executors.",
            overview_panels(),
            job_name_multi=True,
        ),
        "obssched-job.json": dashboard(
            JOB_UID,
            "obssched job",
            "One obssched job in depth: schedule, outcomes, errors and latency with trace links.",
            job_panels(),
            job_name_multi=False,
        ),
    }


def rendered_files() -> dict[Path, str]:
    """Every generated file and its content."""
    files = {
        DASHBOARDS_DIR / name: json.dumps(board, indent=2) + "\n"
        for name, board in dashboards().items()
    }
    files[RULES_PATH] = gen_rules.rules_yaml()
    return files


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report out-of-date files")
    args = parser.parse_args(argv)
    stale = []
    for path, text in rendered_files().items():
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"{'out of date' if args.check else 'wrote'}: {path.relative_to(ROOT)}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
