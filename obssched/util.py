"""Helpers that APScheduler 3 user code imports from ``apscheduler.util``."""

from __future__ import annotations

import inspect
from datetime import date, timedelta
from functools import lru_cache, partial
from typing import Any, Final

from obssched._refs import get_callable_name, maybe_ref, obj_to_ref, ref_to_obj
from obssched._timeutil import (
    astimezone,
    convert_to_datetime,
    datetime_ceil,
    datetime_repr,
    datetime_to_utc_timestamp,
    get_localzone,
    localize,
    normalize,
    timezone_repr,
    utc_timestamp_to_datetime,
)

__all__ = [
    "asbool",
    "asdate",
    "asint",
    "astimezone",
    "check_callable_args",
    "convert_to_datetime",
    "datetime_ceil",
    "datetime_repr",
    "datetime_to_utc_timestamp",
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
        raise ValueError(f"Unable to interpret value {obj!r} as a boolean")
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
    try:
        sig.bind(*args, **kwargs)
    except TypeError as exc:
        raise ValueError(
            f"The arguments {tuple(args)!r}, {dict(kwargs)!r} do not fit the signature of "
            f"{get_callable_name(func)}{sig}: {exc}"
        ) from exc
