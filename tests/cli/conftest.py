"""Running ``python -m obssched`` as a subprocess: a work directory with job functions, free
ports, and processes that are always stopped."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from obssched.clock import SystemClock

CLOCK = SystemClock()  # real processes take real time

TASKS = '''
import pathlib
import socket


def record(path, text="ran"):
    """Append a line to a file: the test's evidence that the job ran."""
    with open(path, "a") as file:
        file.write(text + "\\n")


def gated_record(path, port):
    """Record "started", run until the test closes the gate (a connection to its port), then
    record "finished"."""
    with socket.create_connection(("127.0.0.1", port)) as gate:
        record(path, "started")
        gate.recv(1)
    record(path, "finished")


def fail():
    raise RuntimeError("planned failure")
'''


def free_port() -> int:
    """Return a TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without OBSSCHED_* and OTEL_* settings, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OBSSCHED_", "OTEL_"))
    }
    env.update(extra)
    return env


def wait_until(what: str, check: Callable[[], Any], timeout: float, poll: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = CLOCK.monotonic() + timeout
    last_error: Exception | None = None
    while CLOCK.monotonic() < deadline:
        try:
            result = check()
        except (OSError, ValueError) as error:
            last_error, result = error, None
        if result:
            return result
        threading.Event().wait(poll)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last error: {last_error})")


def get(url: str, timeout: float = 5) -> tuple[int, str]:
    """GET ``url``; return the status and the body (error statuses included)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


class Workdir:
    """A temporary working directory with job functions (``clitasks``) and a store URL."""

    def __init__(self, path: Path) -> None:
        self.path = path
        (path / "clitasks.py").write_text(TASKS)
        self.store_path = path / "store.sqlite"
        self.store = f"sqlite:///{self.store_path}"
        self.env = clean_env(XDG_STATE_HOME=str(path / "state"))

    def write(self, name: str, text: str) -> Path:
        target = self.path / name
        target.write_text(text)
        return target

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "obssched", *args]

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run ``obssched ARGS`` to completion."""
        return subprocess.run(
            self.command(*args),
            cwd=self.path,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def jobs(self, *args: str) -> Any:
        """Run ``obssched jobs ARGS --store STORE --json`` and return the parsed output."""
        result = self.run("jobs", *args, "--store", self.store, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def lines(self, name: str) -> list[str]:
        target = self.path / name
        return target.read_text().splitlines() if target.exists() else []


class Background:
    """An ``obssched`` process started with Popen, stopped for sure when the test ends."""

    def __init__(self, workdir: Workdir, args: tuple[str, ...]) -> None:
        self._stdout = (workdir.path / "out.log").open("w+")
        self._stderr = (workdir.path / "err.log").open("w+")
        self.process = subprocess.Popen(
            workdir.command(*args),
            cwd=workdir.path,
            env=workdir.env,
            stdout=self._stdout,
            stderr=self._stderr,
            text=True,
        )

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    @property
    def stdout(self) -> str:
        self._stdout.flush()
        self._stdout.seek(0)
        return self._stdout.read()

    @property
    def stderr(self) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
        self._stdout.close()
        self._stderr.close()


@pytest.fixture
def workdir(tmp_path: Path) -> Workdir:
    return Workdir(tmp_path)


@pytest.fixture
def start(workdir: Workdir) -> Iterator[Callable[..., Background]]:
    """Start ``obssched ARGS`` in the background; every process is killed at the end."""
    started: list[Background] = []

    def launch(*args: str) -> Background:
        process = Background(workdir, args)
        started.append(process)
        return process

    yield launch
    for process in started:
        process.stop()
