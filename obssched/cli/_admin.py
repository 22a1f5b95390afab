"""``obssched jobs list|show|pause|resume|remove|run-now``: changing a persistent job store while
a scheduler runs elsewhere; ``obssched jobs migrate``: converting APScheduler 3's stored jobs.

The command opens the store by URL and changes the job's row; the running scheduler reads the
store again at its next wakeup (at most its heartbeat interval later) and follows the change.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from obssched.cli._errors import CliError, ExitCode
from obssched.cli._format import describe_outcome, format_table, job_row
from obssched.cli._runner import extend_sys_path
from obssched.cli._settings import ENVIRONMENT
from obssched.cli._stores import (
    DEFAULT_STORE_URL,
    create_store,
    describe_store,
    is_memory,
    start_store,
)

if TYPE_CHECKING:
    from obssched.job import Job
    from obssched.jobstores.base import BaseJobStore
    from obssched.schedulers.base import BaseScheduler

__all__ = ["ACTIONS", "jobs_command"]

ACTIONS = ("list", "show", "pause", "resume", "remove", "run-now", "migrate")

_logger = logging.getLogger("obssched.cli")


class _Admin:
    def __init__(self, args: argparse.Namespace, environ: dict[str, str]) -> None:
        from obssched.schedulers.background import BackgroundScheduler

        self.url: str = args.store or environ.get(ENVIRONMENT["store"]) or DEFAULT_STORE_URL
        if is_memory(self.url):
            raise CliError(
                "the memory store lives inside the scheduler's process and cannot be administered "
                "from outside; give --store the URL of the scheduler's persistent store",
                ExitCode.USAGE,
            )
        options: dict[str, Any] = {"metrics": False, "tracing": False}
        if args.timezone:
            options["timezone"] = args.timezone
        try:
            # Never started: it only gives the jobs read from the store a time zone and a clock.
            self.scheduler: BaseScheduler = BackgroundScheduler(**options)
        except (TypeError, ValueError) as exc:
            raise CliError(f"--timezone: {exc}", ExitCode.USAGE) from exc
        self.store: BaseJobStore = create_store(self.url)
        from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore

        if isinstance(self.store, SQLAlchemyJobStore):
            # It changes rows beside the scheduler that serves the store: it must not take it.
            self.store.exclusive = False
        start_store(self.store, self.scheduler, self.url, "default")
        self.shown_url = describe_store(self.url)

    def close(self) -> None:
        self.store.shutdown()

    def get(self, job_id: str) -> Job:
        job: Job | None = self.call(lambda: self.store.lookup_job(job_id))
        if job is None:
            ids = [j.id for j in self.call(self.store.get_all_jobs)]
            listing = ", ".join(ids[:20]) + (", ..." if len(ids) > 20 else "")
            raise CliError(
                f"no job with id {job_id!r} in {self.shown_url} "
                f"({len(ids)} job(s){': ' + listing if ids else ''})",
                ExitCode.JOB_NOT_FOUND,
            )
        return job

    def call(self, action: Any) -> Any:
        """Run a store operation; a job that cannot be loaded becomes an error saying where to
        run the command instead."""
        try:
            return action()
        except LookupError as exc:
            raise CliError(
                f"cannot load a job from {self.shown_url}: {exc}; run this command where the "
                "job functions import (the scheduler's working directory), or pass --path DIR",
                ExitCode.FAILURE,
            ) from exc
        except CliError:
            raise
        except Exception as exc:
            raise CliError(
                f"cannot read job store {self.shown_url}: {type(exc).__name__}: {exc}",
                ExitCode.STORE_UNAVAILABLE,
            ) from exc

    def save(self, job: Job) -> None:
        self.call(lambda: self.store.update_job(job))


def _fetch_outcomes(status_url: str | None) -> dict[str, dict[str, Any]]:
    if not status_url:
        return {}
    url = status_url.rstrip("/") + "/status.json"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            data = json.load(response)
    except (OSError, ValueError, urllib.error.URLError) as exc:
        print(f"obssched: warning: cannot read {url} ({exc}); outcomes unknown", file=sys.stderr)
        return {}
    return {
        str(job["id"]): job.get("last_outcome") or {}
        for job in data.get("jobs", [])
        if isinstance(job, dict) and "id" in job
    }


def jobs_command(args: argparse.Namespace, environ: dict[str, str]) -> ExitCode:
    """Run one ``obssched jobs`` action against the store at ``--store``."""
    extend_sys_path(args.path or [])
    if args.action == "migrate":
        return _migrate(args, environ)
    admin = _Admin(args, environ)
    try:
        return _act(admin, args)
    finally:
        admin.close()


def _act(admin: _Admin, args: argparse.Namespace) -> ExitCode:
    action: str = args.action
    now = admin.scheduler.clock.now()
    tz = admin.scheduler.timezone
    outcomes = _fetch_outcomes(args.status_url)

    def row(job: Job) -> dict[str, Any]:
        return job_row(job, now, tz, outcomes.get(job.id) if outcomes else None)

    if action == "list":
        jobs = admin.call(admin.store.get_all_jobs)
        rows = [row(job) for job in jobs]
        if args.json:
            print(json.dumps(rows, indent=2, default=str))
            return ExitCode.OK
        print(f"{len(rows)} job(s) in {admin.shown_url}")
        if rows:
            headers = ["ID", "NAME", "TRIGGER", "NEXT RUN", ""]
            if outcomes:
                headers.append("LAST OUTCOME")
            table = []
            for item in rows:
                cells = [
                    item["id"],
                    item["name"],
                    item["trigger"],
                    item["next_run_time"] or "paused",
                    item["next_run_in"] or "",
                ]
                if outcomes:
                    cells.append(describe_outcome(item.get("last_outcome")))
                table.append(cells)
            print(format_table(headers, table))
        return ExitCode.OK

    job = admin.get(args.job_id)
    message: str
    if action == "show":
        data = row(job)
        if args.json:
            print(json.dumps(data, indent=2, default=str))
        else:
            for key, value in data.items():
                shown = describe_outcome(value) if key == "last_outcome" else value
                print(f"{key + ':':<20} {shown}")
        return ExitCode.OK
    if action == "remove":
        admin.call(lambda: admin.store.remove_job(job.id))
        message = f"Removed job {job.id!r}"
        if args.json:
            print(json.dumps({"removed": job.id}))
        else:
            print(f"{message} from {admin.shown_url}")
        return ExitCode.OK
    if action == "pause":
        # Job._modify validates as the scheduler does (APScheduler 3's Job contract).
        job._modify(next_run_time=None)
        message = f"Paused job {job.id!r}"
    elif action == "resume":
        next_run = job.trigger.get_next_fire_time(None, now)
        if next_run is None:
            admin.call(lambda: admin.store.remove_job(job.id))
            print(f"Job {job.id!r} will never run again (its trigger is done), so it was removed")
            return ExitCode.OK
        job._modify(next_run_time=next_run)
        message = f"Resumed job {job.id!r}"
    else:  # run-now
        job._modify(next_run_time=now)
        message = f"Job {job.id!r} is due now"
    admin.save(job)
    if args.json:
        print(json.dumps(row(job), indent=2, default=str))
    else:
        detail = row(job)
        next_text = (
            f"next run {detail['next_run_time']} ({detail['next_run_in']})"
            if detail["next_run_time"]
            else "no next run"
        )
        print(
            f"{message}: {next_text}. A running scheduler picks this up at its next wakeup "
            "(within its heartbeat interval)."
        )
    return ExitCode.OK


def _migrate(args: argparse.Namespace, environ: dict[str, str]) -> ExitCode:
    from obssched.exceptions import MigrationError
    from obssched.jobstores._sql.migrate import migrate
    from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore

    url: str = args.store or environ.get(ENVIRONMENT["store"]) or DEFAULT_STORE_URL
    if is_memory(url):
        raise CliError(
            "the memory store holds no APScheduler 3 jobs to migrate; give --store the URL of "
            "the database APScheduler 3 kept its jobs in",
            ExitCode.USAGE,
        )
    shown = describe_store(url)
    print(
        "obssched: warning: migrating unpickles APScheduler 3's job_state column, which runs "
        "code stored in the database: migrate only a database you trust",
        file=sys.stderr,
    )
    store = create_store(url)
    assert isinstance(store, SQLAlchemyJobStore)
    try:
        report = migrate(
            store.engine,
            store.tables,
            args.source_table,
            serializer=store.serializer,
            pickle_protocol=store.pickle_protocol,
            dry_run=args.dry_run,
            drop_source=args.drop_source,
        )
    except MigrationError as exc:
        missing = "apscheduler package" in exc.reason
        raise CliError(str(exc), ExitCode.USAGE if missing else ExitCode.FAILURE) from exc
    except Exception as exc:
        raise CliError(
            f"cannot migrate in {shown}: {type(exc).__name__}: {exc}", ExitCode.STORE_UNAVAILABLE
        ) from exc
    finally:
        store.engine.dispose()
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        _print_migration(report, shown)
    if report.not_converted:
        raise CliError(
            f"{len(report.not_converted)} APScheduler 3 job(s) could not be converted (listed "
            f"above); they stay in table {report.source!r}",
            ExitCode.FAILURE,
        )
    return ExitCode.OK


def _print_migration(report: Any, shown: str) -> None:
    verb = "would convert" if report.dry_run else "converted"
    print(f"APScheduler 3 jobs in table {report.source!r} of {shown}, into {report.target!r}:")
    for job in report.converted:
        when = job.next_run_time.isoformat() if job.next_run_time else "paused"
        print(f"  {verb}: {job.id} ({job.name}) {job.trigger}, next run: {when}")
        if job.note:
            print(f"    warning: {job.note}")
    for job_id in report.already_present:
        print(f"  already in {report.target!r}, left as is: {job_id}")
    for row in report.not_converted:
        print(f"  could not convert: {row.id}: {row.reason}")
    counts = (
        f"{len(report.converted)} {verb}, {len(report.already_present)} already there, "
        f"{len(report.not_converted)} could not be converted"
    )
    if report.dry_run:
        print(f"{counts}. Dry run: nothing was written.")
    elif report.dropped_source:
        print(f"{counts}. The table {report.source!r} was dropped.")
    else:
        print(f"{counts}. The table {report.source!r} is kept (--drop-source drops it).")
