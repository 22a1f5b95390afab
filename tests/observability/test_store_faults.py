"""A job store that fails, hangs or comes back: what /metrics and /healthz say meanwhile.

The stores here are doubles whose reads succeed, raise, or block on an event the test holds.
"Bounded" is shown by a scrape that completes while a read is blocked forever; the join timeout
is only the bound past which the test fails, never a measurement.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from obssched.observability import (
    attach_builtin,
    health,
    make_asgi_app,
    make_wsgi_app,
    start_http_server,
)
from obssched.observability._reader import STALLED_READ
from obssched.testing import ManualClock, ManualScheduler

from . import jobs
from .conftest import T0, FakeJob, FakeScheduler
from .test_exposition import call_asgi, call_wsgi

pytestmark = pytest.mark.faults

JOIN_BOUND = 30.0
"""Seconds after which a scrape still running fails the test (it takes well under one)."""


class StoreDouble:
    """A job store whose reads return its jobs, raise ``fault``, or wait for ``gate`` first."""

    def __init__(self, jobs: list[FakeJob] | None = None) -> None:
        self.jobs = list(jobs or [])
        self.fault: Exception | None = None
        self.gate: threading.Event | None = None
        self.reads = 0

    def get_all_jobs(self) -> list[FakeJob]:
        self.reads += 1
        gate = self.gate
        if gate is not None:
            gate.wait()
        if self.fault is not None:
            raise self.fault
        return list(self.jobs)

    def block(self) -> threading.Event:
        """Make reads wait (forever, unless the test sets the returned event)."""
        self.gate = threading.Event()
        return self.gate


@pytest.fixture
def store() -> Iterator[StoreDouble]:
    """A healthy store double holding one job; any read left blocked is released at the end."""
    double = StoreDouble([FakeJob("id-1", "report")])
    yield double
    if double.gate is not None:
        double.gate.set()


@pytest.fixture
def attached(store: StoreDouble, registry: CollectorRegistry) -> FakeScheduler:
    """A running fake scheduler whose one job store is ``store``, metrics on ``registry``."""
    scheduler = FakeScheduler(jobstores={"default": store})
    attach_builtin(scheduler, registry=registry, tracing=False)
    return scheduler


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, {"scheduler": "default", **labels})


def up(registry: CollectorRegistry) -> float | None:
    return value(registry, "obssched_jobstore_up", jobstore="default")


def in_thread(call: Callable[[], Any]) -> Any:
    """Run ``call`` on its own thread; fail if it has not returned within the bound."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    thread.join(JOIN_BOUND)
    assert not thread.is_alive(), "the call did not complete while the job store was blocked"
    return result[0]


def test_healthy_store_is_up(attached: FakeScheduler, registry: CollectorRegistry) -> None:
    """A store that answers is up, its jobs are shown, and its last success is the scrape time."""
    assert up(registry) == 1
    labels = {"job_id": "id-1", "executor": "default", "trigger": "interval[0:01:00]"}
    assert (
        value(registry, "obssched_job_info", job_name="report", jobstore="default", **labels) == 1
    )
    assert (
        value(registry, "obssched_jobstore_last_success_timestamp_seconds", jobstore="default")
        == T0.timestamp()
    )
    assert value(registry, "obssched_jobstore_errors_total", jobstore="default") == 0


@pytest.mark.realtime
@pytest.mark.parametrize("app", ["wsgi", "asgi"])
def test_scrape_completes_while_a_store_blocks_forever(
    attached: FakeScheduler, registry: CollectorRegistry, store: StoreDouble, app: str
) -> None:
    """/metrics answers 200, with the last jobs read, while a store's read never returns."""
    assert up(registry) == 1
    store.block()
    if app == "wsgi":
        status, _, body = in_thread(lambda: call_wsgi(make_wsgi_app(registry), "/metrics"))
        assert status == "200 OK"
    else:
        status, _, body = in_thread(lambda: call_asgi(make_asgi_app(registry), "/metrics"))
        assert status == 200
    assert b'job_id="id-1"' in body


@pytest.mark.realtime
def test_only_one_read_per_store_is_in_flight(
    attached: FakeScheduler, registry: CollectorRegistry, store: StoreDouble
) -> None:
    """Scrapes while a store's read hangs do not pile up more reads of it."""
    store.block()
    for _ in range(3):
        in_thread(lambda: call_wsgi(make_wsgi_app(registry), "/metrics"))
    assert store.reads == 1


@pytest.mark.realtime
def test_blocked_store_is_down_once_its_read_stalls(
    attached: FakeScheduler, registry: CollectorRegistry, store: StoreDouble
) -> None:
    """A read pending longer than a scrape timeout counts as one failed read; the store is 0."""
    store.block()
    in_thread(lambda: call_wsgi(make_wsgi_app(registry), "/metrics"))
    attached.clock.advance(STALLED_READ + 1)
    assert in_thread(lambda: up(registry)) == 0
    assert value(registry, "obssched_jobstore_errors_total", jobstore="default") == 1


