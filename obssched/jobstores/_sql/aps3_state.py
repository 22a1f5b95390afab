"""APScheduler 3 job state, as its ``Job.__getstate__`` returns it, to obssched's and back.

An APScheduler 3 job state is a dict holding the trigger as an APScheduler trigger instance, its
datetimes aware (possibly with pytz zones). Reading one takes the trigger's own ``__getstate__``
(its pickle contract) and rebuilds the obssched trigger from the equivalent plain data, zones
converted to ``zoneinfo`` by name. Writing one builds APScheduler trigger instances the way
unpickling does (``__new__`` then ``__setstate__``), so APScheduler 3.11 reads back exactly what
it would have written itself. Both directions need the ``apscheduler`` package importable.
"""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any

from obssched._timeutil import astimezone
from obssched.exceptions import SerializationError
from obssched.job import JOB_STATE_VERSION, Job
from obssched.triggers._state import trigger_from_dict, trigger_to_dict, zone_to_text

if TYPE_CHECKING:
    from obssched.schedulers.base import BaseScheduler
    from obssched.triggers.base import BaseTrigger

__all__ = [
    "APS3_INSTALL_HINT",
    "job_from_aps3_state",
    "job_state_from_aps3",
    "job_to_aps3_state",
    "trigger_from_aps3",
    "trigger_to_aps3",
    "unpickle_aps3_state",
    "zone_from_aps3",
]

APS3_INSTALL_HINT = "pip install 'apscheduler>=3.11,<4'"

_APS_JOB_STATE_VERSION = 1
_APS_TRIGGERS = "apscheduler.triggers."
_STATE_VERSION = 1  # of the obssched trigger states built here


