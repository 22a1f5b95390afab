"""`obssched check` on thousands of mutated copies of examples/jobs.toml: every file is either
valid (exit 0) or reported as invalid (exit 3), never an unexpected error (exit 1)."""

from __future__ import annotations

import logging
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from obssched.cli import ExitCode
from obssched.cli import main as cli_main

from .conftest import clean_env

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SEED = 20261207
MUTATED_FILES = 3000

ODD_VALUES = [
    '"text"', "1e300", "-1e300", "-1", "0", "nan", "inf", "-inf", "true", "[1, 2]", "[]",
    "{ a = 1 }", "{}", f'"{"x" * 300}"', '"../x"', '"\\u0000"', '""', '" "', "9999-12-31T23:59:59",
    "0001-01-01", "9999-12-31", "23:59:59", "9223372036854775807", "-9223372036854775808",
    "999999999", "1.5", '"*/0"', '"last fri"', '"2nd moh"', '"mon-sun/2"', '"Europe/Paris"',
    '"UTC"', '"jobs:nothing"', '"nope:nope"', '"interval"', '"cron"', '"date"',
    '"calendarinterval"',
    f"[{'[' * 150}{']' * 150}]", '"\\ud7ff\\uffff"', "'''multi\nline'''", '"%s %d {}"',
]  # fmt: skip
"""Values that have broken, or could break, the checking of one field or another."""

ADDED_KEYS = [
    "jitter", "timezone", "args", "kwargs", "seconds", "hour", "start_date", "end_date", "days",
    "colour", "max_instances", "misfire_grace_time", "run_date", "years", "week", "executor",
    "jobstore", "id",
]  # fmt: skip


def _tables(lines: list[str]) -> list[tuple[int, int]]:
    starts = [index for index, line in enumerate(lines) if line.startswith("[")]
    if not starts:
        return []
    return list(zip(starts, [*starts[1:], len(lines)], strict=True))


def _mutate(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    for _ in range(rng.randint(1, 3)):
        assignments = [index for index, line in enumerate(lines) if " = " in line]
        kind = rng.choice(["value", "value", "value", "delete", "duplicate", "drop", "add", "cut"])
        if kind == "value" and assignments:
            index = rng.choice(assignments)
            key = lines[index].split(" = ", 1)[0]
            lines[index] = f"{key} = {rng.choice(ODD_VALUES)}"
        elif kind == "delete" and lines:
            del lines[rng.randrange(len(lines))]
        elif kind in ("duplicate", "drop") and _tables(lines):
            start, end = rng.choice(_tables(lines))
            block = lines[start:end]
            del lines[start:end]
            if kind == "duplicate":
                lines[start:start] = block + block
        elif kind == "add" and lines:
            key = rng.choice(ADDED_KEYS)
            jobs = [index for index, line in enumerate(lines) if line == "[[jobs]]"] or [0]
            lines.insert(rng.choice(jobs) + 1, f"{key} = {rng.choice(ODD_VALUES)}")
        elif kind == "cut":
            joined = "\n".join(lines)
            lines = joined[: rng.randrange(len(joined) + 1)].splitlines()
    return "\n".join(lines) + "\n"


@pytest.fixture
def fuzz_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory with the example's job functions; the logging and import path that
    ``obssched check`` sets up in-process are put back afterwards."""
    shutil.copy(EXAMPLES / "jobs.py", tmp_path / "jobs.py")
    root = logging.getLogger()
    handlers, level, path = list(root.handlers), root.level, list(sys.path)
    yield tmp_path
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)
    sys.path[:] = path
    sys.modules.pop("jobs", None)


def _mutated_files() -> list[str]:
    rng = random.Random(SEED)
    text = (EXAMPLES / "jobs.toml").read_text()
    return [_mutate(text, rng) for _ in range(MUTATED_FILES)]


@pytest.mark.slow
def test_no_mutation_of_the_example_is_an_unexpected_error(
    fuzz_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each mutated file checks as valid (0) or invalid (3, with a problem report), never 1."""
    target = fuzz_dir / "jobs.toml"
    failures: list[str] = []
    codes: set[int] = set()
    for number, text in enumerate(_mutated_files()):
        target.write_text(text)
        code = cli_main(["check", str(target)])
        codes.add(code)
        error = capsys.readouterr().err
        # "cannot be checked" is the report of a checker that crashed on the job.
        if code not in (ExitCode.OK, ExitCode.INVALID_JOBS_FILE) or (
            "unexpected error" in error or "cannot be checked" in error
        ):
            failures.append(f"mutation {number} exited {code}: {error.strip()}\n{text}")
    assert failures == [], f"{len(failures)} unexpected errors; first:\n{failures[0]}"
    assert codes == {ExitCode.OK, ExitCode.INVALID_JOBS_FILE}


@pytest.mark.parametrize("number", [0, 1, 2, 3, 4])
def test_mutated_files_exit_as_documented_through_the_console_entry_point(
    tmp_path: Path, number: int
) -> None:
    """A few mutations through ``python -m obssched check``: exit 0, or 3 with the file named."""
    shutil.copy(EXAMPLES / "jobs.py", tmp_path / "jobs.py")
    (tmp_path / "jobs.toml").write_text(_mutated_files()[number * 97])
    result = subprocess.run(
        [sys.executable, "-m", "obssched", "check", "jobs.toml"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode in (ExitCode.OK, ExitCode.INVALID_JOBS_FILE), result.stderr
    if result.returncode == ExitCode.INVALID_JOBS_FILE:
        assert "jobs.toml" in result.stderr
        assert "Traceback" not in result.stderr
