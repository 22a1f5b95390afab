"""Turning a job into a row and back.

The row's ``state`` is the job as versioned plain data (:func:`obssched._serialization.job_to_data`,
UTF-8 JSON). With ``serializer="pickle"`` the same document is written, except that its
``"arguments"`` hold the base64 of a pickle of ``(args, kwargs)``: an opt-in for arguments JSON
cannot express, and only for a database you trust, since unpickling runs code.
"""

from __future__ import annotations

import base64
import json
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from obssched._serialization import JOB_DATA_VERSION, dumps_args, loads_args
from obssched.exceptions import SerializationError
from obssched.job import JOB_STATE_VERSION, Job

if TYPE_CHECKING:
    from obssched.schedulers.base import BaseScheduler

__all__ = [
    "Serializer",
    "UnloadableJob",
    "arguments_reader",
    "decode_job",
    "decode_labels",
    "encode_job",
    "encode_state",
    "micros_to_datetime",
    "next_run_time_patch",
    "to_micros",
]

Serializer = Literal["json", "pickle"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def to_micros(moment: datetime | None) -> int | None:
    """Return ``moment`` as integer microseconds since the epoch (exact, unlike a float)."""
    if moment is None:
        return None
    return (moment - _EPOCH) // _MICRO


def micros_to_datetime(micros: int | None) -> datetime | None:
    """Invert :func:`to_micros` (the result is in UTC)."""
    return None if micros is None else _EPOCH + timedelta(microseconds=micros)


@dataclass(frozen=True)
class UnloadableJob:
    """A stored job that cannot be loaded (its function was renamed or removed, its data is bad).

    It stays in the table untouched; ``obssched jobs`` lists it from here.
    """

    id: str
    func_ref: str
    next_run_time: datetime | None
    error: BaseException

    def __str__(self) -> str:
        return f"{self.id} ({self.func_ref}): cannot be loaded: {self.error}"


def encode_job(job: Job, serializer: Serializer, pickle_protocol: int) -> bytes:
    """Return the job's row state.

    Raises:
        SerializationError: the callable has no reference, or (JSON) an argument cannot be
            encoded; the message names the argument and the pickle opt-in.
    """
    if not job.func_ref:
        raise SerializationError(
            f"Job {job.id!r} cannot be stored: its callable {job.func!r} has no importable "
            "'module:qualname' reference (lambdas, nested functions and bound methods of "
            "instances have none); pass a module-level function or its textual reference"
        )
    return encode_state(job.__getstate__(), serializer, pickle_protocol)


def encode_state(state: dict[str, Any], serializer: Serializer, pickle_protocol: int) -> bytes:
    """Return the row state of a job state (as ``Job.__getstate__`` returns it), without
    importing the job's callable.

    Raises:
        SerializationError: (JSON) an argument cannot be encoded; (pickle) nor pickled.
    """
    from obssched.triggers._state import trigger_to_dict

    if serializer == "json":
        arguments: Any = json.loads(dumps_args(state["args"], state["kwargs"]))
    else:
        try:
            payload = pickle.dumps((state["args"], state["kwargs"]), pickle_protocol)
        except Exception as exc:
            raise SerializationError(
                f"The arguments of job {state['id']!r} cannot be pickled: {exc}"
            ) from exc
        arguments = {"pickle": base64.b64encode(payload).decode("ascii")}
    next_run_time = state["next_run_time"]
    data = {
        "version": JOB_DATA_VERSION,
        "id": state["id"],
        "name": state["name"],
        "func": state["func"],
        "arguments": arguments,
        "trigger": trigger_to_dict(state["trigger"]),
        "executor": state["executor"],
        "misfire_grace_time": state["misfire_grace_time"],
        "coalesce": state["coalesce"],
        "max_instances": state["max_instances"],
        "next_run_time": next_run_time.isoformat() if next_run_time else None,
        "recover": state.get("recover", False),
    }
    if state.get("timeout") is not None:
        data["timeout"] = state["timeout"]  # only then: older readers see the same fields
    for key in ("overlap", "overlap_queue_limit"):
        if key in state:  # likewise: the job state holds them only when not the defaults
            data[key] = state[key]
    return json.dumps(data, separators=(",", ":")).encode()


_NEXT_RUN_KEY = b'"next_run_time":'


def next_run_time_patch(state: bytes, moment: datetime) -> tuple[int, int, str] | None:
    """Where a row state written by :func:`encode_state` holds its next run time, to write
    ``moment`` there instead: ``(position, length, text)``, the 1-based position and the length
    of the stored value and the ``isoformat()`` to put there between quotes, as
    :func:`encode_state` writes it. ``None`` when the key is not found exactly once (an
    argument named ``next_run_time`` shows it twice) or its value is not a string or null:
    the state is then encoded whole.

    Only the key's own quotes are matched: inside a JSON string a quote is escaped, so the
    text of an argument cannot look like the key.
    """
    start = state.find(_NEXT_RUN_KEY)
    if start < 0 or state.find(_NEXT_RUN_KEY, start + 1) >= 0:
        return None
    start += len(_NEXT_RUN_KEY)
    if state.startswith(b"null", start):
        end = start + 4
    elif state.startswith(b'"', start):
        end = state.find(b'"', start + 1) + 1
        if end <= 0:
            return None
    else:
        return None
    return start + 1, end - start, moment.isoformat()


def _load_document(state: bytes | str) -> dict[str, Any]:
    """The JSON object a row's state holds.

    Raises:
        SerializationError: the state is not JSON, or not an object.
    """
    try:
        data = json.loads(state)
    except ValueError as exc:
        raise SerializationError(f"The stored job state is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SerializationError(f"The stored job state is not an object: {data!r}")
    return data


def decode_labels(state: bytes) -> tuple[str, str]:
    """Return the ``(name, executor)`` of a row state without rebuilding its job.

    Raises:
        SerializationError: the state is not a job document of a version this obssched reads.
    """
    data = _load_document(state)
    version = data.get("version")
    name, executor = data.get("name"), data.get("executor")
    if not isinstance(version, int) or version > JOB_DATA_VERSION:
        raise SerializationError(f"Job data of version {version!r} cannot be read")
    if not isinstance(name, str) or not isinstance(executor, str):
        raise SerializationError(f"Job data lacks a name or an executor: {name!r}, {executor!r}")
    return name, executor


def arguments_reader(state: bytes) -> Callable[[], tuple[tuple[Any, ...], dict[str, Any]]] | None:
    """A function decoding the arguments of a row ``state`` (its job already decoded once:
    the state is known to be readable) anew at each call; ``None`` if it has none.

    A job reused for several runs takes its arguments from it for each: values a run changed
    must not carry over to the next, as they do not when every run decodes its row.
    """
    arguments = _load_document(state)["arguments"]
    if arguments == {"args": [], "kwargs": {}}:
        return None
    if isinstance(arguments, dict) and set(arguments) == {"pickle"}:
        payload = base64.b64decode(arguments["pickle"])
        return lambda: pickle.loads(payload)
    text = json.dumps(arguments)
    return lambda: loads_args(text)


def decode_job(state: bytes, scheduler: BaseScheduler, alias: str, allow_pickle: bool) -> Job:
    """Rebuild a job from its row state.

    The job is restored the way unpickling restores it (no re-validation of the arguments
    against the signature): the row was validated when it was written.

    Raises:
        SerializationError: the data is malformed, of a newer version, or pickled while the store
            does not allow pickle.
        LookupError / ImportError: the callable can no longer be imported.
    """
    from obssched.triggers._state import trigger_from_dict

    data = _load_document(state)
    version = data.get("version")
    if not isinstance(version, int) or version > JOB_DATA_VERSION:
        raise SerializationError(
            f"Job data of version {version!r} was written by a newer obssched; this one reads "
            f"up to version {JOB_DATA_VERSION}. Upgrade obssched to load job {data.get('id')!r}."
        )
    try:
        arguments = data["arguments"]
        if isinstance(arguments, dict) and set(arguments) == {"pickle"}:
            if not allow_pickle:
                raise SerializationError(
                    f"Job {data['id']!r} has pickled arguments, but this store was not opened "
                    'with serializer="pickle" (only for a database you trust)'
                )
            args, kwargs = pickle.loads(base64.b64decode(arguments["pickle"]))
        elif arguments == {"args": [], "kwargs": {}}:
            args, kwargs = (), {}
        else:
            args, kwargs = loads_args(json.dumps(arguments))
        next_run_time = data["next_run_time"]
        job_state = {
            "version": JOB_STATE_VERSION,
            "id": data["id"],
            "func": data["func"],
            "trigger": trigger_from_dict(data["trigger"]),
            "executor": data["executor"],
            "args": args,
            "kwargs": kwargs,
            "name": data["name"],
            "misfire_grace_time": data["misfire_grace_time"],
            "coalesce": data["coalesce"],
            "max_instances": data["max_instances"],
            "next_run_time": datetime.fromisoformat(next_run_time) if next_run_time else None,
            "recover": data.get("recover", False),  # absent from rows written before it existed
            "timeout": data.get("timeout"),  # absent when None, and from older rows
            "overlap": data.get("overlap", "skip"),  # likewise, absent when the default
            "overlap_queue_limit": data.get("overlap_queue_limit", 1),
        }
    except KeyError as exc:
        raise SerializationError(f"Job data lacks the field {exc.args[0]!r}") from exc
    job = Job.__new__(Job)
    job.__setstate__(job_state)
    # What APScheduler 3's own stores set on a job they load: the Job contract of stores.
    job._scheduler = scheduler
    job._jobstore_alias = alias
    return job