def unpickle_aps3_state(blob: bytes, job_id: str) -> dict[str, Any]:
    """Unpickle a ``job_state`` column. Unpickling runs code: only for a database you trust.

    Raises:
        SerializationError: the pickle cannot be read (the message says so plainly when the
            ``apscheduler`` package is what is missing), is not a job state, or is too new.
    """
    try:
        state = pickle.loads(blob)
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] == "apscheduler":
            raise SerializationError(
                f"Job {job_id!r} is stored as pickled APScheduler 3 objects; reading it needs "
                f"the apscheduler package (3.x) importable here: {APS3_INSTALL_HINT}"
            ) from exc
        raise SerializationError(f"Job {job_id!r} cannot be unpickled: {exc}") from exc
    except Exception as exc:
        raise SerializationError(
            f"Job {job_id!r} cannot be unpickled: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(state, dict):
        raise SerializationError(f"Job {job_id!r} is not an APScheduler 3 job state: {state!r}")
    version = state.get("version", 1)
    if not isinstance(version, int) or version > _APS_JOB_STATE_VERSION:
        raise SerializationError(
            f"Job {job_id!r} has APScheduler job state version {version!r}; only version "
            f"{_APS_JOB_STATE_VERSION} (APScheduler 3) can be read"
        )
    return state


def zone_from_aps3(tz: tzinfo) -> tzinfo:
    """Return ``tz`` as obssched keeps zones: ``zoneinfo`` by IANA name (pytz zones included),
    UTC, or a fixed offset.

    Raises:
        ValueError: the zone has neither a name nor a fixed offset.
    """
    # pytz zones carry their IANA name as ``zone``, zoneinfo ones as ``key``.
    name = getattr(tz, "zone", None) or getattr(tz, "key", None)
    if isinstance(name, str):
        zone = astimezone(name)
        assert zone is not None
        return zone
    if tz is UTC or isinstance(tz, timezone):
        return tz
    offset = tz.utcoffset(None)
    if offset is not None:
        return timezone(offset)
    raise ValueError(f"The time zone {tz!r} has no IANA name and no fixed offset")


def _moment(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(zone_from_aps3(value.tzinfo))


def _text(value: datetime | date | None, zone: tzinfo | None = None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime) and zone is not None:
        value = value.astimezone(zone)
    return value.isoformat()


def _trigger_data(ref: str, state: dict[str, Any]) -> dict[str, Any]:
    """obssched trigger data equivalent to an APScheduler trigger's class and state."""
    module, _, name = ref.partition(":")
    if not module.startswith(_APS_TRIGGERS):
        raise ValueError(f"{ref} is not an APScheduler 3 trigger")
    if name == "DateTrigger":
        run_date: datetime = state["run_date"]
        zone = zone_from_aps3(run_date.tzinfo or UTC)
        return {
            "type": "date",
            "version": _STATE_VERSION,
            "run_date": _text(run_date, zone),
            "timezone": zone_to_text(zone),
        }
    if name in ("AndTrigger", "OrTrigger"):
        return {
            "type": "and" if name == "AndTrigger" else "or",
            "version": _STATE_VERSION,
            "triggers": [_trigger_data(sub_ref, sub) for sub_ref, sub in state["triggers"]],
            "jitter": state.get("jitter"),
        }
    zone = zone_from_aps3(state["timezone"])
    common = {
        "version": _STATE_VERSION,
        "timezone": zone_to_text(zone),
        "jitter": state.get("jitter"),
    }
    if name == "CronTrigger":
        fields = state["fields"]
        return {
            "type": "cron",
            **common,
            "fields": {field.name: str(field) for field in fields},
            "explicit": [field.name for field in fields if not field.is_default],
            "crontab": False,
            "start_date": _text(state["start_date"], zone),
            "end_date": _text(state["end_date"], zone),
        }
    if name == "IntervalTrigger":
        interval: timedelta = state["interval"]
        return {
            "type": "interval",
            **common,
            "interval": [interval.days, interval.seconds, interval.microseconds],
            "start_date": _text(state["start_date"], zone),
            "end_date": _text(state["end_date"], zone),
        }
    if name == "CalendarIntervalTrigger":
        return {
            "type": "calendarinterval",
            **common,
            "interval": list(state["interval"]),
            "time": list(state["time"]),
            "start_date": _text(state["start_date"]),
            "end_date": _text(state["end_date"]),
        }
    raise ValueError(f"{ref} is an APScheduler 3 trigger obssched has no counterpart for")


def trigger_from_aps3(trigger: Any) -> BaseTrigger:
    """Return the obssched trigger equivalent to an APScheduler 3 trigger instance.

    Raises:
        ValueError: it is not one of APScheduler 3's triggers, or its state is invalid.
    """
    cls = type(trigger)
    state = trigger.__getstate__()
    if isinstance(state, tuple):  # APScheduler 3.0 kept (class, state) pairs
        state = state[1]
    return trigger_from_dict(_trigger_data(f"{cls.__module__}:{cls.__qualname__}", state))


def job_state_from_aps3(state: dict[str, Any]) -> dict[str, Any]:
    """Return an APScheduler 3 job state as an obssched ``Job.__setstate__`` state.

    Raises:
        SerializationError: a field is missing, or the trigger has no obssched counterpart.
    """
    job_id = state.get("id")
    try:
        trigger = trigger_from_aps3(state["trigger"])
        return {
            "version": JOB_STATE_VERSION,
            "id": state["id"],
            "func": state["func"],
            "trigger": trigger,
            "executor": state["executor"],
            "args": tuple(state["args"]),
            "kwargs": dict(state["kwargs"]),
            "name": state["name"],
            "misfire_grace_time": state["misfire_grace_time"],
            "coalesce": state["coalesce"],
            "max_instances": state["max_instances"],
            "next_run_time": _moment(state["next_run_time"]),
            "recover": False,
        }
    except KeyError as exc:
        raise SerializationError(
            f"APScheduler 3 job {job_id!r} lacks the field {exc.args[0]!r}"
        ) from exc
    except (TypeError, ValueError) as exc:
        raise SerializationError(f"APScheduler 3 job {job_id!r}: {exc}") from exc


def job_from_aps3_state(state: dict[str, Any], scheduler: BaseScheduler, alias: str) -> Job:
    """Rebuild an obssched job from an APScheduler 3 job state.

    Raises:
        SerializationError: see :func:`job_state_from_aps3`.
        LookupError / ImportError: the callable can no longer be imported.
    """
    job = Job.__new__(Job)
    job.__setstate__(job_state_from_aps3(state))
    # What APScheduler 3's own stores set on a job they load: the Job contract of stores.
    job._scheduler = scheduler
    job._jobstore_alias = alias
    return job


def trigger_to_aps3(trigger: BaseTrigger) -> Any:
    """Return the APScheduler 3 trigger instance equivalent to an obssched trigger.

    Raises:
        SerializationError: APScheduler 3 cannot express it (a crontab-mode cron trigger whose
            weekdays or day rule differ, an interval or calendar interval without a start
            date yet, a trigger type it lacks), or ``apscheduler`` is not importable.
    """
    try:
        data = trigger_to_dict(trigger)
    except TypeError as exc:
        raise SerializationError(str(exc)) from exc
    try:
        return _aps_trigger(trigger, data)
    except ImportError as exc:
        raise SerializationError(
            "Writing APScheduler 3's table layout needs the apscheduler package (3.x) "
            f"importable here: {APS3_INSTALL_HINT}"
        ) from exc


def _aps_trigger(trigger: Any, data: dict[str, Any]) -> Any:
    kind = data["type"]
    if kind in ("and", "or"):
        from apscheduler.triggers.combining import AndTrigger, OrTrigger

        combined = AndTrigger if kind == "and" else OrTrigger
        return combined([trigger_to_aps3(sub) for sub in trigger.triggers], jitter=trigger.jitter)
    if kind == "date":
        from apscheduler.triggers.date import DateTrigger

        if trigger.run_date is None:
            raise SerializationError("A date trigger without a run date cannot be stored")
        return _restore(DateTrigger, {"version": 1, "run_date": trigger.run_date})
    if kind in ("interval", "calendarinterval") and trigger.start_date is None:
        raise SerializationError(
            f"The {kind} trigger {trigger} has no start date yet (it is fixed when the job is "
            "first scheduled), and APScheduler 3's layout needs one: give start_date"
        )
    if kind == "interval":
        from apscheduler.triggers.interval import IntervalTrigger

        return _restore(
            IntervalTrigger,
            {
                "version": 2,
                "timezone": trigger.timezone,
                "start_date": trigger.start_date,
                "end_date": trigger.end_date,
                "interval": trigger.interval,
                "jitter": trigger.jitter,
            },
        )
    if kind == "calendarinterval":
        from apscheduler.triggers.calendarinterval import CalendarIntervalTrigger

        return _restore(
            CalendarIntervalTrigger,
            {
                "version": 1,
                "interval": data["interval"],
                "time": data["time"],
                "start_date": trigger.start_date,
                "end_date": trigger.end_date,
                "timezone": trigger.timezone,
                "jitter": trigger.jitter,
            },
        )
    if kind == "cron":
        return _aps_cron(trigger, data)
    raise SerializationError(f"APScheduler 3 has no {kind!r} trigger to store {trigger} as")


def _aps_cron(trigger: Any, data: dict[str, Any]) -> Any:
    from apscheduler.triggers.cron import CronTrigger

    expressions: dict[str, str] = data["fields"]
    if data["crontab"]:
        day, weekday = expressions["day"], expressions["day_of_week"]
        numbered = any(char.isdigit() for char in weekday)
        if numbered or (day != "*" and weekday != "*"):
            raise SerializationError(
                f"The crontab trigger {trigger} counts weekdays from Sunday or matches days of "
                "month or of week as crontab does, which APScheduler 3's cron trigger cannot "
                "express; use weekday names and one of day / day_of_week"
            )
    fields = [
        CronTrigger.FIELDS_MAP[name](name, expressions[name], name not in data["explicit"])
        for name in CronTrigger.FIELD_NAMES
    ]
    return _restore(
        CronTrigger,
        {
            "version": 2,
            "timezone": trigger.timezone,
            "start_date": trigger.start_date,
            "end_date": trigger.end_date,
            "fields": fields,
            "jitter": trigger.jitter,
        },
    )


def _restore(cls: Any, state: dict[str, Any]) -> Any:
    instance = cls.__new__(cls)
    instance.__setstate__(state)
    return instance


def job_to_aps3_state(job: Job) -> dict[str, Any]:
    """Return the state APScheduler 3.11's ``Job.__getstate__`` gives for the same job.

    Raises:
        SerializationError: the callable has no reference, or the trigger cannot be expressed.
    """
    if not job.func_ref:
        raise SerializationError(
            f"Job {job.id!r} cannot be stored: its callable {job.func!r} has no importable "
            "'module:qualname' reference"
        )
    return {
        "version": _APS_JOB_STATE_VERSION,
        "id": job.id,
        "func": job.func_ref,
        "trigger": trigger_to_aps3(job.trigger),
        "executor": job.executor,
        "args": job.args,
        "kwargs": job.kwargs,
        "name": job.name,
        "misfire_grace_time": job.misfire_grace_time,
        "coalesce": job.coalesce,
        "max_instances": job.max_instances,
        "next_run_time": job.next_run_time,
    }
