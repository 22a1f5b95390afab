"""Configuring a scheduler: plain options, dotted gconfig keys, executors and job stores."""

from __future__ import annotations

import logging
from datetime import UTC
from zoneinfo import ZoneInfo

import pytest

from obssched.exceptions import UnknownAliasError
from obssched.executors.debug import DebugExecutor
from obssched.executors.pool import ProcessPoolExecutor, ThreadPoolExecutor
from obssched.jobstores.memory import MemoryJobStore
from obssched.schedulers import SchedulerAlreadyRunningError
from obssched.testing import ManualClock, ManualScheduler

QUIET = {"metrics": False, "tracing": False}


@pytest.mark.parametrize(
    "prefix", ["obssched.", "apscheduler."], ids=["obssched-prefix", "apscheduler-prefix"]
)
def test_dotted_gconfig_keys(prefix: str) -> None:
    """Dotted keys under the obssched. (or apscheduler.) prefix configure the scheduler."""
    sched = ManualScheduler(
        {
            f"{prefix}timezone": "Europe/Berlin",
            f"{prefix}job_defaults.coalesce": "false",
            f"{prefix}job_defaults.max_instances": "3",
            f"{prefix}executors.default.class": f"{prefix}executors.pool:ThreadPoolExecutor",
            f"{prefix}executors.default.max_workers": "20",
            f"{prefix}executors.processpool.type": "processpool",
            f"{prefix}executors.processpool.max_workers": "5",
            f"{prefix}jobstores.default.type": "memory",
            "unrelated.key": "ignored",
        },
        **QUIET,
    )
    assert sched.timezone == ZoneInfo("Europe/Berlin")
    assert sched._settings.job_defaults == {
        "misfire_grace_time": 1,
        "coalesce": False,
        "max_instances": 3,
    }
    default, processes = sched._executors["default"], sched._executors["processpool"]
    assert isinstance(default, ThreadPoolExecutor)
    assert default.max_workers == 20
    assert isinstance(processes, ProcessPoolExecutor)
    assert processes.max_workers == 5
    assert isinstance(sched._jobstores["default"], MemoryJobStore)


def test_plain_options() -> None:
    """The documented plain-option form configures the same things."""
    sched = ManualScheduler(
        executors={"default": DebugExecutor(), "pool": {"type": "threadpool", "max_workers": 2}},
        jobstores={"default": MemoryJobStore()},
        job_defaults={"misfire_grace_time": None},
        timezone=UTC,
        **QUIET,
    )
    assert isinstance(sched._executors["default"], DebugExecutor)
    assert sched._executors["pool"].max_workers == 2
    assert sched._settings.job_defaults["misfire_grace_time"] is None
    assert sched.timezone is UTC


def test_options_override_gconfig() -> None:
    """Keyword options win over the same key in gconfig."""
    sched = ManualScheduler({"obssched.timezone": "Europe/Berlin"}, timezone="Asia/Tokyo", **QUIET)
    assert sched.timezone == ZoneInfo("Asia/Tokyo")


@pytest.mark.parametrize(
    "zone",
    ["Etc/UTC", "UTC", "Etc/Zulu", ZoneInfo("Etc/UTC"), ZoneInfo("UTC")],
    ids=["Etc/UTC", "UTC", "Etc/Zulu", "ZoneInfo-Etc/UTC", "ZoneInfo-UTC"],
)
def test_utc_under_any_name_is_datetime_utc(zone: str | ZoneInfo) -> None:
    """A zone that is UTC by another name becomes datetime.UTC, for the scheduler and triggers."""
    sched = ManualScheduler(timezone=zone, **QUIET)
    sched.start()
    job = sched.add_job(print, "interval", minutes=1)
    assert sched.timezone is UTC
    assert job.trigger.timezone is UTC  # type: ignore[attr-defined]
    assert job.next_run_time is not None
    assert job.next_run_time.tzinfo is UTC


def test_zones_with_offsets_stay_zoneinfo() -> None:
    """Only UTC itself is renamed: zones with their own offsets keep their zoneinfo object."""
    sched = ManualScheduler(timezone="Etc/GMT+5", **QUIET)
    assert sched.timezone == ZoneInfo("Etc/GMT+5")


def test_obssched_options() -> None:
    """clock, name and heartbeat_interval are obssched's own options."""
    clock = ManualClock()
    sched = ManualScheduler(clock=clock, name="billing", heartbeat_interval=2.5, **QUIET)
    assert (sched.clock, sched.name, sched.heartbeat_interval) == (clock, "billing", 2.5)


