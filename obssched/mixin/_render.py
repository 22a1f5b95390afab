"""Every file the mixin renders, and writing them into a folder."""

from __future__ import annotations

import json
from pathlib import Path

from obssched.mixin._board import dashboard
from obssched.mixin._config import MixinConfig
from obssched.mixin._job import job_panels
from obssched.mixin._overview import overview_panels
from obssched.mixin._queries import JOB_UID, OVERVIEW_UID
from obssched.mixin._rules import rules_yaml

__all__ = ["RULES_FILE", "render", "write"]

RULES_FILE = "prometheus/obssched-rules.yml"


def render(config: MixinConfig | None = None) -> dict[str, str]:
    """Render the dashboards and the rule file: their text by path, relative to the output folder.

    Args:
        config: the settings (the defaults, which obssched ships rendered, when ``None``).
    """
    config = config or MixinConfig()
    boards = {
        "obssched-overview.json": dashboard(
            config,
            OVERVIEW_UID,
            "obssched overview",
            "Health of obssched schedulers: state, jobs, runs, errors, latency and executors.",
            overview_panels(config),
            job_name_multi=True,
        ),
        "obssched-job.json": dashboard(
            config,
            JOB_UID,
            "obssched job",
            "One obssched job in depth: schedule, outcomes, errors and latency with trace links.",
            job_panels(config),
            job_name_multi=False,
        ),
    }
    files = {name: json.dumps(board, indent=2) + "\n" for name, board in boards.items()}
    files[RULES_FILE] = rules_yaml(config)
    return files


def write(files: dict[str, str], out: Path) -> list[Path]:
    """Write rendered ``files`` under ``out``; return the paths whose content changed."""
    changed = []
    for name, text in files.items():
        path = out / name
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        changed.append(path)
    return changed
