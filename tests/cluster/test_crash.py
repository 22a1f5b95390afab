"""A SQLite-backed scheduler killed with SIGKILL again and again loses no job and no run.

The expectations do not depend on how fast the host starts processes: the jobs have no end
date, and the run times checked are those before each job's next run time as saved by the final,
cleanly stopped process. Every one of them must have been reported: executed, missed (late beyond
the grace time), skipped (max_instances runs were in flight) or abandoned (in flight when the
process was killed; then also re-run, since the jobs ask for recovery).
"""

from __future__ import annotations

import random
import signal
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from obssched.clock import SystemClock

pytestmark = [pytest.mark.realtime, pytest.mark.slow, pytest.mark.faults]

CLOCK = SystemClock()  # real processes, real time
Spawn = Callable[..., subprocess.Popen[str]]
KILLS = 5
INTERVAL = 0.25


def grid(start: datetime, before: datetime) -> set[str]:
    """The run times of an interval job from ``start`` up to, not including, ``before``."""
    times = set()
    moment = start
    while moment < before:
        times.add(moment.isoformat())
        moment += timedelta(seconds=INTERVAL)
    return times


@pytest.mark.parametrize(
    ("executor", "work"),
    [("debug", "0"), ("threadpool", "0.15")],
    ids=["inline-runs", "pooled-runs-in-flight"],
)
def test_repeated_sigkill_loses_no_job_and_reports_every_run(
    tmp_path: Path, spawn_node: Spawn, executor: str, work: str
) -> None:
    """After each kill every job is stored; every run time before the saved ones is reported."""
    url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    start = CLOCK.now().replace(microsecond=0) + timedelta(seconds=1)
    common = ["--url", url, "--node", "solo", "--executor", executor, "--echo"]
    seed = ["--seed", "4", "--interval", str(INTERVAL), "--grace", "0.5", "--work", work]
    seed += ["--start", start.isoformat()]
    rng = random.Random(20240101)
    engine = create_engine(url)
    args = [*common, "--duration", "60", *seed]
    for _ in range(KILLS):
        process = spawn_node(*args)
        assert process.stdout is not None
        # Results a restarted node reports at once may come before its "ready".
        assert "ready\n" in iter(process.stdout.readline, ""), "the node ended before it was ready"
        args = [*common, "--duration", "60"]
        # Killed after a random number of results, at a point of its work rather than its clock.
        for _ in range(rng.randint(2, 20)):
            assert process.stdout.readline(), "the node ended before it was killed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM obssched_jobs")).scalar_one()
        assert stored == 4
        # The next process's start-up (about a second) is the downtime in which run times pass
        # unseen, longer than the grace time.
    final = spawn_node(*common, "--duration", "1.5")
    _, stderr = final.communicate(timeout=60)
    assert final.returncode == 0, stderr

    with engine.connect() as conn:
        saved = conn.execute(text("SELECT id, next_run_time FROM obssched_jobs")).all()
        rows = conn.execute(text("SELECT job_id, run_time, kind FROM results")).all()
        left_running = conn.execute(text("SELECT count(*) FROM obssched_jobs_running")).scalar()
    engine.dispose()
    expected = {
        (job_id, moment)
        for job_id, micros in saved
        for moment in grid(start, datetime.fromtimestamp(micros / 1e6, UTC))
    }
    reported = {(job, run) for job, run, kind in rows if kind in ("executed", "missed", "skipped")}
    abandoned = {(job, run) for job, run, kind in rows if kind == "abandoned"}
    assert len(expected) >= 4 * 8, "the final process never ran"
    assert sorted(expected - reported - abandoned) == []
    assert sorted(abandoned - reported) == [], "an abandoned run was not recovered"
    assert {kind for *_, kind in rows} <= {"executed", "missed", "skipped", "abandoned"}
    assert left_running == 0