def test_configure_while_running_raises() -> None:
    """configure() is refused once the scheduler runs."""
    sched = ManualScheduler(**QUIET)
    sched.start()
    with pytest.raises(SchedulerAlreadyRunningError):
        sched.configure(timezone="UTC")
    sched.shutdown()


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, ValueError, "Mars/Olympus_Mons"),
        ({"heartbeat_interval": -1}, ValueError, "-1"),
        ({"executors": {"default": {"type": "warp"}}}, UnknownAliasError, "warp"),
        ({"executors": {"default": {"max_workers": 2}}}, ValueError, '"default"'),
        ({"jobstores": {"default": 42}}, TypeError, r"jobstores\['default'\], got int"),
        ({"clock": "now"}, TypeError, "'now'"),
        ({"logger": 3}, TypeError, "3"),
    ],
    ids=[
        "unknown-timezone",
        "negative-heartbeat",
        "unknown-executor-type",
        "executor-without-class-or-type",
        "jobstore-not-a-store",
        "clock-without-methods",
        "logger-of-wrong-type",
    ],
)
def test_bad_configuration_raises(
    options: dict[str, object], error: type[Exception], match: str
) -> None:
    """Bad configuration raises a typed error naming the bad value."""
    with pytest.raises(error, match=match):
        ManualScheduler(**options, **QUIET)


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"colour": "blue"}, "colour"),
        ({"daemon": True}, "daemon"),
        ({"job_defaults": {"grace": 1}}, "grace"),
    ],
    ids=["unknown-option", "daemon-on-a-blocking-scheduler", "unknown-job-default"],
)
def test_unknown_options_are_named_and_ignored(
    options: dict[str, object], name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Options APScheduler would ignore are ignored, so programs written for it still start,
    and the log names each one."""
    with caplog.at_level("WARNING"):
        sched = ManualScheduler(**options, **QUIET)
    sched.start()
    sched.shutdown()
    assert f"unknown {'job_defaults keys' if name == 'grace' else 'scheduler options'}: {name}" in (
        caplog.text.lower()
    )


def test_an_unknown_time_zone_is_the_error_apscheduler_lets_through() -> None:
    """An unknown zone name raises ZoneInfoNotFoundError (a KeyError), as APScheduler's does,
    which is also a ValueError naming the zone."""
    from zoneinfo import ZoneInfoNotFoundError

    with pytest.raises(ZoneInfoNotFoundError, match="Bogus/Zone") as caught:
        ManualScheduler(timezone="Bogus/Zone", **QUIET)
    assert isinstance(caught.value, ValueError)


APP_LOGGER = logging.getLogger("tests.config.app")


def test_logger_by_reference() -> None:
    """logger may be a "module:attribute" reference to a logger, as APScheduler reads it."""
    sched = ManualScheduler(logger=f"{__name__}:APP_LOGGER", **QUIET)
    assert sched._logger is APP_LOGGER


def test_configuration_without_a_prefix_reads_every_key() -> None:
    """configure(gconfig, prefix=None) takes the keys as they are, as APScheduler does."""
    sched = ManualScheduler(**QUIET)
    sched.configure({"timezone": "Europe/Berlin"}, prefix=None)  # type: ignore[arg-type]
    assert str(sched.timezone) == "Europe/Berlin"


def test_a_whole_number_grace_time_stays_a_whole_number() -> None:
    """misfire_grace_time from job_defaults keeps the number given (30, not 30.0), and text from
    configuration files is parsed."""
    assert (
        ManualScheduler(job_defaults={"misfire_grace_time": 30}, **QUIET)._settings.job_defaults[
            "misfire_grace_time"
        ]
        == 30
    )
    sched = ManualScheduler(job_defaults={"misfire_grace_time": "2.5"}, **QUIET)
    assert sched._settings.job_defaults["misfire_grace_time"] == 2.5


def test_logger_by_name() -> None:
    """logger may be given as a logger name."""
    sched = ManualScheduler(logger="my.app.scheduler", **QUIET)
    assert sched._logger.name == "my.app.scheduler"


def test_the_default_zone_comes_from_the_base_modules_get_localzone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tests written for APScheduler 3 fix the default zone by patching
    schedulers.base.get_localzone; obssched's scheduler reads it there too."""
    helsinki = ZoneInfo("Europe/Helsinki")
    monkeypatch.setattr("obssched.schedulers.base.get_localzone", lambda: helsinki)
    assert ManualScheduler(metrics=False, tracing=False).timezone is helsinki
