"""A job's overlap policy: what becomes of a run that is due while the job already has
``max_instances`` runs in flight.

``overlap="skip"`` (the default, APScheduler 3's behaviour) refuses the run with
``EVENT_JOB_MAX_INSTANCES``. ``overlap="queue"`` lets it wait, reported with
``EVENT_JOB_QUEUED``, as Quartz's non-concurrent jobs wait: when one of the job's runs ends, the
loop's next tick submits the oldest waiting run, its scheduled run time kept (so its start delay
shows how long it waited). At most ``overlap_queue_limit`` runs of a job wait at once; a run
beyond that is refused with ``EVENT_JOB_MAX_INSTANCES``, and so is each run still waiting when
the scheduler shuts down. No run leaves the queue unreported.

A waiting run counts as accepted: it is submitted even if its job is paused, changed or removed
meanwhile, as a run waiting for a pool worker would run. While the scheduler is paused, waiting
runs wait on. Runs a cluster store refuses because another node runs the job are not queued.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from obssched.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_QUEUED,
    EVENT_SCHEDULER_SHUTDOWN,
    JobExecutionEvent,
    JobSubmissionEvent,
    SchedulerEvent,
)
from obssched.exceptions import MaxInstancesReachedError

if TYPE_CHECKING:
    from obssched._context import SchedulerContext
    from obssched._stages import StageErrors
    from obssched.job import Job
    from obssched.schedulers._submission import Submit

__all__ = ["OverlapQueues"]

_LISTENER_NAME = "obssched.overlap"


class _Waiting(NamedTuple):
    """Runs of one refused submission, waiting together."""

    job: Job
    jobstore: str
    run_times: list[datetime]
    coalesced: list[datetime]


class OverlapQueues:
    """The runs waiting for a job's runs to end, per job, oldest first.

    The scheduling loop offers it the runs an executor refused for ``max_instances``
    (:meth:`offer`) and, at the start of each tick while runs wait, has it submit what the
    executors accept again (:meth:`submit_waiting`). It listens for the end of runs (to wake
    the loop) only once a run has waited, so schedulers whose jobs never queue pay nothing.
    """

    def __init__(self, context: SchedulerContext) -> None:
        self._context = context
        self._lock = threading.Lock()
        self._queues: dict[str, deque[_Waiting]] = {}
        self._listening = False

    @property
    def waiting(self) -> bool:
        """Whether any run waits."""
        return bool(self._queues)

    def waiting_runs(self) -> dict[str, list[datetime]]:
        """Return the scheduled run times waiting, by job id, oldest first."""
        with self._lock:
            return {
                job_id: [run_time for item in queue for run_time in item.run_times]
                for job_id, queue in self._queues.items()
            }

    def offer(
        self, job: Job, jobstore: str, run_times: list[datetime], coalesced: list[datetime]
    ) -> list[datetime]:
        """Queue what there is room for of ``run_times``, refused for ``max_instances``; return
        the run times still refused (all of them unless the job's ``overlap`` is ``"queue"``)."""
        if getattr(job, "overlap", "skip") != "queue":
            return run_times
        with self._lock:
            queue = self._queues.get(job.id)
            held = 0 if queue is None else sum(len(item.run_times) for item in queue)
            room = max(job.overlap_queue_limit - held, 0)
            taken = run_times[:room]
            if taken:
                if queue is None:
                    queue = self._queues[job.id] = deque()
                queue.append(_Waiting(job, jobstore, taken, coalesced))
        if not taken:
            return run_times
        self._listen()
        context = self._context
        # An instance may have ended between the refusal and the listening: look again soon
        # rather than wait for the next end, which may never come.
        context.wakeup()
        context.logger.info(
            'Run of job "%s" queued until one of its %d running instances ends (%d waiting)',
            job,
            job.max_instances,
            held + len(taken),
        )
        # The coalesced run times are reported once, with the run's submission or refusal.
        context.dispatch(
            JobSubmissionEvent(
                EVENT_JOB_QUEUED, job.id, jobstore, taken, job_name=job.name, executor=job.executor
            )
        )
        return run_times[len(taken) :]

    def submit_waiting(
        self, submitter: Callable[[str], Submit | None], stages: StageErrors
    ) -> None:
        """Submit each job's waiting runs, oldest first, while its executor accepts them.

        ``submitter`` returns what submits to an executor alias (``None``: no such executor).
        A submission that fails otherwise than for ``max_instances`` is logged and counted as
        an executor failure, as the loop does with any submission.
        """
        logger = self._context.logger
        for job_id in list(self._queues):
            while True:
                with self._lock:
                    queue = self._queues.get(job_id)
                    if not queue:
                        break
                    item = queue[0]
                submit = submitter(item.job.executor)
                try:
                    if submit is None:
                        raise LookupError(f"no executor named {item.job.executor!r}")
                    submit(
                        item.job,
                        item.run_times,
                        jobstore=item.jobstore,
                        coalesced=item.coalesced,
                    )
                except MaxInstancesReachedError:
                    break
                except Exception:
                    logger.exception('Error submitting the queued run of job "%s"', item.job)
                    stages.failed("executor")
                self._forget(job_id, item)

    def _forget(self, job_id: str, item: _Waiting) -> None:
        with self._lock:
            queue = self._queues.get(job_id)
            if queue and queue[0] is item:
                queue.popleft()
                if not queue:
                    del self._queues[job_id]

    def _listen(self) -> None:
        if self._listening:
            return
        with self._lock:
            if self._listening:
                return
            self._listening = True
        self._context.events.add(
            self._on_event,
            EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_SCHEDULER_SHUTDOWN,
            name=_LISTENER_NAME,
        )

    def _on_event(self, event: SchedulerEvent) -> None:
        if event.code == EVENT_SCHEDULER_SHUTDOWN:
            # A stopped scheduler keeps only its users' listeners; a restart subscribes anew.
            with self._lock:
                self._listening = False
            self._context.events.remove(self._on_event)
            self.drop_waiting()  # nothing left, when the scheduler dropped them before
        elif isinstance(event, JobExecutionEvent) and event.job_id in self._queues:
            # One of the job's runs ended: the next tick submits its oldest waiting run.
            self._context.wakeup()

    def drop_waiting(self) -> None:
        """Refuse every waiting run, as the scheduler shuts down before it could start (the
        scheduler calls it before it reports its shutdown, so the refusals come first)."""
        with self._lock:
            queues, self._queues = self._queues, {}
        context = self._context
        for queue in queues.values():
            for item in queue:
                job = item.job
                context.logger.warning(
                    'Queued run%s of job "%s" (%s) dropped: the scheduler shut down while its '
                    "%d instances were running",
                    "s" if len(item.run_times) > 1 else "",
                    job,
                    ", ".join(run_time.isoformat() for run_time in item.run_times),
                    job.max_instances,
                )
                context.dispatch(
                    JobSubmissionEvent(
                        EVENT_JOB_MAX_INSTANCES,
                        job.id,
                        item.jobstore,
                        item.run_times,
                        job_name=job.name,
                        executor=job.executor,
                        run_id=context.next_run_id(),
                        coalesced_run_times=item.coalesced,
                    )
                )
