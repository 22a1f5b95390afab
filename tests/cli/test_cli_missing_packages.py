"""A missing optional package ends every command the same way: exit 2, naming the extra."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from obssched.cli import ExitCode
from obssched.cli._errors import (
    OPTIONAL_PACKAGES,
    missing_optional_package,
    missing_package_error,
)
from obssched.cli._stores import check_store_driver

from .conftest import Workdir

POSTGRES_URL = "postgresql+psycopg://scheduler@127.0.0.1:1/jobs"

# The command run as `python -c` with the module made unimportable, as if it were not installed.
WITHOUT = """
import sys
sys.modules[sys.argv[1]] = None
from obssched.cli import main
sys.exit(main(sys.argv[2:]))
"""


def run_without(workdir: Workdir, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``obssched ARGS`` in a process where importing ``module`` fails."""
    return subprocess.run(
        [sys.executable, "-c", WITHOUT, module, *args],
        cwd=workdir.path,
        env=workdir.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


JOBS = """
[[jobs]]
id = "one"
func = "clitasks:record"
trigger = "interval"
hours = 1
args = ["ran.txt"]
"""


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["jobs", "list", "--store", POSTGRES_URL], id="jobs-list"),
        pytest.param(["jobs", "migrate", "--store", POSTGRES_URL], id="jobs-migrate"),
        pytest.param(
            ["run", "jobs.toml", "--store", POSTGRES_URL, "--metrics-port", "0"], id="run"
        ),
        pytest.param(["demo", "--store", POSTGRES_URL, "--metrics-port", "0"], id="demo"),
        pytest.param(["check", "postgresql.toml"], id="check"),
    ],
)
def test_a_postgresql_store_without_psycopg_is_a_usage_error_naming_the_extra(
    workdir: Workdir, args: list[str]
) -> None:
    """Without psycopg, a PostgreSQL store exits 2 and says which extra to install."""
    workdir.write("jobs.toml", JOBS)
    workdir.write("postgresql.toml", f'[jobstores.default]\nurl = "{POSTGRES_URL}"\n' + JOBS)
    result = run_without(workdir, "psycopg", *args)
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert "pip install 'obssched[postgresql]'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["check", "jobs.toml"], id="check"),
        pytest.param(["jobs", "list", "--store", "sqlite:///jobs.sqlite"], id="jobs-list"),
    ],
)
def test_an_sql_store_without_sqlalchemy_is_a_usage_error_naming_the_extra(
    workdir: Workdir, args: list[str]
) -> None:
    """Without SQLAlchemy, an SQLite store exits 2 and names obssched[sqlalchemy]."""
    workdir.write("jobs.toml", JOBS)
    result = run_without(workdir, "sqlalchemy", *args)
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert "pip install 'obssched[sqlalchemy]'" in result.stderr


def test_the_message_names_what_needs_the_package_and_the_alternative() -> None:
    """The error says what needed the module, the extra, and what else to do."""
    error = missing_package_error("psycopg", "the job store X", "use '--store memory'")
    assert error.code == ExitCode.USAGE
    assert error.message == (
        "the job store X needs the psycopg package, which is not installed; install it with "
        "pip install 'obssched[postgresql]', or use '--store memory'"
    )


def test_an_extra_can_be_named_by_the_caller() -> None:
    """A module outside the table gets the extra its caller names."""
    error = missing_package_error(
        "opentelemetry.exporter.otlp.proto.grpc", "OTLP over gRPC", extra="grpc"
    )
    assert "pip install 'obssched[grpc]'" in error.message


def test_a_module_no_extra_installs_is_named_without_an_extra() -> None:
    """For a module no extra installs (a database driver of the user's), the module is named."""
    error = missing_package_error("pymysql", "the job store mysql+pymysql://...")
    assert error.code == ExitCode.USAGE
    assert "the module pymysql, which is not installed" in error.message
    assert "obssched[" not in error.message


@pytest.mark.parametrize(
    ("module", "extra"),
    [
        pytest.param("psycopg", "postgresql", id="psycopg"),
        pytest.param("psycopg.pq", "postgresql", id="psycopg-submodule"),
        pytest.param("opentelemetry.sdk.trace", "otel", id="otel-sdk"),
    ],
)
def test_an_escaped_import_error_of_an_optional_module_names_its_extra(
    module: str, extra: str
) -> None:
    """An import failure no command caught still maps to exit 2 and its extra."""
    error = missing_optional_package(
        ModuleNotFoundError(f"No module named {module!r}", name=module)
    )
    assert error is not None
    assert error.code == ExitCode.USAGE
    assert f"pip install 'obssched[{extra}]'" in error.message


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(ModuleNotFoundError("No module named 'mytasks'", name="mytasks"), id="other"),
        pytest.param(ImportError("cannot import name"), id="unnamed"),
        pytest.param(ValueError("psycopg"), id="not-an-import-error"),
    ],
)
def test_other_errors_are_not_missing_optional_packages(exc: Exception) -> None:
    """Only the failed import of a module an extra installs is reported as one."""
    assert missing_optional_package(exc) is None


def test_every_extra_named_exists_in_the_project() -> None:
    """Each extra the messages name is one that pyproject.toml defines."""
    pyproject = Path(__file__).parents[2] / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    assert set(OPTIONAL_PACKAGES.values()) <= set(extras)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("memory", id="memory"),
        pytest.param("sqlite:///jobs.sqlite", id="installed-driver"),
        pytest.param("nosuchdatabase://host/db", id="unknown-dialect"),
        pytest.param("not a url", id="not-a-url"),
    ],
)
def test_a_store_whose_driver_imports_passes_the_driver_check(url: str) -> None:
    """Only a driver that fails to import fails the check; other URL faults show at opening."""
    check_store_driver(url)
