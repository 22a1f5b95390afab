"""``obssched jobs list|show|pause|resume|remove|run-now``: changing a persistent job store while
a scheduler runs elsewhere; ``obssched jobs migrate``: converting APScheduler 3's stored jobs.

The commands read and rewrite the rows as plain data (:mod:`obssched.jobstores._sql.admin`), so
they work wherever they run, without the job functions importable, and list the rows a
scheduler cannot load too. Each change wakes a scheduler serving the store at once (a
notification on PostgreSQL, a change token it reads twice a second on SQLite).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import urllib.error
import urllib.request
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any, cast

from obssched.cli._errors import CliError, ExitCode
from obssched.cli._format import describe_outcome, format_table, humanize_delta
from obssched.cli._runner import extend_sys_path
from obssched.cli._settings import ENVIRONMENT
from obssched.cli._stores import DEFAULT_STORE_URL, create_store, describe_store, is_memory

if TYPE_CHECKING:
    from obssched.jobstores._sql.admin import StoreAdmin, StoredJob
    from obssched.jobstores.sqlalchemy import SQLAlchemyJobStore

__all__ = ["ACTIONS", "jobs_command"]

ACTIONS = ("list", "show", "pause", "resume", "remove", "run-now", "migrate")

_logger = logging.getLogger("obssched.cli")

_FOLLOWED = "A scheduler serving the store follows the change within a second."


class _Admin:
    def __init__(self, args: argparse.Namespace, environ: dict[str, str]) -> None:
        from obssched._timeutil import astimezone, get_localzone
        from obssched.clock import SystemClock
        from obssched.jobstores._sql.admin import StoreAdmin

        self.url: str = args.store or environ.get(ENVIRONMENT["store"]) or DEFAULT_STORE_URL
        if is_memory(self.url):
            raise CliError(
                "the memory store lives inside the scheduler's process and cannot be administered "
                "from outside; give --store the URL of the scheduler's persistent store",
                ExitCode.USAGE,
            )
        try:
            self.timezone: tzinfo = astimezone(args.timezone) or get_localzone()
        except (TypeError, ValueError) as exc:
            raise CliError(f"--timezone: {exc}", ExitCode.USAGE) from exc
        self.clock = SystemClock()
        self.shown_url = describe_store(self.url)
        # Never started: it only opens the database (the scheduler serving it keeps it).
        store = cast("SQLAlchemyJobStore", create_store(self.url))
        self._store = store
        self.admin: StoreAdmin = StoreAdmin(store.engine, store.tables)
        try:
            self.admin.prepare()
        except Exception as exc:
            self.close()
            raise CliError(
                f"cannot open job store {self.shown_url}: {type(exc).__name__}: {exc}",
                ExitCode.STORE_UNAVAILABLE,
            ) from exc

    def close(self) -> None:
        self._store.engine.dispose()

    def get(self, job_id: str) -> StoredJob:
        job: StoredJob | None = self.call(lambda: self.admin.get_job(job_id))
        if job is None:
            raise self.not_found(job_id)
        return job

    def not_found(self, job_id: str) -> CliError:
        ids = [j.id for j in self.call(self.admin.list_jobs)]
        listing = ", ".join(ids[:20]) + (", ..." if len(ids) > 20 else "")
        return CliError(
            f"no job with id {job_id!r} in {self.shown_url} "
            f"({len(ids)} job(s){': ' + listing if ids else ''})",
            ExitCode.JOB_NOT_FOUND,
        )

    def call(self, action: Any) -> Any:
        """Run a store operation; a job that cannot be decoded or is gone becomes an error that
        says so."""
        from obssched.exceptions import JobLookupError
        from obssched.jobstores._sql.admin import JobChangeError, UndecodableJobError

        try:
            return action()
        except UndecodableJobError as exc:
            raise CliError(
                f"{exc}. It is listed, and 'obssched jobs remove {exc.job_id}' removes it",
                ExitCode.FAILURE,
            ) from exc
        except JobLookupError as exc:
            raise self.not_found(exc.job_id) from exc
        except JobChangeError as exc:
            raise CliError(str(exc), ExitCode.FAILURE) from exc
        except CliError:
            raise
        except Exception as exc:
            raise CliError(
                f"cannot read job store {self.shown_url}: {type(exc).__name__}: {exc}",
                ExitCode.STORE_UNAVAILABLE,
            ) from exc

    def row(self, job: StoredJob, outcome: dict[str, Any] | None = None) -> dict[str, Any]:
        """The job as JSON-compatible data."""
        return job_row(job, self.clock.now(), self.timezone, outcome)


def job_row(
    job: StoredJob, now: datetime, timezone: tzinfo, outcome: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Return a stored job as JSON-compatible data (``--json`` and ``show``)."""
    next_run = job.next_run_time
    row: dict[str, Any] = {
        "id": job.id,
        "name": job.name,
        "func": job.func_ref,
        "trigger": job.trigger,
        "executor": job.executor,
        "state": "paused" if next_run is None else "scheduled",
        "next_run_time": next_run.astimezone(timezone).isoformat() if next_run else None,
        "next_run_in": humanize_delta((next_run - now).total_seconds()) if next_run else None,
        "max_instances": job.max_instances,
        "misfire_grace_time": job.misfire_grace_time,
        "coalesce": job.coalesce,
        "recover": job.recover,
        "timeout": job.timeout,
        "args": job.args if isinstance(job.args, str) else list(job.args),
        "kwargs": job.kwargs if isinstance(job.kwargs, str) else dict(job.kwargs),
        "state_version": job.state_version,
        "loadable": job.loadable,
        "problem": job.problem,
    }
    if outcome is not None:
        row["last_outcome"] = dict(outcome)
    return row


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
        if args.action == "list":
            return _list(admin, args)
        return _act(admin, args)
    finally:
        admin.close()


