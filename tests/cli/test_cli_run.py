"""`obssched run`: runs a jobs file against a SQLite store, serves HTTP, stops gracefully."""

from __future__ import annotations

import json
import signal
import socket
from collections.abc import Iterator

import pytest

from obssched.cli import ExitCode

from .conftest import Workdir, free_port, get, wait_until

pytestmark = [pytest.mark.realtime]

TICK = """
[scheduler]
name = "clitest"
heartbeat = 0.5

[[jobs]]
id = "tick"
func = "clitasks:record"
trigger = "interval"
seconds = {seconds}
args = ["ticks.txt"]
"""

SLOW = """
[scheduler]
heartbeat = 0.5

[[jobs]]
id = "slow"
func = "clitasks:gated_record"
trigger = "interval"
seconds = 1
kwargs = {{ path = "slow.txt", port = {port} }}
"""


class Gate:
    """A port the ``gated_record`` job connects to, then runs until :meth:`open` is called."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]

    def open(self, timeout: float = 30) -> None:
        """Let the job waiting at the gate finish."""
        self._server.settimeout(timeout)
        connection, _ = self._server.accept()
        connection.close()

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def gate() -> Iterator[Gate]:
    """A gate for the slow job, closed at the end of the test."""
    gate = Gate()
    yield gate
    gate.close()


def run_args(workdir: Workdir, *extra: str) -> tuple[str, ...]:
    return (
        "run",
        "jobs.toml",
        "--store",
        workdir.store,
        "--metrics-port",
        str(free_port()),
        *extra,
    )


def test_run_executes_the_jobs_and_stores_them(workdir: Workdir) -> None:
    """A short run executes the file's jobs, exits 0, and leaves them in the SQLite store."""
    workdir.write("jobs.toml", TICK.format(seconds=1))
    result = workdir.run(*run_args(workdir, "--duration", "3.5"))
    assert result.returncode == ExitCode.OK, result.stderr
    assert len(workdir.lines("ticks.txt")) >= 2
    assert [job["id"] for job in workdir.jobs("list")] == ["tick"]


def test_restart_replaces_the_stored_job(workdir: Workdir) -> None:
    """Running an edited file again updates the stored job instead of adding a second one."""
    workdir.write("jobs.toml", TICK.format(seconds=3600))
    assert workdir.run(*run_args(workdir, "--duration", "0.5")).returncode == 0
    workdir.write("jobs.toml", TICK.format(seconds=7200))
    assert workdir.run(*run_args(workdir, "--duration", "0.5")).returncode == 0
    jobs = workdir.jobs("list")
    assert [(job["id"], job["trigger"]) for job in jobs] == [("tick", "interval[2:00:00]")]


def test_invalid_file_writes_nothing_to_the_store(workdir: Workdir) -> None:
    """A file with one bad job out of two exits 3 and creates no store."""
    good = TICK.format(seconds=1)
    bad = good.replace('id = "tick"', 'id = "bad"').replace("seconds = 1", "seconds = -1")
    workdir.write("jobs.toml", good + bad.split("[[jobs]]")[1].join(["[[jobs]]", ""]))
    result = workdir.run(*run_args(workdir))
    assert result.returncode == ExitCode.INVALID_JOBS_FILE
    assert "nothing was stored" in result.stderr
    assert not workdir.store_path.exists()


def test_serves_metrics_health_and_status_page(workdir: Workdir, start) -> None:
    """/metrics, /healthz, the console's /api/jobs and /status.json answer while it runs."""
    workdir.write("jobs.toml", TICK.format(seconds=1))
    port = free_port()
    process = start("run", "jobs.toml", "--store", workdir.store, "--metrics-port", str(port))
    base = f"http://127.0.0.1:{port}"
    wait_until("a healthy scheduler", lambda: get(f"{base}/healthz")[0] == 200, timeout=30)
    wait_until("a run", lambda: workdir.lines("ticks.txt"), timeout=10)
    status, metrics = get(f"{base}/metrics")
    assert status == 200
    assert "obssched_job_executed_total{" in metrics or "obssched_job_executed" in metrics
    status, page = get(f"{base}/api/jobs")
    assert status == 200
    assert [job["id"] for job in json.loads(page)["jobs"]] == ["tick"]
    data = json.loads(get(f"{base}/status.json")[1])
    assert data["scheduler"]["name"] == "clitest"
    wait_until(
        "an outcome on the status page",
        lambda: json.loads(get(f"{base}/status.json")[1])["jobs"][0].get("last_outcome"),
        timeout=10,
    )
    process.signal(signal.SIGTERM)
    assert process.wait(timeout=30) == ExitCode.OK


