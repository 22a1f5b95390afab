"""A scheduler process for the multi-process tests (run with ``python -m clusternode``).

It runs a BackgroundScheduler on a shared SQLAlchemyJobStore and records, in a ``results``
table of the same database, every run executed, missed or abandoned as
``(job_id, run_time, node, kind)``, and as ``started`` each body of the ``slow`` job about to
begin (with ``--hold``, every body; then each submission too, as ``submitted``). With
``--seed`` it first adds the interval jobs, which ask for recovery of abandoned runs
(``recover=True``, unless ``--no-recover``) and first run at ``--start`` even if it has passed.

``--pool`` sizes the thread pool and ``--hold`` makes every body on this node take that long, so
that a node can be saturated: the runs it claims then wait in its queue without beginning.

So that a test can wait for a result instead of polling the table, each row is also announced
as ``"job_id kind node"``: on PostgreSQL by a notification on the channel ``results_<schema>``,
sent with the row, and with ``--echo`` as a line on standard output once the row is written.
"""

from __future__ import annotations

import argparse
import importlib
import threading
import time
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, func, insert, select

from obssched._runs import RunInfo
from obssched.clock import SystemClock
from obssched.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
    SchedulerEvent,
)
from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.schedulers.background import BackgroundScheduler

METADATA = MetaData()
CLOCK = SystemClock()
SINK: dict[str, Any] = {}  # where exclusive() records its spans: set by main()


def results_table(schema: str | None) -> Table:
    """The table every node writes its runs to."""
    return Table(
        "results",
        METADATA,
        Column("seq", Integer, primary_key=True, autoincrement=True),
        Column("job_id", String(100), nullable=False),
        Column("run_time", String(40), nullable=False),
        Column("node", String(100), nullable=False),
        Column("kind", String(20), nullable=False),
        schema=schema,
        extend_existing=True,
    )


def spans_table(schema: str | None) -> Table:
    """The table exclusive() writes the (node, began, ended) of each of its runs to."""
    return Table(
        "spans",
        METADATA,
        Column("seq", Integer, primary_key=True, autoincrement=True),
        Column("node", String(100), nullable=False),
        Column("began", String(40), nullable=False),
        Column("ended", String(40), nullable=False),
        schema=schema,
        extend_existing=True,
    )


def exclusive(seconds: float) -> None:
    """A job body that records when it ran and where (for the max_instances test)."""
    began = CLOCK.now()
    time.sleep(seconds)
    ended = CLOCK.now()
    with SINK["engine"].begin() as conn:
        conn.execute(
            insert(SINK["spans"]).values(
                node=SINK["node"], began=began.isoformat(), ended=ended.isoformat()
            )
        )


def work(seconds: float = 0.0) -> None:
    """The job body: optionally takes a while (so a node can be killed mid-run); every body
    takes ``--hold`` seconds on a node started with it."""
    seconds = seconds or SINK.get("hold", 0.0)
    if seconds:
        time.sleep(seconds)


class BeginRecorder:
    """A run hook recording the bodies about to begin (after the store's own hook: a body
    recorded here has had its start recorded by the store)."""

    def __init__(self, record: Any, every_job: bool) -> None:
        self._record = record
        self._every_job = every_job

    def wrap(self, run: RunInfo) -> None:
        """Record ``run`` as started if it is watched; nothing to wrap."""
        if self._every_job or run.job_id == "slow":
            self._record(run.job_id, run.scheduled_run_time, "started")

    def remote(self, run: RunInfo) -> None:
        """No body runs in another process here."""


def executors(kind: str, pool: int) -> dict[str, Any]:
    """The node's executors: the default thread pool, sized by ``pool`` if given, or ``kind``."""
    if kind != "threadpool":
        return {"default": {"type": kind}}
    return {"default": {"type": "threadpool", "max_workers": pool}} if pool else {}


