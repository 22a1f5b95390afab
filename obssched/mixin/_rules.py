"""The Prometheus recording and alerting rules, rendered from the settings.

The dashboards show the same thresholds (a heartbeat panel turns red where the stall alert fires):
both read them from :class:`~obssched.mixin._config.Thresholds`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from obssched.mixin._config import MixinConfig, duration_seconds, number
from obssched.mixin._queries import EXECUTOR_KEYS, JOB_KEYS, JOB_UID, OVERVIEW_UID, SCHEDULER_KEYS

__all__ = ["Alert", "RecordingRule", "alerts", "recording_rules", "rules_yaml"]

_LOOP_STAGES = 'stage=~"executor|listener"'
ON_JOB = "{{ $labels.job_name }} on {{ $labels.scheduler }} ({{ $labels.instance }})"


@dataclass(frozen=True)
class RecordingRule:
    """One recording rule."""

    record: str
    expr: str


@dataclass(frozen=True)
class Alert:
    """One alerting rule, with its annotations and the comment written above it."""

    name: str
    doc: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str
    dashboard_url: str
    runbook_url: str


class _Rules:
    """The rule expressions of one configuration."""

    def __init__(self, config: MixinConfig) -> None:
        self.config = config
        self.window = config.rate_window
        suffix = f"rate{self.window}"
        self.runs = f"obssched:job_runs:{suffix}"
        self.errors = f"obssched:job_run_errors:{suffix}"
        self.error_ratio = f"obssched:job_run_error_ratio:{suffix}"
        self.start_delay_p95 = f"obssched:job_start_delay_seconds:p95_{self.window}"
        self.utilisation = "obssched:executor_utilisation:ratio"
        self.heartbeat_age = "obssched:scheduler_heartbeat_age_seconds"

    def m(self, metric: str, *raw: str, **matchers: str) -> str:
        """``metric`` selected by the settings' selector, the ``raw`` matchers and ``matchers``."""
        parts = [*self.config.matchers, *raw, *(f'{k}="{v}"' for k, v in matchers.items())]
        return f"{metric}{{{','.join(parts)}}}" if parts else metric

    def link(self, uid: str, *labels: str) -> str:
        """A dashboard URL on the configured Grafana, its variables set from the alert's labels."""
        params = "&".join(f"var-{label}={{{{ $labels.{label} | urlquery }}}}" for label in labels)
        return f"{self.config.grafana_url}/d/{uid}/{uid}?{params}"

    def new_or_increased(self, metric: str, window: str) -> str:
        """Series that grew within ``window``, including ones that first appeared inside it.

        ``increase()`` cannot see a counter's first sample, so a counter created at its first
        increment (value 1) would otherwise never alert.
        """
        series = self.m(metric)
        summed = f"sum by ({JOB_KEYS}) ({series})"
        return (
            f"sum by ({JOB_KEYS}) (increase({series}[{window}])) > 0\n"
            f"or\n({summed} > 0 unless sum by ({JOB_KEYS}) ({series} offset {window}))"
        )

    def recording_rules(self) -> list[RecordingRule]:
        m, window = self.m, self.window
        runs = "obssched_job_run_duration_seconds_count"
        return [
            RecordingRule(self.runs, f"sum by ({JOB_KEYS}) (rate({m(runs)}[{window}]))"),
            RecordingRule(
                self.errors,
                f"sum by ({JOB_KEYS})\n(rate({m(runs, outcome='error')}[{window}]))",
            ),
            RecordingRule(self.error_ratio, f"{m(self.errors)} / ({m(self.runs)} > 0)"),
            RecordingRule(
                self.start_delay_p95,
                "histogram_quantile(0.95,\n"
                f"  sum by ({JOB_KEYS}, le) "
                f"(rate({m('obssched_job_start_delay_seconds_bucket')}[{window}]))\n)",
            ),
            RecordingRule(
                self.utilisation,
                f"max by ({EXECUTOR_KEYS}) ({m('obssched_executor_running_jobs')})\n/\n"
                f"max by ({EXECUTOR_KEYS}) ({m('obssched_executor_max_workers')} > 0)",
            ),
            RecordingRule(
                self.heartbeat_age,
                f"time() - {m('obssched_scheduler_last_wakeup_timestamp_seconds')}",
            ),
        ]

    def running_too_long(self) -> str:
        """Runs going on longer than their job's timeout, or than the threshold without one.

        A run's age is taken at the scrape that last saw it (``timestamp()``), not at the rule's
        evaluation: a run that its executor ended at its timeout just after a scrape is not
        reported for the scrape interval it takes Prometheus to see it gone.
        """
        since = self.m("obssched_job_running_since_timestamp_seconds")
        timeout = self.m("obssched_job_timeout_seconds")
        age = f"timestamp({since}) - ({since} > 0)"
        limit = number(self.config.thresholds.running_too_long_seconds)
        return (
            f"(\n  {age}\n  > on ({JOB_KEYS}) {timeout}\n"
            f"or\n  {age} > {limit}\n  unless on ({JOB_KEYS}) {timeout}\n)\n"
            f"and on ({JOB_KEYS}) {self.m('obssched_job_running')} > 0"
        )

    def alerts(self) -> list[Alert]:
        m, t = self.m, self.config.thresholds
        job_link = self.link(JOB_UID, "job", "instance", "scheduler", "job_name")
        scheduler_link = self.link(OVERVIEW_UID, "job", "instance", "scheduler")
        executor_link = self.link(OVERVIEW_UID, "job", "instance", "scheduler", "executor")
        target_link = self.link(OVERVIEW_UID, "job", "instance")
        running = f"on ({SCHEDULER_KEYS}) {m('obssched_scheduler_state', state='running')} == 1"
        window_seconds = number(duration_seconds("rate_window", self.window))
        overdue = number(t.overdue_seconds)
        too_long = number(t.running_too_long_seconds)
        start_delay = number(t.start_delay_p95_seconds)
        stall = number(t.heartbeat_stall_seconds)
        ratio, min_runs = number(t.error_ratio), number(t.error_ratio_min_runs)
        rows = [
            (
                "ObsschedJobFailing",
                "The last error is newer than the last success. Fires after it has held for `for`.",
                f"{m('obssched_job_last_error_timestamp_seconds')}\n> "
                f"({m('obssched_job_last_success_timestamp_seconds')}\n"
                f"  or {m('obssched_job_last_error_timestamp_seconds')} * 0)",
                "1m",
                "critical",
                "obssched job {{ $labels.job_name }} is failing",
                f"The last run of {ON_JOB} raised an error and no run has succeeded since.",
                job_link,
            ),
            (
                "ObsschedJobHighErrorRate",
                f"THRESHOLD: more than {t.error_ratio:.0%} of runs over {self.window} failed, "
                f"with at least {min_runs} runs in the window.",
                f"{m(self.error_ratio)} > {ratio}\n"
                f"and {m(self.runs)} * {window_seconds} >= {min_runs}",
                "10m",
                "warning",
                "obssched job {{ $labels.job_name }} fails often",
                f"{{{{ $value | humanizePercentage }}}} of the runs of {ON_JOB} "
                f"failed over the last {self.window}.",
                job_link,
            ),
            (
                "ObsschedJobMissedRuns",
                "THRESHOLD: any run missed (started later than misfire_grace_time) in "
                f"{t.missed_window}.",
                self.new_or_increased("obssched_job_missed_total", t.missed_window),
                "0m",
                "warning",
                "obssched job {{ $labels.job_name }} missed runs",
                f"{ON_JOB} missed runs in the last {t.missed_window}: they were due but could "
                "not start within misfire_grace_time (scheduler busy, paused or down).",
                job_link,
            ),
            (
                "ObsschedJobOverlapping",
                f"THRESHOLD: any run skipped in {t.max_instances_window} because max_instances "
                "runs of the job were still going.",
                self.new_or_increased("obssched_job_max_instances_total", t.max_instances_window),
                "0m",
                "warning",
                "obssched job {{ $labels.job_name }} overlaps itself",
                f"Runs of {ON_JOB} were skipped in the last {t.max_instances_window} because "
                "earlier runs were still going (max_instances reached): runs last longer than "
                "the interval.",
                job_link,
            ),
            (
                "ObsschedJobOverdue",
                f"THRESHOLD: next run time more than {overdue}s in the past while the "
                "scheduler is running.",
                f"time() - {m('obssched_job_next_run_timestamp_seconds')} > {overdue}\n"
                f"and {running}",
                "2m",
                "warning",
                "obssched job {{ $labels.job_name }} is overdue",
                f"The next run of {ON_JOB} was due {{{{ $value | humanizeDuration }}}} ago "
                "and has not started: the scheduler loop is not getting to it, or the job's "
                "trigger raised and the job was paused "
                '(obssched_scheduler_errors_total{stage="trigger"}).',
                job_link,
            ),
            (
                "ObsschedJobRunningTooLong",
                "THRESHOLD: a run has been going for longer than its job's timeout or, for a "
                f"job without one, than {too_long}s.",
                self.running_too_long(),
                "1m",
                "warning",
                "obssched job {{ $labels.job_name }} has been running too long",
                f"A run of {ON_JOB} started {{{{ $value | humanizeDuration }}}} ago and has "
                f"not finished: longer than the job's timeout (or {too_long}s where it has "
                "none).",
                job_link,
            ),
            (
                "ObsschedJobStartDelayHigh",
                f"THRESHOLD: p95 delay between due time and start above {start_delay}s "
                f"over {self.window}.",
                f"{m(self.start_delay_p95)} > {start_delay}",
                "10m",
                "warning",
                "obssched job {{ $labels.job_name }} starts late",
                f"Over the last {self.window} one run in 20 of {ON_JOB} started more than "
                "{{ $value | humanizeDuration }} after its due time: executors saturated or "
                "the loop slow.",
                job_link,
            ),
            (
                "ObsschedExecutorSaturated",
                "THRESHOLD: every worker busy and runs waiting in the queue.",
                f"{m(self.utilisation)} >= 1\n"
                f"and on ({EXECUTOR_KEYS}) {m('obssched_executor_pending_jobs')} > 0",
                "10m",
                "warning",
                "obssched executor {{ $labels.executor }} is saturated",
                "Every worker of executor {{ $labels.executor }} on {{ $labels.scheduler }} "
                "({{ $labels.instance }}) is busy and runs are queueing: raise max_workers or "
                "spread jobs.",
                executor_link,
            ),
            (
                "ObsschedSchedulerDown",
                f"A target that exported obssched metrics in the last {t.uptime_lookback} "
                "cannot be scraped.",
                f"{m('up')} == 0\nand on (job, instance) "
                f"max_over_time({m('obssched_build_info')}[{t.uptime_lookback}])",
                "2m",
                "critical",
                "obssched on {{ $labels.instance }} is down",
                "Prometheus cannot scrape {{ $labels.instance }} (job {{ $labels.job }}), "
                "which ran an obssched scheduler.",
                target_link,
            ),
            (
                "ObsschedSchedulerNotRunning",
                "The scheduler is paused or shut down although its process is up.",
                f"{m('obssched_scheduler_state', state='running')} == 0",
                "15m",
                "warning",
                "obssched scheduler {{ $labels.scheduler }} is not running",
                "Scheduler {{ $labels.scheduler }} on {{ $labels.instance }} has been "
                "paused or shut down for 15 minutes: no job runs.",
                scheduler_link,
            ),
            (
                "ObsschedJobStoreDown",
                f"THRESHOLD: a job store has failed or hung on every read for "
                f"{t.jobstore_down_for}.",
                f"{m('obssched_jobstore_up')} == 0",
                t.jobstore_down_for,
                "critical",
                "obssched job store {{ $labels.jobstore }} is down",
                "Job store {{ $labels.jobstore }} of scheduler {{ $labels.scheduler }} "
                "on {{ $labels.instance }} has not answered reads for "
                f"{t.jobstore_down_for}: its jobs are not run, and the job gauges show them as "
                "they were at obssched_jobstore_last_success_timestamp_seconds.",
                scheduler_link,
            ),
            (
                "ObsschedSchedulerLoopErrors",
                "The loop caught executor or listener failures in the last "
                f"{t.loop_errors_window}.",
                f"sum by ({SCHEDULER_KEYS}, stage) (increase("
                f"{m('obssched_scheduler_errors_total', _LOOP_STAGES)}"
                f"[{t.loop_errors_window}])) > 0",
                "0m",
                "warning",
                "obssched scheduler {{ $labels.scheduler }} has {{ $labels.stage }} failures",
                "The loop of scheduler {{ $labels.scheduler }} on {{ $labels.instance }} "
                f"caught {{{{ $labels.stage }}}} failures in the last {t.loop_errors_window}: "
                "runs were not submitted (executor) or events were not handled (listener). "
                "Its log names them.",
                scheduler_link,
            ),
            (
                "ObsschedSchedulerLoopStalled",
                f"THRESHOLD: the loop has not woken for {stall}s while running "
                "(it wakes at least every 10s).",
                f"{m(self.heartbeat_age)} > {stall}\nand {running}",
                "1m",
                "critical",
                "obssched scheduler {{ $labels.scheduler }} loop is stalled",
                "The loop of scheduler {{ $labels.scheduler }} on {{ $labels.instance }} "
                "last woke {{ $value | humanizeDuration }} ago: jobs are not being started.",
                scheduler_link,
            ),
        ]
        return [
            Alert(*row[:8], runbook_url=f"{self.config.runbook_url}#{row[0].lower()}")
            for row in rows
        ]


