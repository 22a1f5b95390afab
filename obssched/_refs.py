"""Textual references to callables (``"package.module:qualname"``) and back."""

from __future__ import annotations

import inspect
from functools import lru_cache, partial
from importlib import import_module
from typing import Any

__all__ = ["get_callable_name", "maybe_ref", "obj_to_ref", "ref_to_obj", "reference_of"]


def get_callable_name(func: Any) -> str:
    """Return the best available display name of ``func``, as APScheduler 3 does.

    Raises:
        TypeError: ``func`` is not callable.
    """
    if inspect.ismethod(func):
        owner = func.__self__
        owner_name = owner.__qualname__ if inspect.isclass(owner) else type(owner).__qualname__
        return f"{owner_name}.{func.__name__}"
    if inspect.isclass(func) or inspect.isfunction(func) or inspect.isbuiltin(func):
        return str(func.__qualname__)
    if callable(getattr(func, "__call__", None)):  # noqa: B004 (an instance with __call__)
        return type(func).__qualname__
    raise TypeError(f"Unable to determine a name for {func!r} -- maybe it is not a callable?")


def reference_of(obj: Any) -> str:
    """Return the ``module:qualname`` text that names ``obj`` (``obssched.util.obj_to_ref``).

    The reference is built from names only: it is not imported to check that it leads back to
    ``obj`` (see :func:`obj_to_ref` for that).

    Raises:
        TypeError: ``obj`` is not callable.
        ValueError: ``obj`` is a ``functools.partial``, a lambda or a nested function.
    """
    if isinstance(obj, partial):
        raise ValueError("Cannot create a reference to a partial()")
    name = get_callable_name(obj)
    if "<lambda>" in name:
        raise ValueError("Cannot create a reference to a lambda")
    if "<locals>" in name:
        raise ValueError("Cannot create a reference to a nested function")
    module = obj.__self__.__module__ if inspect.ismethod(obj) else obj.__module__
    return f"{module}:{name}"


def obj_to_ref(obj: Any) -> str:
    """Return the reference that :func:`ref_to_obj` resolves back to ``obj`` itself.

    Stricter than :func:`reference_of`: job stores keep this reference instead of the callable,
    so it must lead back to the same object.

    Raises:
        ValueError: ``obj`` has no importable reference (a lambda, a nested function, a partial,
            a bound method of an instance, an object its module does not expose).
    """
    try:
        return _cached_ref(obj)
    except TypeError:  # unhashable callables cannot be cached
        return _find_ref(obj)


@lru_cache(maxsize=4096)
def _cached_ref(obj: Any) -> str:
    # Resolving a reference imports and walks attributes; jobs of one function are added
    # thousands of times, so the answer is remembered.
    return _find_ref(obj)


def _find_ref(obj: Any) -> str:
    if inspect.ismethod(obj) and not inspect.isclass(obj.__self__):
        raise ValueError(f"Cannot create a reference to a bound method of an instance: {obj!r}")
    try:
        ref = reference_of(obj)
    except TypeError as exc:
        raise ValueError(f"Cannot determine the reference to {obj!r}") from exc
    try:
        resolved = ref_to_obj(ref)
    except (ValueError, LookupError) as exc:
        raise ValueError(f"Cannot determine the reference to {obj!r}") from exc
    if resolved != obj:
        raise ValueError(f"Cannot determine the reference to {obj!r}: {ref} is another object")
    return ref


def ref_to_obj(ref: str) -> Any:
    """Return the object that ``ref`` (``"package.module:varname.attr"``) points to.

    Raises:
        TypeError: ``ref`` is not text.
        ValueError: ``ref`` is malformed.
        LookupError: the module or attribute cannot be found.
    """
    if not isinstance(ref, str):
        raise TypeError(f"References must be strings, got {ref!r}")
    if ":" not in ref:
        raise ValueError(f"Invalid reference {ref!r}: expected 'package.module:qualname'")
    modulename, rest = ref.split(":", 1)
    try:
        obj: Any = import_module(modulename)
    except ImportError as exc:
        raise LookupError(f"Error resolving reference {ref}: could not import module") from exc
    try:
        for name in rest.split("."):
            obj = getattr(obj, name)
    except Exception as exc:
        raise LookupError(f"Error resolving reference {ref}: error looking up object") from exc
    return obj


def maybe_ref(ref: Any) -> Any:
    """Resolve ``ref`` with :func:`ref_to_obj` if it is text, else return it unchanged."""
    if not isinstance(ref, str):
        return ref
    return ref_to_obj(ref)