def test_sigterm_lets_the_running_job_finish(workdir: Workdir, start, gate: Gate) -> None:
    """SIGTERM during a run waits for it to finish, then exits 0."""
    workdir.write("jobs.toml", SLOW.format(port=gate.port))
    process = start(*run_args(workdir))
    wait_until("the slow job to start", lambda: "started" in workdir.lines("slow.txt"), 30)
    process.signal(signal.SIGTERM)
    wait_until("the shutdown to begin", lambda: "Shutting down (SIGTERM)" in process.stderr, 30)
    gate.open()
    assert process.wait(timeout=30) == ExitCode.OK, process.stderr
    assert workdir.lines("slow.txt")[-1] == "finished"
    assert "Scheduler stopped cleanly" in process.stderr
    assert [job["id"] for job in workdir.jobs("list")] == ["slow"]


def test_sigint_exits_with_the_interrupted_code(workdir: Workdir, start) -> None:
    """Ctrl-C (SIGINT) shuts down cleanly and exits 130."""
    workdir.write("jobs.toml", TICK.format(seconds=3600))
    port = free_port()
    process = start("run", "jobs.toml", "--store", workdir.store, "--metrics-port", str(port))
    wait_until("the scheduler", lambda: get(f"http://127.0.0.1:{port}/healthz")[0] == 200, 30)
    process.signal(signal.SIGINT)
    assert process.wait(timeout=30) == ExitCode.INTERRUPTED


def test_shutdown_timeout_abandons_the_running_job(workdir: Workdir, start, gate: Gate) -> None:
    """A job still running when --shutdown-timeout runs out is abandoned, with exit code 7."""
    workdir.write("jobs.toml", SLOW.format(port=gate.port))
    process = start(*run_args(workdir, "--shutdown-timeout", "1"))
    wait_until("the slow job to start", lambda: "started" in workdir.lines("slow.txt"), 30)
    process.signal(signal.SIGTERM)
    assert process.wait(timeout=20) == ExitCode.SHUTDOWN_TIMEOUT
    assert "abandoning running job(s): gated_record" in process.stderr
    assert "finished" not in workdir.lines("slow.txt")


def test_port_in_use_has_its_own_exit_code(workdir: Workdir) -> None:
    """A taken metrics port exits 4 with a message naming the port."""
    workdir.write("jobs.toml", TICK.format(seconds=1))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = workdir.run(
            "run", "jobs.toml", "--store", workdir.store, "--metrics-port", str(port)
        )
    assert result.returncode == ExitCode.PORT_IN_USE
    assert f"127.0.0.1:{port}" in result.stderr
    assert "already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_store_has_its_own_exit_code(workdir: Workdir) -> None:
    """A store in a directory that does not exist exits 5, naming the directory."""
    workdir.write("jobs.toml", TICK.format(seconds=1))
    url = f"sqlite:///{workdir.path / 'no' / 'such' / 'dir.sqlite'}"
    result = workdir.run("run", "jobs.toml", "--store", url, "--metrics-port", str(free_port()))
    assert result.returncode == ExitCode.STORE_UNAVAILABLE
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_json_logs_and_environment_overrides(workdir: Workdir) -> None:
    """--log-format json writes one JSON object per line; OBSSCHED_* variables set options."""
    workdir.write("jobs.toml", TICK.format(seconds=1))
    port = free_port()
    workdir.env.update(OBSSCHED_STORE=workdir.store, OBSSCHED_METRICS_PORT=str(port))
    result = workdir.run("run", "jobs.toml", "--duration", "1.5", "--log-format", "json")
    assert result.returncode == ExitCode.OK, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert any(f"127.0.0.1:{port}" in record["message"] for record in records)
    assert workdir.store_path.exists()


def test_bad_environment_variable_is_a_usage_error(workdir: Workdir) -> None:
    """An unparsable OBSSCHED_* value exits 2, naming the variable."""
    workdir.write("jobs.toml", TICK.format(seconds=1))
    workdir.env["OBSSCHED_METRICS_PORT"] = "http"
    result = workdir.run("run", "jobs.toml", "--store", workdir.store)
    assert result.returncode == ExitCode.USAGE
    assert "OBSSCHED_METRICS_PORT" in result.stderr
