"""``python -m obssched`` and the ``obssched`` console script."""

from __future__ import annotations

import os
import sys

from obssched.cli import ExitCode
from obssched.cli import main as _cli_main

__all__ = ["main"]


def main() -> None:
    """Run the command line and exit with its code."""
    code = _cli_main()
    if code == ExitCode.SHUTDOWN_TIMEOUT:
        # Abandoned jobs still hold worker threads; do not let interpreter exit wait on them.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    main()
