"""Helpers that APScheduler 3 user code imports from ``apscheduler.util``."""

from __future__ import annotations

import datetime as _datetime
import inspect
from datetime import date, timedelta
from functools import lru_cache, partial
from typing import Any, Final

from obssched._refs import get_callable_name, maybe_ref, ref_to_obj
from obssched._refs import reference_of as obj_to_ref
from obssched._timeutil import (
    astimezone,
    convert_to_datetime,
    datetime_ceil,
    datetime_repr,
    datetime_to_utc_timestamp,
    datetime_utc_add,
    get_localzone,
    localize,
    normalize,
    timezone_repr,
    utc_timestamp_to_datetime,
)

__all__ = [
    "UTC",
    "asbool",
    "asdate",
    "asint",
    "astimezone",
    "check_callable_args",
    "convert_to_datetime",
    "datetime_ceil",
    "datetime_repr",
    "datetime_to_utc_timestamp",
    "datetime_utc_add",
    "get_callable_name",
    "get_localzone",
    "iscoroutinefunction_partial",
    "localize",
    "maybe_ref",
    "normalize",
    "obj_to_ref",
    "ref_to_obj",
    "timedelta_seconds",
    "timezone_repr",
    "undefined",
    "utc_timestamp_to_datetime",
]


class _Undefined:
    """The type of :data:`undefined`: "not given", where ``None`` is a meaningful value."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "<undefined>"

    def __reduce__(self) -> str:
        return "undefined"


UTC: Final = _datetime.UTC
"""The UTC zone (``datetime.timezone.utc``), as ``apscheduler.util.UTC``."""

undefined: Final = _Undefined()
"""A unique object that marks an argument as not given."""


def asint(text: str | int | None) -> int | None:
    """Turn ``text`` into an integer, keeping ``None``."""
    if text is not None:
        return int(text)
    return None


def asbool(obj: object) -> bool:
    """Interpret a configuration value (``"true"``, ``"no"``, ``1``...) as a boolean.

    Raises:
        ValueError: the text is not a recognised boolean.
    """
    if isinstance(obj, str):
        lowered = obj.strip().lower()
        if lowered in ("true", "yes", "on", "y", "t", "1"):
            return True
        if lowered in ("false", "no", "off", "n", "f", "0"):
            return False
        raise ValueError(f'Unable to interpret value "{lowered}" as boolean')
    return bool(obj)


def asdate(obj: date | str) -> date:
    """Turn ISO 8601 text into a ``date``; pass dates through."""
    if isinstance(obj, str):
        return date.fromisoformat(obj)
    return obj


def timedelta_seconds(delta: timedelta) -> float:
    """Return the total number of seconds in ``delta``."""
    return delta.total_seconds()


def iscoroutinefunction_partial(func: Any) -> bool:
    """Tell whether ``func`` (possibly wrapped in ``functools.partial``) is a coroutine function."""
    while isinstance(func, partial):
        func = func.func
    return inspect.iscoroutinefunction(func)


def _uncached_signature(func: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(func, follow_wrapped=False)
    except ValueError:
        return None


_signature = lru_cache(maxsize=4096)(_uncached_signature)


def check_callable_args(func: Any, args: Any, kwargs: Any) -> None:
    """Check that ``func`` can be called with ``args`` and ``kwargs``.

    Raises:
        ValueError: the arguments do not fit the callable's signature.
    """
    # Whether arguments fit depends only on their count and keyword names, so a shape that
    # fitted once is remembered (thousands of jobs often share one function and shape).
    try:
        shape = (func, len(args), tuple(kwargs))
        if shape in _FITTING_SHAPES:
            return
    except TypeError:  # an unhashable callable
        shape = None
    _check_callable_args(func, args, kwargs)
    if shape is not None and len(_FITTING_SHAPES) < 4096:
        _FITTING_SHAPES.add(shape)


_FITTING_SHAPES: set[tuple[Any, int, tuple[str, ...]]] = set()


def _check_callable_args(func: Any, args: Any, kwargs: Any) -> None:
    try:
        sig = _signature(func)
    except TypeError:  # unhashable callables cannot be cached
        sig = _uncached_signature(func)
    if sig is None:
        # Some builtins expose no signature; nothing can be checked for them.
        return
    problems = _ArgumentProblems(sig, len(args), list(kwargs))
    # The checks run in APScheduler 3's order, and each message starts with its exact text.
    for names, message in (
        (problems.in_both, "The following arguments are supplied in both args and kwargs"),
        (
            problems.positional_only_by_name,
            "The following arguments cannot be given as keyword arguments",
        ),
        (problems.missing, "The following arguments have not been supplied"),
        (
            problems.missing_keyword_only,
            "The following keyword-only arguments have not been supplied in kwargs",
        ),
    ):
        if names:
            raise ValueError(f"{message}: {', '.join(names)}")
    if problems.extra_positional and not problems.has_varargs:
        accepted = len(args) - problems.extra_positional
        raise ValueError(
            "The list of positional arguments is longer than the target callable can handle "
            f"(allowed: {accepted}, given in args: {len(args)})"
        )
    if problems.unknown_keywords and not problems.has_var_kwargs:
        raise ValueError(
            "The target callable does not accept the following keyword arguments: "
            + ", ".join(problems.unknown_keywords)
        )


class _ArgumentProblems:
    """How ``len(args)`` positional and the named keyword arguments fall onto a signature."""

    def __init__(self, sig: inspect.Signature, positional: int, keywords: list[str]) -> None:
        self.in_both: list[str] = []
        self.positional_only_by_name: list[str] = []
        self.missing: list[str] = []
        self.missing_keyword_only: list[str] = []
        self.has_varargs = self.has_var_kwargs = False
        unused_keywords = list(keywords)
        for param in sig.parameters.values():
            kind = param.kind
            required = param.default is param.empty
            if kind is param.VAR_POSITIONAL:
                self.has_varargs = True
            elif kind is param.VAR_KEYWORD:
                self.has_var_kwargs = True
            elif kind is param.KEYWORD_ONLY:
                if param.name in unused_keywords:
                    unused_keywords.remove(param.name)
                elif required:
                    self.missing_keyword_only.append(param.name)
            elif (
                kind is param.POSITIONAL_OR_KEYWORD
                and positional
                and (param.name in unused_keywords)
            ):
                self.in_both.append(param.name)
            elif positional:
                positional -= 1
            elif param.name in unused_keywords:
                unused_keywords.remove(param.name)
                if kind is param.POSITIONAL_ONLY:
                    self.positional_only_by_name.append(param.name)
            elif required:
                self.missing.append(param.name)
        self.extra_positional = positional
        self.unknown_keywords = unused_keywords
