"""The overview dashboard's panels: every scheduler, job and executor at a glance."""

from __future__ import annotations

from typing import Any

from obssched.mixin._config import MixinConfig, number
from obssched.mixin._panels import (
    RED_FROM_ONE,
    STATUS_MAPPINGS,
    heatmap,
    latency_panels,
    override,
    panel,
    row,
    stat,
    target,
    thresholds,
    timeseries,
)
from obssched.mixin._queries import JOB_KEYS, JOB_UID, Queries

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


def scheduler_state_expr(q: Queries) -> str:
    """2 while running, 1 while paused, 0 while stopped, per scheduler."""
    running = q.sel("obssched_scheduler_state", state="running")
    paused = q.sel("obssched_scheduler_state", state="paused")
    by = "instance, scheduler"
    return f"max by ({by}) ({running}) * 2 + max by ({by}) ({paused})"


def heartbeat_expr(q: Queries) -> str:
    """Seconds since each scheduler's loop last woke."""
    wakeup = q.sel("obssched_scheduler_last_wakeup_timestamp_seconds")
    return f"time() - max by (instance, scheduler) ({wakeup})"


def job_table(q: Queries) -> dict[str, Any]:
    """The table of every job, each row linking to the job dashboard."""
    by = JOB_KEYS
    columns = [
        (
            "Info",
            f"max by ({by}, job_id, executor, jobstore, trigger) ({q.sel('obssched_job_info')})",
        ),
        ("Status", q.failing(by)),
        ("Next run", f"max by ({by}) ({q.sel('obssched_job_next_run_timestamp_seconds')}) * 1000"),
        (
            "Last success",
            f"max by ({by}) ({q.sel('obssched_job_last_success_timestamp_seconds')}) * 1000",
        ),
        (
            "Last error",
            f"max by ({by}) ({q.sel('obssched_job_last_error_timestamp_seconds')}) * 1000",
        ),
        (
            "Runs",
            f"sum by ({by}) ({q.increase('obssched_job_run_duration_seconds_count', '$__range')})",
        ),
        ("Errors", f"sum by ({by}) ({q.increase('obssched_job_errored_total', '$__range')})"),
        ("Missed", f"sum by ({by}) ({q.increase('obssched_job_missed_total', '$__range')})"),
        ("p95 duration", q.quantile(0.95, "obssched_job_run_duration_seconds", by, "$__range")),
        ("Running now", f"max by ({by}) ({q.sel('obssched_job_running')})"),
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


def overview_panels(config: MixinConfig) -> list[dict[str, Any]]:
    """The overview's panels, in order."""
    q = Queries(config.matchers)
    runs = "obssched_job_run_duration_seconds_count"
    total_runs = f"sum({q.increase(runs, '$__range')})"
    ok_runs = f"sum({q.increase(runs, '$__range', outcome='success')})"
    overdue_seconds = number(config.thresholds.overdue_seconds)
    overdue = f"time() - {q.sel('obssched_job_next_run_timestamp_seconds')} > {overdue_seconds}"
    return [
        row("Overview"),
        stat(
            "Scheduler state",
            "The scheduler's state: running, paused or stopped.",
            "none",
            scheduler_state_expr(q),
            legend="{{scheduler}} ({{instance}})",
            mappings=STATE_MAPPINGS,
            steps=thresholds(("red", None), ("orange", 1), ("green", 2)),
        ),
        stat(
            "Heartbeat age",
            "Seconds since the scheduler loop last woke. It wakes at least every 10 s; red from "
            f"{number(config.thresholds.heartbeat_stall_seconds)} s, where the stall alert fires.",
            "s",
            heartbeat_expr(q),
            legend="{{scheduler}} ({{instance}})",
            steps=thresholds(
                ("green", None), ("orange", 20), ("red", config.thresholds.heartbeat_stall_seconds)
            ),
        ),
        stat(
            "Jobs scheduled",
            "Jobs with a next run time, over all job stores.",
            "short",
            f"sum({q.sel('obssched_jobs', state='scheduled')}) or vector(0)",
        ),
        stat(
            "Jobs paused",
            "Jobs paused (no next run time), over all job stores.",
            "short",
            f"sum({q.sel('obssched_jobs', state='paused')}) or vector(0)",
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
            f"sum({q.failing(JOB_KEYS)})",
            steps=RED_FROM_ONE,
        ),
        stat(
            "Missed runs",
            "Runs missed in the selected range (past misfire_grace_time).",
            "short",
            f"sum({q.increase('obssched_job_missed_total', '$__range')}) or vector(0)",
            steps=RED_FROM_ONE,
        ),
        stat(
            "Overdue jobs",
            f"Jobs whose next run time is more than {overdue_seconds} s in the "
            "past: the loop is not getting to them.",
            "short",
            f"count({overdue}) or vector(0)",
            steps=RED_FROM_ONE,
        ),
        stat(
            "Running now",
            "Job runs in flight.",
            "short",
            f"sum({q.sel('obssched_job_running')}) or vector(0)",
        ),
        stat(
            "Skipped runs",
            "Runs not started in the selected range because max_instances runs of the job were "
            "still going: the job overlaps itself.",
            "short",
            f"sum({q.increase('obssched_job_max_instances_total', '$__range')}) or vector(0)",
            steps=RED_FROM_ONE,
        ),
        stat(
            "Listener errors",
            "Exceptions raised by event listeners in the selected range.",
            "short",
            f"sum({q.increase('obssched_listener_errors_total', '$__range')}) or vector(0)",
            steps=RED_FROM_ONE,
        ),
        row("Jobs"),
        job_table(q),
        row("Runs"),
        timeseries(
            "Runs by outcome",
            "Finished runs per minute, by outcome (success or error).",
            "opm",
            [target(f"sum by (outcome) (60 * {q.rate(runs)})", "{{outcome}}")],
            stack=True,
        ),
        timeseries(
            "Errors by job",
            "Failed runs per minute, by job.",
            "opm",
            [
                target(
                    f"sum by (job_name) (60 * {q.rate('obssched_job_errored_total')})",
                    "{{job_name}}",
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
                    f"({q.increase('obssched_job_errored_total', '$__range')}))",
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
                    f"sum by (job_name) ({q.increase('obssched_job_missed_total')})",
                    "missed {{job_name}}",
                ),
                target(
                    f"sum by (job_name) ({q.increase('obssched_job_max_instances_total')})",
                    "max_instances {{job_name}}",
                ),
                target(
                    f"sum by (job_name) ({q.increase('obssched_job_coalesced_total')})",
                    "coalesced {{job_name}}",
                ),
            ],
        ),
        row("Latency"),
        *latency_panels(q, "obssched_job_run_duration_seconds", "Run duration", False, True),
        heatmap(
            "Run duration heatmap",
            "How many runs finished in each duration bucket per rate "
            "interval. Exemplars (enable them in the panel legend) link a slow bucket to a trace.",
            f"sum by (le) ({q.increase('obssched_job_run_duration_seconds_bucket')})",
        ),
        timeseries(
            "p95 run duration by job",
            "95th percentile run duration of each job.",
            "s",
            [
                target(
                    q.quantile(0.95, "obssched_job_run_duration_seconds", "job_name"),
                    "{{job_name}}",
                    exemplar=True,
                )
            ],
        ),
        *latency_panels(q, "obssched_job_start_delay_seconds", "Start delay", False, True),
        timeseries(
            "Executor queue wait p50 / p95 / p99",
            "Time runs waited in an executor's queue for a free worker, by executor.",
            "s",
            [
                target(
                    q.quantile(share, "obssched_executor_queue_wait_seconds", "executor"),
                    f"p{int(share * 100)} {{{{executor}}}}",
                )
                for share in (0.5, 0.95, 0.99)
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
                    f"max by (executor) ({q.sel('obssched_executor_running_jobs')}) / "
                    f"max by (executor) ({q.sel('obssched_executor_max_workers')} > 0)",
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
                    f"max by (executor) ({q.sel('obssched_executor_running_jobs')})",
                    "running {{executor}}",
                ),
                target(
                    f"max by (executor) ({q.sel('obssched_executor_pending_jobs')})",
                    "pending {{executor}}",
                ),
                target(
                    f"max by (executor) ({q.sel('obssched_executor_max_workers')})",
                    "max {{executor}}",
                ),
            ],
        ),
    ]
