"""A scheduler's executors or job stores, by alias."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from obssched._plugins import create_plugin
from obssched.exceptions import UnknownAliasError

__all__ = ["Registry", "lookup"]

_T = TypeVar("_T")


class Registry(Generic[_T]):
    """The executors (or job stores) of one scheduler, keyed by alias, with their lock.

    ``items`` is the live dict: the scheduling loop iterates it under ``lock``.
    """

    def __init__(self, kind: str, plugin_kind: str, base: type) -> None:
        self.kind = kind
        self._plugin_kind = plugin_kind
        self._base = base
        self.items: dict[str, _T] = {}
        self.lock = threading.RLock()

    def add(
        self,
        value: _T | str,
        alias: str,
        options: dict[str, Any],
        start: Callable[[_T], None] | None,
    ) -> _T:
        """Create (from a plugin alias) or take ``value``, start it if asked, and add it.

        Nothing is added when creating or starting it fails.

        Raises:
            ValueError: ``alias`` is taken.
            UnknownAliasError: ``value`` is an unknown plugin alias.
            TypeError: ``value`` is neither an instance nor a plugin alias.
        """
        with self.lock:
            if alias in self.items:
                raise ValueError(
                    f"This scheduler already has {_article(self.kind)} {self.kind} by the alias "
                    f'of "{alias}"'
                )
            if isinstance(value, str):
                instance: _T = create_plugin(self._plugin_kind, value, options)
            elif isinstance(value, self._base):
                instance = value
            else:
                raise TypeError(
                    f"Expected {_article(self.kind)} {self.kind} instance or a string, "
                    f"got {type(value).__name__} instead"
                )
            if start is not None:
                start(instance)
            self.items[alias] = instance
            return instance

    def remove(self, alias: str) -> _T:
        """Remove and return the component ``alias``.

        Raises:
            UnknownAliasError: no such component.
        """
        with self.lock:
            instance = self.lookup(alias)
            del self.items[alias]
            return instance

    def lookup(self, alias: str) -> _T:
        """Return the component ``alias``.

        Raises:
            UnknownAliasError: no such component.
        """
        return lookup(self.items, self.kind, alias)


def lookup(items: dict[str, _T], kind: str, alias: str) -> _T:
    """Return ``items[alias]``.

    Raises:
        UnknownAliasError: no such component (a ``KeyError`` whose message starts with
            APScheduler 3's "No such <kind>: <alias>").
    """
    try:
        return items[alias]
    except KeyError:
        raise UnknownAliasError(kind, alias, list(items)) from None


def _article(noun: str) -> str:
    return "an" if noun[0] in "aeiou" else "a"
