"""The :class:`Job`: a callable, its arguments, its trigger and its run policy."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from obssched._refs import get_callable_name, obj_to_ref, ref_to_obj
from obssched._timeutil import convert_to_datetime, datetime_repr
from obssched.exceptions import InvalidArgumentError, InvalidJobOptionError
from obssched.triggers.base import BaseTrigger
from obssched.util import check_callable_args

if TYPE_CHECKING:
    from obssched.schedulers.base import BaseScheduler

__all__ = ["OVERLAP_POLICIES", "Job", "check_overlap", "check_overlap_queue_limit", "check_timeout"]

_UNSET: Any = object()
"""Marks a job option left for ``job_defaults`` (see :meth:`Job._policy`)."""

JOB_STATE_VERSION = 1


def check_timeout(value: Any) -> float | None:
    """Return ``value`` if it is a valid job ``timeout``: a positive, finite number or ``None``.

    Raises:
        InvalidJobOptionError: ``value`` is not a number (a ``TypeError``).
        ValueError: ``value`` is a number that is not positive and finite.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidJobOptionError(
            "timeout", value, "timeout must be None or a positive number of seconds"
        )
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"timeout must be a positive, finite number of seconds, got {value!r}")
    return value


OVERLAP_POLICIES = ("skip", "queue")
"""What a job's ``overlap`` may be: what happens to a run that is due while the job has
``max_instances`` runs in flight (see :mod:`obssched.schedulers._overlap`)."""


def check_overlap(value: Any) -> str:
    """Return ``value`` if it is a valid job ``overlap`` policy (one of :data:`OVERLAP_POLICIES`).

    Raises:
        InvalidJobOptionError: ``value`` is not text (a ``TypeError``).
        InvalidArgumentError: ``value`` is text that names no policy (a ``ValueError``).
    """
    if not isinstance(value, str):
        raise InvalidJobOptionError("overlap", value, 'overlap must be "skip" or "queue"')
    if value not in OVERLAP_POLICIES:
        raise InvalidArgumentError(
            "overlap", value, f'overlap must be "skip" or "queue", got {value!r}'
        )
    return value


