"""A scheduler process for the multi-process tests (run with ``python -m clusternode``).

It runs a BackgroundScheduler on a shared SQLAlchemyJobStore and records, in a ``results``
table of the same database, every run executed, missed or abandoned as
``(job_id, run_time, node, kind)``. With ``--seed`` it first adds the interval jobs, which ask for
recovery of abandoned runs (``recover=True``) and first run at ``--start`` even if it has passed.
"""

from __future__ import annotations

import argparse
import threading
import time
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert

from obssched.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
    SchedulerEvent,
)
from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore
from obssched.schedulers.background import BackgroundScheduler

METADATA = MetaData()


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


def work(seconds: float = 0.0) -> None:
    """The job body: optionally takes a while (so a node can be killed mid-run)."""
    if seconds:
        time.sleep(seconds)


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
    parser.add_argument("--slow-job", type=float, default=0.0)
    parser.add_argument("--grace", type=float, default=0.0, help="misfire grace; 0: none")
    args = parser.parse_args()

    table = results_table(args.schema)
    # SQLite: wait out the scheduler's own writes to the same file, however loaded the host.
    connect_args = {"timeout": 60} if args.url.startswith("sqlite") else {}
    results = create_engine(args.url, connect_args=connect_args)
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
        executors={"default": {"type": args.executor}} if args.executor != "threadpool" else {},
    )
    lock = threading.Lock()

    def listener(event: SchedulerEvent) -> None:
        if event.code == EVENT_JOB_SUBMITTED and getattr(event, "job_id", "") == "slow":
            kind = "started"
            run_time = event.scheduled_run_times[0]  # type: ignore[attr-defined]
        elif isinstance(event, JobExecutionEvent):
            kind = {EVENT_JOB_EXECUTED: "executed", EVENT_JOB_MISSED: "missed"}.get(
                event.code, "error"
            )
            if event.code == EVENT_JOB_ERROR and "abandoned" in str(event.exception):
                kind = "abandoned"
            run_time = event.scheduled_run_time
        else:
            return
        row: dict[str, Any] = {
            "job_id": event.job_id,  # type: ignore[attr-defined]
            "run_time": run_time.isoformat(),
            "node": node,
            "kind": kind,
        }
        with lock, results.begin() as conn:
            conn.execute(insert(table).values(**row))

    scheduler.add_listener(listener)
    scheduler.start(paused=bool(args.seed))
    if args.seed:
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
                max_instances=5,
                # A loaded host may start this process after ``start``: the first run time is
                # still ``start``, late, not the next one after now.
                next_run_time=start,
                replace_existing=True,
                recover=True,
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
    scheduler.shutdown(wait=True)


if __name__ == "__main__":
    main()
