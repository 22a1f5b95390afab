"""APScheduler 3 triggers and zones converted to obssched's and back fire at the same times."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytz
from apscheduler.triggers.calendarinterval import CalendarIntervalTrigger as ApsCalendar
from apscheduler.triggers.combining import AndTrigger as ApsAnd
from apscheduler.triggers.combining import OrTrigger as ApsOr
from apscheduler.triggers.cron import CronTrigger as ApsCron
from apscheduler.triggers.date import DateTrigger as ApsDate
from apscheduler.triggers.interval import IntervalTrigger as ApsInterval

from obssched.exceptions import SerializationError
from obssched.jobstores._sql.aps3_state import trigger_from_aps3, trigger_to_aps3, zone_from_aps3
from obssched.triggers.cron import CronTrigger

NOW = datetime(2029, 12, 30, 12, 0, 7, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")

TRIGGERS: dict[str, Callable[[], Any]] = {
    "cron-hour": lambda: ApsCron(hour=3, timezone="UTC"),
    "cron-weekdays-steps": lambda: ApsCron(
        day_of_week="mon-fri", hour="9-17/2", minute="*/15", timezone=PARIS
    ),
    "cron-last-day": lambda: ApsCron(month="jan,jul", day="last", timezone="UTC"),
    "cron-nth-weekday": lambda: ApsCron(day="2nd fri", hour=6, timezone="UTC"),
    "cron-window": lambda: ApsCron(
        minute=30,
        start_date=datetime(2030, 1, 2, tzinfo=UTC),
        end_date=datetime(2030, 1, 3, tzinfo=UTC),
        timezone="UTC",
    ),
    "cron-every-second": lambda: ApsCron(timezone="UTC"),
    "cron-from-crontab": lambda: ApsCron.from_crontab("0 12 * * 0", timezone="UTC"),
    "cron-pytz": lambda: ApsCron(hour="1-3", timezone=pytz.timezone("America/New_York")),
    "interval": lambda: ApsInterval(
        hours=2,
        start_date=datetime(2029, 12, 1, 0, 30, tzinfo=PARIS),
        end_date=datetime(2030, 6, 1, tzinfo=PARIS),
        timezone=PARIS,
    ),
    "interval-fraction": lambda: ApsInterval(
        seconds=90.5, start_date=datetime(2029, 12, 30, tzinfo=UTC), timezone="UTC"
    ),
    "interval-pytz": lambda: ApsInterval(
        days=1,
        start_date=pytz.timezone("Europe/Berlin").localize(datetime(2029, 12, 1, 8)),
        timezone=pytz.timezone("Europe/Berlin"),
    ),
    "date": lambda: ApsDate(datetime(2030, 1, 5, 9, tzinfo=ZoneInfo("Asia/Tokyo"))),
    "calendarinterval": lambda: ApsCalendar(
        months=1, hour=4, start_date=date(2030, 1, 31), timezone=PARIS
    ),
    "and": lambda: ApsAnd(
        [
            ApsCron(hour="*/2", timezone="UTC"),
            ApsCron(day_of_week="mon-wed", hour="6-20", timezone="UTC"),
        ]
    ),
    "or": lambda: ApsOr(
        [ApsCron(day_of_week="sat", hour=8, timezone="UTC"), ApsCron(day=1, timezone="UTC")]
    ),
}


def fire_times(trigger: Any, count: int = 6) -> list[datetime]:
    """The next ``count`` fire times from NOW, each asked a second after the previous one."""
    times: list[datetime] = []
    previous = None
    now = NOW
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None:
            break
        times.append(fire.astimezone(UTC))
        # APScheduler 3.11's AndTrigger loops forever when handed its previous fire time (its
        # cron triggers then restart from it); asking from a later "now" is what it can answer.
        previous = None if type(trigger).__name__ == "AndTrigger" else fire
        now = fire + timedelta(seconds=1)
    return times


@pytest.mark.parametrize("name", list(TRIGGERS), ids=list(TRIGGERS))
def test_a_converted_trigger_fires_when_apscheduler_3_would(name: str) -> None:
    """The obssched trigger made from an APScheduler 3 trigger gives the same fire times."""
    aps = TRIGGERS[name]()
    assert fire_times(trigger_from_aps3(aps)) == fire_times(aps)


@pytest.mark.parametrize("name", list(TRIGGERS), ids=list(TRIGGERS))
def test_a_trigger_converted_back_is_what_apscheduler_3_wrote(name: str) -> None:
    """Converted to obssched and back, the trigger fires as the original and reads the same."""
    aps = TRIGGERS[name]()
    back = trigger_to_aps3(trigger_from_aps3(aps))
    assert type(back) is type(aps)
    assert str(back) == str(aps)
    assert fire_times(back) == fire_times(aps)


@pytest.mark.parametrize(
    ("kind", "make"),
    [
        ("cron", lambda: ApsCron(hour=3, jitter=20, timezone="UTC")),
        ("interval", lambda: ApsInterval(minutes=5, jitter=2.5, start_date=NOW, timezone="UTC")),
        ("or", lambda: ApsOr([ApsCron(hour=1, timezone="UTC")], jitter=7)),
    ],
    ids=["cron", "interval", "or"],
)
def test_jitter_is_kept(kind: str, make: Callable[[], Any]) -> None:
    """The jitter option survives the conversion both ways."""
    aps = make()
    converted = trigger_from_aps3(aps)
    assert converted.jitter == aps.jitter
    assert trigger_to_aps3(converted).jitter == aps.jitter


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        (pytz.timezone("America/New_York"), ZoneInfo("America/New_York")),
        (pytz.utc, UTC),
        (pytz.FixedOffset(150), timezone(timedelta(minutes=150))),
        (PARIS, PARIS),
        (timezone(timedelta(hours=-3)), timezone(timedelta(hours=-3))),
    ],
    ids=["pytz-named", "pytz-utc", "pytz-fixed", "zoneinfo", "fixed-offset"],
)
def test_zones_become_zoneinfo_by_name(zone: tzinfo, expected: tzinfo) -> None:
    """pytz zones become zoneinfo ones of the same name; fixed offsets stay fixed."""
    assert zone_from_aps3(zone) == expected


def test_a_crontab_trigger_apscheduler_3_cannot_express_is_refused() -> None:
    """Crontab weekday numbers count from Sunday; the error says APScheduler 3 cannot."""
    with pytest.raises(SerializationError, match="APScheduler 3's cron trigger cannot express"):
        trigger_to_aps3(CronTrigger.from_crontab("0 12 * * 0", timezone="UTC"))
