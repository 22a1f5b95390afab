"""dashboards/ is exactly what tools/gen_dashboards.py writes."""

from __future__ import annotations

import pytest
from _shipped import ROOT, generator

RENDERED = generator("gen_dashboards").rendered_files()


@pytest.mark.parametrize(
    "path", [pytest.param(path, id=str(path.relative_to(ROOT))) for path in RENDERED]
)
def test_shipped_file_matches_the_generator(path) -> None:
    """A hand edit, or a generator change not followed by a run of it, fails here."""
    assert path.read_text(encoding="utf-8") == RENDERED[path], (
        "run: .venv/bin/python tools/gen_dashboards.py"
    )
