"""Every command answers --help, and the top-level help documents the exit codes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from obssched.cli import ExitCode

from .conftest import Workdir

COMMANDS = [
    [],
    ["run"],
    ["demo"],
    ["check"],
    ["jobs"],
    *(["jobs", action] for action in ("list", "show", "pause", "resume", "remove", "run-now")),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "obssched")
def test_help_exits_zero_and_describes_the_command(workdir: Workdir, command: list[str]) -> None:
    """`obssched ... --help` prints usage and exits 0."""
    result = workdir.run(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: obssched")


def test_top_level_help_lists_every_exit_code(workdir: Workdir) -> None:
    """The epilog of `obssched --help` names each exit code."""
    result = workdir.run("--help")
    for code in ExitCode:
        assert f"  {code.value} " in result.stdout


def test_no_command_is_a_usage_error(workdir: Workdir) -> None:
    """Without a command, obssched exits with the usage code."""
    result = workdir.run()
    assert result.returncode == ExitCode.USAGE
    assert "required: COMMAND" in result.stderr


def test_console_script_runs() -> None:
    """The installed `obssched` console script is the same command."""
    script = Path(sys.executable).with_name("obssched")
    if not script.exists():
        pytest.skip("the package is not installed with its console script")
    import subprocess

    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0
    assert result.stdout.startswith("obssched ")
