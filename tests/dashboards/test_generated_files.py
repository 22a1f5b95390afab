"""dashboards/ is exactly what the mixin renders with its default settings."""

from __future__ import annotations

import pytest
from _shipped import DASHBOARDS_DIR

from obssched.mixin import render

RENDERED = render()


def test_the_mixin_renders_every_shipped_file() -> None:
    """The mixin renders both dashboards and the rule file, and dashboards/ ships no other."""
    shipped = {p.relative_to(DASHBOARDS_DIR).as_posix() for p in DASHBOARDS_DIR.glob("*.json")}
    shipped |= {
        p.relative_to(DASHBOARDS_DIR).as_posix()
        for p in (DASHBOARDS_DIR / "prometheus").glob("*.yml")
    }
    assert set(RENDERED) == shipped


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_shipped_file_matches_the_default_rendering(name: str) -> None:
    """A hand edit, or a mixin change not followed by a render, fails here, byte for byte."""
    shipped = (DASHBOARDS_DIR / name).read_bytes()
    assert shipped == RENDERED[name].encode("utf-8"), (
        "run: .venv/bin/python -m obssched.mixin render --out dashboards"
    )