@pytest.mark.realtime
def test_raising_store_is_down_and_keeps_its_last_jobs(
    attached: FakeScheduler, registry: CollectorRegistry, store: StoreDouble
) -> None:
    """A store whose reads raise is 0, counts each failed read, and its last jobs stay shown."""
    assert up(registry) == 1
    store.fault = ConnectionRefusedError("connection refused")
    attached.clock.advance(15)
    status, _, body = call_wsgi(make_wsgi_app(registry), "/metrics")
    assert status == "200 OK"
    assert b'job_id="id-1"' in body
    assert up(registry) == 0
    errors = value(registry, "obssched_jobstore_errors_total", jobstore="default")
    assert errors == store.reads - 1  # every read but the first failed
    assert (
        value(registry, "obssched_jobstore_last_success_timestamp_seconds", jobstore="default")
        == T0.timestamp()
    )


@pytest.mark.realtime
def test_store_that_comes_back_is_up_again(
    attached: FakeScheduler, registry: CollectorRegistry, store: StoreDouble
) -> None:
    """Once a failing store answers again it is 1 and its last success is the new read."""
    store.fault = ConnectionRefusedError("connection refused")
    assert up(registry) == 0
    store.fault = None
    attached.clock.advance(30)
    assert up(registry) == 1
    assert (
        value(registry, "obssched_jobstore_last_success_timestamp_seconds", jobstore="default")
        == (T0 + timedelta(seconds=30)).timestamp()
    )


@pytest.mark.realtime
def test_blocked_store_comes_back(
    attached: FakeScheduler, registry: CollectorRegistry, store: StoreDouble
) -> None:
    """A read that was blocked and then returns brings the store's gauges back."""
    gate = store.block()
    in_thread(lambda: up(registry))
    attached.clock.advance(STALLED_READ + 1)
    assert in_thread(lambda: up(registry)) == 0
    store.gate = None
    gate.set()
    assert in_thread(lambda: up(registry)) == 1


def test_unaffected_store_stays_up(registry: CollectorRegistry) -> None:
    """One store failing leaves the other store's gauges and jobs as they are."""
    broken, healthy = StoreDouble(), StoreDouble([FakeJob("id-2", "sync", _jobstore_alias="b")])
    broken.fault = OSError("disk I/O error")
    scheduler = FakeScheduler(jobstores={"a": broken, "b": healthy})
    attach_builtin(scheduler, registry=registry, tracing=False)
    assert value(registry, "obssched_jobstore_up", jobstore="a") == 0
    assert value(registry, "obssched_jobstore_up", jobstore="b") == 1
    assert value(registry, "obssched_jobs", jobstore="b", state="scheduled") == 1


# -- /healthz ------------------------------------------------------------------------------


@pytest.mark.realtime
@pytest.mark.parametrize(
    ("seconds", "healthy"), [(59, True), (61, False)], ids=["within-limit", "past-limit"]
)
def test_unreachable_store_is_unhealthy_past_the_limit(
    attached: FakeScheduler,
    registry: CollectorRegistry,
    store: StoreDouble,
    seconds: float,
    healthy: bool,
) -> None:
    """/healthz turns 503 once every read of a store has failed for longer than 60 s."""
    attached.jobs = []  # what the scheduler says runs is not in question here
    store.jobs = []
    store.fault = ConnectionRefusedError("connection refused")
    health(registry)
    attached.clock.advance(seconds)
    attached.last_wakeup_at = attached.clock.now()
    status, _, body = call_wsgi(make_wsgi_app(registry), "/healthz")
    assert (status == "200 OK") is healthy
    if not healthy:
        assert b"job store 'default' has not answered for 61.0 s" in body
        assert b"connection refused" in body


@pytest.mark.realtime
def test_hanging_store_is_unhealthy_past_the_limit(
    attached: FakeScheduler, registry: CollectorRegistry, store: StoreDouble
) -> None:
    """/healthz answers, 503, while a store's read has hung for longer than the limit."""
    store.jobs = []
    store.block()
    in_thread(lambda: health(registry))
    attached.clock.advance(61)
    attached.last_wakeup_at = attached.clock.now()
    status, _, body = in_thread(lambda: call_wsgi(make_wsgi_app(registry), "/healthz"))
    assert status == "503 Service Unavailable"
    assert b"a read has been pending since" in body


@pytest.mark.realtime
def test_healthy_again_when_the_store_answers(
    attached: FakeScheduler, registry: CollectorRegistry, store: StoreDouble
) -> None:
    """/healthz is 200 again as soon as the failing store answers."""
    store.jobs = []
    store.fault = ConnectionRefusedError("connection refused")
    health(registry)
    attached.clock.advance(61)
    attached.last_wakeup_at = attached.clock.now()
    assert not health(registry)[0]
    store.fault = None
    assert health(registry)[0]


