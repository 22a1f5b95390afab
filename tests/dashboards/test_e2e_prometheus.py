"""End to end: the demo scheduler scraped by a real Prometheus answers every shipped query.

A Prometheus server from the Debian package scrapes ``obssched demo`` (in a store of its own,
with real spans) every second on loopback, with exemplar storage on and the shipped rules loaded
(their ``for`` cut to 0s: promtool's unit tests prove the durations, this proves the expressions
on real data). Once ``DATA_SCRAPES`` scrapes are in and the demo's alerts fire, every dashboard
query and rule expression runs through the HTTP API, as Grafana would run it. One demo and one
Prometheus serve the whole module: about a minute.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _catalogue import PROMETHEUS_OWN, family
from _promql import metric_names, substitute_grafana_variables
from _shipped import RULE_FILES, all_queries, rule_queries
from conftest import require_binary

from obssched.clock import SystemClock

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

DEMO_SECONDS = 400  # outlives every wait below; the demo exits by itself should the test die
SCRAPE_SECONDS = 1
STEP_SECONDS = 2  # of the range queries, as a graph panel would ask
# Grafana's $__rate_interval: max($__interval + scrape interval, 4 * scrape interval), with the
# data source's scrape interval set to Prometheus's (as dashboards/README.md asks).
RATE_INTERVAL = f"{max(STEP_SECONDS + SCRAPE_SECONDS, 4 * SCRAPE_SECONDS)}s"
# Scrapes of the demo before the queries run: a few of its 10 s miss cycles, every job's first
# runs (build_report's two first), and many rate intervals of every series.
DATA_SCRAPES = 40
WAIT_FOR_DATA_SECONDS = 150
# The alerts the demo sets off (with `for` cut to 0s): a job failing on every run
# (fetch_rates), errors in a third of flaky_sync's runs, late_reminder's missed runs and
# export_snapshot's max_instances refusals. Every other alert must stay quiet.
EXPECTED_FIRING = (
    "ObsschedJobFailing",
    "ObsschedJobHighErrorRate",
    "ObsschedJobMissedRuns",
    "ObsschedJobOverlapping",
)
CLOCK = SystemClock()  # real processes take real time
RECORDED = {query.where for query in rule_queries() if query.kind == "record"}

# Queries the demo may leave empty, by id, with the reason. Every other panel, variable,
# annotation and recording rule must return data. (Counters the dashboards increase() are
# exported at 0 from a job's start, and late_reminder is re-added every 10 s, so the coalesced
# series and the job-change annotations have data too.)
MAY_BE_EMPTY: dict[str, str] = {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_text(url: str, timeout: float = 10) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return str(response.read().decode())


def get_json(url: str, timeout: float = 10) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


def wait_until(
    what: str,
    check: Callable[[], Any],
    timeout: float,
    poll: float = 0.5,
    watching: dict[str, subprocess.Popen[bytes]] | None = None,
) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds.

    Fails at once, rather than at the timeout, when a process in ``watching`` has exited.
    """
    deadline = CLOCK.monotonic() + timeout
    last_error: Exception | None = None
    while CLOCK.monotonic() < deadline:
        for name, process in (watching or {}).items():
            if process.poll() is not None:
                pytest.fail(f"{name} exited with status {process.returncode} before {what}")
        try:
            result = check()
        except (OSError, ValueError) as error:  # not up yet: refused, reset, or half an answer
            last_error, result = error, None
        if result:
            return result
        time.sleep(poll)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last error: {last_error})")


@dataclass
class Prometheus:
    """A running Prometheus server and the time span it has data for."""

    url: str
    started_at: float

    def api(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode(params)
        body = get_json(f"{self.url}/api/v1/{path}?{query}")
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params} failed: {body}")
        return body["data"]

    def now(self) -> float:
        return float(self.api("query", query="time()")["result"][0])

    def firing_alerts(self) -> set[str]:
        alerts = self.api("alerts")["alerts"]
        return {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}


def write_prometheus_config(directory: Path, demo_port: int) -> Path:
    """A configuration scraping the demo every second, with the shipped rules (`for` cut to 0s).

    The copies differ from the shipped files in their `for` lines only; the expressions are the
    shipped ones (and promtool's unit tests hold the shipped `for` durations).
    """
    rules = directory / "rules"
    rules.mkdir()
    for rule_file in RULE_FILES:
        text = rule_file.read_text(encoding="utf-8")
        text = re.sub(r"^(\s+)for: \S+$", r"\1for: 0s", text, flags=re.MULTILINE)
        (rules / rule_file.name).write_text(text, encoding="utf-8")
    config = directory / "prometheus.yml"
    config.write_text(
        f"global:\n  scrape_interval: {SCRAPE_SECONDS}s\n  evaluation_interval: 1s\n"
        "rule_files:\n  - rules/*.yml\n"
        "scrape_configs:\n  - job_name: obssched-demo\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{demo_port}']\n",
        encoding="utf-8",
    )
    return config


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def demo_command(directory: Path, port: int) -> list[str]:
    """The demo, in its own store and with real spans (exemplars need a sampled span)."""
    return [
        *(sys.executable, "-m", "obssched", "demo", "--duration", str(DEMO_SECONDS)),
        *("--metrics-port", str(port)),
        # The default store is shared with any other demo on the machine, which clears it.
        *("--store", f"sqlite:///{directory / 'demo.sqlite'}"),
        # Without an exporter the CLI installs no SDK, its spans are not sampled and the
        # metrics carry no exemplars; the console exporter makes them real (into demo.log).
        "--trace-console",
    ]


