"""The public surface: APScheduler 3.11's import paths, names, signatures and event table."""

from __future__ import annotations

import importlib
import inspect

import pytest

import obssched.events

APSCHEDULER_NAMES = {
    "events": [
        "SchedulerEvent",
        "JobEvent",
        "JobSubmissionEvent",
        "JobExecutionEvent",
    ],
    "schedulers": ["SchedulerAlreadyRunningError", "SchedulerNotRunningError"],
    "schedulers.base": ["BaseScheduler", "STATE_STOPPED", "STATE_RUNNING", "STATE_PAUSED"],
    "schedulers.blocking": ["BlockingScheduler"],
    "schedulers.background": ["BackgroundScheduler"],
    "schedulers.asyncio": ["AsyncIOScheduler"],
    "executors.base": ["BaseExecutor", "MaxInstancesReachedError", "run_job"],
    "executors.pool": ["BasePoolExecutor", "ThreadPoolExecutor", "ProcessPoolExecutor"],
    "executors.asyncio": ["AsyncIOExecutor"],
    "executors.debug": ["DebugExecutor"],
    "jobstores.base": ["BaseJobStore", "JobLookupError", "ConflictingIdError", "TransientJobError"],
    "jobstores.memory": ["MemoryJobStore"],
    "jobstores.sqlalchemy": ["SQLAlchemyJobStore"],
    "job": ["Job"],
    "triggers.base": ["BaseTrigger"],
    "triggers.date": ["DateTrigger"],
    "triggers.interval": ["IntervalTrigger"],
    "triggers.cron": ["CronTrigger"],
    "triggers.calendarinterval": ["CalendarIntervalTrigger"],
    "triggers.combining": ["AndTrigger", "OrTrigger", "BaseCombiningTrigger"],
    "util": [
        "undefined",
        "asint",
        "asbool",
        "astimezone",
        "asdate",
        "convert_to_datetime",
        "datetime_to_utc_timestamp",
        "utc_timestamp_to_datetime",
        "datetime_ceil",
        "datetime_repr",
        "timezone_repr",
        "get_callable_name",
        "obj_to_ref",
        "ref_to_obj",
        "maybe_ref",
        "check_callable_args",
        "iscoroutinefunction_partial",
        "normalize",
        "localize",
    ],
}

PAIRS = [(module, name) for module, names in APSCHEDULER_NAMES.items() for name in names]


@pytest.mark.parametrize(("module", "name"), PAIRS, ids=[f"{m}:{n}" for m, n in PAIRS])
def test_apscheduler_import_path_resolves(module: str, name: str) -> None:
    """Every name APScheduler 3 users import exists at the same path under obssched."""
    assert hasattr(importlib.import_module(f"obssched.{module}"), name)


def test_event_table_matches_apscheduler() -> None:
    """Every EVENT_* constant exists with APScheduler 3.11's bit value."""
    import apscheduler.events

    theirs = {n: v for n, v in vars(apscheduler.events).items() if n.startswith("EVENT_")}
    ours = {n: v for n, v in vars(obssched.events).items() if n.startswith("EVENT_")}
    assert {n: ours.get(n) for n in theirs} == theirs


def test_obssched_event_codes_follow_apschedulers_and_stay_out_of_event_all() -> None:
    """obssched's own event code takes the next free bit and is not in EVENT_ALL, which keeps
    APScheduler 3.11's value; it has a name for the events counter."""
    import apscheduler.events

    events = obssched.events
    assert events.EVENT_JOB_QUEUED == apscheduler.events.EVENT_JOB_MAX_INSTANCES << 1
    assert not events.EVENT_ALL & events.EVENT_JOB_QUEUED
    assert events.EVENT_NAMES[events.EVENT_JOB_QUEUED] == "job_queued"


@pytest.mark.parametrize(
    ("cls", "fields"),
    [
        ("SchedulerEvent", ["code", "alias"]),
        ("JobEvent", ["code", "job_id", "jobstore"]),
        ("JobSubmissionEvent", ["code", "job_id", "jobstore", "scheduled_run_times"]),
        (
            "JobExecutionEvent",
            [
                "code",
                "job_id",
                "jobstore",
                "scheduled_run_time",
                "retval",
                "exception",
                "traceback",
            ],
        ),
    ],
    ids=["scheduler", "job", "submission", "execution"],
)
def test_event_classes_keep_apscheduler_positional_arguments(cls: str, fields: list[str]) -> None:
    """Event classes take APScheduler 3's positional arguments first (obssched's additions
    after them are optional) and expose them as attributes."""
    event_class = getattr(obssched.events, cls)
    params = [
        p
        for p in inspect.signature(event_class).parameters.values()
        if p.kind is p.POSITIONAL_OR_KEYWORD
    ]
    assert [p.name for p in params[: len(fields)]] == fields
    assert all(p.default is not p.empty for p in params[len(fields) :])
    event = event_class(*range(len(fields)))
    assert [getattr(event, f) for f in fields] == list(range(len(fields)))


