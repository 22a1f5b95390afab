"""PromQL for the dashboards: selectors filtered by the settings' selector and the dashboard
variables, rates, quantiles."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "EXECUTOR_KEYS",
    "JOB_KEYS",
    "JOB_UID",
    "METRIC_LABELS",
    "OVERVIEW_UID",
    "SCHEDULER_KEYS",
    "Queries",
]

OVERVIEW_UID = "obssched-overview"
JOB_UID = "obssched-job"
SCHEDULER_KEYS = "job, instance, scheduler"
JOB_KEYS = "job, instance, scheduler, job_name"
EXECUTOR_KEYS = "job, instance, scheduler, executor"

# Which labels each metric the dashboards read carries, beyond scheduler/job/instance.
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


class Queries:
    """Builds the dashboards' PromQL, every selector starting with the settings' matchers.

    Args:
        matchers: the settings' selector, one ``label<op>"value"`` each.
    """

    def __init__(self, matchers: Sequence[str]) -> None:
        self.matchers = tuple(matchers)

    def sel(self, metric: str, **matchers: str) -> str:
        """A selector filtered by every dashboard variable whose label ``metric`` carries."""
        labels = METRIC_LABELS[_family(metric)]
        parts = [*self.matchers, 'job=~"$job"', 'instance=~"$instance"', 'scheduler=~"$scheduler"']
        # Metrics without an executor label follow it through $job_name, whose values are
        # chained to $executor and whose "All" expands to the chained list (no custom all value).
        parts += [f'{label}=~"${label}"' for label in ("executor", "job_name") if label in labels]
        parts += [f'{label}="{value}"' for label, value in matchers.items()]
        return f"{metric}{{{','.join(parts)}}}"

    def rate(self, metric: str, window: str = "$__rate_interval", **matchers: str) -> str:
        """``rate()`` of a filtered selector."""
        return f"rate({self.sel(metric, **matchers)}[{window}])"

    def increase(self, metric: str, window: str = "$__rate_interval", **matchers: str) -> str:
        """``increase()`` of a filtered selector."""
        return f"increase({self.sel(metric, **matchers)}[{window}])"

    def quantile(
        self, q: float, metric: str, by: str, window: str = "$__rate_interval", **matchers: str
    ) -> str:
        """A histogram quantile of ``metric`` by the labels ``by`` (empty: over everything)."""
        keys = f"{by}, le" if by else "le"
        buckets = self.rate(metric + "_bucket", window, **matchers)
        return f"histogram_quantile({q}, sum by ({keys}) ({buckets}))"

    def failing(self, by: str) -> str:
        """1 for each job whose last error is newer than its last success, else 0."""
        error = self.sel("obssched_job_last_error_timestamp_seconds")
        success = self.sel("obssched_job_last_success_timestamp_seconds")
        known = self.sel("obssched_job_info")
        return (
            f"(max by ({by}) ({error}) > bool max by ({by}) ({success} or {error} * 0))"
            f" or max by ({by}) ({known}) * 0"
        )
