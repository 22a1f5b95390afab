"""The dashboards ``gen_dashboards.py`` writes, built from panels, queries and the rules' numbers.

A package of ``tools/`` (run as scripts, with ``tools/`` on ``sys.path``), named apart from the
``dashboards/`` folder it writes into.
"""

from __future__ import annotations

from typing import Any

from gen_rules import JOB_UID, OVERVIEW_UID

from dashgen._board import dashboard
from dashgen._job import job_panels
from dashgen._overview import overview_panels

__all__ = ["dashboards"]


def dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard, by file name."""
    return {
        "obssched-overview.json": dashboard(
            OVERVIEW_UID,
            "obssched overview",
            "Health of obssched schedulers: state, jobs, runs, errors, latency and executors.",
            overview_panels(),
            job_name_multi=True,
        ),
        "obssched-job.json": dashboard(
            JOB_UID,
            "obssched job",
            "One obssched job in depth: schedule, outcomes, errors and latency with trace links.",
            job_panels(),
            job_name_multi=False,
        ),
    }
