"""Plain-data state of triggers, for the persistent job stores and for pickle.

A trigger's ``__getstate__`` returns a JSON-serialisable dict with a ``"version"``;
:func:`trigger_to_dict` adds the ``"type"`` alias from :data:`obssched.triggers.TRIGGER_ALIASES`
and :func:`trigger_from_dict` goes back. Datetimes are ISO 8601 text, time zones IANA keys (or
``"UTC+hh:mm"`` for fixed offsets).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any, Final

from obssched._refs import ref_to_obj
from obssched._timeutil import astimezone

if TYPE_CHECKING:
    from obssched.triggers.base import BaseTrigger

__all__ = [
    "check_version",
    "date_from_text",
    "datetime_from_text",
    "datetime_to_text",
    "trigger_from_dict",
    "trigger_to_dict",
    "zone_from_text",
    "zone_to_text",
]

_FIXED_OFFSET_RE: Final = re.compile(r"^UTC(?P<sign>[+-])(?P<hours>\d\d):(?P<minutes>\d\d)$")


def check_version(kind: str, state: dict[str, Any], supported: int) -> None:
    """Refuse state written by a newer obssched.

    Raises:
        ValueError: ``state["version"]`` is missing, malformed or newer than ``supported``.
    """
    version = state.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError(f"The {kind} trigger state has no integer 'version': {state!r}")
    if version > supported:
        raise ValueError(
            f"The {kind} trigger state has version {version}, but this obssched only reads "
            f"versions up to {supported}; upgrade obssched to load it"
        )


def zone_to_text(tz: tzinfo) -> str:
    """Return the IANA key of ``tz``, ``"UTC"`` or ``"UTC+hh:mm"`` for a fixed offset.

    Raises:
        ValueError: the zone has neither a key nor a fixed offset.
    """
    key = getattr(tz, "key", None)
    if isinstance(key, str):
        return key
    if tz is UTC or tz == UTC:
        return "UTC"
    if isinstance(tz, timezone):
        offset = tz.utcoffset(None)
        sign = "-" if offset < timedelta(0) else "+"
        minutes = abs(int(offset.total_seconds())) // 60
        return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    raise ValueError(f"The time zone {tz!r} has no IANA name and cannot be stored")


def zone_from_text(text: str) -> tzinfo:
    """Invert :func:`zone_to_text`."""
    match = _FIXED_OFFSET_RE.match(text)
    if match is not None:
        offset = timedelta(hours=int(match["hours"]), minutes=int(match["minutes"]))
        return timezone(-offset if match["sign"] == "-" else offset)
    zone = astimezone(text)
    assert zone is not None
    return zone


def datetime_to_text(value: datetime | None) -> str | None:
    """Return ``value`` as ISO 8601 text with its UTC offset."""
    return None if value is None else value.isoformat()


def datetime_from_text(text: str | None, tz: tzinfo) -> datetime | None:
    """Parse ISO 8601 text written by :func:`datetime_to_text`.

    A value whose offset is the one ``tz`` has at that instant comes back in ``tz``; any other
    keeps its fixed offset (the trigger was given it that way).
    """
    if text is None:
        return None
    parsed = datetime.fromisoformat(text)
    in_zone = parsed.astimezone(tz)
    return in_zone if in_zone.utcoffset() == parsed.utcoffset() else parsed


def date_from_text(text: str | None) -> date | None:
    """Parse ISO 8601 date text."""
    return None if text is None else date.fromisoformat(text)


_OWN_CLASS: Final = "class"
"""The ``"type"`` of a trigger whose class is the user's own, named by reference."""


def trigger_to_dict(trigger: BaseTrigger) -> dict[str, Any]:
    """Return ``trigger`` as plain data: its state plus a ``"type"`` alias.

    A trigger of the user's own class (APScheduler 3 lets any ``BaseTrigger`` be stored) is
    kept as ``{"type": "class", "class": "module:qualname", "state": ...}``, its
    ``__getstate__()`` in the tagged JSON of job arguments.

    Raises:
        TypeError: the trigger's class cannot be imported back by reference.
        SerializationError: the state of a trigger of the user's own class is not encodable.
    """
    from obssched.triggers import TRIGGER_ALIASES
    from obssched.triggers.base import GridTrigger

    cls = type(trigger)
    reference = f"{cls.__module__}:{cls.__qualname__}"
    for alias, target in TRIGGER_ALIASES.items():
        if target == reference and isinstance(trigger, GridTrigger):
            return {"type": alias, **trigger.__getstate__()}
    return _own_trigger_to_dict(trigger)


def _own_trigger_to_dict(trigger: BaseTrigger) -> dict[str, Any]:
    from obssched._refs import obj_to_ref
    from obssched._serialization import dumps_args

    try:
        reference = obj_to_ref(type(trigger))
    except ValueError as exc:
        raise TypeError(
            f"The trigger {trigger!r} cannot be stored: its class has no importable "
            "'module:qualname' reference (define it at module level)"
        ) from exc
    encoded = json.loads(dumps_args((trigger.__getstate__(),), {}))
    return {"type": _OWN_CLASS, "class": reference, "state": encoded["args"][0]}


def _own_trigger_from_dict(data: dict[str, Any]) -> BaseTrigger:
    from obssched._serialization import loads_args
    from obssched.triggers.base import BaseTrigger

    cls = ref_to_obj(data["class"])
    if not isinstance(cls, type) or not issubclass(cls, BaseTrigger):
        raise ValueError(f"{data['class']!r} is not a trigger class")
    (state,), _ = loads_args(json.dumps({"args": [data["state"]], "kwargs": {}}))
    trigger = cls.__new__(cls)
    if hasattr(trigger, "__setstate__"):
        trigger.__setstate__(state)
    elif isinstance(state, dict):
        vars(trigger).update(state)
    elif isinstance(state, tuple):  # object.__getstate__ of a class with __slots__
        instance_dict, slots = state
        vars(trigger).update(instance_dict or {})
        for name, value in slots.items():
            setattr(trigger, name, value)
    return trigger


def trigger_from_dict(data: dict[str, Any]) -> BaseTrigger:
    """Rebuild a trigger from the output of :func:`trigger_to_dict`.

    Raises:
        ValueError: the type alias is unknown or the state is invalid or too new.
        LookupError: the class of a trigger of the user's own cannot be imported.
    """
    from obssched.triggers import TRIGGER_ALIASES
    from obssched.triggers.base import GridTrigger

    state = dict(data)
    alias = state.pop("type", None)
    if alias == _OWN_CLASS:
        return _own_trigger_from_dict(state)
    if not isinstance(alias, str) or alias not in TRIGGER_ALIASES:
        raise ValueError(
            f"Unknown trigger type {alias!r}; expected one of {sorted(TRIGGER_ALIASES)}"
        )
    cls = ref_to_obj(TRIGGER_ALIASES[alias])
    assert isinstance(cls, type)
    assert issubclass(cls, GridTrigger)
    trigger = cls.__new__(cls)
    trigger.__setstate__(state)
    return trigger
