"""What a SQL store decides and hands to the scheduling loop: plans for the runs it claims, and
the runs a dead scheduler left (the loop alone submits them and emits the events)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from obssched.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MAX_INSTANCES
from obssched.exceptions import JobAbandonedError
from obssched.job import Job
from obssched.jobstores._sql.codec import encode_job, to_micros
from obssched.jobstores._sql.schema import ensure_schema
from obssched.jobstores.base import OrphanedRun, RunPlan
from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.testing import EventRecorder, ManualClock, ManualScheduler
from obssched.triggers.interval import IntervalTrigger

from .jobfuncs import FailingTrigger

T0 = datetime(2024, 1, 1, tzinfo=UTC)
FUNC = "jobstores.jobfuncs:noop"


def minutes(count: float) -> datetime:
    """T0 plus ``count`` minutes."""
    return T0 + timedelta(minutes=count)


def every_minute(scheduler: ManualScheduler, job_id: str, **options: Any) -> Job:
    """A job that runs every minute from T0, due at T0."""
    options.setdefault("misfire_grace_time", None)
    options.setdefault("coalesce", False)
    options.setdefault("max_instances", 1)
    recover = options.pop("recover", False)
    job = Job(
        scheduler,
        id=job_id,
        name=job_id,
        func=FUNC,
        args=(),
        kwargs={},
        trigger=IntervalTrigger(minutes=1, start_date=T0, timezone=UTC),
        executor="default",
        next_run_time=T0,
        **options,
    )
    job.recover = recover
    return job


def running_row(store: SQLAlchemyJobStore, job: Job, node_id: str, *run_times: datetime) -> None:
    """Record a run of ``job`` in flight on ``node_id``, as a scheduler does when it submits."""
    row = {
        "run_key": f"{node_id}:{job.id}:{to_micros(run_times[0])}",
        "job_id": job.id,
        "job_name": job.name,
        "node_id": node_id,
        "run_times": json.dumps([moment.isoformat() for moment in run_times]),
        "claimed_at": to_micros(run_times[0]),
        "state": encode_job(job, "json", 5),
    }
    ensure_schema(store.engine, store.tables)
    with store.engine.begin() as conn:
        conn.execute(insert(store.tables.running).values(**row))


def running_rows(store: SQLAlchemyJobStore) -> list[tuple[str, str]]:
    """The (job id, node id) of every ``_running`` row."""
    running = store.tables.running
    with store.engine.connect() as conn:
        rows = conn.execute(select(running.c.job_id, running.c.node_id)).all()
    return sorted((job_id, node_id) for job_id, node_id in rows)


@pytest.fixture
def maker(clock: ManualClock) -> ManualScheduler:
    """An unstarted scheduler the jobs are made with."""
    return ManualScheduler(clock=clock, metrics=False, tracing=False, timezone="UTC")


@pytest.fixture
def cluster_store(postgres_url: str, pg_schema: str) -> SQLAlchemyJobStore:
    """A cluster store (node "here"), not started."""
    return SQLAlchemyJobStore(
        url=postgres_url, tableschema=pg_schema, cluster=True, node_id="here", lease_seconds=60
    )


@pytest.fixture
def on_clock(clock: ManualClock) -> Iterator[ManualScheduler]:
    """A started-later manual scheduler; shut down at the end if it ran."""
    clock.set(T0)
    scheduler = ManualScheduler(clock=clock, metrics=False, tracing=False, timezone="UTC")
    yield scheduler
    if scheduler.running:
        scheduler.shutdown()


def start_with(scheduler: ManualScheduler, store: SQLAlchemyJobStore) -> None:
    """Start ``scheduler`` with ``store`` as its default job store."""
    scheduler.add_jobstore(store)
    scheduler.start()


def claim_plan(store: SQLAlchemyJobStore, now: datetime, job_id: str) -> RunPlan | None:
    """Claim what is due at ``now`` and return the plan of ``job_id``, as the loop asks it."""
    claimed = {job.id: job for job in store.acquire_due_jobs(now)}
    try:
        return store.planned_run_times(claimed[job_id])
    finally:
        store.release_jobs(list(claimed.values()))


@pytest.mark.postgresql
@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"misfire_grace_time": 90},
            RunPlan([minutes(2), minutes(3)], minutes(4), missed=[minutes(0), minutes(1)]),
        ),
        (
            {"coalesce": True},
            RunPlan([minutes(3)], minutes(4), coalesced=[minutes(0), minutes(1), minutes(2)]),
        ),
        (
            {"coalesce": True, "misfire_grace_time": 10},
            RunPlan(
                [], minutes(4), missed=[minutes(3)], coalesced=[minutes(0), minutes(1), minutes(2)]
            ),
        ),
    ],
    ids=["late-runs-missed", "coalesced", "coalesced-run-missed"],
)
def test_a_cluster_claim_plans_the_runs_as_the_loop_would(
    cluster_store: SQLAlchemyJobStore,
    on_clock: ManualScheduler,
    maker: ManualScheduler,
    options: dict[str, Any],
    expected: RunPlan,
) -> None:
    """The plan splits the due run times into those to run, missed and coalesced."""
    start_with(on_clock, cluster_store)
    cluster_store.add_job(every_minute(maker, "j", **options))
    assert claim_plan(cluster_store, minutes(3.5), "j") == expected


@pytest.mark.postgresql
def test_a_cluster_claim_records_the_runs_it_hands_over(
    cluster_store: SQLAlchemyJobStore, on_clock: ManualScheduler, maker: ManualScheduler
) -> None:
    """While the loop has the claimed runs, the ``_running`` table counts them in flight."""
    start_with(on_clock, cluster_store)
    cluster_store.add_job(every_minute(maker, "j"))
    claimed = cluster_store.acquire_due_jobs(T0)
    assert running_rows(cluster_store) == [("j", "here")]
    cluster_store.release_jobs(claimed)  # never submitted: the claim goes
    assert running_rows(cluster_store) == []


@pytest.mark.postgresql
def test_a_cluster_claim_refuses_runs_beyond_max_instances_in_flight(
    cluster_store: SQLAlchemyJobStore, on_clock: ManualScheduler, maker: ManualScheduler
) -> None:
    """A job with max_instances runs in flight on another node is claimed, and its next run
    time advanced, but its runs come refused, for the loop to report."""
    job = every_minute(maker, "j", coalesce=True)
    running_row(cluster_store, job, "elsewhere", T0 - timedelta(minutes=1))
    start_with(on_clock, cluster_store)
    cluster_store.add_job(job)
    plan = claim_plan(cluster_store, minutes(1.5), "j")
    assert plan == RunPlan([minutes(1)], minutes(2), coalesced=[T0], refused=True)
    stored = cluster_store.lookup_job("j")
    assert stored is not None
    assert stored.next_run_time == minutes(2)
    assert running_rows(cluster_store) == [("j", "elsewhere")]


@pytest.mark.postgresql
def test_a_cluster_job_that_cannot_be_planned_raises_for_the_loop_and_is_paused(
    cluster_store: SQLAlchemyJobStore, on_clock: ManualScheduler, maker: ManualScheduler
) -> None:
    """A trigger that raises while the job is claimed makes planned_run_times raise (the loop
    pauses such a job); the claim stores it paused and claims the other due jobs."""
    start_with(on_clock, cluster_store)
    broken = every_minute(maker, "broken")
    broken.trigger = FailingTrigger(T0)
    cluster_store.add_job(broken)
    cluster_store.add_job(every_minute(maker, "fine"))
    claimed = {job.id: job for job in cluster_store.acquire_due_jobs(T0)}
    try:
        with pytest.raises(RuntimeError, match="planned trigger failure"):
            cluster_store.planned_run_times(claimed["broken"])
        assert cluster_store.planned_run_times(claimed["fine"]) == RunPlan([T0], minutes(1))
    finally:
        cluster_store.release_jobs(list(claimed.values()))
    stored = cluster_store.lookup_job("broken")
    assert stored is not None
    assert stored.next_run_time is None


def abandoned(orphans: list[OrphanedRun]) -> list[tuple[str, list[datetime], str]]:
    """(job id, run times, node) of the orphaned runs reported abandoned."""
    return sorted(
        (orphan.job_id, orphan.run_times, orphan.error.node_id)
        for orphan in orphans
        if isinstance(orphan.error, JobAbandonedError)
    )


def reruns(orphans: list[OrphanedRun]) -> list[tuple[str, list[datetime]]]:
    """(job id, run times) of the orphaned runs to run again."""
    return [(orphan.job_id, orphan.run_times) for orphan in orphans if orphan.job is not None]


@pytest.fixture(params=["single-node", pytest.param("cluster", marks=pytest.mark.postgresql)])
def restarted(request: pytest.FixtureRequest, tmp_path: Path) -> SQLAlchemyJobStore:
    """A store (node "here") whose tables hold runs a previous process of it left in flight."""
    if request.param == "cluster":
        store: SQLAlchemyJobStore = request.getfixturevalue("cluster_store")
    else:
        store = SQLAlchemyJobStore(url=f"sqlite:///{tmp_path / 'jobs.sqlite'}", node_id="here")
    maker = ManualScheduler(timezone="UTC", metrics=False, tracing=False)
    running_row(store, every_minute(maker, "plain"), "here", minutes(1))
    running_row(store, every_minute(maker, "again", recover=True), "here", minutes(2))
    return store


def test_runs_left_by_a_previous_process_are_handed_to_the_loop_once(
    restarted: SQLAlchemyJobStore, on_clock: ManualScheduler
) -> None:
    """Each run left in flight comes back once as abandoned; a job asking for recovery also
    comes back to run again; the next call hands nothing more."""
    start_with(on_clock, restarted)
    orphans = restarted.take_orphaned_runs()
    assert abandoned(orphans) == [
        ("again", [minutes(2)], "here"),
        ("plain", [minutes(1)], "here"),
    ]
    assert reruns(orphans) == [("again", [minutes(2)])]
    assert restarted.take_orphaned_runs() == []
    assert restarted.abandoned_counts == {"again": 1, "plain": 1}


def test_abandoned_rows_stay_until_the_loop_comes_back_for_more(
    restarted: SQLAlchemyJobStore, on_clock: ManualScheduler
) -> None:
    """The rows of runs handed over are deleted at the next hand-over, once their reports are
    out (a re-run never submitted included), so a crash in between reports them again."""
    start_with(on_clock, restarted)
    restarted.take_orphaned_runs()
    assert len(running_rows(restarted)) == 2
    restarted.take_orphaned_runs()
    assert running_rows(restarted) == []


@pytest.mark.postgresql
def test_a_dead_nodes_runs_are_taken_over_after_a_steady_lease(
    cluster_store: SQLAlchemyJobStore,
    on_clock: ManualScheduler,
    maker: ManualScheduler,
    clock: ManualClock,
) -> None:
    """A run of a node that stopped heart-beating is handed over once this node has itself
    heart-beaten on time for a whole lease; the row then belongs to this node."""
    running_row(cluster_store, every_minute(maker, "j"), "dead", T0)
    start_with(on_clock, cluster_store)
    node = cluster_store._node
    assert node is not None
    for _ in range(2):
        node.beat()
        assert cluster_store.take_orphaned_runs() == []
        clock.advance(30)
    node.beat()
    assert running_rows(cluster_store) == [("j", "here")]
    assert abandoned(cluster_store.take_orphaned_runs()) == [("j", [T0], "dead")]


def test_a_single_node_store_counts_nothing_abandoned_after_a_clean_stop(
    tmp_path: Path, on_clock: ManualScheduler, clock: ManualClock, maker: ManualScheduler
) -> None:
    """Runs that ended leave no row behind: the next process finds nothing to report."""
    url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    store = SQLAlchemyJobStore(url=url)
    start_with(on_clock, store)
    on_clock.add_job(FUNC, "interval", minutes=1, start_date=T0, id="j")
    clock.advance(60)
    on_clock.tick()
    on_clock.shutdown()
    again = SQLAlchemyJobStore(url=url)
    again.start(None, "default")
    try:
        assert again.take_orphaned_runs() == []
        with again.engine.connect() as conn:
            count = conn.execute(select(func.count()).select_from(again.tables.running)).scalar()
        assert count == 0
    finally:
        again.shutdown()


def test_the_loop_reports_and_reruns_what_a_restarted_store_hands_it(
    restarted: SQLAlchemyJobStore, on_clock: ManualScheduler
) -> None:
    """End to end: each abandoned run is reported once with its JobAbandonedError, the one
    asking for recovery runs again, and no ``_running`` row is left afterwards."""
    recorder = EventRecorder(on_clock)
    start_with(on_clock, restarted)
    on_clock.tick()
    on_clock.tick()
    errors = sorted(
        (event.job_id, event.scheduled_run_time)
        for event in recorder.of(EVENT_JOB_ERROR)
        if isinstance(event.exception, JobAbandonedError)
    )
    assert errors == [("again", minutes(2)), ("plain", minutes(1))]
    executed = [
        (event.job_id, event.scheduled_run_time) for event in recorder.of(EVENT_JOB_EXECUTED)
    ]
    assert executed == [("again", minutes(2))]
    assert running_rows(restarted) == []


@pytest.mark.postgresql
def test_the_loop_reports_a_run_the_cluster_refused(
    cluster_store: SQLAlchemyJobStore, on_clock: ManualScheduler, maker: ManualScheduler
) -> None:
    """End to end: a run refused by the claim (max_instances in flight on another node) is
    reported EVENT_JOB_MAX_INSTANCES by the loop and not executed."""
    job = every_minute(maker, "j")
    running_row(cluster_store, job, "elsewhere", T0 - timedelta(minutes=1))
    recorder = EventRecorder(on_clock)
    start_with(on_clock, cluster_store)
    cluster_store.add_job(job)
    on_clock.tick()
    refused = [
        (event.job_id, event.scheduled_run_times) for event in recorder.of(EVENT_JOB_MAX_INSTANCES)
    ]
    assert refused == [("j", [T0])]
    assert recorder.of(EVENT_JOB_EXECUTED) == []


@pytest.mark.postgresql
def test_a_run_reported_abandoned_does_not_hold_back_its_jobs_next_run(
    cluster_store: SQLAlchemyJobStore, on_clock: ManualScheduler, maker: ManualScheduler
) -> None:
    """End to end: in the tick that reports a dead run of a max_instances=1 job, the job's due
    run is claimed and executed, not refused."""
    job = every_minute(maker, "j")
    running_row(cluster_store, job, "here", T0 - timedelta(minutes=1))
    recorder = EventRecorder(on_clock)
    start_with(on_clock, cluster_store)
    cluster_store.add_job(job)
    on_clock.tick()
    assert [event.job_id for event in recorder.of(EVENT_JOB_ERROR)] == ["j"]
    assert [event.job_id for event in recorder.of(EVENT_JOB_EXECUTED)] == ["j"]
    assert recorder.of(EVENT_JOB_MAX_INSTANCES) == []
