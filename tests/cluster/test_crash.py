"""A SQLite-backed scheduler killed with SIGKILL again and again loses no job and no run."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from obssched.clock import SystemClock

pytestmark = [pytest.mark.realtime, pytest.mark.slow]

CLOCK = SystemClock()  # real processes, real time
Spawn = Callable[..., subprocess.Popen[str]]


def test_repeated_sigkill_loses_no_job_and_reports_every_run(
    tmp_path: Path, spawn_node: Spawn
) -> None:
    """After each kill every job is still stored; every run time ends executed or missed."""
    url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    start = CLOCK.now().replace(microsecond=0) + timedelta(seconds=2)
    end = start + timedelta(seconds=10)
    common = ["--url", url, "--node", "solo", "--executor", "debug", "--duration", "60"]
    seed = ["--seed", "4", "--interval", "0.25", "--grace", "0.5"]
    seed += ["--start", start.isoformat(), "--end", end.isoformat()]
    rng = random.Random(20240101)
    engine = create_engine(url)
    args = [*common, *seed]
    while CLOCK.now() < end - timedelta(seconds=1):
        process = spawn_node(*args)
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        args = common
        time.sleep(rng.uniform(0.2, 1.2))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM obssched_jobs")).scalar_one()
        assert stored == 4
        time.sleep(rng.uniform(0.0, 1.0))  # downtime: run times pass unseen
    final = spawn_node(*common[:-1], str((end - CLOCK.now()).total_seconds() + 2))
    final.communicate(timeout=60)
    assert final.returncode == 0

    with engine.connect() as conn:
        rows = conn.execute(text("SELECT job_id, run_time, kind FROM results")).all()
    engine.dispose()
    reported = {(job, run) for job, run, kind in rows if kind in ("executed", "missed")}
    expected = set()
    for index in range(4):
        moment = start
        while moment <= end:
            expected.add((f"job{index}", moment.isoformat()))
            moment += timedelta(seconds=0.25)
    assert sorted(expected - reported) == []
    assert {kind for *_, kind in rows} == {"executed", "missed"}