def main() -> None:
    """Run one node until killed or ``--duration`` passes."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--schema")
    parser.add_argument("--node", required=True)
    parser.add_argument("--cluster", action="store_true")
    parser.add_argument("--executor", default="threadpool")
    parser.add_argument("--lease", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--start")
    parser.add_argument("--end", help="the jobs' end date; default: none")
    parser.add_argument("--work", type=float, default=0.0, help="seconds each run takes")
    parser.add_argument("--exclusive", type=float, default=0.0, help="add a max_instances=1 job")
    parser.add_argument("--slow-job", type=float, default=0.0)
    parser.add_argument("--grace", type=float, default=0.0, help="misfire grace; 0: none")
    parser.add_argument("--echo", action="store_true", help="print each result as it is written")
    parser.add_argument("--pool", type=int, default=0, help="thread pool workers; 0: default")
    parser.add_argument("--hold", type=float, default=0.0, help="seconds every body takes here")
    parser.add_argument("--no-recover", action="store_true", help="seed with recover=False")
    parser.add_argument("--max-instances", type=int, default=5)
    args = parser.parse_args()

    table = results_table(args.schema)
    # SQLite: wait out the scheduler's own writes to the same file, however loaded the host.
    connect_args = {"timeout": 60} if args.url.startswith("sqlite") else {}
    results = create_engine(args.url, connect_args=connect_args)
    # Jobs import this file as "clusternode", a module apart from the running __main__.
    sink = importlib.import_module("clusternode").SINK
    sink.update(engine=results, spans=spans_table(args.schema), node=args.node, hold=args.hold)
    METADATA.create_all(results)
    node = args.node
    store = SQLAlchemyJobStore(
        url=args.url,
        tableschema=args.schema,
        cluster=args.cluster,
        node_id=node if args.cluster else None,
        lease_seconds=args.lease,
    )
    scheduler = BackgroundScheduler(
        metrics=False,
        tracing=False,
        timezone="UTC",
        jobstores={"default": store},
        executors=executors(args.executor, args.pool),
    )
    lock = threading.Lock()

    def listener(event: SchedulerEvent) -> None:
        if event.code == EVENT_JOB_MAX_INSTANCES:
            for moment in event.scheduled_run_times:  # type: ignore[attr-defined]
                record(event.job_id, moment, "skipped")  # type: ignore[attr-defined]
            return
        if event.code == EVENT_JOB_SUBMITTED:
            if args.hold:
                for moment in event.scheduled_run_times:  # type: ignore[attr-defined]
                    record(event.job_id, moment, "submitted")  # type: ignore[attr-defined]
            return
        if isinstance(event, JobExecutionEvent):
            kind = {EVENT_JOB_EXECUTED: "executed", EVENT_JOB_MISSED: "missed"}.get(
                event.code, "error"
            )
            if event.code == EVENT_JOB_ERROR and "abandoned" in str(event.exception):
                kind = "abandoned"
            run_time = event.scheduled_run_time
        else:
            return
        record(event.job_id, run_time, kind)  # type: ignore[attr-defined]

    channel = f"results_{args.schema or 'public'}"
    notify = results.dialect.name == "postgresql"

    def record(job_id: str, run_time: datetime, kind: str) -> None:
        row = {"job_id": job_id, "run_time": run_time.isoformat(), "node": node, "kind": kind}
        announcement = f"{job_id} {kind} {node}"
        with lock:
            with results.begin() as conn:
                conn.execute(insert(table).values(**row))
                if notify:
                    conn.execute(select(func.pg_notify(channel, announcement)))
            if args.echo:  # under the lock: lines from several threads never interleave
                print(announcement, flush=True)

    # On the bus itself, as obssched's own listeners are: each outcome is written as it
    # happens, even mid-tick, so a node SIGKILLed right after a run has still recorded it (a
    # user's listener would get the tick's events once the tick is over).
    scheduler.context.events.add(listener)
    seeding = bool(args.seed or args.exclusive)
    scheduler.start(paused=seeding)
    scheduler.add_run_hook(BeginRecorder(record, every_job=bool(args.hold)))
    if seeding:
        start = datetime.fromisoformat(args.start)
        end = datetime.fromisoformat(args.end) if args.end else None
        for index in range(args.seed):
            scheduler.add_job(
                "clusternode:work",
                "interval",
                args=[args.work] if args.work else None,
                seconds=args.interval,
                start_date=start,
                end_date=end,
                id=f"job{index}",
                misfire_grace_time=args.grace or None,
                coalesce=False,
                max_instances=args.max_instances,
                # A loaded host may start this process after ``start``: the first run time is
                # still ``start``, late, not the next one after now.
                next_run_time=start,
                replace_existing=True,
                recover=not args.no_recover,
            )
        if args.exclusive:
            scheduler.add_job(
                "clusternode:exclusive",
                "interval",
                args=[args.exclusive],
                seconds=args.interval,
                start_date=start,
                end_date=end,
                id="exclusive",
                max_instances=1,
                misfire_grace_time=None,
                next_run_time=start,
                replace_existing=True,
            )
        if args.slow_job:
            scheduler.add_job(
                "clusternode:work",
                "date",
                run_date=start,
                args=[args.slow_job],
                id="slow",
                misfire_grace_time=None,
                recover=True,
            )
        scheduler.resume()
    print("ready", flush=True)
    threading.Event().wait(args.duration)
    # shutdown() does not wait for a scheduling step in progress, and runs that step submits
    # after the executors stopped are dropped; on a loaded host the first step (reporting the
    # backlog) can outlast --duration. Pausing and waiting for the step keeps every run.
    scheduler.pause()
    with scheduler._jobstores_lock:
        pass
    scheduler.shutdown(wait=True)


if __name__ == "__main__":
    main()
