"""Job state as versioned plain data, and job arguments as tagged JSON.

A stored job names its callable by ``module:qualname`` and its trigger by
:func:`obssched.triggers._state.trigger_to_dict`; arguments are JSON, with values JSON cannot
express (datetime, date, time, timedelta, Decimal, UUID, bytes, tuple, set) wrapped in a one-key
object ``{"__obssched__": [tag, payload]}``. Reading data written by a newer obssched fails
loudly instead of guessing.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from obssched._timeutil import shorten
from obssched.exceptions import SerializationError

if TYPE_CHECKING:
    from obssched.job import Job
    from obssched.schedulers.base import BaseScheduler

__all__ = [
    "JOB_DATA_VERSION",
    "dumps_args",
    "job_from_data",
    "job_to_data",
    "loads_args",
]

JOB_DATA_VERSION = 1
_TAG = "__obssched__"


def _with_fold(value: datetime | time) -> Any:
    # ISO 8601 text has no room for PEP 495's fold (the second pass of a repeated wall time).
    return [value.isoformat(), 1] if value.fold else value.isoformat()


def _read_fold(parse: Callable[[str], Any], payload: Any) -> Any:
    if isinstance(payload, list):
        text, fold = payload
        return parse(text).replace(fold=fold)
    return parse(payload)


_ENCODERS: list[tuple[type, str, Callable[[Any], Any]]] = [
    # datetime before date: a datetime is a date too.
    (datetime, "datetime", lambda v: _with_fold(v)),
    (date, "date", lambda v: v.isoformat()),
    (time, "time", lambda v: _with_fold(v)),
    (timedelta, "timedelta", lambda v: [v.days, v.seconds, v.microseconds]),
    (Decimal, "decimal", str),
    (UUID, "uuid", str),
    (bytes, "bytes", lambda v: base64.b64encode(v).decode("ascii")),
]

_DECODERS: dict[str, Callable[[Any], Any]] = {
    "datetime": lambda v: _read_fold(datetime.fromisoformat, v),
    "date": date.fromisoformat,
    "time": lambda v: _read_fold(time.fromisoformat, v),
    "timedelta": lambda v: timedelta(days=v[0], seconds=v[1], microseconds=v[2]),
    "decimal": Decimal,
    "uuid": UUID,
    "bytes": lambda v: base64.b64decode(v.encode("ascii")),
}


_MAX_DEPTH = 100
"""Containers nested deeper than this are refused: encoding, storing and decoding them would
otherwise reach the interpreter's recursion limit (RecursionError) somewhere less helpful."""

_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_LONGEST_JSON_INT_BITS = 4_000 * 3
"""Python refuses to turn ints of more than 4,300 digits into text (and back); longer ones are
stored as hexadecimal text, which has no such limit."""


def _encode(value: Any, path: str, depth: int = 0) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if abs(value).bit_length() > _LONGEST_JSON_INT_BITS:
            return {_TAG: ["int", format(value, "x")]}
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        # NaN and infinities are not JSON (PostgreSQL's JSON types refuse them).
        return {_TAG: ["float", repr(float(value))]}
    if isinstance(value, list | tuple | set | frozenset | dict):
        if depth >= _MAX_DEPTH:
            where = path if len(path) <= 60 else f"{path[:30]}...{path[-20:]}"
            raise SerializationError(
                f"{where} is nested more than {_MAX_DEPTH} containers deep (or contains "
                "itself), which cannot be stored; flatten the data"
            )
        return _encode_container(value, path, depth + 1)
    for kind, tag, encoder in _ENCODERS:
        if isinstance(value, kind):
            return {_TAG: [tag, encoder(value)]}
    raise SerializationError(
        f"{path} = {shorten(value)} ({type(value).__qualname__}) cannot be stored as JSON; pass "
        'plain data, or opt in to serializer="pickle" (only for a database you trust)'
    )


def _encode_container(value: Any, path: str, depth: int) -> Any:
    if isinstance(value, list):
        return [_encode(item, f"{path}[{index}]", depth) for index, item in enumerate(value)]
    if isinstance(value, tuple):
        items = [_encode(item, f"{path}[{index}]", depth) for index, item in enumerate(value)]
        return {_TAG: ["tuple", items]}
    if isinstance(value, set | frozenset):
        items = [_encode(item, f"{path}{{}}", depth) for item in value]
        return {_TAG: ["set", items]}
    encoded: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise SerializationError(
                f"{path} has a non-string key {shorten(key)}, which JSON cannot store; use "
                'serializer="pickle" (only for a database you trust)'
            )
        encoded[key] = _encode(item, f"{path}[{key!r}]", depth)
    if _TAG in encoded and len(encoded) == 1:
        # A plain dict that looks like a tagged value: tag it, so it reads back as itself.
        return {_TAG: ["dict", encoded]}
    return encoded


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(item) for item in value]
    if isinstance(value, dict):
        if len(value) == 1 and _TAG in value:
            tag, payload = value[_TAG]
            if tag == "tuple":
                return tuple(_decode(item) for item in payload)
            if tag == "set":
                return {_decode(item) for item in payload}
            if tag == "dict":
                return {key: _decode(item) for key, item in payload.items()}
            if tag == "float":
                return _NON_FINITE[payload]
            if tag == "int":
                return int(payload, 16)
            decoder = _DECODERS.get(tag)
            if decoder is None:
                raise SerializationError(
                    f"Unknown value tag {tag!r}: the data was written by a newer obssched"
                )
            return decoder(payload)
        return {key: _decode(item) for key, item in value.items()}
    return value


