"""Running one scenario on APScheduler 3.11 and on obssched, and comparing what comes out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """What a call did: returned ``value``, or raised ``error``."""

    value: Any = None
    error: BaseException | None = None


def outcome(call: Callable[[], Any]) -> Outcome:
    """Run ``call`` and record its result or its exception."""
    try:
        return Outcome(value=call())
    except Exception as exc:
        return Outcome(error=exc)


def assert_same_error(ours: Outcome, theirs: Outcome) -> None:
    """Both raised; ours is an instance of APScheduler's type and its message starts with theirs."""
    assert theirs.error is not None, f"APScheduler did not raise (returned {theirs.value!r})"
    assert ours.error is not None, f"obssched did not raise (returned {ours.value!r})"
    assert isinstance(ours.error, type(theirs.error)), (
        f"obssched raised {type(ours.error).__name__}, APScheduler {type(theirs.error).__name__}"
    )
    assert str(ours.error).startswith(str(theirs.error)), (
        f"obssched said {str(ours.error)!r}, APScheduler {str(theirs.error)!r}"
    )


def assert_same_outcome(ours: Outcome, theirs: Outcome) -> None:
    """Both returned equal values, or both raised the same error (see :func:`assert_same_error`)."""
    if theirs.error is not None or ours.error is not None:
        assert_same_error(ours, theirs)
    else:
        assert ours.value == theirs.value
