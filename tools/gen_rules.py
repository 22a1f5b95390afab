"""Writes obssched's Prometheus recording and alerting rules (``dashboards/prometheus``).

The thresholds live here; ``gen_dashboards.py`` imports them so that a panel turns red where the
matching alert fires, and writes this module's rule file together with the dashboards.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

OVERVIEW_UID = "obssched-overview"
JOB_UID = "obssched-job"

# Where alert annotations point. Replace it (one sed over obssched-rules.yml) with your Grafana URL.
GRAFANA_URL = "http://localhost:3000"

# --- Thresholds -------------------------------------------------------------------------------
# Each is used by an alert and, where a panel shows the same quantity, by that panel's colours.
HEARTBEAT_STALL_SECONDS = 60  # the loop wakes at least every 10 s: 6 missed wake-ups is a stall
OVERDUE_SECONDS = 300  # a healthy loop runs a job within seconds of its next run time
RUNNING_TOO_LONG_SECONDS = 3600
START_DELAY_P95_SECONDS = 30
ERROR_RATIO = 0.10  # share of runs that ended in an error over the recording window
ERROR_RATIO_MIN_RUNS = 3  # below this many runs in the window a ratio says little
MISSED_WINDOW = "10m"
MAX_INSTANCES_WINDOW = "10m"
UPTIME_LOOKBACK = "1h"  # how long a target that once exported obssched metrics counts as one
JOBSTORE_DOWN_FOR = "5m"  # a store that fails every read this long is down, not a hiccup
LOOP_ERRORS_WINDOW = "10m"  # how long a caught executor or listener failure keeps its alert up

SCHEDULER_KEYS = "job, instance, scheduler"
JOB_KEYS = "job, instance, scheduler, job_name"
EXECUTOR_KEYS = "job, instance, scheduler, executor"


def link(uid: str, *labels: str) -> str:
    params = "&".join(f"var-{label}={{{{ $labels.{label} | urlquery }}}}" for label in labels)
    return f"{GRAFANA_URL}/d/{uid}/{uid}?{params}"


JOB_LINK = link(JOB_UID, "job", "instance", "scheduler", "job_name")
SCHEDULER_LINK = link(OVERVIEW_UID, "job", "instance", "scheduler")
EXECUTOR_LINK = link(OVERVIEW_UID, "job", "instance", "scheduler", "executor")
TARGET_LINK = link(OVERVIEW_UID, "job", "instance")
ON_JOB = "{{ $labels.job_name }} on {{ $labels.scheduler }} ({{ $labels.instance }})"


def new_or_increased(metric: str, window: str) -> str:
    """Series that grew within ``window``, including ones that first appeared inside it.

    ``increase()`` cannot see a counter's first sample, so a counter created at its first
    increment (value 1) would otherwise never alert.
    """
    summed = f"sum by ({JOB_KEYS}) ({metric})"
    return (
        f"sum by ({JOB_KEYS}) (increase({metric}[{window}])) > 0\n"
        f"or\n({summed} > 0 unless sum by ({JOB_KEYS}) ({metric} offset {window}))"
    )


RECORDING_RULES = [
    (
        "obssched:job_runs:rate5m",
        f"sum by ({JOB_KEYS}) (rate(obssched_job_run_duration_seconds_count[5m]))",
    ),
    (
        "obssched:job_run_errors:rate5m",
        f"sum by ({JOB_KEYS})\n"
        '(rate(obssched_job_run_duration_seconds_count{outcome="error"}[5m]))',
    ),
    (
        "obssched:job_run_error_ratio:rate5m",
        "obssched:job_run_errors:rate5m / (obssched:job_runs:rate5m > 0)",
    ),
    (
        "obssched:job_start_delay_seconds:p95_5m",
        "histogram_quantile(0.95,\n"
        f"  sum by ({JOB_KEYS}, le) (rate(obssched_job_start_delay_seconds_bucket[5m]))\n)",
    ),
    (
        "obssched:executor_utilisation:ratio",
        f"max by ({EXECUTOR_KEYS}) (obssched_executor_running_jobs)\n/\n"
        f"max by ({EXECUTOR_KEYS}) (obssched_executor_max_workers > 0)",
    ),
    (
        "obssched:scheduler_heartbeat_age_seconds",
        "time() - obssched_scheduler_last_wakeup_timestamp_seconds",
    ),
]

SCHEDULER_RUNNING = f'on ({SCHEDULER_KEYS}) obssched_scheduler_state{{state="running"}} == 1'

ALERTS: list[dict[str, Any]] = [
    {
        "alert": "ObsschedJobFailing",
        "doc": "The last error is newer than the last success. Fires after it has held for `for`.",
        "expr": "obssched_job_last_error_timestamp_seconds\n> "
        "(obssched_job_last_success_timestamp_seconds\n"
        "  or obssched_job_last_error_timestamp_seconds * 0)",
        "for": "1m",
        "severity": "critical",
        "summary": "obssched job {{ $labels.job_name }} is failing",
        "description": f"The last run of {ON_JOB} raised an error and no run has succeeded since.",
        "dashboard": JOB_LINK,
    },
    {
        "alert": "ObsschedJobHighErrorRate",
        "doc": f"THRESHOLD: more than {ERROR_RATIO:.0%} of runs over 5m failed, with at least "
        f"{ERROR_RATIO_MIN_RUNS} runs in the window.",
        "expr": f"obssched:job_run_error_ratio:rate5m > {ERROR_RATIO}\n"
        f"and obssched:job_runs:rate5m * 300 >= {ERROR_RATIO_MIN_RUNS}",
        "for": "10m",
        "severity": "warning",
        "summary": "obssched job {{ $labels.job_name }} fails often",
        "description": f"{{{{ $value | humanizePercentage }}}} of the runs of {ON_JOB} "
        "failed over the last 5 minutes.",
        "dashboard": JOB_LINK,
    },
    {
        "alert": "ObsschedJobMissedRuns",
        "doc": "THRESHOLD: any run missed (started later than misfire_grace_time) in "
        f"{MISSED_WINDOW}.",
        "expr": new_or_increased("obssched_job_missed_total", MISSED_WINDOW),
        "for": "0m",
        "severity": "warning",
        "summary": "obssched job {{ $labels.job_name }} missed runs",
        "description": f"{ON_JOB} missed runs in the last {MISSED_WINDOW}: they were due but could "
        "not start within misfire_grace_time (scheduler busy, paused or down).",
        "dashboard": JOB_LINK,
    },
    {
        "alert": "ObsschedJobOverlapping",
        "doc": f"THRESHOLD: any run skipped in {MAX_INSTANCES_WINDOW} because max_instances runs "
        "of the job were still going.",
        "expr": new_or_increased("obssched_job_max_instances_total", MAX_INSTANCES_WINDOW),
        "for": "0m",
        "severity": "warning",
        "summary": "obssched job {{ $labels.job_name }} overlaps itself",
        "description": f"Runs of {ON_JOB} were skipped in the last {MAX_INSTANCES_WINDOW} because "
        "earlier runs were still going (max_instances reached): runs last longer than the "
        "interval.",
        "dashboard": JOB_LINK,
    },
    {
        "alert": "ObsschedJobOverdue",
        "doc": f"THRESHOLD: next run time more than {OVERDUE_SECONDS}s in the past while the "
        "scheduler is running.",
        "expr": f"time() - obssched_job_next_run_timestamp_seconds > {OVERDUE_SECONDS}\n"
        f"and {SCHEDULER_RUNNING}",
        "for": "2m",
        "severity": "warning",
        "summary": "obssched job {{ $labels.job_name }} is overdue",
        "description": f"The next run of {ON_JOB} was due {{{{ $value | humanizeDuration }}}} ago "
        "and has not started: the scheduler loop is not getting to it, or the job's trigger "
        'raised and the job was paused (obssched_scheduler_errors_total{stage="trigger"}).',
        "dashboard": JOB_LINK,
    },
    {
        "alert": "ObsschedJobRunningTooLong",
        "doc": f"THRESHOLD: a run has been going for more than {RUNNING_TOO_LONG_SECONDS}s.",
        "expr": "time() - (obssched_job_running_since_timestamp_seconds > 0)\n"
        f"> {RUNNING_TOO_LONG_SECONDS}\n"
        f"and on ({JOB_KEYS}) obssched_job_running > 0",
        "for": "0m",
        "severity": "warning",
        "summary": "obssched job {{ $labels.job_name }} has been running too long",
        "description": f"A run of {ON_JOB} started {{{{ $value | humanizeDuration }}}} ago and has "
        "not finished.",
        "dashboard": JOB_LINK,
    },
    {
        "alert": "ObsschedJobStartDelayHigh",
        "doc": f"THRESHOLD: p95 delay between due time and start above {START_DELAY_P95_SECONDS}s "
        "over 5m.",
        "expr": f"obssched:job_start_delay_seconds:p95_5m > {START_DELAY_P95_SECONDS}",
        "for": "10m",
        "severity": "warning",
        "summary": "obssched job {{ $labels.job_name }} starts late",
        "description": f"Over the last 5 minutes one run in 20 of {ON_JOB} started more than "
        "{{ $value | humanizeDuration }} after its due time: executors saturated or the loop slow.",
        "dashboard": JOB_LINK,
    },
    {
        "alert": "ObsschedExecutorSaturated",
        "doc": "THRESHOLD: every worker busy and runs waiting in the queue.",
        "expr": "obssched:executor_utilisation:ratio >= 1\n"
        f"and on ({EXECUTOR_KEYS}) obssched_executor_pending_jobs > 0",
        "for": "10m",
        "severity": "warning",
        "summary": "obssched executor {{ $labels.executor }} is saturated",
        "description": "Every worker of executor {{ $labels.executor }} on {{ $labels.scheduler }} "
        "({{ $labels.instance }}) is busy and runs are queueing: raise max_workers or spread jobs.",
        "dashboard": EXECUTOR_LINK,
    },
    {
        "alert": "ObsschedSchedulerDown",
        "doc": f"A target that exported obssched metrics in the last {UPTIME_LOOKBACK} cannot be "
        "scraped.",
        "expr": "up == 0\n"
        f"and on (job, instance) max_over_time(obssched_build_info[{UPTIME_LOOKBACK}])",
        "for": "2m",
        "severity": "critical",
        "summary": "obssched on {{ $labels.instance }} is down",
        "description": "Prometheus cannot scrape {{ $labels.instance }} (job {{ $labels.job }}), "
        "which ran an obssched scheduler.",
        "dashboard": TARGET_LINK,
    },
    {
        "alert": "ObsschedSchedulerNotRunning",
        "doc": "The scheduler is paused or shut down although its process is up.",
        "expr": 'obssched_scheduler_state{state="running"} == 0',
        "for": "15m",
        "severity": "warning",
        "summary": "obssched scheduler {{ $labels.scheduler }} is not running",
        "description": "Scheduler {{ $labels.scheduler }} on {{ $labels.instance }} has been "
        "paused or shut down for 15 minutes: no job runs.",
        "dashboard": SCHEDULER_LINK,
    },
    {
        "alert": "ObsschedJobStoreDown",
        "doc": f"THRESHOLD: a job store has failed or hung on every read for {JOBSTORE_DOWN_FOR}.",
        "expr": "obssched_jobstore_up == 0",
        "for": JOBSTORE_DOWN_FOR,
        "severity": "critical",
        "summary": "obssched job store {{ $labels.jobstore }} is down",
        "description": "Job store {{ $labels.jobstore }} of scheduler {{ $labels.scheduler }} "
        "on {{ $labels.instance }} has not answered reads for "
        f"{JOBSTORE_DOWN_FOR}: its jobs are not run, and the job gauges show them as they "
        "were at obssched_jobstore_last_success_timestamp_seconds.",
        "dashboard": SCHEDULER_LINK,
    },
    {
        "alert": "ObsschedSchedulerLoopErrors",
        "doc": f"The loop caught executor or listener failures in the last {LOOP_ERRORS_WINDOW}.",
        "expr": f"sum by ({SCHEDULER_KEYS}, stage) (increase(obssched_scheduler_errors_total"
        f'{{stage=~"executor|listener"}}[{LOOP_ERRORS_WINDOW}])) > 0',
        "for": "0m",
        "severity": "warning",
        "summary": "obssched scheduler {{ $labels.scheduler }} has {{ $labels.stage }} failures",
        "description": "The loop of scheduler {{ $labels.scheduler }} on {{ $labels.instance }} "
        f"caught {{{{ $labels.stage }}}} failures in the last {LOOP_ERRORS_WINDOW}: runs were not "
        "submitted (executor) or events were not handled (listener). Its log names them.",
        "dashboard": SCHEDULER_LINK,
    },
    {
        "alert": "ObsschedSchedulerLoopStalled",
        "doc": f"THRESHOLD: the loop has not woken for {HEARTBEAT_STALL_SECONDS}s while running "
        "(it wakes at least every 10s).",
        "expr": f"obssched:scheduler_heartbeat_age_seconds > {HEARTBEAT_STALL_SECONDS}\n"
        f"and {SCHEDULER_RUNNING}",
        "for": "1m",
        "severity": "critical",
        "summary": "obssched scheduler {{ $labels.scheduler }} loop is stalled",
        "description": "The loop of scheduler {{ $labels.scheduler }} on {{ $labels.instance }} "
        "last woke {{ $value | humanizeDuration }} ago: jobs are not being started.",
        "dashboard": SCHEDULER_LINK,
    },
]


def _yaml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a YAML double-quoted scalar


def _yaml_expr(expr: str, indent: str) -> Iterator[str]:
    yield f"{indent}expr: |-"
    for line in expr.splitlines():
        yield f"{indent}  {line}" if line else ""


def rules_yaml() -> str:
    """The Prometheus rule file: recording rules, then alerts."""
    lines = [
        "# obssched recording and alerting rules.",
        "# Generated from tools/gen_rules.py by tools/gen_dashboards.py: in the obssched",
        "# repository edit that script and run the generator. In your own deployment edit this",
        "# file: each alert's THRESHOLD comment names the number to change in its expression, and",
        "# `for` is how long the condition must hold before the alert fires.",
        f"# Dashboard links point at {GRAFANA_URL}; replace it with your Grafana's URL.",
        "groups:",
        "  - name: obssched.recording",
        "    rules:",
    ]
    for record, expr in RECORDING_RULES:
        lines.append(f"      - record: {record}")
        lines.extend(_yaml_expr(expr, "        "))
    lines += ["  - name: obssched.alerts", "    rules:"]
    for alert in ALERTS:
        lines.append(f"      # {alert['doc']}")
        lines.append(f"      - alert: {alert['alert']}")
        lines.extend(_yaml_expr(alert["expr"], "        "))
        lines.append(f"        for: {alert['for']}")
        lines += ["        labels:", f"          severity: {alert['severity']}"]
        lines.append("        annotations:")
        for key in ("summary", "description", "dashboard"):
            lines.append(f"          {key}: {_yaml_string(alert[key])}")
    return "\n".join(lines) + "\n"
