"""Fixtures for the cluster tests: node processes (the PostgreSQL ones are shared)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture
def spawn_node() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Starts ``clusternode`` processes; kills any still running at the end of the test."""
    processes: list[subprocess.Popen[str]] = []
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(HERE.parent.parent)]))

    def spawn(*args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "clusternode", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        return process

    yield spawn
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)  # also closes the pipes
