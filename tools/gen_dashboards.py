"""Writes obssched's Grafana dashboards, and the rules of ``gen_rules``, into dashboards/.

The dashboards and the rule file share thresholds (a heartbeat panel turns red where the stall alert
fires), so both are generated. Run this after editing either script; ``tests/dashboards``
regenerates the files and fails on any difference::

    .venv/bin/python tools/gen_dashboards.py          # rewrite dashboards/
    .venv/bin/python tools/gen_dashboards.py --check  # exit 1 if dashboards/ is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import gen_rules
from dashgen import dashboards

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS_DIR = ROOT / "dashboards"
RULES_PATH = DASHBOARDS_DIR / "prometheus" / "obssched-rules.yml"


def rendered_files() -> dict[Path, str]:
    """Every generated file and its content."""
    files = {
        DASHBOARDS_DIR / name: json.dumps(board, indent=2) + "\n"
        for name, board in dashboards().items()
    }
    files[RULES_PATH] = gen_rules.rules_yaml()
    return files


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report out-of-date files")
    args = parser.parse_args(argv)
    stale = []
    for path, text in rendered_files().items():
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"{'out of date' if args.check else 'wrote'}: {path.relative_to(ROOT)}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
