"""The example programs run and do what they say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
pytestmark = [pytest.mark.realtime, pytest.mark.slow]


def run_example(name: str, seconds: float) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), str(seconds)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("blocking.py", "Tick! The time is"),
        ("background.py", "tick (trigger: interval[0:00:01], next run at:"),
        ("asyncio_scheduler.py", "Fetched at"),
    ],
    ids=["blocking", "background", "asyncio"],
)
def test_scheduler_example_runs_its_jobs(name: str, expected: str) -> None:
    """Each scheduler example runs its jobs and exits cleanly when its time is up."""
    assert expected in run_example(name, 2.5)


def test_event_listener_example_hears_every_outcome() -> None:
    """The listener example reports submissions, successes, crashes and refused overlaps."""
    lines = set(run_example("event_listener.py", 4).splitlines())
    assert {
        "The job is running :)",
        "The job worked :)",
        "The job crashed :(",
        "events: slow is running and maybe hang out, new task can't start",
    } <= lines