@pytest.mark.parametrize(("state", "healthy"), [(1, False), (2, True)], ids=["running", "paused"])
def test_overdue_jobs_make_a_running_scheduler_unhealthy(
    attached: FakeScheduler,
    registry: CollectorRegistry,
    store: StoreDouble,
    state: int,
    healthy: bool,
) -> None:
    """A job due more than the limit ago is a fault while the loop says it runs, not paused."""
    store.jobs = [FakeJob("id-1", "report", next_run_time=T0 - timedelta(seconds=61))]
    attached.state = state
    ok, why = health(registry)
    assert ok is healthy
    if not healthy:
        assert "1 job(s) overdue by more than 60 s, 'report' by 61.0 s" in why


def test_job_due_within_the_limit_is_not_overdue(
    attached: FakeScheduler, registry: CollectorRegistry, store: StoreDouble
) -> None:
    """A job due less than the limit ago (the loop may be about to run it) is no fault."""
    store.jobs = [FakeJob("id-1", "report", next_run_time=T0 - timedelta(seconds=59))]
    assert health(registry)[0]


@pytest.mark.parametrize("where", ["wsgi", "asgi", "health"])
def test_limit_given_to_the_app_applies(
    attached: FakeScheduler, registry: CollectorRegistry, store: StoreDouble, where: str
) -> None:
    """The health limit given to the app (or to health()) replaces the scheduler's."""
    store.jobs = [FakeJob("id-1", "report", next_run_time=T0 - timedelta(seconds=6))]
    if where == "wsgi":
        assert call_wsgi(make_wsgi_app(registry, health_limit=5), "/healthz")[0].startswith("503")
    elif where == "asgi":
        assert call_asgi(make_asgi_app(registry, health_limit=5), "/healthz")[0] == 503
    else:
        assert not health(registry, 5)[0]
    assert health(registry)[0]


def test_limit_given_to_the_scheduler_applies(
    registry: CollectorRegistry, store: StoreDouble
) -> None:
    """The scheduler's metrics_health_limit option is its default limit."""
    store.jobs = [FakeJob("id-1", "report", next_run_time=T0 - timedelta(seconds=6))]
    scheduler = FakeScheduler(jobstores={"default": store})
    attach_builtin(scheduler, registry=registry, tracing=False, metrics_health_limit=5)
    assert not health(registry)[0]


def test_heartbeat_older_than_the_limit_is_unhealthy(
    attached: FakeScheduler, registry: CollectorRegistry
) -> None:
    """A loop that has not woken up for longer than a limit shorter than 3 heartbeats is a fault."""
    attached.clock.advance(21)
    ok, why = health(registry, 20)
    assert not ok
    assert "last woke up 21.0 s ago" in why


@pytest.mark.parametrize(
    "limit", [0, -1, float("nan"), "60"], ids=["zero", "negative", "nan", "text"]
)
@pytest.mark.parametrize("make", [make_wsgi_app, make_asgi_app], ids=["wsgi", "asgi"])
def test_bad_limit_is_refused(registry: CollectorRegistry, make: Any, limit: Any) -> None:
    """A health limit that is not a positive number is refused, naming it."""
    with pytest.raises(ValueError, match="the health limit must be a positive number"):
        make(registry, health_limit=limit)


def test_scheduler_option_sets_the_limit(registry: CollectorRegistry) -> None:
    """An obssched scheduler's metrics_health_limit option is the limit /healthz judges it by."""
    clock = ManualClock()
    scheduler = ManualScheduler(
        clock=clock, metrics_registry=registry, tracing=False, metrics_health_limit=5
    )
    scheduler.start()
    try:
        scheduler.add_job(jobs.current_trace, "interval", seconds=10, name="report")
        clock.advance(16)
        ok, why = health(registry)
        assert not ok
        assert "1 job(s) overdue by more than 5 s, 'report' by 6.0 s" in why
    finally:
        scheduler.shutdown()


@pytest.mark.realtime
def test_http_server_answers_while_a_store_blocks(
    attached: FakeScheduler, registry: CollectorRegistry, store: StoreDouble
) -> None:
    """The built-in server answers /metrics while a read hangs, and /healthz by its own limit."""
    store.jobs = [FakeJob("id-1", "report", next_run_time=T0 - timedelta(seconds=6))]
    server = start_http_server(0, registry=registry, health_limit=5)
    try:
        assert up(registry) == 1
        store.block()
        with urllib.request.urlopen(f"{server.url}/metrics", timeout=JOIN_BOUND) as response:
            assert response.status == 200
            assert b'job_id="id-1"' in response.read()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{server.url}/healthz", timeout=JOIN_BOUND)
        assert refused.value.code == 503
        assert b"overdue by more than 5 s" in refused.value.read()
        refused.value.close()
    finally:
        server.close()
