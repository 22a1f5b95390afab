"""The metrics obssched exports (issue 4), written down apart from the dashboards' generator."""

from __future__ import annotations

COUNTER, GAUGE, HISTOGRAM = "counter", "gauge", "histogram"

# Every series also carries `scheduler`; Prometheus adds `job` and `instance` when it scrapes.
EXPORTED: dict[str, tuple[str, frozenset[str]]] = {
    name: (kind, frozenset(labels))
    for name, kind, labels in [
        ("obssched_job_submitted_total", COUNTER, ("job_name", "executor")),
        ("obssched_job_executed_total", COUNTER, ("job_name", "executor")),
        ("obssched_job_errored_total", COUNTER, ("job_name", "executor", "error_type")),
        ("obssched_job_missed_total", COUNTER, ("job_name",)),
        ("obssched_job_max_instances_total", COUNTER, ("job_name", "executor")),
        ("obssched_job_timeouts_total", COUNTER, ("job_name",)),
        ("obssched_job_queued_total", COUNTER, ("job_name", "executor")),
        ("obssched_job_coalesced_total", COUNTER, ("job_name",)),
        ("obssched_events_total", COUNTER, ("event",)),
        ("obssched_listener_errors_total", COUNTER, ("listener",)),
        ("obssched_job_run_duration_seconds", HISTOGRAM, ("job_name", "executor", "outcome")),
        ("obssched_job_start_delay_seconds", HISTOGRAM, ("job_name", "executor")),
        ("obssched_executor_queue_wait_seconds", HISTOGRAM, ("executor",)),
        ("obssched_job_last_success_timestamp_seconds", GAUGE, ("job_name",)),
        ("obssched_job_last_error_timestamp_seconds", GAUGE, ("job_name",)),
        ("obssched_job_next_run_timestamp_seconds", GAUGE, ("job_name",)),
        ("obssched_job_info", GAUGE, ("job_name", "job_id", "executor", "jobstore", "trigger")),
        ("obssched_jobs", GAUGE, ("jobstore", "state")),
        ("obssched_job_running", GAUGE, ("job_name",)),
        ("obssched_job_timeout_seconds", GAUGE, ("job_name",)),
        ("obssched_job_running_since_timestamp_seconds", GAUGE, ("job_name",)),
        ("obssched_executor_running_jobs", GAUGE, ("executor",)),
        ("obssched_executor_pending_jobs", GAUGE, ("executor",)),
        ("obssched_executor_max_workers", GAUGE, ("executor",)),
        ("obssched_scheduler_state", GAUGE, ("state",)),
        ("obssched_scheduler_last_wakeup_timestamp_seconds", GAUGE, ()),
        ("obssched_build_info", GAUGE, ("version",)),
        ("obssched_jobstore_up", GAUGE, ("jobstore",)),
        ("obssched_jobstore_last_success_timestamp_seconds", GAUGE, ("jobstore",)),
        ("obssched_jobstore_errors_total", COUNTER, ("jobstore",)),
        ("obssched_scheduler_errors_total", COUNTER, ("stage",)),
        ("obssched_listener_duration_seconds", "summary", ("listener",)),
        ("obssched_listener_max_duration_seconds", GAUGE, ("listener",)),
    ]
}

PROMETHEUS_OWN = frozenset({"up"})
"""Series Prometheus itself writes for every target."""


def family(series_name: str) -> str | None:
    """The exported metric a series name belongs to (``_bucket`` etc. stripped), or None."""
    if series_name in EXPORTED:
        return series_name
    for suffix in ("_bucket", "_count", "_sum"):
        base = series_name.removesuffix(suffix)
        if base != series_name and EXPORTED.get(base, ("", ()))[0] == HISTOGRAM:
            return base
    return None


def labels_of(series_name: str) -> frozenset[str]:
    """The labels obssched puts on a series, beyond ``scheduler``, ``job`` and ``instance``."""
    base = family(series_name)
    if base is None:
        raise KeyError(f"{series_name!r} is not exported by obssched")
    labels = EXPORTED[base][1]
    return labels | {"le"} if series_name.endswith("_bucket") else labels