def _list(admin: _Admin, args: argparse.Namespace) -> ExitCode:
    outcomes = _fetch_outcomes(args.status_url)
    jobs: list[StoredJob] = admin.call(admin.admin.list_jobs)
    rows = [admin.row(job, outcomes.get(job.id) if outcomes else None) for job in jobs]
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return ExitCode.OK
    print(f"{len(rows)} job(s) in {admin.shown_url}")
    if not rows:
        return ExitCode.OK
    headers = ["ID", "NAME", "FUNC", "TRIGGER", "NEXT RUN", "", "STATE", "VERSION"]
    if outcomes:
        headers.append("LAST OUTCOME")
    table = []
    for item in rows:
        version = item["state_version"]
        cells = [
            item["id"],
            item["name"] or "?",
            item["func"] or "?",
            item["trigger"] or "?",
            item["next_run_time"] or "-",
            item["next_run_in"] or "",
            item["state"] if item["loadable"] else "CANNOT BE LOADED",
            "?" if version is None else str(version),
        ]
        if outcomes:
            cells.append(describe_outcome(item.get("last_outcome")))
        table.append(cells)
    print(format_table(headers, table))
    broken = [job for job in jobs if not job.loadable]
    if broken:
        print(
            f"{len(broken)} job(s) cannot be loaded; they stay stored until removed "
            "('obssched jobs remove ID'):"
        )
        for job in broken:
            print(f"  {job.id}: {job.problem}")
    return ExitCode.OK


def _act(admin: _Admin, args: argparse.Namespace) -> ExitCode:
    action: str = args.action
    store = admin.admin
    job_id: str = args.job_id
    if action == "show":
        job = admin.get(job_id)
        outcomes = _fetch_outcomes(args.status_url)
        data = admin.row(job, outcomes.get(job.id) if outcomes else None)
        if args.json:
            print(json.dumps(data, indent=2, default=str))
        else:
            for key, value in data.items():
                shown = describe_outcome(value) if key == "last_outcome" else value
                print(f"{key + ':':<20} {shown}")
        return ExitCode.OK
    if action == "remove":
        admin.call(lambda: store.remove(job_id))
        if args.json:
            print(json.dumps({"removed": job_id}))
        else:
            print(f"Removed job {job_id!r} from {admin.shown_url}. {_FOLLOWED}")
        return ExitCode.OK
    now = admin.clock.now()
    changed: StoredJob | None
    if action == "pause":
        changed = admin.call(lambda: store.pause(job_id))
        message = f"Paused job {job_id!r}"
    elif action == "resume":
        changed = admin.call(lambda: store.resume(job_id, now))
        if changed is None:
            if args.json:
                print(json.dumps({"removed": job_id}))
            else:
                print(
                    f"Job {job_id!r} will never run again (its trigger is done), so it was "
                    f"removed. {_FOLLOWED}"
                )
            return ExitCode.OK
        message = f"Resumed job {job_id!r}"
    else:  # run-now
        changed = admin.call(lambda: store.run_now(job_id, now))
        message = f"Job {job_id!r} is due now"
    assert changed is not None
    detail = admin.row(changed)
    if args.json:
        print(json.dumps(detail, indent=2, default=str))
        return ExitCode.OK
    next_text = (
        f"next run {detail['next_run_time']} ({detail['next_run_in']})"
        if detail["next_run_time"]
        else "no next run"
    )
    print(f"{message}: {next_text}. {_FOLLOWED}")
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