def tail(path: Path, lines: int = 30) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """The demo scheduler, scraped by a real Prometheus until its data and alerts are in."""
    prometheus_binary = require_binary("prometheus")
    promtool = require_binary("promtool")
    directory = tmp_path_factory.mktemp("prometheus")
    demo_port, prometheus_port = free_port(), free_port()
    config = write_prometheus_config(directory, demo_port)
    check = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr

    demo_log_path, prometheus_log_path = directory / "demo.log", directory / "prometheus.log"
    demo_log, prometheus_log = demo_log_path.open("wb"), prometheus_log_path.open("wb")
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        try:
            processes["the demo"] = subprocess.Popen(
                demo_command(directory, demo_port), stdout=demo_log, stderr=subprocess.STDOUT
            )
            wait_until(
                "the demo's metrics endpoint",
                lambda: get_text(f"http://127.0.0.1:{demo_port}/metrics"),
                timeout=60,
                watching=processes,
            )
            server_command = [
                prometheus_binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
                "--enable-feature=exemplar-storage",
            ]
            processes["Prometheus"] = subprocess.Popen(
                server_command, stdout=prometheus_log, stderr=subprocess.STDOUT
            )
            server = Prometheus(f"http://127.0.0.1:{prometheus_port}", started_at=0)
            wait_until(
                "Prometheus to be ready",
                lambda: get_json_ready(server.url),
                timeout=60,
                watching=processes,
            )
            server.started_at = server.now()
            # Counted in successful scrapes, not seconds, so that a starved machine waits longer.
            scrapes = f"count_over_time(obssched_build_info[1h]) >= {DATA_SCRAPES}"
            wait_until(
                f"{DATA_SCRAPES} scrapes of the demo and alerts {EXPECTED_FIRING} firing",
                lambda: (
                    server.api("query", query=scrapes)["result"]
                    and server.firing_alerts() >= set(EXPECTED_FIRING)
                ),
                timeout=WAIT_FOR_DATA_SECONDS,
                poll=2,
                watching=processes,
            )
        except (Exception, pytest.fail.Exception) as error:
            logs = "\n".join(
                f"--- {path.name}:\n{tail(path)}" for path in (demo_log_path, prometheus_log_path)
            )
            pytest.fail(f"{type(error).__name__}: {error}\n{logs}")
        yield server
    finally:
        for process in reversed(processes.values()):
            stop(process)
        demo_log.close()
        prometheus_log.close()


def get_json_ready(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/-/ready", timeout=5) as response:
        return response.status == 200


def run_query(server: Prometheus, query) -> list[Any]:
    """Run a shipped query as Grafana would: instant ones now, graphs over the whole test."""
    end = server.now()
    range_seconds = int(end - server.started_at) + 60
    expr = substitute_grafana_variables(
        query.expr, rate_interval=RATE_INTERVAL, range_=f"{range_seconds}s"
    )
    if query.instant:
        return server.api("query", query=expr, time=end)["result"]
    params = {"query": expr, "start": server.started_at, "end": end, "step": STEP_SECONDS}
    return server.api("query_range", **params)["result"]


QUERIES = [pytest.param(query, id=query.id) for query in all_queries()]


@pytest.mark.parametrize("query", QUERIES)
def test_shipped_query_runs_on_real_data(prometheus: Prometheus, query) -> None:
    """The query runs without error; it returns data unless it may be empty or is a quiet alert."""
    result = run_query(prometheus, query)
    if query.kind == "alert" and query.where not in EXPECTED_FIRING:
        assert not result, f"{query.where} fires for the demo: {result}"
    elif query.id not in MAY_BE_EMPTY:
        assert result, f"no data for {query.expr}"


@pytest.mark.parametrize("alertname", EXPECTED_FIRING)
def test_alert_fires_for_the_demo(prometheus: Prometheus, alertname: str) -> None:
    """The demo's failing jobs, missed runs and overlapping runs set off their alerts."""
    assert alertname in prometheus.firing_alerts()


def test_run_duration_exemplars_carry_trace_ids(prometheus: Prometheus) -> None:
    """Prometheus holds trace_id exemplars for the run-duration histogram."""
    data = prometheus.api(
        "query_exemplars",
        query="obssched_job_run_duration_seconds_bucket",
        start=prometheus.started_at,
        end=prometheus.now(),
    )
    trace_ids = [e["labels"].get("trace_id") for series in data for e in series["exemplars"]]
    assert trace_ids
    assert all(re.fullmatch(r"[0-9a-f]{32}", trace_id or "") for trace_id in trace_ids)


def test_every_referenced_metric_is_exported_by_the_demo(prometheus: Prometheus) -> None:
    """Every metric the dashboards and rules name is one the running scheduler exported."""
    scraped = set(prometheus.api("label/__name__/values"))
    referenced = {name for query in all_queries() for name in metric_names(query.expr)}
    missing = {
        name
        for name in referenced - RECORDED - PROMETHEUS_OWN
        if name not in scraped or family(name) is None
    }
    assert not missing