def dumps_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """Encode a job's arguments as tagged JSON.

    NaN, infinities and ints too long for JSON text are stored tagged, and read back as they
    were.

    Raises:
        SerializationError: an argument cannot be encoded (an object JSON cannot express, a
            non-string dict key, containers nested more than 100 deep or containing
            themselves); the message names it.
    """
    encoded = {
        "args": [_encode(value, f"args[{index}]") for index, value in enumerate(args)],
        "kwargs": {key: _encode(value, f"kwargs[{key!r}]") for key, value in kwargs.items()},
    }
    return json.dumps(encoded, separators=(",", ":"), allow_nan=False)


def loads_args(text: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Decode what :func:`dumps_args` wrote.

    Raises:
        SerializationError: the text is not such data (or was written by a newer obssched).
    """
    try:
        data = json.loads(text)
        return tuple(_decode(item) for item in data["args"]), _decode(data["kwargs"])
    except SerializationError:
        raise
    except (ValueError, TypeError, LookupError, AttributeError, RecursionError) as exc:
        raise SerializationError(
            f"Stored job arguments cannot be read ({type(exc).__name__}: {exc}): {shorten(text)}"
        ) from exc


def job_to_data(job: Job) -> dict[str, Any]:
    """Return the job's state as JSON-compatible data.

    Raises:
        SerializationError: the callable has no importable reference, or an argument cannot be
            encoded.
    """
    from obssched.triggers._state import trigger_to_dict

    if not job.func_ref:
        raise SerializationError(
            f"Job {job.id!r} cannot be stored: its callable {job.func!r} has no importable "
            "'module:qualname' reference (lambdas, nested functions and bound methods of "
            "instances have none); pass a module-level function or its textual reference"
        )
    data: dict[str, Any] = {
        "version": JOB_DATA_VERSION,
        "id": job.id,
        "name": job.name,
        "func": job.func_ref,
        "arguments": json.loads(dumps_args(job.args, job.kwargs)),
        "trigger": trigger_to_dict(job.trigger),
        "executor": job.executor,
        "misfire_grace_time": job.misfire_grace_time,
        "coalesce": job.coalesce,
        "max_instances": job.max_instances,
        "next_run_time": job.next_run_time.isoformat() if job.next_run_time else None,
        "recover": job.recover,
    }
    timeout = getattr(job, "timeout", None)
    if timeout is not None:
        # Only when set, so the data of a job without one has the same fields as before.
        data["timeout"] = timeout
    for key, default in (("overlap", "skip"), ("overlap_queue_limit", 1)):
        value = getattr(job, key, default)
        if value != default:
            data[key] = value  # likewise only when not the default
    return data


def job_from_data(scheduler: BaseScheduler, data: dict[str, Any]) -> Job:
    """Rebuild a job from :func:`job_to_data`'s output.

    Raises:
        SerializationError: the data is of a newer version or malformed.
        LookupError: the callable can no longer be imported.
    """
    from obssched.job import Job
    from obssched.triggers._state import trigger_from_dict

    version = data.get("version")
    if not isinstance(version, int) or version > JOB_DATA_VERSION:
        raise SerializationError(
            f"Job data of version {version!r} was written by a newer obssched; this one reads "
            f"up to version {JOB_DATA_VERSION}. Upgrade obssched to load job {data.get('id')!r}."
        )
    try:
        args, kwargs = loads_args(json.dumps(data["arguments"]))
        next_run_time = data["next_run_time"]
        return Job(
            scheduler,
            id=data["id"],
            name=data["name"],
            func=data["func"],
            args=args,
            kwargs=kwargs,
            trigger=trigger_from_dict(data["trigger"]),
            executor=data["executor"],
            misfire_grace_time=data["misfire_grace_time"],
            coalesce=data["coalesce"],
            max_instances=data["max_instances"],
            next_run_time=datetime.fromisoformat(next_run_time) if next_run_time else None,
            # Absent from data written before jobs could ask for recovery.
            recover=data.get("recover", False),
            # Absent from data written before jobs had timeouts, and for jobs without one.
            timeout=data.get("timeout"),
            # Absent from data written before jobs had an overlap policy, and when the default.
            overlap=data.get("overlap", "skip"),
            overlap_queue_limit=data.get("overlap_queue_limit", 1),
        )
    except KeyError as exc:
        raise SerializationError(f"Job data lacks the field {exc.args[0]!r}: {data!r}") from exc