def recording_rules(config: MixinConfig) -> list[RecordingRule]:
    """The recording rules the alerts read."""
    return _Rules(config).recording_rules()


def alerts(config: MixinConfig) -> list[Alert]:
    """The alerting rules."""
    return _Rules(config).alerts()


def _yaml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a YAML double-quoted scalar


def _yaml_expr(expr: str, indent: str) -> Iterator[str]:
    yield f"{indent}expr: |-"
    for line in expr.splitlines():
        yield f"{indent}  {line}" if line else ""


def rules_yaml(config: MixinConfig) -> str:
    """The Prometheus rule file: recording rules, then alerts."""
    lines = [
        "# obssched recording and alerting rules.",
        "# Rendered by `python -m obssched.mixin render`: set the selector, the thresholds and the",
        "# Grafana and runbook URLs in a mixin.toml and render again (see dashboards/README.md).",
        "# Each alert's THRESHOLD comment names the number in its expression that a setting",
        "# changes, and `for` is how long the condition must hold before the alert fires.",
        "groups:",
        "  - name: obssched.recording",
        "    rules:",
    ]
    for rule in recording_rules(config):
        lines.append(f"      - record: {rule.record}")
        lines.extend(_yaml_expr(rule.expr, "        "))
    lines += ["  - name: obssched.alerts", "    rules:"]
    for alert in alerts(config):
        lines.append(f"      # {alert.doc}")
        lines.append(f"      - alert: {alert.name}")
        lines.extend(_yaml_expr(alert.expr, "        "))
        lines.append(f"        for: {alert.for_}")
        lines += ["        labels:", f"          severity: {alert.severity}"]
        lines.append("        annotations:")
        for key, value in (
            ("summary", alert.summary),
            ("description", alert.description),
            ("dashboard_url", alert.dashboard_url),
            ("runbook_url", alert.runbook_url),
        ):
            lines.append(f"          {key}: {_yaml_string(value)}")
    return "\n".join(lines) + "\n"