def _positional_names(func: object) -> list[str]:
    return [
        p.name
        for p in inspect.signature(func).parameters.values()  # type: ignore[arg-type]
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.POSITIONAL_ONLY)
    ]


SCHEDULER_METHODS = [
    "configure",
    "start",
    "shutdown",
    "pause",
    "resume",
    "wakeup",
    "add_executor",
    "remove_executor",
    "add_jobstore",
    "remove_jobstore",
    "add_listener",
    "remove_listener",
    "add_job",
    "scheduled_job",
    "modify_job",
    "reschedule_job",
    "pause_job",
    "resume_job",
    "get_jobs",
    "get_job",
    "remove_job",
    "remove_all_jobs",
    "print_jobs",
    "export_jobs",
    "import_jobs",
]


@pytest.mark.parametrize("method", SCHEDULER_METHODS)
def test_scheduler_method_signature_matches_apscheduler(method: str) -> None:
    """Each scheduler method takes APScheduler 3.11's positional parameters, in order."""
    from apscheduler.schedulers.base import BaseScheduler as Theirs

    from obssched.schedulers.base import BaseScheduler as Ours

    assert _positional_names(getattr(Ours, method)) == _positional_names(getattr(Theirs, method))


TRIGGERS = [
    ("date", "DateTrigger"),
    ("interval", "IntervalTrigger"),
    ("cron", "CronTrigger"),
    ("calendarinterval", "CalendarIntervalTrigger"),
    ("combining", "AndTrigger"),
    ("combining", "OrTrigger"),
]


@pytest.mark.parametrize(("module", "name"), TRIGGERS, ids=[name for _, name in TRIGGERS])
def test_trigger_signature_matches_apscheduler(module: str, name: str) -> None:
    """Each trigger takes APScheduler 3.11's constructor parameters, in order."""
    theirs = getattr(importlib.import_module(f"apscheduler.triggers.{module}"), name)
    ours = getattr(importlib.import_module(f"obssched.triggers.{module}"), name)
    assert _all_names(ours.__init__)[: len(_all_names(theirs.__init__))] == _all_names(
        theirs.__init__
    )


def _all_names(func: object) -> list[str]:
    return [
        p.name
        for p in inspect.signature(func).parameters.values()  # type: ignore[arg-type]
        if p.kind is not p.VAR_KEYWORD
    ]


@pytest.mark.parametrize("method", ["modify", "reschedule", "pause", "resume", "remove"])
def test_job_method_signature_matches_apscheduler(method: str) -> None:
    """Each Job method takes APScheduler 3.11's positional parameters, in order."""
    from apscheduler.job import Job as Theirs

    from obssched.job import Job as Ours

    assert _positional_names(getattr(Ours, method)) == _positional_names(getattr(Theirs, method))


def test_event_module_exports() -> None:
    """obssched.events exports exactly the event table, its classes and the name map."""
    assert set(obssched.events.__all__) == {
        *(n for n in vars(obssched.events) if n.startswith("EVENT_")),
        "SchedulerEvent",
        "JobEvent",
        "JobSubmissionEvent",
        "JobExecutionEvent",
    }


def test_top_level_exports() -> None:
    """obssched exports its version (also under APScheduler 3's names ``version`` and
    ``version_info``) and the observability entry points, and nothing else."""
    import obssched

    assert set(obssched.__all__) == {
        "__version__",
        "instrument",
        "start_http_server",
        "make_wsgi_app",
        "make_asgi_app",
        "PortInUseError",
        "version",
        "version_info",
    }
    for name in obssched.__all__:
        assert getattr(obssched, name) is not None


def test_unknown_top_level_name_raises_attribute_error() -> None:
    """A name obssched does not export raises AttributeError naming it."""
    import obssched

    with pytest.raises(AttributeError, match="nonesuch"):
        obssched.nonesuch  # noqa: B018
