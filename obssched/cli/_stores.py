"""Job stores named by URL: ``memory`` or an SQLAlchemy URL such as ``sqlite:///file.sqlite``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from obssched.cli._errors import CliError, ExitCode, missing_package, missing_package_error

if TYPE_CHECKING:
    from obssched.jobstores.base import BaseJobStore
    from obssched.schedulers.base import BaseScheduler

__all__ = [
    "DEFAULT_STORE_URL",
    "MEMORY_URLS",
    "check_store_driver",
    "create_store",
    "describe_store",
    "is_memory",
    "start_store",
]

DEFAULT_STORE_URL = "sqlite:///obssched.sqlite"
"""The job store of ``run`` and ``jobs`` when none is given: an SQLite file in the working
directory."""

MEMORY_URLS = frozenset({"memory", "memory://", "memory:"})


def is_memory(url: str) -> bool:
    """Whether ``url`` names the in-process memory store."""
    return url.strip().lower() in MEMORY_URLS


def describe_store(url: str) -> str:
    """Return ``url`` for messages, with an SQLite file as its absolute path and no password."""
    if is_memory(url):
        return "memory (jobs are lost when the process ends)"
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if path and path != ":memory:":
            return f"sqlite:///{Path(path).resolve()}"
        return url
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        credentials, _, host = rest.rpartition("@")
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def create_store(url: str) -> BaseJobStore:
    """Create (without starting) the job store that ``url`` names.

    Raises:
        CliError: the SQLAlchemy store or its database driver is not installed (``USAGE``,
            naming the extra to install), or the URL is malformed (``STORE_UNAVAILABLE``).
    """
    if is_memory(url):
        from obssched.jobstores.memory import MemoryJobStore

        return MemoryJobStore()
    if "://" not in url:
        raise CliError(
            f"job store URL {url!r} is not a URL: use 'memory' or an SQLAlchemy URL such as "
            "'sqlite:///obssched.sqlite' or 'postgresql+psycopg://user@host/db'",
            ExitCode.USAGE,
        )
    if url.startswith("sqlite:///"):
        _check_sqlite_directory(url)
    try:
        from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore

        return SQLAlchemyJobStore(url=url)
    except ImportError as exc:
        raise _missing_driver(url, exc) from exc
    except Exception as exc:
        raise CliError(
            f"cannot open job store {describe_store(url)}: {type(exc).__name__}: {exc}",
            ExitCode.STORE_UNAVAILABLE,
        ) from exc


def check_store_driver(url: str) -> None:
    """Check that the database driver of the store ``url`` names is installed.

    Raises:
        CliError: it is not (``USAGE``, naming the extra to install). A URL that is not
            understood passes: opening the store reports it.
    """
    if is_memory(url) or "://" not in url:
        return
    try:
        from sqlalchemy.engine import make_url

        make_url(url).get_dialect().import_dbapi()
    except ImportError as exc:
        raise _missing_driver(url, exc) from exc
    except Exception:
        return


def _missing_driver(url: str, exc: ImportError) -> CliError:
    return missing_package_error(
        missing_package(exc) or "sqlalchemy",
        f"the job store {describe_store(url)}",
        "use '--store memory' to keep jobs in memory only",
    )


def start_store(store: BaseJobStore, scheduler: BaseScheduler, url: str, alias: str) -> None:
    """Start ``store`` outside a running scheduler (for the admin commands).

    Raises:
        CliError: the database cannot be reached (``STORE_UNAVAILABLE``).
    """
    try:
        store.start(scheduler, alias)
        store.get_next_run_time()
    except Exception as exc:
        raise CliError(
            f"cannot open job store {describe_store(url)}: {type(exc).__name__}: {exc}",
            ExitCode.STORE_UNAVAILABLE,
        ) from exc


def _check_sqlite_directory(url: str) -> None:
    # SQLite's own error for a missing directory is "unable to open database file", which names
    # neither the file nor the reason; say both before the driver is involved.
    path = url[len("sqlite:///") :].split("?", 1)[0]
    if not path or path == ":memory:":
        return
    directory = Path(path).resolve().parent
    if not directory.is_dir():
        raise CliError(
            f"cannot open job store sqlite:///{Path(path).resolve()}: the directory {directory} "
            "does not exist",
            ExitCode.STORE_UNAVAILABLE,
        )
    if not os.access(directory, os.W_OK):
        raise CliError(
            f"cannot open job store sqlite:///{Path(path).resolve()}: the directory {directory} "
            "is not writable",
            ExitCode.STORE_UNAVAILABLE,
        )