def check_overlap_queue_limit(value: Any) -> int:
    """Return ``value`` if it is a valid ``overlap_queue_limit``: a whole number of 1 or more.

    Raises:
        InvalidJobOptionError: ``value`` is not an integer (a ``TypeError``).
        InvalidArgumentError: ``value`` is an integer below 1 (a ``ValueError``).
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidJobOptionError(
            "overlap_queue_limit", value, "overlap_queue_limit must be a positive integer"
        )
    if value < 1:
        raise InvalidArgumentError(
            "overlap_queue_limit",
            value,
            f"overlap_queue_limit must be a positive integer, got {value!r}",
        )
    return value


class Job:
    """A job the scheduler runs: create it with ``scheduler.add_job()``, not directly.

    Attributes:
        id: the job's unique identifier.
        name: the job's description (defaults to the callable's name).
        func: the callable to run.
        func_ref: the ``module:qualname`` reference of ``func``, if it has one.
        args: positional arguments for ``func``.
        kwargs: keyword arguments for ``func``.
        trigger: decides when the job runs.
        executor: the alias of the executor that runs it.
        misfire_grace_time: seconds after its run time that a run may still start; ``None`` means
            no limit.
        coalesce: run once instead of many times when several run times are due at once.
        max_instances: how many runs of this job may be in flight at once.
        next_run_time: the next scheduled run time; ``None`` while the job is paused.
        recover: run again a run that was abandoned because the scheduler running it died
            (Quartz's "requests recovery"); a store that can detect abandoned runs honours it.
        timeout: seconds a run's body may take before its executor ends the run with
            :class:`~obssched.exceptions.JobTimeoutError`; ``None`` (the default) means no limit.
        overlap: what happens to a run due while ``max_instances`` runs are in flight:
            ``"skip"`` (the default, as APScheduler 3) refuses it, ``"queue"`` makes it wait
            for one of them to end.
        overlap_queue_limit: how many runs may wait with ``overlap="queue"`` (default 1); a
            run beyond it is refused.
    """

    __slots__ = (
        "__weakref__",
        "_jobstore_alias",
        "_policies",
        "_scheduler",
        "args",
        "coalesce",
        "executor",
        "func",
        "func_ref",
        "id",
        "kwargs",
        "max_instances",
        "misfire_grace_time",
        "name",
        "next_run_time",
        "trigger",
    )

    id: str
    name: str
    func: Any
    func_ref: str | None
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    trigger: BaseTrigger
    executor: str
    misfire_grace_time: float | None
    coalesce: bool
    max_instances: int
    next_run_time: datetime | None

    def __init__(self, scheduler: BaseScheduler, id: str | None = None, **kwargs: Any) -> None:
        self._scheduler = scheduler
        self._jobstore_alias: str | None = None
        # recover, overlap, overlap_queue_limit and timeout share one slot, None while all
        # four keep their defaults: a job costs no more memory than APScheduler 3's for options
        # most jobs never set.
        self._policies: tuple[Any, ...] | None = None
        self._modify(id=id or uuid4().hex, **kwargs)

    # recover, overlap, overlap_queue_limit and timeout, kept in _policies: None while all four
    # hold their defaults, else a tuple in this order in which _UNSET marks an option left for
    # job_defaults (a job added before start() has it deleted until then).
    _POLICY_DEFAULTS: tuple[bool, str, int, float | None] = (False, "skip", 1, None)

    def _policy(self, index: int, name: str) -> Any:
        policies = getattr(self, "_policies", None)  # unset until __init__ or __setstate__
        if policies is None:
            return self._POLICY_DEFAULTS[index]
        value = policies[index]
        if value is _UNSET:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return value

    def _set_policy(self, index: int, value: Any) -> None:
        policies = list(getattr(self, "_policies", None) or self._POLICY_DEFAULTS)
        policies[index] = value
        self._policies = None if tuple(policies) == self._POLICY_DEFAULTS else tuple(policies)

    @property
    def recover(self) -> bool:
        """Whether a run abandoned by a scheduler that died is run again (default ``False``)."""
        return bool(self._policy(0, "recover"))

    @recover.setter
    def recover(self, value: bool) -> None:
        self._set_policy(0, value)

    @recover.deleter
    def recover(self) -> None:
        self._set_policy(0, _UNSET)

    @property
    def overlap(self) -> str:
        """What happens to a run due while ``max_instances`` runs are in flight: ``"skip"``
        (the default) or ``"queue"``."""
        return str(self._policy(1, "overlap"))

    @overlap.setter
    def overlap(self, value: str) -> None:
        self._set_policy(1, value)

    @overlap.deleter
    def overlap(self) -> None:
        self._set_policy(1, _UNSET)

    @property
    def overlap_queue_limit(self) -> int:
        """How many runs may wait with ``overlap="queue"`` (default 1)."""
        return int(self._policy(2, "overlap_queue_limit"))

    @overlap_queue_limit.setter
    def overlap_queue_limit(self, value: int) -> None:
        self._set_policy(2, value)

    @overlap_queue_limit.deleter
    def overlap_queue_limit(self) -> None:
        self._set_policy(2, _UNSET)

    @property
    def timeout(self) -> float | None:
        """Seconds a run's body may take before its executor ends it (default ``None``: no
        limit)."""
        try:
            policies = self._policies
        except AttributeError:  # unset until __init__ or __setstate__
            return None
        if policies is None:  # read on every submission: the common case without a call
            return None
        value = policies[3]
        if value is _UNSET:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute 'timeout'")
        return value  # type: ignore[no-any-return]

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self._set_policy(3, value)

    @timeout.deleter
    def timeout(self) -> None:
        self._set_policy(3, _UNSET)

    def modify(self, **changes: Any) -> Job:
        """Change the job's attributes and save it in its job store; returns the job."""
        self._scheduler.modify_job(self.id, self._jobstore_alias, **changes)
        return self

    def reschedule(self, trigger: Any, **trigger_args: Any) -> Job:
        """Give the job a new trigger (alias or instance); returns the job."""
        self._scheduler.reschedule_job(self.id, self._jobstore_alias, trigger, **trigger_args)
        return self

    def pause(self) -> Job:
        """Stop the job from running until :meth:`resume` is called; returns the job."""
        self._scheduler.pause_job(self.id, self._jobstore_alias)
        return self

    def resume(self) -> Job:
        """Let a paused job run again; returns the job."""
        self._scheduler.resume_job(self.id, self._jobstore_alias)
        return self

    def remove(self) -> None:
        """Remove the job from its job store."""
        self._scheduler.remove_job(self.id, self._jobstore_alias)

    @property
    def pending(self) -> bool:
        """``True`` while the job waits for the scheduler to start and store it."""
        return self._jobstore_alias is None

    def _get_run_times(self, now: datetime) -> list[datetime]:
        """Return every run time from ``next_run_time`` up to and including ``now``."""
        run_times: list[datetime] = []
        next_run_time = self.next_run_time
        # Compared in UTC: two times in one zone compare as wall times, blind to a DST fold.
        while next_run_time is not None and next_run_time.astimezone(UTC) <= now.astimezone(UTC):
            run_times.append(next_run_time)
            next_run_time = self.trigger.get_next_fire_time(next_run_time, now)
        return run_times

    def _modify(self, **changes: Any) -> None:
        """Validate ``changes`` and apply them all, or none of them.

        The messages of the errors are APScheduler 3's, word for word.
        """
        try:
            self.id  # noqa: B018 (a job without an id is under construction)
        except AttributeError:
            new = True
        else:
            new = False
        self._apply(changes, new=new)

    def _apply(self, changes: dict[str, Any], *, new: bool) -> None:
        # ``new`` spares a job under construction the attribute probes: on a slotted object a
        # missing attribute costs an exception each, and add_job is a hot path.
        approved: dict[str, Any] = {}

        if "id" in changes:
            value = changes.pop("id")
            if not isinstance(value, str):
                raise InvalidJobOptionError("id", value, "id must be a nonempty string")
            if not new:
                raise ValueError("The job ID may not be changed")
            if not value:
                raise ValueError("id must be a nonempty string")
            approved["id"] = value

        if "func" in changes or "args" in changes or "kwargs" in changes:
            func = changes.pop("func") if "func" in changes else self.func
            args = changes.pop("args") if "args" in changes else self.args
            kwargs = changes.pop("kwargs") if "kwargs" in changes else self.kwargs

            if isinstance(func, str):
                func_ref: str | None = func
                try:
                    func = ref_to_obj(func)
                except LookupError as exc:
                    raise LookupError(f"{exc} (the job function {func_ref!r})") from exc
            elif callable(func):
                try:
                    func_ref = obj_to_ref(func)
                except ValueError:
                    func_ref = None
            else:
                raise InvalidJobOptionError(
                    "func", func, "func must be a callable or a textual reference to one"
                )
            if not callable(func):
                raise TypeError(
                    f"Unable to determine a name for {func!r} -- maybe it is not a callable? "
                    f"(the reference {func_ref!r} does not point to a callable)"
                )

            if changes.get("name") is None and (new or not hasattr(self, "name")):
                changes["name"] = get_callable_name(func)
            if type(args) is not tuple:
                if isinstance(args, str) or not isinstance(args, Iterable):
                    raise InvalidJobOptionError("args", args, "args must be a non-string iterable")
                args = tuple(args)
            if type(kwargs) is not dict:
                if not isinstance(kwargs, Mapping):
                    raise InvalidJobOptionError(
                        "kwargs", kwargs, "kwargs must be a dict-like object"
                    )
                kwargs = dict(kwargs)
            check_callable_args(func, args, kwargs)
            approved.update(func=func, func_ref=func_ref, args=args, kwargs=kwargs)

        if "name" in changes:
            value = changes.pop("name")
            if not value or not isinstance(value, str):
                raise InvalidJobOptionError("name", value, "name must be a nonempty string")
            approved["name"] = value

        if "misfire_grace_time" in changes:
            value = changes.pop("misfire_grace_time")
            # "not value > 0" also refuses NaN; infinity is no grace time either.
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not value > 0
                or value == math.inf
            ):
                raise InvalidJobOptionError(
                    "misfire_grace_time",
                    value,
                    "misfire_grace_time must be either None or a positive integer",
                )
            approved["misfire_grace_time"] = value

        if "coalesce" in changes:
            approved["coalesce"] = bool(changes.pop("coalesce"))

        if "max_instances" in changes:
            value = changes.pop("max_instances")
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                # TypeError, as APScheduler raises for any bad value (negative ones included).
                raise InvalidJobOptionError(
                    "max_instances", value, "max_instances must be a positive integer"
                )
            approved["max_instances"] = value

        if "recover" in changes:
            value = changes.pop("recover")
            if not isinstance(value, bool):
                raise InvalidJobOptionError("recover", value, "recover must be True or False")
            approved["recover"] = value

        if "timeout" in changes:
            approved["timeout"] = check_timeout(changes.pop("timeout"))

        if "overlap" in changes:
            approved["overlap"] = check_overlap(changes.pop("overlap"))

        if "overlap_queue_limit" in changes:
            approved["overlap_queue_limit"] = check_overlap_queue_limit(
                changes.pop("overlap_queue_limit")
            )

        if "trigger" in changes:
            trigger = changes.pop("trigger")
            if not isinstance(trigger, BaseTrigger):
                raise InvalidJobOptionError(
                    "trigger",
                    trigger,
                    f"Expected a trigger instance, got {type(trigger).__name__} instead",
                )
            approved["trigger"] = trigger

        if "executor" in changes:
            value = changes.pop("executor")
            if not isinstance(value, str):
                raise InvalidJobOptionError("executor", value, "executor must be a string")
            approved["executor"] = value

        if "next_run_time" in changes:
            value = changes.pop("next_run_time")
            approved["next_run_time"] = convert_to_datetime(
                value, self._scheduler.timezone, "next_run_time"
            )

        if changes:
            names = ", ".join(changes)
            raise AttributeError(f"The following are not modifiable attributes of Job: {names}")

        for key, value in approved.items():
            setattr(self, key, value)

    def __getstate__(self) -> dict[str, Any]:
        """Return the job's state as plain data (the callable as its reference)."""
        if not self.func_ref:
            raise ValueError(
                f"This Job cannot be serialized since the reference to its callable "
                f"({self.func!r}) could not be determined. Consider giving a textual reference "
                "(module:function name) as the func argument instead."
            )
        state = {
            "version": JOB_STATE_VERSION,
            "id": self.id,
            "func": self.func_ref,
            "trigger": self.trigger,
            "executor": self.executor,
            "args": self.args,
            "kwargs": self.kwargs,
            "name": self.name,
            "misfire_grace_time": self.misfire_grace_time,
            "coalesce": self.coalesce,
            "max_instances": self.max_instances,
            "next_run_time": self.next_run_time,
        }
        if self.recover:
            # Only then: the state of every other job is APScheduler 3's, key for key.
            state["recover"] = True
        if self.timeout is not None:
            state["timeout"] = self.timeout
        # Likewise only when not the defaults.
        overlap = getattr(self, "overlap", "skip")  # unset on a job waiting for job_defaults
        if overlap != "skip":
            state["overlap"] = overlap
        limit = getattr(self, "overlap_queue_limit", 1)
        if limit != 1:
            state["overlap_queue_limit"] = limit
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        version = state.get("version")
        if not isinstance(version, int) or version > JOB_STATE_VERSION:
            raise ValueError(
                f"Job has version {version}, but only version {JOB_STATE_VERSION} can be handled "
                "(a newer obssched wrote it: upgrade obssched to read it)"
            )
        self.id = state["id"]
        self.func_ref = state["func"]
        self.func = ref_to_obj(self.func_ref) if self.func_ref else None
        self.trigger = state["trigger"]
        self.executor = state["executor"]
        # Kept as given, as APScheduler 3.11 keeps it: a state read from JSON holds a list.
        self.args = state["args"]
        self.kwargs = dict(state["kwargs"])
        self.name = state["name"]
        self.misfire_grace_time = state["misfire_grace_time"]
        self.coalesce = state["coalesce"]
        self.max_instances = state["max_instances"]
        self.next_run_time = state["next_run_time"]
        self.recover = state.get("recover", False)  # absent from states saved before it existed
        self.timeout = state.get("timeout")  # likewise, and absent whenever it is None
        self.overlap = state.get("overlap", "skip")  # likewise, absent when the default
        self.overlap_queue_limit = state.get("overlap_queue_limit", 1)
        if not hasattr(self, "_jobstore_alias"):
            self._jobstore_alias = None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Job):
            return self.id == other.id
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"<Job (id={self.id} name={self.name})>"

    def __str__(self) -> str:
        if not hasattr(self, "next_run_time"):
            status = "pending"
        elif self.next_run_time:
            status = "next run at: " + datetime_repr(self.next_run_time)
        else:
            status = "paused"
        return f"{self.name} (trigger: {self.trigger}, {status})"
