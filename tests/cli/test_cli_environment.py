"""Every ``OBSSCHED_*`` variable a command's --help names stands for a real flag of that command,
and setting it does what the flag does."""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

import pytest

from obssched.cli import main
from obssched.cli._admin import jobs_command
from obssched.cli._errors import CliError
from obssched.cli._parser import build_parser
from obssched.cli._settings import resolve_settings

# Each command with the positional arguments it needs.
COMMANDS = {
    "run": ["jobs.toml"],
    "demo": [],
    "check": ["jobs.toml"],
    **{
        f"jobs {action}": ["some-id"] for action in ("show", "pause", "resume", "remove", "run-now")
    },
    "jobs list": [],
    "jobs migrate": [],
}

# A value for each variable that differs from its default.
VALUES = {
    "OBSSCHED_STORE": "memory",
    "OBSSCHED_NAME": "billing",
    "OBSSCHED_TIMEZONE": "Europe/Paris",
    "OBSSCHED_HEARTBEAT": "3",
    "OBSSCHED_SHUTDOWN_TIMEOUT": "4",
    "OBSSCHED_METRICS_ADDR": "0.0.0.0",
    "OBSSCHED_METRICS_PORT": "9999",
    "OBSSCHED_LOG_LEVEL": "DEBUG",
    "OBSSCHED_LOG_FORMAT": "json",
    "OBSSCHED_PATH": "/srv/jobs",
    "OBSSCHED_CONSOLE_TOKEN": "a-long-enough-token",
    "OBSSCHED_CONSOLE_ALLOWED_HOSTS": "scheduler.example.org",
    "OBSSCHED_GRAFANA_URL": "https://grafana.example.org",
    "OBSSCHED_TRACE_URL_TEMPLATE": "https://traces.example.org/trace/{trace_id}",
}

# What a variable needs beside it to be valid at all: console actions need a token.
ALONGSIDE = {"OBSSCHED_CONSOLE_ACTIONS": {"OBSSCHED_CONSOLE_TOKEN": "a-long-enough-token"}}

ENTRY = re.compile(r"^  (OBSSCHED_[A-Z_]+)(?:=(\S+))?\s+(--[a-z-]+)$", re.MULTILINE)


def help_text(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    """The --help output of ``command``."""
    with pytest.raises(SystemExit) as exit_info:
        main([*command.split(), "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def entries(command: str, capsys: pytest.CaptureFixture[str]) -> list[tuple[str, str, str]]:
    """The (variable, switch value, flag) lines of ``command``'s help."""
    return ENTRY.findall(help_text(command, capsys))


def parse(command: str, *extra: str) -> argparse.Namespace:
    """Parse ``command`` with its positional arguments and ``extra``."""
    return build_parser().parse_args([*command.split(), *COMMANDS[command], *extra])


@pytest.mark.parametrize("command", list(COMMANDS))
def test_each_variable_named_in_the_help_is_listed_with_its_flag(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every OBSSCHED_* the help mentions has a line saying which flag it stands for."""
    text = help_text(command, capsys)
    mentioned = set(re.findall(r"OBSSCHED_[A-Z_]+", text))
    assert mentioned, "the help names no variable"
    assert mentioned == {variable for variable, _, _ in ENTRY.findall(text)}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_each_flag_a_variable_stands_for_exists(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The flag of every variable line is an option of that command."""
    for variable, switch, flag in entries(command, capsys):
        argv = [flag] if switch else [flag, VALUES[variable]]
        try:
            parse(command, *argv)
        except SystemExit:
            pytest.fail(f"{command} --help maps {variable} to {flag}, which {command} rejects")
        capsys.readouterr()


@pytest.mark.parametrize("command", ["run", "demo", "check"])
def test_each_variable_sets_what_its_flag_sets(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A listed variable gives the settings its flag gives, and they differ from the defaults."""
    listed = entries(command, capsys)
    assert listed
    for variable, switch, flag in listed:
        value = switch or VALUES[variable]
        argv = [flag] if switch else [flag, value]
        alongside = ALONGSIDE.get(variable, {})
        by_variable = resolve_settings(parse(command), None, {**alongside, variable: value})
        by_flag = resolve_settings(parse(command, *argv), None, dict(alongside))
        default = resolve_settings(parse(command), None, dict(alongside))
        assert dataclasses.asdict(by_variable) == dataclasses.asdict(by_flag), variable
        assert dataclasses.asdict(by_variable) != dataclasses.asdict(default), variable


@pytest.mark.parametrize("command", ["jobs list", "jobs show", "jobs migrate"])
def test_the_store_variable_opens_the_store_the_flag_opens(command: str, tmp_path: Path) -> None:
    """OBSSCHED_STORE names the store of the jobs commands as --store does."""
    url = f"sqlite:///{tmp_path / 'missing' / 'jobs.sqlite'}"

    def failure(args: argparse.Namespace, environ: dict[str, str]) -> str:
        with pytest.raises(CliError) as error:
            jobs_command(args, environ)
        return error.value.message

    by_variable = failure(parse(command), {"OBSSCHED_STORE": url})
    assert by_variable == failure(parse(command, "--store", url), {})
    assert str(tmp_path / "missing") in by_variable
