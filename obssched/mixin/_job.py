"""The job dashboard's panels: one job in depth."""

from __future__ import annotations

from typing import Any

from obssched.mixin._config import MixinConfig
from obssched.mixin._panels import (
    GREEN_ONLY,
    RED_FROM_ONE,
    STATUS_MAPPINGS,
    heatmap,
    latency_panels,
    row,
    stat,
    target,
    timeseries,
)
from obssched.mixin._queries import JOB_KEYS, Queries


def job_panels(config: MixinConfig) -> list[dict[str, Any]]:
    """The job dashboard's panels, in order."""
    q = Queries(config.matchers)
    runs = "obssched_job_run_duration_seconds_count"

    def ts_stat(title: str, description: str, metric: str) -> dict[str, Any]:
        """A stat showing a timestamp gauge as time from now."""
        return stat(title, description, "dateTimeFromNow", f"max({q.sel(metric)}) * 1000")

    def in_range(
        title: str,
        description: str,
        metric: str,
        steps: dict[str, Any] = GREEN_ONLY,
        **matchers: str,
    ) -> dict[str, Any]:
        """A stat counting ``metric``'s increase over the dashboard's time range."""
        expr = f"sum({q.increase(metric, '$__range', **matchers)}) or vector(0)"
        return stat(title, description, "short", expr, steps=steps)

    return [
        row("Job"),
        stat(
            "Schedule",
            "The job's trigger, executor and job store.",
            "none",
            q.sel("obssched_job_info"),
            legend="{{trigger}} on {{executor}} ({{jobstore}})",
            text="name",
            size=(8, 4),
        ),
        stat(
            "Status",
            "Failing while the last error is newer than the last success.",
            "none",
            f"max({q.failing(JOB_KEYS)})",
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
            f"max({q.sel('obssched_job_running')}) or vector(0)",
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
            [target(f"sum by (outcome) (60 * {q.rate(runs)})", "{{outcome}}")],
            stack=True,
        ),
        timeseries(
            "Errors by type",
            "Failed runs per minute, by exception type.",
            "opm",
            [
                target(
                    f"sum by (error_type) (60 * {q.rate('obssched_job_errored_total')})",
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
                target(f"sum({q.increase('obssched_job_missed_total')})", "missed"),
                target(f"sum({q.increase('obssched_job_max_instances_total')})", "max_instances"),
                target(f"sum({q.increase('obssched_job_coalesced_total')})", "coalesced"),
            ],
        ),
        timeseries(
            "Running",
            "Runs of this job in flight.",
            "short",
            [target(f"max({q.sel('obssched_job_running')})", "running")],
        ),
        row("Latency"),
        *latency_panels(q, "obssched_job_run_duration_seconds", "Run duration", True, True),
        heatmap(
            "Run duration heatmap",
            "Runs per duration bucket per rate interval. Exemplars "
            "link a slow bucket to its trace.",
            f"sum by (le) ({q.increase('obssched_job_run_duration_seconds_bucket')})",
        ),
        *latency_panels(q, "obssched_job_start_delay_seconds", "Start delay", False, True),
    ]
