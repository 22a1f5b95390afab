"""Test doubles shared by the cluster tests that run without a database."""

from __future__ import annotations


class HeldRows:
    """The result of the start marks' statement when this node still holds every row."""

    def __init__(self, keys: list[str]) -> None:
        self._keys = keys

    def scalars(self) -> HeldRows:
        """The first column: the run keys."""
        return self

    def all(self) -> list[str]:
        """Every run key marked."""
        return list(self._keys)
