"""The ``obssched`` command: ``run``, ``demo``, ``check`` and ``jobs``.

The command configures what the library never does: logging, the OpenTelemetry SDK, signal
handling and an HTTP server. :data:`ExitCode` lists how it can end.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from obssched.cli._errors import CliError, ExitCode, missing_optional_package

__all__ = ["CliError", "ExitCode", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (``sys.argv[1:]`` by default); return the exit code."""
    from obssched.cli._parser import build_parser

    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    try:
        return int(_dispatch(args))
    except CliError as exc:
        if debug:
            traceback.print_exc()
        _report(exc.message)
        return int(exc.code)
    except KeyboardInterrupt:
        _report("interrupted")
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        missing = missing_optional_package(exc)
        if missing is not None:
            _report(missing.message)
            return int(missing.code)
        _report(f"unexpected error: {type(exc).__name__}: {exc} (rerun with --debug for details)")
        return int(ExitCode.FAILURE)


def _dispatch(args: argparse.Namespace) -> ExitCode:
    command = getattr(args, "command", None)
    if command == "run":
        from obssched.cli._run import run_command

        return run_command(args)
    if command == "check":
        from obssched.cli._run import check_command

        return check_command(args)
    if command == "demo":
        from obssched.cli._demo import demo_command

        return demo_command(args)
    from obssched.cli._admin import jobs_command

    return jobs_command(args, dict(os.environ))


def _report(message: str) -> None:
    logging.shutdown()
    sys.stderr.write(f"obssched: error: {message}\n")
    sys.stderr.flush()
