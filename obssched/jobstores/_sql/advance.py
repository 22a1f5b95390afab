"""Cluster mode, what a claim writes of each job it advances, and the jobs a node keeps.

A claim changes only a job's next run time. For the built-in triggers, pure functions of their
settings, the new time is patched into the stored state where it stands (the database
overlays it): nothing is encoded or sent but the time. Another trigger may keep state of its
own that working out fire times changed, so its job is encoded and written whole, as the loop
would save it; so is a job whose interval trigger was stored without a start date (it takes
its first run's).

Decoding a row (its JSON, its trigger) is most of what a claim costs the node per job, so a
node keeps the jobs it advanced (:class:`KnownJobs`) and takes the same object back at the next
claim while the row holds the very state that claim wrote: a row anything else changed is
decoded anew. Only its arguments are decoded at each claim (if it has any), as every run
decoding its row would have them: a run that changes a mutable argument does not change the
next run's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from obssched.jobstores._sql.codec import arguments_reader, next_run_time_patch, to_micros
from obssched.triggers.base import GridTrigger
from obssched.triggers.calendarinterval import CalendarIntervalTrigger
from obssched.triggers.combining import BaseCombiningTrigger
from obssched.triggers.interval import IntervalTrigger

if TYPE_CHECKING:
    from obssched.job import Job

__all__ = ["NO_PATCH", "KnownJobs", "advanced_row", "fixed_trigger"]

_ArgumentsReader = Callable[[], tuple[tuple[Any, ...], dict[str, Any]]]

NO_PATCH = (None, None, None)
"""The patch parameters of a job written whole."""


def fixed_trigger(trigger: object) -> bool:
    """Whether ``trigger`` keeps no state that working out fire times could change: the
    built-in triggers (combining ones only of such triggers), except an interval without a
    start date, which takes its first run's (asked before the claim works its runs out)."""
    if not isinstance(trigger, GridTrigger) or not type(trigger).__module__.startswith(
        "obssched.triggers."
    ):
        return False
    if isinstance(trigger, BaseCombiningTrigger):
        return all(fixed_trigger(child) for child in trigger.triggers)
    # Set on first use, when stored without one (a job added with its first next_run_time, or
    # paused, then resumed): the claim that sets it writes the whole state, or each decode of
    # the row would anchor the grid anew at the last (jittered) run.
    return not isinstance(trigger, IntervalTrigger | CalendarIntervalTrigger) or (
        trigger.start_date is not None
    )


def advanced_row(
    job: Job,
    next_run_time: datetime | None,
    state: bytes | None,
    row_values: Callable[[Job], dict[str, Any]],
) -> dict[str, Any]:
    """The values that advance ``job`` to ``next_run_time``: ``next_run_time`` (micros) and
    either ``patch`` (where the stored ``state`` holds the time, and the new time: see
    :func:`~obssched.jobstores._sql.codec.next_run_time_patch`) with ``patched``, the state it
    makes, or the whole ``state`` encoded by ``row_values``.

    ``state`` is given only for a job whose trigger was fixed (:func:`fixed_trigger`) before
    its runs were worked out; otherwise the job is written whole.
    """
    if next_run_time is not None and state is not None:
        stored = bytes(state)
        patch = next_run_time_patch(stored, next_run_time)
        if patch is not None:
            position, length, moment = patch
            patched = b'%b"%b"%b' % (
                stored[: position - 1],
                moment.encode(),
                stored[position - 1 + length :],
            )
            return {
                "next_run_time": to_micros(next_run_time),
                "state": None,
                "patch": patch,
                "patched": patched,
            }
    original = job.next_run_time
    job.next_run_time = next_run_time
    try:
        return row_values(job)
    finally:
        job.next_run_time = original


class KnownJobs:
    """The jobs a node advanced by patching their state, by id, the least recently claimed
    dropped past ``limit``.

    Args:
        limit: how many jobs to keep.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        # job id -> (the state the claim wrote, the job, its next run time as decoded, what
        # decodes its arguments if it has any)
        self._jobs: dict[str, tuple[bytes, Job, datetime, _ArgumentsReader | None]] = {}

    def load(
        self, rows: Sequence[Any], load_rows: Callable[[Iterable[Any]], list[Job]]
    ) -> list[Job]:
        """The jobs of the claimed ``rows``, in order: those kept whose row holds the state
        their claim wrote, the others decoded by ``load_rows`` (which leaves out the rows that
        cannot be loaded)."""
        known = self._jobs
        reused: dict[str, Job] = {}
        fresh = []
        for row in rows:
            entry = known.get(row.id)
            if entry is not None and entry[0] == row.state:
                job = entry[1]
                if entry[3] is not None:
                    try:
                        job.args, job.kwargs = entry[3]()
                    except Exception:
                        # Arguments that decoded once can fail later (a pickled value whose
                        # class changed). Decoding the row afresh reports it as unloadable and
                        # leaves it out, where an error here would fail every job's claim.
                        del known[row.id]
                        fresh.append(row)
                        continue
                job.next_run_time = entry[2]
                reused[row.id] = job
            else:
                fresh.append(row)
        if not reused:
            return load_rows(rows)
        decoded = {job.id: job for job in load_rows(fresh)} if fresh else {}
        jobs = [reused.get(row.id) or decoded.get(row.id) for row in rows]
        return [job for job in jobs if job is not None]

    def remember(self, job: Job, values: dict[str, Any]) -> None:
        """Keep ``job`` with the state its claim wrote (``values`` from :func:`advanced_row`),
        if that was a patch."""
        patched = values.get("patched")
        if patched is None:
            return
        known = self._jobs
        entry = known.pop(job.id, None)
        # A job kept already has the same arguments: a patch changes only the next run time.
        reader = entry[3] if entry is not None and entry[1] is job else arguments_reader(patched)
        # The next run time as a decoded state holds it (with the UTC offset, not the zone).
        known[job.id] = (patched, job, datetime.fromisoformat(values["patch"][2]), reader)
        if len(known) > self.limit:
            del known[next(iter(known))]
