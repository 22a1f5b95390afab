"""``python -m obssched.mixin render``: write the dashboards and rules for a configuration."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from obssched.mixin._config import MixinConfig, MixinConfigError
from obssched.mixin._render import render, write

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit status (2: bad arguments or settings)."""
    parser = argparse.ArgumentParser(
        prog="python -m obssched.mixin",
        description="Render obssched's Grafana dashboards and Prometheus rules.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("render", help="write the dashboards and the rule file")
    command.add_argument("--config", type=Path, help="a mixin.toml (default: the defaults)")
    command.add_argument("--out", type=Path, required=True, help="the folder to write into")
    command.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when a file in --out differs from what would be written",
    )
    args = parser.parse_args(argv)
    try:
        config = MixinConfig() if args.config is None else MixinConfig.load(args.config)
    except (MixinConfigError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    files = render(config)
    if args.check:
        stale = [
            name
            for name, text in files.items()
            if not (args.out / name).exists()
            or (args.out / name).read_text(encoding="utf-8") != text
        ]
        for name in stale:
            print(f"out of date: {args.out / name}")
        return 1 if stale else 0
    for path in write(files, args.out):
        print(f"wrote: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
